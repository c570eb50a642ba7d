//! Money: a decimal amount and an ISO 4217 currency. Never a float.
//!
//! Amounts travel as decimal strings (`"120.00"`) in every format, so no JSON parser on the way
//! can round them through a binary float. An [`Amount`] keeps the scale it was written with,
//! which is why `"1.50"` stays `"1.50"` after a round trip through the log.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The currencies the ledger settles in, with their minor units.
///
/// A closed list on purpose: a currency the ledger does not know cannot be validated for
/// precision, so a command naming one is refused at decode time instead of being guessed at.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Currency {
    AUD,
    CAD,
    CHF,
    CNY,
    DKK,
    EUR,
    GBP,
    HKD,
    JPY,
    KRW,
    KWD,
    NOK,
    PLN,
    SEK,
    SGD,
    USD,
}

impl Currency {
    pub const ALL: [Currency; 16] = [
        Currency::AUD,
        Currency::CAD,
        Currency::CHF,
        Currency::CNY,
        Currency::DKK,
        Currency::EUR,
        Currency::GBP,
        Currency::HKD,
        Currency::JPY,
        Currency::KRW,
        Currency::KWD,
        Currency::NOK,
        Currency::PLN,
        Currency::SEK,
        Currency::SGD,
        Currency::USD,
    ];

    /// Digits after the decimal point of the currency's smallest unit (ISO 4217 "minor unit").
    pub fn minor_units(self) -> u32 {
        match self {
            Currency::JPY | Currency::KRW => 0,
            Currency::KWD => 3,
            _ => 2,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Currency::AUD => "AUD",
            Currency::CAD => "CAD",
            Currency::CHF => "CHF",
            Currency::CNY => "CNY",
            Currency::DKK => "DKK",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::HKD => "HKD",
            Currency::JPY => "JPY",
            Currency::KRW => "KRW",
            Currency::KWD => "KWD",
            Currency::NOK => "NOK",
            Currency::PLN => "PLN",
            Currency::SEK => "SEK",
            Currency::SGD => "SGD",
            Currency::USD => "USD",
        }
    }

    /// Whether `amount` can be expressed in whole minor units of this currency.
    pub fn fits_minor_units(self, amount: Amount) -> bool {
        amount.0.normalize().scale() <= self.minor_units()
    }
}

/// Why a string is not a currency the ledger settles in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not a currency the ledger settles in (ISO 4217 code, upper case: EUR, USD, ...)"
)]
pub struct CurrencyParseError {
    pub input: String,
}

impl FromStr for Currency {
    type Err = CurrencyParseError;

    fn from_str(input: &str) -> Result<Currency, CurrencyParseError> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == input)
            .ok_or_else(|| CurrencyParseError {
                input: input.to_owned(),
            })
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A decimal amount of money. Its currency is carried by the order or command it belongs to.
///
/// Serialized as a string in every format. Deserializing refuses JSON numbers, because a
/// number like `0.1` has already been through a binary float in most producers' hands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub Decimal);

impl Amount {
    pub const ZERO: Amount = Amount(Decimal::ZERO);

    /// Writes each of `amounts` with exactly `currency`'s minor units, in place (see
    /// [`Amount::in_minor_units`]).
    pub fn rescale_all<'a>(currency: Currency, amounts: impl IntoIterator<Item = &'a mut Amount>) {
        for amount in amounts {
            *amount = amount.in_minor_units(currency);
        }
    }

    /// The amount written with exactly its currency's minor units, as read models show money:
    /// `0.00` and `45.70` in EUR, `1200` in JPY. A computed value with more digits (an
    /// average) is rounded half away from zero.
    pub fn in_minor_units(self, currency: Currency) -> Amount {
        let units = currency.minor_units();
        let mut value = self
            .0
            .round_dp_with_strategy(units, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        value.rescale(units);
        Amount(value)
    }

    /// Largest amount any single field may hold: 10^12 currency units. Far above any real order,
    /// and low enough that sums of many such amounts never approach `Decimal`'s 96-bit limit.
    pub fn maximum() -> Amount {
        Amount(Decimal::from(1_000_000_000_000_i64))
    }

    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }

    pub fn is_positive(self) -> bool {
        self.0.is_sign_positive() && !self.0.is_zero()
    }

    /// Multiplies by a quantity. Callers bound both factors first, so this cannot overflow.
    pub fn times(self, quantity: u32) -> Amount {
        Amount(self.0 * Decimal::from(quantity))
    }
}

impl std::ops::Add for Amount {
    type Output = Amount;
    fn add(self, other: Amount) -> Amount {
        Amount(self.0 + other.0)
    }
}

impl std::ops::Sub for Amount {
    type Output = Amount;
    fn sub(self, other: Amount) -> Amount {
        Amount(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Amount {
    fn add_assign(&mut self, other: Amount) {
        self.0 += other.0;
    }
}

impl std::ops::SubAssign for Amount {
    fn sub_assign(&mut self, other: Amount) {
        self.0 -= other.0;
    }
}

impl std::iter::Sum for Amount {
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, |total, amount| total + amount)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a decimal amount (expected digits with an optional sign and point, like \"120.00\")")]
pub struct AmountParseError {
    pub input: String,
}

impl FromStr for Amount {
    type Err = AmountParseError;

    fn from_str(input: &str) -> Result<Amount, AmountParseError> {
        let error = || AmountParseError {
            input: input.chars().take(64).collect(),
        };
        // Only plain decimal notation: no exponents, no underscores, no surrounding space.
        let digits = input.strip_prefix('-').unwrap_or(input);
        let well_formed = !digits.is_empty()
            && digits.len() <= 40
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.chars().filter(|&c| c == '.').count() <= 1
            && !digits.starts_with('.')
            && !digits.ends_with('.');
        if !well_formed {
            return Err(error());
        }
        Decimal::from_str_exact(input)
            .map(Amount)
            .map_err(|_| error())
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Most digits an amount written as JSON may have: every plain decimal of 28 digits or fewer
/// is exactly a `Decimal`, and the published schema says so with a pattern
/// ([`Amount::JSON_PATTERN`]). Stored records are read with `Decimal`'s own limit.
pub const JSON_DIGITS_MAX: usize = 28;

impl Amount {
    /// The JSON Schema pattern of an amount: plain decimal notation, at most
    /// [`JSON_DIGITS_MAX`] digits.
    pub const JSON_PATTERN: &'static str = "^(?=-?(?:[0-9]\\.?){1,28}$)-?[0-9]+(\\.[0-9]+)?$";
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        struct Visitor {
            json: bool,
        }
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal amount as a string, like \"120.00\"")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Amount, E> {
                let digits = value.bytes().filter(u8::is_ascii_digit).count();
                if self.json && digits > JSON_DIGITS_MAX {
                    return Err(E::custom(format!(
                        "'{}' has {digits} digits; an amount has at most {JSON_DIGITS_MAX}",
                        value.chars().take(64).collect::<String>()
                    )));
                }
                value.parse().map_err(E::custom)
            }
        }
        let json = deserializer.is_human_readable();
        deserializer.deserialize_str(Visitor { json })
    }
}

impl JsonSchema for Amount {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Amount".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": Amount::JSON_PATTERN,
            "description": "A decimal amount of money as a string, in the currency of its order: plain decimal notation, at most 28 digits, and at most the currency's minor units after the point.",
            "examples": ["120.00"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_with_their_currencys_minor_units() {
        let amount = |text: &str| text.parse::<Amount>().unwrap();
        let cases = [
            ("0", Currency::EUR, "0.00"),
            ("45.7", Currency::EUR, "45.70"),
            ("-3", Currency::EUR, "-3.00"),
            ("1200", Currency::JPY, "1200"),
            ("0", Currency::KWD, "0.000"),
            ("16.665", Currency::EUR, "16.67"),
            ("-16.665", Currency::EUR, "-16.67"),
        ];
        for (value, currency, shown) in cases {
            assert_eq!(amount(value).in_minor_units(currency).to_string(), shown);
        }
    }

    #[test]
    fn amounts_keep_their_scale_through_json() {
        let amount: Amount = serde_json::from_str("\"1.50\"").unwrap();
        assert_eq!(serde_json::to_string(&amount).unwrap(), "\"1.50\"");
    }

    #[test]
    fn json_numbers_and_exotic_notation_are_refused() {
        assert!(serde_json::from_str::<Amount>("1.5").is_err());
        for bad in [
            "", "-", "1e3", " 1", "1.", ".5", "1.2.3", "1_000", "+1", "NaN",
        ] {
            assert!(bad.parse::<Amount>().is_err(), "{bad:?} parsed");
        }
        let too_long = "9".repeat(41);
        assert!(too_long.parse::<Amount>().is_err());
    }

    #[test]
    fn currency_codes_parse_back() {
        for currency in Currency::ALL {
            assert_eq!(currency.code().parse::<Currency>(), Ok(currency));
        }
        assert!("eur".parse::<Currency>().is_err());
        assert!("XXX".parse::<Currency>().is_err());
    }

    #[test]
    fn precision_follows_the_currency() {
        let amount: Amount = "10.005".parse().unwrap();
        assert!(!Currency::EUR.fits_minor_units(amount));
        assert!(Currency::KWD.fits_minor_units(amount));
        assert!(Currency::JPY.fits_minor_units("100.00".parse().unwrap()));
        assert!(!Currency::JPY.fits_minor_units("100.5".parse().unwrap()));
    }
}
