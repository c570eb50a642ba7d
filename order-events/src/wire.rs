//! How ids and times are spelled in JSON: exactly as the published schemas' formats say
//! (`uuid`, `date-time`), where the `uuid` and `chrono` parsers on their own also take other
//! spellings. Binary records are read as they always were (these check only human-readable
//! formats).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

/// A UUID in its hyphenated form (8-4-4-4-12 hex digits, either case); not `urn:uuid:…`,
/// braced or without hyphens.
pub fn uuid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Uuid, D::Error> {
    if !deserializer.is_human_readable() {
        return Uuid::deserialize(deserializer);
    }
    deserializer.deserialize_str(Strict {
        expecting: "a UUID such as \"0d3a4f3e-8a7b-4c55-9b1e-2f6a3c5d7e90\" (hyphenated)",
        parse: parse_uuid,
    })
}

fn parse_uuid(text: &str) -> Option<Uuid> {
    let hyphens = text.len() == 36
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| matches!(i, 8 | 13 | 18 | 23) == (b == b'-'));
    hyphens.then(|| Uuid::try_parse(text).ok()).flatten()
}

/// Reads a string with `parse`, naming what it expected when the string is not one.
struct Strict<T> {
    expecting: &'static str,
    parse: fn(&str) -> Option<T>,
}

impl<T> serde::de::Visitor<'_> for Strict<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.parse)(text).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(text), &self))
    }
}

pub fn optional_uuid<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Uuid>, D::Error> {
    #[derive(Deserialize)]
    struct Strict(#[serde(deserialize_with = "uuid")] Uuid);
    Ok(Option::<Strict>::deserialize(deserializer)?.map(|Strict(id)| id))
}

/// An RFC 3339 time as JSON Schema's `date-time` is checked: `T` between date and time
/// (or `t`), an offset always (`Z`, `z` or `±HH:MM`), seconds below 60.
pub fn time<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    if !deserializer.is_human_readable() {
        return DateTime::<Utc>::deserialize(deserializer);
    }
    deserializer.deserialize_str(Strict {
        expecting: "an RFC 3339 time such as \"2026-11-22T10:00:00Z\"",
        parse: parse_rfc3339,
    })
}

fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let text = text.to_ascii_uppercase();
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
        && b[17] < b'6'
        && &text[..4] != "0000";
    if !shape {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if end == 0 {
            return None;
        }
        rest = &fraction[end..];
    }
    let offset = rest == "Z"
        || (rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':'
            && rest[1..3]
                .bytes()
                .chain(rest[4..].bytes())
                .all(|d| d.is_ascii_digit()));
    if !offset {
        return None;
    }
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// An optional [`time`]: `null` or absent is `None`.
pub fn optional_time<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    #[derive(Deserialize)]
    struct Strict(#[serde(deserialize_with = "time")] DateTime<Utc>);
    Ok(Option::<Strict>::deserialize(deserializer)?.map(|Strict(at)| at))
}
