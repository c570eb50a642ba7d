//! JSON event records: what the events topic holds when a deployment writes its events as JSON
//! (`[log] event_format = "json"`), so that a consumer in any language reads them with a JSON
//! parser and checks their hashes with SHA-256.
//!
//! ```text
//! event record: the event's JSON object (schemas/events/<Type>.json) in canonical form
//! hash:         SHA-256("order-ledger/event-json/v1\0" ‖ canonical form without "hash")
//! ```
//!
//! The canonical form is [`json::canonical_event_bytes`]'s: sorted keys, no whitespace, minimal
//! escapes. A record starts with `{`, which no binary record's format tag is, so both kinds can
//! share a topic (a deployment that switches keeps its older records and their chains).

use super::binary::{encode_event_payload, RawEvent, StoredEvent};
use super::error::{check_size, DecodeError};
use super::json;
use crate::envelope::{Event, EventEnvelope, EventHash};

/// The first byte of every JSON event record.
pub const FORMAT_JSON_V1: u8 = b'{';

/// The JSON record of an event (its parts in `raw`, its hash ignored) and the record's hash.
pub fn encode(raw: &RawEvent, event: &Event) -> (Vec<u8>, EventHash) {
    let mut document = json::encode_event(&raw.clone().with_event(event.clone()));
    let hash = json::canonical_event_hash(&document);
    document["hash"] = hash.to_hex().into();
    let record = serde_json::to_vec(&document).expect("JSON values serialize");
    (record, hash)
}

/// Decodes a JSON event record; with `verify`, refuses one whose content does not hash to its
/// stored hash, or that carries an export's `partition` or `offset`.
pub fn decode(bytes: &[u8], verify: bool) -> Result<EventEnvelope, DecodeError> {
    check_size(bytes)?;
    let envelope = json::decode_event(bytes)?;
    if verify {
        let document: serde_json::Value = serde_json::from_slice(bytes)?;
        if document.get("partition").is_some() || document.get("offset").is_some() {
            return Err(DecodeError::Malformed {
                what: "JSON event record".to_owned(),
                reason: "a record holds the event alone; partition and offset are an export's"
                    .to_owned(),
            });
        }
        let computed = json::canonical_event_hash(&document);
        if computed != envelope.hash {
            return Err(DecodeError::HashMismatch {
                stored: envelope.hash.to_hex(),
                computed: computed.to_hex(),
            });
        }
    }
    Ok(envelope)
}

/// A JSON event record as its parts, the payload in bincode at its current version (what the
/// chain and proof tools route on; the hash is the record's own).
pub fn decode_raw(bytes: &[u8], verify: bool) -> Result<RawEvent, DecodeError> {
    let envelope = decode(bytes, verify)?;
    let stored = StoredEvent {
        event_type: envelope.event.type_name().to_owned(),
        schema_version: envelope.event.schema_version(),
        payload: encode_event_payload(&envelope.event),
    };
    Ok(envelope.with_event(stored))
}
