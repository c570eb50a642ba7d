//! The order's rules in the warehouse: the picks a wave made for it, parcels packed from them
//! and verified, and parcels shipped.

use super::*;
use crate::context::OverweightHandling;
use crate::shipping::Parcel;

impl Placed<'_> {
    pub(super) fn record_picks(&self, c: &RecordPicks) -> Result<PicksRecorded, Rejection> {
        let context = self.context;
        ensure(
            context.actor.kind == ActorKind::System,
            Rule::ActorNotPermitted,
            || "RecordPicks is issued by the order process from a wave's picks".to_owned(),
        )?;
        validate::warehouse(&c.warehouse)?;
        line_quantities("lines", &c.lines, &context.policy)?;
        for picked in &c.lines {
            let line = self.line(&picked.sku)?;
            let unshipped = line.quantity - line.shipped;
            let waiting =
                self.state.picked_units(&picked.sku) + self.state.packed_units(&picked.sku);
            ensure(
                u64::from(picked.quantity) + u64::from(waiting) <= u64::from(unshipped),
                Rule::PicksExceedUnshipped,
                || {
                    format!(
                        "{} picks {} with {waiting} picked or packed already, {unshipped} unshipped",
                        picked.sku, picked.quantity
                    )
                },
            )?;
        }
        Ok(PicksRecorded {
            wave_id: c.wave_id.clone(),
            warehouse: c.warehouse.clone(),
            lines: c.lines.clone(),
        })
    }

    pub(super) fn pack_parcel(&self, c: &PackParcel) -> Result<ParcelPacked, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        validate::required_text("parcel_id", c.parcel_id.as_str(), SHORT_TEXT_MAX)?;
        ensure(
            state.parcel(&c.parcel_id).is_none() && state.shipment(&c.parcel_id).is_none(),
            Rule::ParcelAlreadyPacked,
            || format!("parcel {} is packed or shipped already", c.parcel_id),
        )?;
        line_quantities("lines", &c.lines, policy)?;
        self.check_contents(&c.lines)?;
        self.check_ships_whole(&c.lines)?;
        ensure(c.weight_grams > 0, Rule::WeightMustBePositive, || {
            "weight_grams is 0".to_owned()
        })?;
        let shipping = &policy.shipping;
        let units = LineQuantity::units(&c.lines);
        let handling = shipping.handling(&units);
        let limit = shipping.weight_limit(self.country(), &handling);
        let overweight = limit.is_some_and(|limit| c.weight_grams > limit);
        ensure(
            !overweight || policy.overweight == OverweightHandling::Exception,
            Rule::ParcelOverweight,
            || {
                format!(
                    "{} g is above the {} g the heaviest allowed service takes: split it",
                    c.weight_grams,
                    limit.unwrap_or_default()
                )
            },
        )?;
        self.check_complete(&c.lines, c.weight_grams, limit)?;
        let expected = shipping.expected_weight(&units);
        let tolerance = policy.pack_weight_tolerance_percent;
        Ok(ParcelPacked {
            parcel_id: c.parcel_id.clone(),
            lines: c.lines.clone(),
            weight_grams: c.weight_grams,
            expected_weight_grams: expected,
            weight_limit_grams: limit,
            handling,
            weight_mismatch: expected
                .is_some_and(|expected| !within(c.weight_grams, expected, tolerance)),
            overweight,
            packed_at: self.context.now,
        })
    }

    /// Every SKU packed was picked for the order, and no more units than are picked and not
    /// yet packed.
    fn check_contents(&self, lines: &[LineQuantity]) -> Result<(), Rejection> {
        for packed in lines {
            let picked = self.state.picked_units(&packed.sku);
            ensure(picked > 0, Rule::PackSkuNotPicked, || {
                format!(
                    "{} is not picked for this order",
                    validate::printable(packed.sku.as_str())
                )
            })?;
            ensure(packed.quantity <= picked, Rule::PackExceedsPicked, || {
                format!(
                    "{} packs {}, {picked} picked and not packed",
                    packed.sku, packed.quantity
                )
            })?;
        }
        Ok(())
    }

    /// Units picked and left out of the parcel are allowed only when none of them would fit
    /// within `limit` (a SKU of unknown weight is taken to fit).
    fn check_complete(
        &self,
        lines: &[LineQuantity],
        weight_grams: u32,
        limit: Option<u32>,
    ) -> Result<(), Rejection> {
        let shipping = &self.context.policy.shipping;
        let left: Vec<&LineQuantity> = self
            .state
            .picked
            .iter()
            .filter(|picked| {
                let packed = lines.iter().find(|l| l.sku == picked.sku);
                picked.quantity > packed.map_or(0, |l| l.quantity)
            })
            .collect();
        let fits = |sku: &Sku| {
            let unit = shipping.catalog.get(sku).map(|a| a.weight_grams);
            match (limit, unit) {
                (Some(limit), Some(unit)) => {
                    u64::from(weight_grams) + u64::from(unit) <= u64::from(limit)
                }
                _ => true,
            }
        };
        match left.iter().find(|line| fits(&line.sku)) {
            None => Ok(()),
            Some(line) => reject(
                Rule::PackIncomplete,
                format!(
                    "{} of {} is picked and not packed, and would fit",
                    line.quantity
                        - lines
                            .iter()
                            .find(|l| l.sku == line.sku)
                            .map_or(0, |l| l.quantity),
                    line.sku
                ),
            ),
        }
    }

    /// A cash-on-delivery order's one parcel holds every unit of it.
    fn check_ships_whole(&self, lines: &[LineQuantity]) -> Result<(), Rejection> {
        if !self.state.is_cash_on_delivery() {
            return Ok(());
        }
        let whole = self.state.lines.iter().all(|line| {
            let shipped = lines.iter().find(|l| l.sku == line.sku);
            shipped.map_or(0, |l| l.quantity) == line.quantity
        });
        ensure(whole, Rule::CashOnDeliveryShipsWhole, || {
            "a cash-on-delivery order ships every unit in one parcel".to_owned()
        })
    }

    fn country(&self) -> &str {
        self.state
            .header
            .as_ref()
            .map_or("", |header| header.shipping_address.country.as_str())
    }

    pub(super) fn ship(&self, c: &Ship) -> Result<ShipmentDispatched, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        validate::required_text("shipment_id", c.shipment_id.as_str(), SHORT_TEXT_MAX)?;
        ensure(
            state.shipment(&c.shipment_id).is_none(),
            Rule::ShipmentAlreadyRecorded,
            || format!("shipment {} was dispatched already", c.shipment_id),
        )?;
        let parcel = state.parcel(&c.shipment_id);
        ensure(
            parcel.is_some() || !policy.ship_packed_only,
            Rule::ParcelNotPacked,
            || format!("parcel {} is not packed", c.shipment_id),
        )?;
        let (lines, weight_grams) = shipped_contents(c, parcel)?;
        validate::required_text("tracking_number", &c.tracking_number, 64)?;
        line_quantities("lines", &lines, policy)?;
        self.check_unshipped(&lines)?;
        self.check_ships_whole(&lines)?;
        ensure(weight_grams > 0, Rule::WeightMustBePositive, || {
            "weight_grams is 0".to_owned()
        })?;
        let handling = policy.shipping.handling(&LineQuantity::units(&lines));
        let parcel = Parcel {
            country: self.country(),
            weight_grams,
            service_level: c.service_level,
            handling: &handling,
        };
        let carrier = self.carrier(c, parcel)?;
        let freight_cost = self.freight(c, &carrier, parcel)?;
        Ok(ShipmentDispatched {
            shipment_id: c.shipment_id.clone(),
            carrier,
            tracking_number: c.tracking_number.clone(),
            lines,
            freight_cost,
            weight_grams,
            dispatched_at: self.context.now,
        })
    }

    fn check_unshipped(&self, lines: &[LineQuantity]) -> Result<(), Rejection> {
        for shipped in lines {
            let line = self.line(&shipped.sku)?;
            let unshipped = line.quantity - line.shipped;
            ensure(
                shipped.quantity <= unshipped,
                Rule::ShipmentExceedsUnshipped,
                || {
                    format!(
                        "{} ships {}, {unshipped} unshipped",
                        shipped.sku, shipped.quantity
                    )
                },
            )?;
        }
        Ok(())
    }

    /// The named carrier, if the carrier table takes the parcel with it; else the table's
    /// choice.
    fn carrier(&self, c: &Ship, parcel: Parcel<'_>) -> Result<CarrierId, Rejection> {
        let shipping = &self.context.policy.shipping;
        let Some(carrier) = &c.carrier else {
            return shipping.choose_carrier(parcel).ok_or_else(|| {
                Rejection::new(
                    Rule::CarrierRequired,
                    "no carrier named, and no row of the carrier table takes the parcel",
                )
            });
        };
        validate::required_text("carrier", carrier.as_str(), 64)?;
        match shipping.refuses(carrier, parcel) {
            Some(why) => reject(Rule::CarrierRefusesParcel, why),
            None => Ok(carrier.clone()),
        }
    }

    fn freight(
        &self,
        c: &Ship,
        carrier: &CarrierId,
        parcel: Parcel<'_>,
    ) -> Result<Amount, Rejection> {
        let freight = match c.freight_cost {
            Some(freight) => freight,
            None => {
                let rate = self
                    .context
                    .policy
                    .shipping
                    .freight(carrier, parcel, self.currency);
                rate.ok_or_else(|| {
                    Rejection::new(
                        Rule::FreightRateUnknown,
                        format!(
                            "no freight_cost, and {carrier} has no rate in {} for {} g",
                            self.currency, parcel.weight_grams
                        ),
                    )
                })?
            }
        };
        validate::amount("freight_cost", freight, self.currency, false)?;
        Ok(freight)
    }
}

/// What a shipment carries and weighs: the command's, or the packed parcel's where the
/// command leaves them out (lines it names must be the parcel's).
fn shipped_contents(
    c: &Ship,
    parcel: Option<&ParcelPacked>,
) -> Result<(Vec<LineQuantity>, u32), Rejection> {
    let lines = match parcel {
        Some(parcel) if c.lines.is_empty() => parcel.lines.clone(),
        Some(parcel) => {
            let mut named = c.lines.clone();
            let mut packed = parcel.lines.clone();
            named.sort_by(|a, b| a.sku.cmp(&b.sku));
            packed.sort_by(|a, b| a.sku.cmp(&b.sku));
            ensure(named == packed, Rule::ShipmentDiffersFromParcel, || {
                format!("parcel {} was packed with other lines", parcel.parcel_id)
            })?;
            c.lines.clone()
        }
        None => c.lines.clone(),
    };
    let weight_grams = match (c.weight_grams, parcel) {
        (Some(weight), _) => weight,
        (None, Some(parcel)) => parcel.weight_grams,
        (None, None) => {
            return reject(
                Rule::WeightRequired,
                format!(
                    "shipment {} is no packed parcel and names no weight",
                    c.shipment_id
                ),
            )
        }
    };
    Ok((lines, weight_grams))
}

/// Whether `measured` is within `percent` of `expected`.
fn within(measured: u32, expected: u32, percent: u32) -> bool {
    let difference = u64::from(measured.abs_diff(expected));
    difference * 100 <= u64::from(expected) * u64::from(percent)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_tolerance_is_a_percentage_of_the_expected_weight() {
        assert!(super::within(1_100, 1_000, 10));
        assert!(super::within(900, 1_000, 10));
        assert!(!super::within(1_101, 1_000, 10));
        assert!(!super::within(1, 0, 10));
        assert!(super::within(0, 0, 0));
    }
}
