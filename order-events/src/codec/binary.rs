//! Binary records: events sealed into their hash chain and read back (hash checked), commands,
//! and local cache values, all behind format tag [`FORMAT_BINCODE_V1`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::bincode_v1;
use super::error::{check_size, DecodeError, RECORD_BYTES_MAX};
use super::payload::{check_version, wrong_kind, Bincode};
use crate::context::Actor;
use crate::envelope::{
    event_id, AggregateKind, ChainHead, Command, CommandEnvelope, Event, EventEnvelope, EventHash,
    Recorded,
};
use crate::upcast;

/// Format tag of bincode 2.0.1 records (`bincode_v1.rs`).
pub const FORMAT_BINCODE_V1: u8 = 0x01;

const HASH_BYTES: usize = 32;

/// The stored form of a command, after the format tag.
#[derive(Serialize, Deserialize)]
struct CommandBody {
    command_id: Uuid,
    correlation_id: Uuid,
    causation_id: Option<Uuid>,
    actor: Actor,
    issued_at: DateTime<Utc>,
    command_type: String,
    schema_version: u16,
    payload: Vec<u8>,
}

/// An event record split into its parts, hash verified, payload not yet decoded. What the
/// replay tool checks chains on. `decode_event` reads it with the event type and the payload
/// borrowed from the record (`RawEvent<&str, &[u8]>`: a byte string and a sequence of bytes
/// encode alike), so [`Recorded`] with a [`StoredEvent`] is the record's one layout.
pub type RawEvent<Text = String, Bytes = Vec<u8>> = Recorded<StoredEvent<Text, Bytes>>;

/// An event as its record stores it: type name, schema version and the payload's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent<Text = String, Bytes = Vec<u8>> {
    pub event_type: Text,
    /// The schema version the payload was written at.
    pub schema_version: u16,
    pub payload: Bytes,
}

/// A freshly decided event: its envelope and the exact record bytes to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedEvent {
    pub envelope: EventEnvelope,
    pub record: Vec<u8>,
}

/// Gives decided events their envelopes and record bytes, continuing the aggregate's chain
/// from `head`. `recorded_at` is the decision time from the context.
pub fn seal(
    command: &CommandEnvelope,
    head: ChainHead,
    events: Vec<Event>,
    recorded_at: DateTime<Utc>,
) -> Vec<SealedEvent> {
    seal_with(command, head, events, recorded_at, |raw, _| {
        encode_raw_event(raw)
    })
}

/// [`seal`], each record written by `encode` (from its parts, the payload in bincode, and the
/// event), which also gives the hash the next event chains to.
pub(crate) fn seal_with(
    command: &CommandEnvelope,
    head: ChainHead,
    events: Vec<Event>,
    recorded_at: DateTime<Utc>,
    encode: impl Fn(&RawEvent, &Event) -> (Vec<u8>, EventHash),
) -> Vec<SealedEvent> {
    let target = command.command.target();
    let mut head = head;
    let mut sealed = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        assert_eq!(
            event.aggregate_kind(),
            target.kind,
            "a command's events belong to the aggregate it addresses"
        );
        let index = u32::try_from(index).expect("fewer than 2^32 events per command");
        let raw = RawEvent {
            event_id: event_id(&target, command.command_id, index),
            aggregate_kind: target.kind,
            aggregate_id: target.id.clone(),
            sequence: head.sequence + 1,
            command_id: command.command_id,
            correlation_id: command.correlation_id,
            causation_id: command.causation_id,
            actor: command.actor.clone(),
            recorded_at,
            event: StoredEvent {
                event_type: event.type_name().to_owned(),
                schema_version: event.schema_version(),
                payload: encode_event_payload(&event),
            },
            prev_hash: head.hash,
            hash: EventHash::GENESIS,
        };
        let (record, hash) = encode(&raw, &event);
        assert!(
            record.len() <= RECORD_BYTES_MAX,
            "validated commands yield events under the record size limit"
        );
        let envelope = Recorded { hash, ..raw }.with_event(event);
        head = envelope.head();
        sealed.push(SealedEvent { envelope, record });
    }
    sealed
}

/// Encodes an event record from its parts, computing its hash (`raw.hash` is ignored).
/// `seal` builds every new record through here; tools that must write a record as an older
/// build did (golden fixtures, tamper tests) use it directly.
pub fn encode_raw_event(raw: &RawEvent) -> (Vec<u8>, EventHash) {
    let body = bincode_v1::encode(raw);
    let hash = EventHash::of_body(&body);
    let mut record = Vec::with_capacity(1 + body.len() + HASH_BYTES);
    record.push(FORMAT_BINCODE_V1);
    record.extend_from_slice(&body);
    record.extend_from_slice(&hash.0);
    (record, hash)
}

impl RawEvent<String, Vec<u8>> {
    /// Decodes the payload (upcasting older schema versions) into a full envelope.
    pub fn decode(self) -> Result<EventEnvelope, DecodeError> {
        let stored = &self.event;
        let event =
            decode_event_payload(&stored.event_type, stored.schema_version, &stored.payload)?;
        check_kind(&event, &stored.event_type, self.aggregate_kind)?;
        Ok(self.with_event(event))
    }
}

/// An event whose type belongs to another aggregate kind than its header says is malformed.
fn check_kind(event: &Event, event_type: &str, kind: AggregateKind) -> Result<(), DecodeError> {
    if event.aggregate_kind() == kind {
        return Ok(());
    }
    Err(DecodeError::Malformed {
        what: "event header".to_owned(),
        reason: format!("{event_type} is not an event of a {kind}"),
    })
}

/// Checks size and tag and returns the bytes after the tag.
fn untag(bytes: &[u8]) -> Result<&[u8], DecodeError> {
    check_size(bytes)?;
    match bytes[0] {
        FORMAT_BINCODE_V1 => Ok(&bytes[1..]),
        tag => Err(DecodeError::UnknownFormat { tag }),
    }
}

/// Splits an event record *without* verifying its hash: `raw.hash` is the hash stored in the
/// record, whatever the content hashes to. For auditors locating a changed record in its chain
/// (the replay tool); everything else reads through [`decode_raw_event`].
pub fn split_raw_event_unverified(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
    let rest = untag(bytes)?;
    if rest.len() < HASH_BYTES {
        return Err(DecodeError::Truncated {
            what: "event hash".to_owned(),
        });
    }
    let (body, stored) = rest.split_at(rest.len() - HASH_BYTES);
    let mut raw: RawEvent = bincode_v1::decode("event body", body)?;
    raw.hash = EventHash(stored.try_into().expect("split at 32 bytes from the end"));
    Ok(raw)
}

/// Splits an event record and verifies its hash, without decoding the payload.
pub fn decode_raw_event(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
    let (body, hash) = verified_body(bytes)?;
    let mut raw: RawEvent = bincode_v1::decode("event body", body)?;
    raw.hash = hash;
    Ok(raw)
}

/// An event record's body and stored hash, once the hash is checked against the body.
fn verified_body(bytes: &[u8]) -> Result<(&[u8], EventHash), DecodeError> {
    let rest = untag(bytes)?;
    if rest.len() < HASH_BYTES {
        return Err(DecodeError::Truncated {
            what: "event hash".to_owned(),
        });
    }
    let (body, stored) = rest.split_at(rest.len() - HASH_BYTES);
    let stored = EventHash(stored.try_into().expect("split at 32 bytes from the end"));
    let computed = EventHash::of_body(body);
    if stored != computed {
        return Err(DecodeError::HashMismatch {
            stored: stored.to_hex(),
            computed: computed.to_hex(),
        });
    }
    Ok((body, stored))
}

/// Decodes an event record: tag, hash, header and payload (what [`decode_raw_event`] and
/// [`RawEvent::decode`] do, without copying the payload).
pub fn decode_event(bytes: &[u8]) -> Result<EventEnvelope, DecodeError> {
    let (body, hash) = verified_body(bytes)?;
    let raw: RawEvent<&str, &[u8]> = bincode_v1::decode_borrowed("event body", body)?;
    let stored = &raw.event;
    let event = decode_event_payload(stored.event_type, stored.schema_version, stored.payload)?;
    check_kind(&event, stored.event_type, raw.aggregate_kind)?;
    Ok(Recorded { hash, ..raw }.with_event(event))
}

/// Encodes a command as a binary record.
pub fn encode_command_bincode(envelope: &CommandEnvelope) -> Vec<u8> {
    let body = CommandBody {
        command_id: envelope.command_id,
        correlation_id: envelope.correlation_id,
        causation_id: envelope.causation_id,
        actor: envelope.actor.clone(),
        issued_at: envelope.issued_at,
        command_type: envelope.command.type_name().to_owned(),
        schema_version: envelope.command.schema_version(),
        payload: envelope.command.encode_payload(&Bincode),
    };
    let mut record = vec![FORMAT_BINCODE_V1];
    record.extend_from_slice(&bincode_v1::encode(&body));
    record
}

/// Decodes a binary command record.
pub fn decode_command_bincode(bytes: &[u8]) -> Result<CommandEnvelope, DecodeError> {
    let body: CommandBody = bincode_v1::decode("command body", untag(bytes)?)?;
    let command = decode_command_payload(&body.command_type, body.schema_version, &body.payload)?;
    Ok(CommandEnvelope {
        command_id: body.command_id,
        correlation_id: body.correlation_id,
        causation_id: body.causation_id,
        actor: body.actor,
        issued_at: body.issued_at,
        command,
    })
}

/// A value in the binary codec, for local caches of derived state (the command handler's
/// snapshots). Not a stored-history format: such caches are rebuilt from the log when their
/// format changes, so they carry no schema version.
pub fn encode_cache_value<T: Serialize>(value: &T) -> Vec<u8> {
    bincode_v1::encode(value)
}

/// Reads what [`encode_cache_value`] wrote.
pub fn decode_cache_value<T: serde::de::DeserializeOwned>(
    what: &str,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    bincode_v1::decode(what, bytes)
}

/// The payload bytes of an event at its current schema version.
pub fn encode_event_payload(event: &Event) -> Vec<u8> {
    event.encode_payload(&Bincode)
}

/// A command's content, for telling a retry from another command under the same id: SHA-256
/// (lower-case hex) over a domain tag, the actor, the type name and the payload at its current
/// schema version in this codec. A command read at an older schema version is upcast first, so
/// its retry at the current version has the same digest. `issued_at`, the correlation id and
/// the causation id are not content: a retry rebuilt with a new `issued_at` is the same command.
pub fn command_digest(envelope: &CommandEnvelope) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(b"order-ledger/command/v1\0");
    for part in [
        envelope.actor.kind.code().as_bytes(),
        envelope.actor.id.as_bytes(),
        envelope.command.type_name().as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.update(envelope.command.encode_payload(&Bincode));
    hex::encode(hasher.finalize())
}

fn decode_event_payload(type_name: &str, version: u16, bytes: &[u8]) -> Result<Event, DecodeError> {
    if let Some(error) = wrong_kind(type_name, false) {
        return Err(error);
    }
    let current = check_version(type_name, version, Event::current_version_of(type_name))?;
    if version < current {
        return upcast::decode_legacy_payload(type_name, version, bytes).unwrap_or(Err(
            DecodeError::UnsupportedVersion {
                type_name: type_name.to_owned(),
                version,
                current,
            },
        ));
    }
    Event::decode_current(&Bincode, type_name, bytes)
        .expect("a type with a current version decodes in its set")
}

fn decode_command_payload(
    type_name: &str,
    version: u16,
    bytes: &[u8],
) -> Result<Command, DecodeError> {
    if let Some(error) = wrong_kind(type_name, true) {
        return Err(error);
    }
    let current = check_version(type_name, version, Command::current_version_of(type_name))?;
    if version < current {
        return upcast::decode_legacy_command_payload(type_name, version, bytes).unwrap_or(Err(
            DecodeError::UnsupportedVersion {
                type_name: type_name.to_owned(),
                version,
                current,
            },
        ));
    }
    Command::decode_current(&Bincode, type_name, bytes)
        .expect("a type with a current version decodes in its set")
}
