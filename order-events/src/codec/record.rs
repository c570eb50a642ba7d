//! Event records in either format, as the log holds them: binary (`binary.rs`, tag `0x01`) or
//! JSON (`json_record.rs`, starting with `{`). A deployment chooses the format it writes
//! ([`EventFormat`]); every reader takes both, by the record's first byte.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::binary::{self, RawEvent, SealedEvent};
use super::error::DecodeError;
use super::json_record::{self, FORMAT_JSON_V1};
use super::{CONTENT_TYPE_BINCODE, CONTENT_TYPE_JSON};
use crate::envelope::{ChainHead, CommandEnvelope, Event, EventEnvelope};

/// The format a deployment writes its event records in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventFormat {
    /// Compact, fast, readable with this codec (and its published layout) only.
    #[default]
    Bincode,
    /// Readable by any JSON parser; hashes over the canonical JSON form.
    Json,
}

impl EventFormat {
    /// The `content-type` header of records in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            EventFormat::Bincode => CONTENT_TYPE_BINCODE,
            EventFormat::Json => CONTENT_TYPE_JSON,
        }
    }
}

/// Gives decided events their envelopes and records in `format`, continuing the aggregate's
/// chain from `head` (see [`binary::seal`]).
pub fn seal_as(
    format: EventFormat,
    command: &CommandEnvelope,
    head: ChainHead,
    events: Vec<Event>,
    recorded_at: DateTime<Utc>,
) -> Vec<SealedEvent> {
    match format {
        EventFormat::Bincode => binary::seal(command, head, events, recorded_at),
        EventFormat::Json => {
            binary::seal_with(command, head, events, recorded_at, json_record::encode)
        }
    }
}

fn is_json(bytes: &[u8]) -> bool {
    bytes.first() == Some(&FORMAT_JSON_V1)
}

/// Decodes an event record of either format, its hash checked.
pub fn decode_event(bytes: &[u8]) -> Result<EventEnvelope, DecodeError> {
    if is_json(bytes) {
        json_record::decode(bytes, true)
    } else {
        binary::decode_event(bytes)
    }
}

/// Splits an event record of either format and verifies its hash, without decoding a binary
/// record's payload.
pub fn decode_raw_event(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
    if is_json(bytes) {
        json_record::decode_raw(bytes, true)
    } else {
        binary::decode_raw_event(bytes)
    }
}

/// Splits an event record of either format *without* verifying its hash (see
/// [`binary::split_raw_event_unverified`]).
pub fn split_raw_event_unverified(bytes: &[u8]) -> Result<RawEvent, DecodeError> {
    if is_json(bytes) {
        json_record::decode_raw(bytes, false)
    } else {
        binary::split_raw_event_unverified(bytes)
    }
}
