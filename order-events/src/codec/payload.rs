//! Payloads, whatever their message: encoded and decoded at their own type in either codec
//! (the message sets hand them over through [`PayloadCodec`]), and the checks of a type name
//! and schema version every decoder makes before it reads a payload.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::bincode_v1;
use super::error::DecodeError;
use crate::envelope::{Command, Event};
use crate::message::PayloadCodec;

/// Payloads in the binary codec (bincode, format tag 0x01).
pub(crate) struct Bincode;

impl PayloadCodec for Bincode {
    type Encoded = Vec<u8>;
    type Error = DecodeError;

    fn encode<T: Serialize>(&self, message: &T) -> Vec<u8> {
        encode_payload(message)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        type_name: &str,
        payload: &[u8],
    ) -> Result<T, DecodeError> {
        decode_payload(type_name, payload)
    }
}

pub(crate) fn encode_payload<T: Serialize>(message: &T) -> Vec<u8> {
    bincode_v1::encode(message)
}

pub(crate) fn decode_payload<T: DeserializeOwned>(
    type_name: &str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    bincode_v1::decode(format_args!("{type_name} payload"), bytes)
}

/// Payloads as JSON values.
pub(crate) struct Json;

impl PayloadCodec for Json {
    type Encoded = serde_json::Value;
    type Error = Located;

    fn encode<T: Serialize>(&self, message: &T) -> serde_json::Value {
        // Messages are plain data with string map keys: serializing them cannot fail.
        serde_json::to_value(message).expect("message types serialize to JSON")
    }

    fn decode<T: DeserializeOwned>(&self, _type_name: &str, payload: &[u8]) -> Result<T, Located> {
        parse(payload)
    }
}

/// The JSON text with every whole number written as an integer: `25.0`, `2.5e1` and `250e-1`
/// become `25`, padded with spaces to the token's length, so every byte after keeps its place
/// (line and column of an error) and the text stays valid JSON. JSON has one kind of number
/// (RFC 8259), and JSON Schema counts `25.0` as an integer; serde reads integer fields from
/// integer tokens only. A whole number whose digits do not fit in its token (`1e3`) is left
/// as written, and so is every number that is not whole.
pub(crate) fn whole_numbers(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let (mut i, mut in_string, mut escaped) = (0, false, false);
    while i < text.len() {
        let byte = text[i];
        if in_string {
            (in_string, escaped) = match (escaped, byte) {
                (true, _) => (true, false),
                (false, b'\\') => (true, true),
                (false, b'"') => (false, false),
                _ => (true, false),
            };
            i += 1;
            continue;
        }
        if byte == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if byte != b'-' && !byte.is_ascii_digit() {
            i += 1;
            continue;
        }
        let end = i + text[i..]
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(text.len() - i);
        if let Some(whole) = whole_number(&text[i..end]) {
            let buffer = out.get_or_insert_with(|| text.to_vec());
            buffer[i..i + whole.len()].copy_from_slice(whole.as_bytes());
            buffer[i + whole.len()..end].fill(b' ');
        }
        i = end;
    }
    out.map_or(std::borrow::Cow::Borrowed(text), std::borrow::Cow::Owned)
}

/// `token` as an integer, when it is a number with a point or an exponent whose value is
/// whole and whose integer form is no longer than the token.
fn whole_number(token: &[u8]) -> Option<String> {
    let token = std::str::from_utf8(token).ok()?;
    let (negative, unsigned) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if integer.is_empty()
        || !(integer
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if fraction.is_empty() && exponent == 0 {
        return None; // Already an integer.
    }
    let mut digits = format!("{integer}{fraction}");
    let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    if shift >= 0 {
        let zeros = usize::try_from(shift).ok().filter(|&z| z <= token.len())?;
        digits.extend(std::iter::repeat_n('0', zeros));
    } else {
        let cut = usize::try_from(-shift).ok()?;
        if cut > digits.len() || !digits[digits.len() - cut..].bytes().all(|b| b == b'0') {
            return None;
        }
        digits.truncate(digits.len() - cut);
    }
    let digits = digits.trim_start_matches('0');
    let whole = match (digits.is_empty(), negative) {
        (true, _) => "0".to_owned(),
        (false, true) => format!("-{digits}"),
        (false, false) => digits.to_owned(),
    };
    (whole.len() <= token.len()).then_some(whole)
}

/// A JSON mistake and where it is: the JSON path of the field (`lines[0].quantity`; empty for
/// the document itself) and serde_json's error, which has the line and column.
pub(crate) struct Located {
    pub path: String,
    pub error: serde_json::Error,
}

impl From<serde_json::Error> for Located {
    fn from(error: serde_json::Error) -> Located {
        Located {
            path: String::new(),
            error,
        }
    }
}

/// Parses JSON text as `T`, tracking the path to whatever does not fit.
pub(crate) fn parse<'de, T: Deserialize<'de>>(text: &'de [u8]) -> Result<T, Located> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        Located {
            path: if path == "." { String::new() } else { path },
            error: error.into_inner(),
        }
    })?;
    deserializer.end()?;
    Ok(value)
}

/// Checks a message's schema version against what this build reads.
pub(crate) fn check_version(
    type_name: &str,
    version: u16,
    current: Option<u16>,
) -> Result<u16, DecodeError> {
    let current = current.ok_or_else(|| DecodeError::UnknownType {
        type_name: type_name.chars().take(80).collect(),
    })?;
    if version > current || version == 0 {
        return Err(DecodeError::UnsupportedVersion {
            type_name: type_name.to_owned(),
            version,
            current,
        });
    }
    Ok(current)
}

/// Refuses an event type name where a command was expected, and the reverse, by name.
pub(crate) fn wrong_kind(type_name: &str, expected_command: bool) -> Option<DecodeError> {
    let (is_other, expected, found) = if expected_command {
        (
            Event::current_version_of(type_name).is_some(),
            "command",
            "event",
        )
    } else {
        (
            Command::current_version_of(type_name).is_some(),
            "event",
            "command",
        )
    };
    is_other.then(|| DecodeError::WrongKind {
        type_name: type_name.to_owned(),
        expected,
        found,
    })
}

#[cfg(test)]
mod tests {
    use super::whole_numbers;

    fn normalized(text: &str) -> String {
        String::from_utf8(whole_numbers(text.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn whole_numbers_become_integers_in_place_and_nothing_else_changes() {
        let cases = [
            (r#"{"q": 25.0}"#, r#"{"q": 25  }"#),
            (r#"[2.5e1,250E-1,1E2,-3.00]"#, r#"[25   ,25    ,100,-3   ]"#),
            (r#"{"q": -0.0}"#, r#"{"q": 0   }"#),
            // Not whole, or too long to fit: as written.
            (r#"[1.5, 1e3, 0.25e1, 7]"#, r#"[1.5, 1e3, 0.25e1, 7]"#),
            // Inside strings, escaped quotes included: as written.
            (r#"{"a\"25.0": "25.0"}"#, r#"{"a\"25.0": "25.0"}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(normalized(input), expected, "{input}");
            assert_eq!(normalized(input).len(), input.len());
        }
        assert!(matches!(
            whole_numbers(br#"{"q": 25}"#),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
