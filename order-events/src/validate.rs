//! Field checks shared by the aggregates. Each returns the rejection for the first problem
//! found, naming the field.

use std::collections::HashSet;

use crate::context::Policy;
use crate::ids::{Sku, WarehouseId};
use crate::money::{Amount, Currency};
use crate::rejection::{ensure, Rejection, Rule};

/// Maximum length of names, codes and references.
pub const SHORT_TEXT_MAX: usize = 128;
/// Maximum length of free-text notes and comments.
pub const NOTE_MAX: usize = 2000;

/// An identifier that goes into an aggregate id (a run id, a provider's name): 1 to 64 of
/// `A-Z a-z 0-9 . _ -`.
pub fn identifier(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A required text field: not blank, at most `max` characters, no control characters.
pub fn required_text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    ensure(!value.trim().is_empty(), Rule::RequiredFieldMissing, || {
        format!("{field} is empty")
    })?;
    optional_text(field, value, max)
}

/// An optional text field: may be empty; otherwise as [`required_text`].
pub fn optional_text(field: &str, value: &str, max: usize) -> Result<(), Rejection> {
    let length = value.chars().count();
    ensure(length <= max, Rule::FieldTooLong, || {
        format!("{field} has {length} characters; at most {max} allowed")
    })?;
    ensure(
        !value.chars().any(char::is_control),
        Rule::TextInvalid,
        || format!("{field} contains control characters"),
    )
}

/// An amount of money in `currency`: not negative (or, with `positive`, above zero), within
/// the currency's minor units and below [`Amount::maximum`].
pub fn amount(
    field: &str,
    value: Amount,
    currency: Currency,
    positive: bool,
) -> Result<(), Rejection> {
    if positive {
        ensure(value.is_positive(), Rule::AmountMustBePositive, || {
            format!("{field} is {value}; it must be more than zero")
        })?;
    } else {
        ensure(!value.is_negative(), Rule::AmountMustNotBeNegative, || {
            format!("{field} is {value}; it must not be negative")
        })?;
    }
    ensure(value <= Amount::maximum(), Rule::AmountTooLarge, || {
        format!("{field} is {value}; at most {} allowed", Amount::maximum())
    })?;
    ensure(
        currency.fits_minor_units(value),
        Rule::AmountPrecisionExceedsCurrency,
        || {
            format!(
                "{field} is {value}; {currency} has {} decimal places",
                currency.minor_units()
            )
        },
    )
}

pub fn quantity(field: &str, value: u64, policy: &Policy) -> Result<(), Rejection> {
    ensure(value > 0, Rule::QuantityMustBePositive, || {
        format!("{field} is 0")
    })?;
    let max = policy.quantity_per_line_max;
    ensure(
        value <= u64::from(max),
        Rule::QuantityExceedsMaximum,
        || format!("{field} is {value}; at most {max} allowed"),
    )
}

pub fn sku(value: &Sku) -> Result<(), Rejection> {
    ensure(value.is_well_formed(), Rule::SkuFormatInvalid, || {
        format!("'{}' is not a valid SKU", printable(value.as_str()))
    })
}

pub fn warehouse(value: &WarehouseId) -> Result<(), Rejection> {
    ensure(value.is_well_formed(), Rule::WarehouseFormatInvalid, || {
        format!(
            "'{}' is not a valid warehouse code",
            printable(value.as_str())
        )
    })
}

/// Records `sku` in `seen`, rejecting it when it was there already.
pub fn unique_sku<'a>(
    seen: &mut HashSet<&'a Sku>,
    sku: &'a Sku,
    field: &str,
) -> Result<(), Rejection> {
    ensure(seen.insert(sku), Rule::DuplicateLine, || {
        format!("{sku} appears more than once in {field}")
    })
}

/// Phone numbers: 6 to 15 digits (E.164 allows 15), an optional leading `+`, and only spaces,
/// dots, hyphens or parentheses as separators.
pub fn phone(value: &str) -> Result<(), Rejection> {
    let body = value.trim().strip_prefix('+').unwrap_or(value.trim());
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let separators_only = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '(' | ')'));
    ensure(
        separators_only && (6..=15).contains(&digits) && value.len() <= 32,
        Rule::PhoneInvalid,
        || format!("'{}' is not a plausible phone number", printable(value)),
    )
}

/// Postal codes around the world: 2 to 10 letters, digits, spaces or hyphens, with at least
/// one letter or digit, not starting or ending with a separator.
pub fn postal_code(value: &str) -> Result<(), Rejection> {
    let plausible = (2..=10).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    ensure(plausible, Rule::PostalCodeInvalid, || {
        format!("'{}' is not a plausible postal code", printable(value))
    })
}

pub fn country(value: &str) -> Result<(), Rejection> {
    ensure(
        value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase()),
        Rule::CountryCodeInvalid,
        || format!("'{}' is not an ISO 3166-1 alpha-2 code", printable(value)),
    )
}

/// Makes untrusted text safe to echo in a message: control characters escaped, length capped.
pub fn printable(value: &str) -> String {
    value
        .chars()
        .take(80)
        .flat_map(char::escape_default)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        for good in ["+49 30 1234567", "(555) 123-4567", "030.123.456", "123456"] {
            assert!(phone(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "12345",
            "+1234567890123456",
            "call me",
            "+49 30 12a4567",
        ] {
            assert!(phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postal_codes() {
        for good in ["10115", "SW1A 1AA", "75008", "100-0001", "K1A 0B1"] {
            assert!(postal_code(good).is_ok(), "{good}");
        }
        for bad in ["", "1", "-1000", "12345678901", "10115!"] {
            assert!(postal_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts() {
        assert_eq!(
            required_text("f", "  ", 5).unwrap_err().rule,
            Rule::RequiredFieldMissing
        );
        assert_eq!(
            required_text("f", "abcdef", 5).unwrap_err().rule,
            Rule::FieldTooLong
        );
        assert_eq!(
            required_text("f", "a\u{0}b", 5).unwrap_err().rule,
            Rule::TextInvalid
        );
        assert!(optional_text("f", "", 5).is_ok());
    }
}
