//! A command id is an idempotency key, with the semantics of payment APIs' keys: the same
//! command again gets its original answer; another command under a used id is refused.
//!
//! **Scope: the aggregate the command addresses.** Commands are partitioned by aggregate, and
//! each partition is decided by one handler without asking the others, so a used id is found
//! among the commands of its own aggregate; detecting it across aggregates would need
//! coordination between partitions that the design deliberately does not have. The same id on
//! another aggregate is another command, decided on its own (its events get ids of their own:
//! [`crate::envelope::event_id`] names the aggregate). Services should still draw a fresh id
//! per command.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::codec::command_digest;
use crate::envelope::{AggregateRef, CommandEnvelope};
use crate::rejection::{Rejection, Rule};

/// What the ledger remembers of a decided command to tell its retries from other commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstUse {
    pub command_id: Uuid,
    /// The type name, e.g. `PlaceOrder`.
    pub command_type: String,
    pub aggregate: AggregateRef,
    /// [`command_digest`] of the command; `None` for a result written before digests were
    /// recorded, whose retries are told apart by type alone.
    pub digest: Option<String>,
    pub decided_at: DateTime<Utc>,
}

/// Whether `repeat`, which carries the id of `first`, is the same command (`Ok`: answer it
/// with the first answer) or another one (`command_id_reused`, naming the first).
pub fn check_repeat(first: &FirstUse, repeat: &CommandEnvelope) -> Result<(), Rejection> {
    let repeat_type = repeat.command.type_name();
    let differs = if first.command_type != repeat_type {
        Some("its type")
    } else if first
        .digest
        .as_deref()
        .is_some_and(|digest| digest != command_digest(repeat))
    {
        Some("its payload or actor")
    } else {
        None
    };
    match differs {
        None => Ok(()),
        Some(what) => Err(Rejection::new(
            Rule::CommandIdReused,
            format!(
                "command id {} was first used by {} on {} {} (decided {}); this {repeat_type} differs in {what}: give a new command a new id",
                first.command_id,
                first.command_type,
                first.aggregate.kind,
                first.aggregate.id,
                first.decided_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
        )),
    }
}
