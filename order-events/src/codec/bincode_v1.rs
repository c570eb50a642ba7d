//! The only file that calls bincode.
//!
//! bincode is unmaintained upstream (3.0.0 is a tombstone), so it is pinned at 2.0.1 and kept
//! here, behind format tag [`super::FORMAT_BINCODE_V1`]. Its configuration is spelled out in
//! full rather than taken from `standard()` alone, so a change of bincode's defaults can never
//! change the bytes: little-endian, variable-length integers (`u8` as one byte, larger integers
//! as bincode's varint), strings and sequences prefixed by their varint length, enum variants as
//! varint indices, `Option` as a 0/1 byte. A different encoding would get a new tag and a new
//! file beside this one; records under tag 1 stay readable through this file.

use std::fmt;

use bincode::config::{self, Configuration, LittleEndian, Varint};
use bincode::error::DecodeError as BincodeError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;

use super::error::{DecodeError, RECORD_BYTES_MAX};

type Config = Configuration<LittleEndian, Varint, config::Limit<RECORD_BYTES_MAX>>;

const CONFIG: Config = config::standard()
    .with_little_endian()
    .with_variable_int_encoding()
    .with_limit::<RECORD_BYTES_MAX>();

/// Encodes a value. Our types are plain data, so this cannot fail.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, CONFIG).expect("plain data always encodes with bincode")
}

/// Decodes exactly one `T` from all of `bytes`; `what` names it in errors (formatted only
/// then: decoding runs once per record).
pub(crate) fn decode<T: DeserializeOwned>(
    what: impl fmt::Display,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    decode_borrowed(what, bytes)
}

/// [`decode`] of a `T` that may borrow strings and byte strings from `bytes` instead of
/// copying them.
pub(crate) fn decode_borrowed<'de, T: Deserialize<'de>>(
    what: impl fmt::Display,
    bytes: &'de [u8],
) -> Result<T, DecodeError> {
    let (value, read) = bincode::serde::borrow_decode_from_slice::<T, _>(bytes, CONFIG).map_err(
        |error| match error {
            BincodeError::UnexpectedEnd { .. } => DecodeError::Truncated {
                what: what.to_string(),
            },
            other => DecodeError::Malformed {
                what: what.to_string(),
                reason: other.to_string(),
            },
        },
    )?;
    if read != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            what: what.to_string(),
            count: bytes.len() - read,
        });
    }
    Ok(value)
}
