//! The persistent formats of commands and events. Treat every byte here as forever.
//!
//! ## Binary records
//!
//! ```text
//! command record: [format tag: u8][body: CommandBody]
//! event record:   [format tag: u8][body: EventBody][hash: 32 bytes]
//! ```
//!
//! The tag says how the body is encoded; this build writes and reads tag `0x01`, bincode 2.0.1
//! in the configuration documented in `bincode_v1.rs`. A body carries its message's type name
//! and schema version next to the payload, and the payload is encoded on its own, so a reader
//! can route, verify and skip a record without understanding its payload, and can upcast a
//! payload written at an older schema version (`upcast.rs`).
//!
//! An event's hash is SHA-256 over a domain tag and the body bytes exactly as stored (see
//! [`EventHash::of_body`]); the body contains the previous event's hash, which chains every
//! aggregate's events. Hashing the stored bytes, not a re-encoding, means upcasting or a new
//! codec never changes a hash.
//!
//! ## JSON
//!
//! Commands from other services may be JSON (`json.rs`); events are exported as JSON for audit
//! tools. The JSON Schemas in `schemas/` describe both. A deployment may also write its event
//! records as JSON (`json_record.rs`): the event's object in a canonical form, hashed over that
//! form, so any language reads and checks them; `record.rs` reads either kind of record.
//!
//! ## Files, from the bottom up
//!
//! `error.rs` (the size limit and [`DecodeError`]), `bincode_v1.rs` (the pinned bincode
//! configuration), `payload.rs` (payloads at their own type in either codec, and the type-name
//! and version checks), then the upcasters (`crate::upcast`, older payload shapes), then
//! `binary.rs` (records, the hash chain, commands, cache values), `json.rs`, `json_record.rs`
//! and `record.rs` (either event record format); this file picks a command's codec by content
//! type.

mod binary;
mod bincode_v1;
pub(crate) mod error;
pub mod json;
mod json_record;
pub(crate) mod payload;
mod record;

pub use binary::{
    command_digest, decode_cache_value, decode_command_bincode, encode_cache_value,
    encode_command_bincode, encode_event_payload, encode_raw_event, seal, RawEvent, SealedEvent,
    StoredEvent, FORMAT_BINCODE_V1,
};
pub use error::{DecodeError, RECORD_BYTES_MAX};
pub use json_record::FORMAT_JSON_V1;
pub use record::{
    decode_event, decode_raw_event, seal_as, split_raw_event_unverified, EventFormat,
};

use crate::envelope::CommandEnvelope;

/// Content type header values for the two command encodings.
pub const CONTENT_TYPE_BINCODE: &str = "application/x-bincode";
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// Decodes a command in either encoding, by its content type header value.
pub fn decode_command_as(content_type: &str, bytes: &[u8]) -> Result<CommandEnvelope, DecodeError> {
    match content_type {
        CONTENT_TYPE_JSON => json::decode_command_json(bytes),
        CONTENT_TYPE_BINCODE => decode_command_bincode(bytes),
        other => Err(DecodeError::UnknownContentType {
            content_type: other.chars().take(80).collect(),
        }),
    }
}
