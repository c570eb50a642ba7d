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
