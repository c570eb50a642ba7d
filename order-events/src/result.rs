//! The answer to every command, as the command handler writes it on
//! `<prefix>.command-results` (JSON) and as `POST /v1/commands` answers it. The published
//! schema is `schemas/results/CommandResult.json`.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::idempotency::FirstUse;
use crate::{AggregateKind, AggregateRef, Rule};

/// Message type header of result records.
pub const RESULT_MESSAGE_TYPE: &str = "CommandResult";
pub const RESULT_SCHEMA_VERSION: u16 = 1;

/// One event a command produced, and where it is in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EventRef {
    pub event_id: Uuid,
    /// The event's type name (`schemas/index.json`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// Position in the aggregate's history, from 1.
    #[schemars(range(min = 1))]
    pub sequence: u64,
    /// Where the event is in the events topic: what a read's `at_least` takes.
    pub partition: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The command was decided and its events recorded (none when it changed nothing, such
    /// as an expiry that found the order already settled).
    Accepted { events: Vec<EventRef> },
    /// The command breaks `rule` (a code of `ledger rules`); `detail` says how.
    Rejected { rule: String, detail: String },
}

/// What happened to a command: accepted with its events, or rejected with the rule it breaks.
// No `deny_unknown_fields`: serde does not support it together with the flattened outcome;
// readers ignore fields a newer writer adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommandResult {
    pub command_id: Uuid,
    /// The command's type name (`schemas/index.json`).
    #[serde(rename = "type")]
    pub command_type: String,
    /// The kind of aggregate the command addressed.
    #[schemars(extend("enum" = ["order", "stock_item", "reconciliation", "account", "wave"]))]
    pub aggregate_kind: String,
    pub aggregate_id: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub decided_at: DateTime<Utc>,
    /// SHA-256 of the command's content (`codec::command_digest`), by which a retry under the
    /// same id is told from another command. Absent in results written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_aggregate_kind() {
        let schema = schemars::schema_for!(CommandResult).to_value();
        let listed = &schema["properties"]["aggregate_kind"]["enum"];
        let kinds: Vec<&str> = crate::AggregateKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(listed, &serde_json::json!(kinds));
    }
}
