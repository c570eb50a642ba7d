//! JSON forms: commands from services in any language, and events for export.
//!
//! A command:
//! ```json
//! {"command_id": "…uuid…", "type": "CapturePayment", "schema_version": 1,
//!  "correlation_id": null, "causation_id": null,
//!  "actor": {"kind": "service", "id": "checkout"}, "issued_at": "2026-11-22T10:00:00Z",
//!  "payload": {"order_id": "…", "payment_id": "p-1", …}}
//! ```
//! `schema_version`, `correlation_id` and `causation_id` may be left out. Unknown fields and
//! duplicate fields are refused, money is a decimal string, and the payload is parsed straight
//! from the text into its type, so every mistake is reported with its line and column.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::binary::{encode_event_payload, encode_raw_event, RawEvent, StoredEvent};
use super::error::{check_size, DecodeError};
use super::payload::{check_version, parse, whole_numbers, wrong_kind, Json, Located};
use crate::context::Actor;
use crate::envelope::{
    AggregateKind, Command, CommandEnvelope, Event, EventEnvelope, EventHash, Recorded,
};
use crate::upcast;

fn first_version() -> u16 {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandIn<'a> {
    #[serde(deserialize_with = "crate::wire::uuid")]
    command_id: Uuid,
    #[serde(rename = "type")]
    command_type: String,
    #[serde(default = "first_version")]
    schema_version: u16,
    #[serde(default, deserialize_with = "crate::wire::optional_uuid")]
    correlation_id: Option<Uuid>,
    #[serde(default, deserialize_with = "crate::wire::optional_uuid")]
    causation_id: Option<Uuid>,
    actor: Actor,
    #[serde(deserialize_with = "crate::wire::time")]
    issued_at: DateTime<Utc>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Serialize)]
struct CommandOut<'a> {
    command_id: Uuid,
    #[serde(rename = "type")]
    command_type: &'a str,
    schema_version: u16,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    actor: &'a Actor,
    issued_at: DateTime<Utc>,
    payload: serde_json::Value,
}

/// The JSON form of an event envelope; `P` is the payload (a value out, raw text in).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventJson<P> {
    event_id: Uuid,
    aggregate_kind: AggregateKind,
    aggregate_id: String,
    sequence: u64,
    command_id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    actor: Actor,
    recorded_at: DateTime<Utc>,
    #[serde(rename = "type")]
    event_type: String,
    schema_version: u16,
    payload: P,
    prev_hash: EventHash,
    hash: EventHash,
    /// Where the event is in the events topic: `replay export` writes them, and a reader of
    /// an export takes them (they are not part of the event or its hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partition: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
}

impl<P> EventJson<P> {
    /// The record this document states, around `event` in some form.
    fn record<E>(&self, event: E) -> Recorded<E> {
        Recorded {
            event_id: self.event_id,
            aggregate_kind: self.aggregate_kind,
            aggregate_id: self.aggregate_id.clone(),
            sequence: self.sequence,
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor: self.actor.clone(),
            recorded_at: self.recorded_at,
            event,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

pub(crate) fn json_error(located: impl Into<Located>) -> DecodeError {
    let Located { path, error } = located.into();
    DecodeError::Json {
        line: error.line(),
        column: error.column(),
        reason: message_of(&error, &path),
        path,
    }
}

impl From<serde_json::Error> for DecodeError {
    fn from(error: serde_json::Error) -> DecodeError {
        json_error(error)
    }
}

/// serde_json's message without the position it appends (the error variant carries that), and
/// with what was expected where the message does not say: chrono's parse errors name neither
/// the field nor the format.
fn message_of(error: &serde_json::Error, path: &str) -> String {
    let mut reason = error.to_string();
    if let Some(at) = reason.rfind(" at line ") {
        reason.truncate(at);
    }
    let field = path.rsplit('.').next().unwrap_or_default();
    if !reason.contains("expected") && error.is_data() {
        if field.ends_with("_at") {
            reason.push_str("; expected an RFC 3339 time such as \"2026-11-22T10:00:00Z\"");
        } else if field.ends_with("_on") {
            reason.push_str("; expected a date such as \"2026-11-22\"");
        } else if reason.starts_with("UUID parsing failed") {
            reason.push_str("; expected a UUID such as \"0d3a4f3e-8a7b-4c55-9b1e-2f6a3c5d7e90\"");
        }
    }
    reason
}

/// A payload error with its line and column in the whole document, not in the payload alone,
/// and its path from the document's root.
fn payload_error(document: &[u8], payload: &str, located: Located) -> DecodeError {
    let Located { path, error } = located;
    let path = match path.as_str() {
        "" => "payload".to_owned(),
        inner if inner.starts_with('[') => format!("payload{inner}"),
        inner => format!("payload.{inner}"),
    };
    // The raw payload borrows from the document, so its offset is the pointer difference.
    let offset = (payload.as_ptr() as usize).saturating_sub(document.as_ptr() as usize);
    let before = document.get(..offset).unwrap_or_default();
    let lines_before = before.iter().filter(|&&b| b == b'\n').count();
    let column_of_payload = before.iter().rev().take_while(|&&b| b != b'\n').count();
    let line = lines_before + error.line();
    let column = if error.line() == 1 {
        column_of_payload + error.column()
    } else {
        error.column()
    };
    DecodeError::Json {
        line,
        column,
        reason: message_of(&error, &path),
        path,
    }
}

/// Refuses a document that is not a JSON object before parsing it as one: serde would read
/// an array as the struct's fields in order and complain about the first element's type.
fn expect_object(bytes: &[u8], what: &str) -> Result<(), DecodeError> {
    let Some(first) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Ok(()); // Empty input: serde's own "EOF while parsing" says it.
    };
    let found = match bytes[first] {
        b'{' => return Ok(()),
        b'[' => "an array",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        b'-' | b'0'..=b'9' => "a number",
        _ => return Ok(()), // Not JSON at all: serde names the character.
    };
    let before = &bytes[..first];
    Err(DecodeError::Json {
        line: before.iter().filter(|&&b| b == b'\n').count() + 1,
        column: before.iter().rev().take_while(|&&b| b != b'\n').count() + 1,
        path: String::new(),
        reason: format!("expected {what} as a JSON object, found {found}"),
    })
}

/// Decodes a JSON command.
pub fn decode_command_json(bytes: &[u8]) -> Result<CommandEnvelope, DecodeError> {
    check_size(bytes)?;
    expect_object(bytes, "a command")?;
    let bytes = &*whole_numbers(bytes);
    let input: CommandIn = parse(bytes).map_err(json_error)?;
    let type_name = input.command_type.as_str();
    if let Some(error) = wrong_kind(type_name, true) {
        return Err(error);
    }
    let current = check_version(
        type_name,
        input.schema_version,
        Command::current_version_of(type_name),
    )?;
    let payload = input.payload.get();
    let command = if input.schema_version < current {
        upcast::decode_legacy_command_json(type_name, input.schema_version, payload)
            .map(|r| r.map_err(|error| payload_error(bytes, payload, error)))
            .unwrap_or(Err(DecodeError::UnsupportedVersion {
                type_name: type_name.to_owned(),
                version: input.schema_version,
                current,
            }))?
    } else {
        Command::decode_current(&Json, type_name, payload.as_bytes())
            .expect("a type with a current version decodes in its set")
            .map_err(|error| payload_error(bytes, payload, error))?
    };
    Ok(CommandEnvelope {
        command_id: input.command_id,
        correlation_id: input.correlation_id.unwrap_or(input.command_id),
        causation_id: input.causation_id,
        actor: input.actor,
        issued_at: input.issued_at,
        command,
    })
}

/// Encodes a command as JSON text.
pub fn encode_command_json(envelope: &CommandEnvelope) -> String {
    let out = CommandOut {
        command_id: envelope.command_id,
        command_type: envelope.command.type_name(),
        schema_version: envelope.command.schema_version(),
        correlation_id: envelope.correlation_id,
        causation_id: envelope.causation_id,
        actor: &envelope.actor,
        issued_at: envelope.issued_at,
        payload: envelope.command.encode_payload(&Json),
    };
    serde_json::to_string(&out).expect("commands serialize to JSON")
}

/// Encodes an event envelope as a JSON value, payload in the current schema.
pub fn encode_event(envelope: &EventEnvelope) -> serde_json::Value {
    let payload = envelope.event.encode_payload(&Json);
    let out = EventJson {
        event_id: envelope.event_id,
        aggregate_kind: envelope.aggregate_kind,
        aggregate_id: envelope.aggregate_id.clone(),
        sequence: envelope.sequence,
        command_id: envelope.command_id,
        correlation_id: envelope.correlation_id,
        causation_id: envelope.causation_id,
        actor: envelope.actor.clone(),
        recorded_at: envelope.recorded_at,
        event_type: envelope.event.type_name().to_owned(),
        schema_version: envelope.event.schema_version(),
        payload,
        prev_hash: envelope.prev_hash,
        hash: envelope.hash,
        partition: None,
        offset: None,
    };
    serde_json::to_value(out).expect("events serialize to JSON")
}

/// Encodes an event as JSON as it is stored: a payload written at an older schema version in
/// that version's frozen shape, so the document's content hashes to the stored hash (see
/// [`decode_event_verified`]). `raw` is the record `envelope` was decoded from.
pub fn encode_event_as_stored(raw: &RawEvent, envelope: &EventEnvelope) -> serde_json::Value {
    let mut value = encode_event(envelope);
    let stored = &raw.event;
    if stored.schema_version < envelope.event.schema_version() {
        if let Some(payload) =
            upcast::legacy_json(&stored.event_type, stored.schema_version, &stored.payload)
        {
            value["payload"] = payload;
            value["schema_version"] = stored.schema_version.into();
        }
    }
    value
}

/// Domain tag of the hash of an event in JSON (see [`canonical_event_hash`]), apart from the
/// binary records' `order-ledger/event/v1`.
const JSON_EVENT_HASH_TAG: &[u8] = b"order-ledger/event-json/v1\0";

/// An exported event's fields that are not part of the event: where the export found it.
const PLACE_FIELDS: [&str; 2] = ["partition", "offset"];

/// The canonical form of an event in JSON, which JSON event records store and hash: the
/// event's object without `hash` (and without an export's `partition` and `offset`), keys
/// sorted by their UTF-8 bytes at every level, no whitespace, strings escaped only where JSON
/// must (`"`, `\`, and control characters: `\b \f \n \r \t`, others `\u00xx` in lower-case
/// hex), integers in plain decimal; an event has no other numbers. Python's
/// `json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes
/// exactly this.
pub fn canonical_event_bytes(document: &serde_json::Value) -> Vec<u8> {
    let mut body = document.clone();
    if let Some(fields) = body.as_object_mut() {
        fields.remove("hash");
        for place in PLACE_FIELDS {
            fields.remove(place);
        }
    }
    // serde_json's map is ordered by key (the crate's `preserve_order` feature is off), and
    // its compact writer escapes exactly as above.
    serde_json::to_vec(&body).expect("JSON values serialize")
}

/// The hash of an event in JSON: SHA-256 over [`JSON_EVENT_HASH_TAG`] and
/// [`canonical_event_bytes`].
pub fn canonical_event_hash(document: &serde_json::Value) -> EventHash {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(JSON_EVENT_HASH_TAG);
    hasher.update(canonical_event_bytes(document));
    EventHash(hasher.finalize().into())
}

/// Decodes a JSON event envelope, upcasting payloads written at older schema versions.
///
/// The hashes are carried over as written; they can be checked only against the binary record,
/// whose bytes they cover.
pub fn decode_event(bytes: &[u8]) -> Result<EventEnvelope, DecodeError> {
    decode_event_with(bytes, false)
}

/// Decodes a JSON event envelope and checks its hash against its content: the record body is
/// encoded again from the fields as written (the payload at the schema version the document
/// states, so an event exported at an older version is re-encoded in that version's frozen
/// shape) and hashed. A changed byte of content is a [`DecodeError::HashMismatch`].
pub fn decode_event_verified(bytes: &[u8]) -> Result<EventEnvelope, DecodeError> {
    decode_event_with(bytes, true)
}

/// Whether the document's content hashes to `stored` in the canonical JSON form: the event
/// came from a JSON event record. (Otherwise its hash covers a binary record's body.)
fn hashed_as_json(bytes: &[u8], stored: EventHash) -> bool {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .is_ok_and(|document| canonical_event_hash(&document) == stored)
}

fn decode_event_with(bytes: &[u8], verify: bool) -> Result<EventEnvelope, DecodeError> {
    check_size(bytes)?;
    expect_object(bytes, "an event")?;
    let input: EventJson<Box<RawValue>> = parse(bytes).map_err(json_error)?;
    let type_name = input.event_type.as_str();
    if let Some(error) = wrong_kind(type_name, false) {
        return Err(error);
    }
    let version = input.schema_version;
    let current = check_version(type_name, version, Event::current_version_of(type_name))?;
    let payload = input.payload.get();
    let event = if version < current {
        upcast::decode_legacy_json(type_name, version, payload)
            .map(|r| r.map_err(|error| payload_error(bytes, payload, error)))
            .unwrap_or(Err(DecodeError::UnsupportedVersion {
                type_name: type_name.to_owned(),
                version,
                current,
            }))?
    } else {
        Event::decode_current(&Json, type_name, payload.as_bytes())
            .expect("a type with a current version decodes in its set")
            .map_err(|error| payload_error(bytes, payload, error))?
    };
    if event.aggregate_kind() != input.aggregate_kind {
        return Err(DecodeError::Malformed {
            what: "event envelope".to_owned(),
            reason: format!("{type_name} is not an event of a {}", input.aggregate_kind),
        });
    }
    if verify && !hashed_as_json(bytes, input.hash) {
        let stored_payload = if version < current {
            upcast::encode_legacy_json(type_name, version, payload)
                .expect("a version that decoded has an upcaster")
                .map_err(|error| payload_error(bytes, payload, error))?
        } else {
            encode_event_payload(&event)
        };
        let raw = input.record(StoredEvent {
            event_type: type_name.to_owned(),
            schema_version: version,
            payload: stored_payload,
        });
        let (_, computed) = encode_raw_event(&raw);
        if computed != input.hash {
            return Err(DecodeError::HashMismatch {
                stored: input.hash.to_hex(),
                computed: computed.to_hex(),
            });
        }
    }
    Ok(input.record(event))
}
