//! The answer to every command, on `<prefix>.command-results`: keyed by command id, placed on
//! the command's own partition (so a submitter who knows the aggregate id knows where to look,
//! and a handler catching up a partition finds the results of its commands there).

use chrono::{DateTime, Utc};
use event_log::{Headers, OutgoingRecord, StoredRecord, CONTENT_TYPE_JSON};
use order_events::idempotency::FirstUse;
use order_events::{AggregateKind, AggregateRef, Rule};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Message type header of result records.
pub const RESULT_MESSAGE_TYPE: &str = "CommandResult";
pub const RESULT_SCHEMA_VERSION: u16 = 1;

/// One event a command produced, and where it is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRef {
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    /// Position in the aggregate's history.
    pub sequence: u64,
    pub partition: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Accepted { events: Vec<EventRef> },
    Rejected { rule: String, detail: String },
}

/// What happened to a command. (No `deny_unknown_fields`: serde does not support it together
/// with the flattened outcome; readers ignore fields a newer writer adds.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command_id: Uuid,
    #[serde(rename = "type")]
    pub command_type: String,
    pub aggregate_kind: String,
    pub aggregate_id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub decided_at: DateTime<Utc>,
    /// SHA-256 of the command's content (`order_events::codec::command_digest`), by which a
    /// retry under the same id is told from another command. Absent in results written
    /// before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_digest: Option<String>,
}

impl CommandResult {
    pub fn is_accepted(&self) -> bool {
        matches!(self.outcome, Outcome::Accepted { .. })
    }

    /// The aggregate the command addressed; `None` for a kind this build does not know.
    pub fn aggregate(&self) -> Option<AggregateRef> {
        Some(AggregateRef {
            kind: AggregateKind::from_code(&self.aggregate_kind)?,
            id: self.aggregate_id.clone(),
        })
    }

    /// Whether this result is about `command_id` on `aggregate`: the first answer under that
    /// id, or a refusal of another command reusing it.
    pub fn is_for(&self, command_id: Uuid, aggregate: &AggregateRef) -> bool {
        self.command_id == command_id
            && self.aggregate_kind == aggregate.kind.code()
            && self.aggregate_id == aggregate.id
    }

    /// Whether this result answers the command with `digest` under `command_id` on
    /// `aggregate`. Two commands reusing one id are told apart by their digests, so each
    /// submitter gets its own answer; a result without a digest (written before they were
    /// recorded) answers any.
    pub fn answers(&self, command_id: Uuid, aggregate: &AggregateRef, digest: &str) -> bool {
        self.is_for(command_id, aggregate)
            && self
                .command_digest
                .as_deref()
                .is_none_or(|own| own == digest)
    }

    /// Whether this result is the first decision under its id: every result but the refusal
    /// of another command reusing an id (which claims nothing, so later retries of the first
    /// command still get the first answer).
    pub fn is_first_use(&self) -> bool {
        !matches!(&self.outcome, Outcome::Rejected { rule, .. } if rule == Rule::CommandIdReused.code())
    }

    /// What a later command under this id is checked against.
    pub fn first_use(&self, aggregate: AggregateRef) -> FirstUse {
        FirstUse {
            command_id: self.command_id,
            command_type: self.command_type.clone(),
            aggregate,
            digest: self.command_digest.clone(),
            decided_at: self.decided_at,
        }
    }

    pub fn to_record(&self, topic: &str, partition: u32) -> OutgoingRecord {
        let payload = serde_json::to_vec(self).expect("results serialize");
        let headers = Headers::for_message(
            CONTENT_TYPE_JSON,
            RESULT_MESSAGE_TYPE,
            RESULT_SCHEMA_VERSION,
        );
        OutgoingRecord::new(topic, self.command_id.to_string(), headers, payload)
            .on_partition(partition)
    }

    /// Reads a result record; `None` for anything else on the topic.
    pub fn from_record(record: &StoredRecord) -> Option<CommandResult> {
        let meta = record.headers.message_meta().ok()?;
        if meta.message_type != RESULT_MESSAGE_TYPE {
            return None;
        }
        serde_json::from_slice(&record.payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_back_from_their_records() {
        let result = CommandResult {
            command_id: Uuid::from_u128(7),
            command_type: "Refund".to_owned(),
            aggregate_kind: "order".to_owned(),
            aggregate_id: "o-1".to_owned(),
            outcome: Outcome::Rejected {
                rule: "refund_exceeds_captured".to_owned(),
                detail: "too much".to_owned(),
            },
            decided_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            command_digest: Some("ab".repeat(32)),
        };
        let record = result.to_record("orders.command-results", 3);
        assert_eq!(record.partition, Some(3));
        let json: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
        assert_eq!(json["outcome"], "rejected");
        assert_eq!(json["rule"], "refund_exceeds_captured");
        let stored = StoredRecord {
            topic: record.topic.clone(),
            partition: 3,
            offset: 0,
            key: Some(record.key.clone().into_bytes()),
            headers: record.headers.clone(),
            payload: record.payload.clone(),
            timestamp_ms: 0,
        };
        assert_eq!(CommandResult::from_record(&stored), Some(result));
    }
}
