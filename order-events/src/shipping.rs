//! What the goods are physically and how they may travel: the catalog of SKU attributes
//! (weight, dimensions, special handling) and the carrier table (destinations, weight limits,
//! the handling a carrier accepts, freight rates by weight), and the figures derived from
//! both — a parcel's expected weight and handling labels, the carrier for it, the heaviest
//! parcel any allowed service takes, and its freight.
//!
//! Both tables are configuration (`[catalog]`, `[[process.carriers]]`): [`Shipping`] is what a
//! decision sees of them, through the policy. The events record every figure taken from them
//! (a parcel's expected weight and labels, a shipment's freight), so a replay never needs the
//! tables, and changing them changes only later decisions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{CarrierId, Sku};
use crate::money::{Amount, Currency};

/// How fast a parcel should travel; carrier rules may depend on it, and express orders are
/// picked first.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLevel {
    #[default]
    Standard,
    Express,
    Economy,
}

/// Units of SKUs, as a parcel, a pick or an order line holds them.
pub type Units<'a> = &'a [(&'a Sku, u32)];

/// Special handling a parcel needs because of what is in it; printed on its label.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Handling {
    Fragile,
    Liquid,
    Hazardous,
}

/// One SKU's physical attributes (`[catalog."SKU"]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuAttributes {
    /// One unit's weight, packed, in grams.
    pub weight_grams: u32,
    /// One unit's outer dimensions in millimetres, when known.
    #[serde(default)]
    pub length_mm: Option<u32>,
    #[serde(default)]
    pub width_mm: Option<u32>,
    #[serde(default)]
    pub height_mm: Option<u32>,
    #[serde(default)]
    pub fragile: bool,
    #[serde(default)]
    pub liquid: bool,
    /// Dangerous goods: only carriers that accept `hazardous` may take them.
    #[serde(default)]
    pub hazardous: bool,
}

impl SkuAttributes {
    /// The handling one unit needs.
    pub fn handling(&self) -> impl Iterator<Item = Handling> {
        [
            (self.fragile, Handling::Fragile),
            (self.liquid, Handling::Liquid),
            (self.hazardous, Handling::Hazardous),
        ]
        .into_iter()
        .filter_map(|(needed, handling)| needed.then_some(handling))
    }
}

/// The catalog: attributes by SKU. A SKU not in it has no known weight or handling.
pub type Catalog = BTreeMap<Sku, SkuAttributes>;

/// A freight price: parcels up to a weight, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreightRate {
    pub currency: Currency,
    /// The heaviest parcel at this price, in grams; absent: any weight.
    #[serde(default)]
    pub weight_grams_max: Option<u32>,
    pub price: Amount,
}

/// One row of the carrier table; the first row that matches a shipment gives its carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierRule {
    pub carrier: CarrierId,
    /// Destination countries served; empty: all.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Heaviest parcel taken, in grams; absent: no limit.
    #[serde(default)]
    pub weight_grams_max: Option<u32>,
    /// Service levels offered; empty: all.
    #[serde(default)]
    pub service_levels: Vec<ServiceLevel>,
    /// The special handling taken; absent: every kind. `[]` takes only parcels that need none.
    #[serde(default)]
    pub handling: Option<Vec<Handling>>,
    /// Freight by weight, tried in order: the first rate in the order's currency whose
    /// `weight_grams_max` the parcel does not exceed prices it. A shipment that names no
    /// freight cost is charged this.
    #[serde(default)]
    pub rates: Vec<FreightRate>,
}

impl CarrierRule {
    fn serves(&self, country: &str) -> bool {
        self.countries.is_empty() || self.countries.iter().any(|c| c == country)
    }

    fn takes_weight(&self, weight_grams: u32) -> bool {
        self.weight_grams_max.is_none_or(|max| weight_grams <= max)
    }

    fn offers(&self, level: ServiceLevel) -> bool {
        self.service_levels.is_empty() || self.service_levels.contains(&level)
    }

    /// Whether the carrier takes a parcel needing `handling`.
    pub fn accepts(&self, handling: &[Handling]) -> bool {
        self.handling
            .as_ref()
            .is_none_or(|accepted| handling.iter().all(|h| accepted.contains(h)))
    }

    /// The row's price for a parcel of `weight_grams` in `currency`.
    pub fn freight(&self, weight_grams: u32, currency: Currency) -> Option<Amount> {
        self.rates
            .iter()
            .find(|rate| {
                rate.currency == currency
                    && rate.weight_grams_max.is_none_or(|max| weight_grams <= max)
            })
            .map(|rate| rate.price)
    }
}

/// A parcel as the carrier table sees it.
#[derive(Debug, Clone, Copy)]
pub struct Parcel<'a> {
    pub country: &'a str,
    pub weight_grams: u32,
    pub service_level: ServiceLevel,
    pub handling: &'a [Handling],
}

/// The catalog and the carrier table, as a decision sees them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shipping {
    pub catalog: Catalog,
    pub carriers: Vec<CarrierRule>,
}

impl Shipping {
    /// The expected weight of `units` in grams; `None` when a SKU has no catalog weight.
    pub fn expected_weight(&self, units: Units<'_>) -> Option<u32> {
        let mut total = 0u64;
        for (sku, quantity) in units {
            let unit = self.catalog.get(*sku)?.weight_grams;
            total += u64::from(unit) * u64::from(*quantity);
        }
        u32::try_from(total).ok()
    }

    /// The handling `units` need, each kind once, in order.
    pub fn handling(&self, units: Units<'_>) -> Vec<Handling> {
        let mut handling: Vec<Handling> = units
            .iter()
            .filter_map(|(sku, _)| self.catalog.get(*sku))
            .flat_map(SkuAttributes::handling)
            .collect();
        handling.sort();
        handling.dedup();
        handling
    }

    /// The carrier for a parcel that names none: the first row that serves its country,
    /// takes its weight, offers its service level and accepts its handling.
    pub fn choose_carrier(&self, parcel: Parcel<'_>) -> Option<CarrierId> {
        self.carriers
            .iter()
            .find(|rule| {
                rule.serves(parcel.country)
                    && rule.takes_weight(parcel.weight_grams)
                    && rule.offers(parcel.service_level)
                    && rule.accepts(parcel.handling)
            })
            .map(|rule| rule.carrier.clone())
    }

    /// The heaviest parcel to `country` needing `handling` that some row takes, in grams;
    /// `None` when no such limit is known (no rows, no row for it, or a row without a limit).
    pub fn weight_limit(&self, country: &str, handling: &[Handling]) -> Option<u32> {
        let mut allowed = self
            .carriers
            .iter()
            .filter(|rule| rule.serves(country) && rule.accepts(handling))
            .peekable();
        allowed.peek()?;
        allowed
            .map(|rule| rule.weight_grams_max)
            .try_fold(0u32, |heaviest, max| max.map(|max| heaviest.max(max)))
    }

    /// Whether the table has a row for `carrier` and none of them takes the parcel: its
    /// destination, weight, service level and handling. A carrier the table does not name is
    /// not judged.
    pub fn refuses(&self, carrier: &CarrierId, parcel: Parcel<'_>) -> Option<String> {
        let rows: Vec<&CarrierRule> = self
            .carriers
            .iter()
            .filter(|rule| &rule.carrier == carrier && rule.serves(parcel.country))
            .collect();
        if rows.is_empty() {
            return None;
        }
        let fitting: Vec<&&CarrierRule> = rows
            .iter()
            .filter(|rule| {
                rule.takes_weight(parcel.weight_grams) && rule.offers(parcel.service_level)
            })
            .collect();
        if fitting.is_empty() {
            return Some(format!(
                "{carrier} takes no {:?} parcel of {} g to {}",
                parcel.service_level, parcel.weight_grams, parcel.country
            ));
        }
        if !fitting.iter().any(|rule| rule.accepts(parcel.handling)) {
            return Some(format!(
                "{carrier} does not take parcels needing {:?}",
                parcel.handling
            ));
        }
        None
    }

    /// The freight the table charges for the parcel with `carrier`, in `currency`: the first
    /// row for the carrier that takes the parcel and has a rate for it.
    pub fn freight(
        &self,
        carrier: &CarrierId,
        parcel: Parcel<'_>,
        currency: Currency,
    ) -> Option<Amount> {
        self.carriers
            .iter()
            .filter(|rule| {
                &rule.carrier == carrier
                    && rule.serves(parcel.country)
                    && rule.takes_weight(parcel.weight_grams)
                    && rule.offers(parcel.service_level)
            })
            .find_map(|rule| rule.freight(parcel.weight_grams, currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(weight_grams: u32, fragile: bool, hazardous: bool) -> SkuAttributes {
        SkuAttributes {
            weight_grams,
            length_mm: None,
            width_mm: None,
            height_mm: None,
            fragile,
            liquid: false,
            hazardous,
        }
    }

    fn rule(carrier: &str, max: Option<u32>, handling: Option<Vec<Handling>>) -> CarrierRule {
        CarrierRule {
            carrier: CarrierId::from(carrier),
            countries: vec!["DE".into()],
            weight_grams_max: max,
            service_levels: Vec::new(),
            handling,
            rates: vec![
                FreightRate {
                    currency: Currency::EUR,
                    weight_grams_max: Some(2_000),
                    price: "4.90".parse().unwrap(),
                },
                FreightRate {
                    currency: Currency::EUR,
                    weight_grams_max: None,
                    price: "9.90".parse().unwrap(),
                },
            ],
        }
    }

    fn shipping() -> Shipping {
        Shipping {
            catalog: [
                (Sku::from("MUG"), attributes(400, true, false)),
                (Sku::from("LAMP-OIL"), attributes(1_000, false, true)),
            ]
            .into_iter()
            .collect(),
            carriers: vec![
                rule("dhl", Some(31_500), Some(vec![Handling::Fragile])),
                rule("hazmat-freight", Some(50_000), None),
            ],
        }
    }

    fn skus(rows: &[(&str, u32)]) -> Vec<(Sku, u32)> {
        rows.iter()
            .map(|(sku, quantity)| (Sku::from(*sku), *quantity))
            .collect()
    }

    fn units(skus: &[(Sku, u32)]) -> Vec<(&Sku, u32)> {
        skus.iter().map(|(sku, n)| (sku, *n)).collect()
    }

    fn parcel<'a>(weight_grams: u32, handling: &'a [Handling]) -> Parcel<'a> {
        Parcel {
            country: "DE",
            weight_grams,
            service_level: ServiceLevel::Standard,
            handling,
        }
    }

    #[test]
    fn weight_and_handling_follow_the_catalog() {
        let shipping = shipping();
        let both = skus(&[("MUG", 3), ("LAMP-OIL", 2)]);
        assert_eq!(shipping.expected_weight(&units(&both)), Some(3_200));
        assert_eq!(
            shipping.handling(&units(&both)),
            vec![Handling::Fragile, Handling::Hazardous]
        );
        let unknown = skus(&[("UNKNOWN", 1)]);
        assert_eq!(shipping.expected_weight(&units(&unknown)), None);
    }

    #[test]
    fn hazardous_goods_go_only_with_a_carrier_that_takes_them() {
        let shipping = shipping();
        let fragile = [Handling::Fragile];
        let hazardous = [Handling::Hazardous];
        assert_eq!(
            shipping.choose_carrier(parcel(1_000, &fragile)),
            Some(CarrierId::from("dhl"))
        );
        assert_eq!(
            shipping.choose_carrier(parcel(1_000, &hazardous)),
            Some(CarrierId::from("hazmat-freight"))
        );
        assert!(shipping
            .refuses(&CarrierId::from("dhl"), parcel(1_000, &hazardous))
            .is_some());
        assert!(shipping
            .refuses(&CarrierId::from("dhl"), parcel(40_000, &fragile))
            .is_some());
        assert_eq!(
            shipping.refuses(&CarrierId::from("ups"), parcel(1, &hazardous)),
            None
        );
    }

    #[test]
    fn the_weight_limit_is_the_heaviest_allowed_service() {
        let shipping = shipping();
        assert_eq!(
            shipping.weight_limit("DE", &[Handling::Fragile]),
            Some(50_000)
        );
        assert_eq!(shipping.weight_limit("DE", &[]), Some(50_000));
        assert_eq!(shipping.weight_limit("FR", &[]), None);
        let unlimited = Shipping {
            carriers: vec![rule("dhl", None, None)],
            ..Shipping::default()
        };
        assert_eq!(unlimited.weight_limit("DE", &[]), None);
    }

    #[test]
    fn freight_is_the_first_rate_the_weight_fits() {
        let shipping = shipping();
        let dhl = CarrierId::from("dhl");
        let price = |grams| shipping.freight(&dhl, parcel(grams, &[]), Currency::EUR);
        assert_eq!(price(2_000), Some("4.90".parse().unwrap()));
        assert_eq!(price(2_001), Some("9.90".parse().unwrap()));
        assert_eq!(price(40_000), None);
        assert_eq!(
            shipping.freight(&dhl, parcel(100, &[]), Currency::USD),
            None
        );
    }

    #[test]
    fn the_first_matching_carrier_row_wins() {
        let row = |carrier: &str, countries: &[&str], max: Option<u32>, levels: &[ServiceLevel]| {
            CarrierRule {
                carrier: CarrierId::from(carrier),
                countries: countries.iter().map(|c| c.to_string()).collect(),
                weight_grams_max: max,
                service_levels: levels.to_vec(),
                handling: None,
                rates: Vec::new(),
            }
        };
        let shipping = Shipping {
            carriers: vec![
                row("dhl-express", &["DE"], None, &[ServiceLevel::Express]),
                row("dhl", &["DE", "AT"], Some(31_500), &[]),
                row("freight-co", &[], None, &[]),
            ],
            ..Shipping::default()
        };
        let pick = |country, weight_grams, service_level| {
            let parcel = Parcel {
                country,
                weight_grams,
                service_level,
                handling: &[],
            };
            shipping.choose_carrier(parcel).map(|c| c.to_string())
        };
        assert_eq!(
            pick("DE", 500, ServiceLevel::Express).as_deref(),
            Some("dhl-express")
        );
        assert_eq!(
            pick("DE", 500, ServiceLevel::Standard).as_deref(),
            Some("dhl")
        );
        assert_eq!(
            pick("AT", 40_000, ServiceLevel::Standard).as_deref(),
            Some("freight-co")
        );
        assert_eq!(
            pick("US", 1, ServiceLevel::Economy).as_deref(),
            Some("freight-co")
        );
        assert_eq!(Shipping::default().choose_carrier(parcel(1, &[])), None);
    }
}
