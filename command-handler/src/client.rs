//! The submitting side: publish commands the way any service would, and wait for their results.

use std::time::Duration;

use event_log::{
    partition_for, Headers, Log, LogError, OutgoingRecord, Topic, TopicPartition, CONTENT_TYPE_JSON,
};
use order_events::codec::json;
use order_events::{AggregateRef, CommandEnvelope};
use uuid::Uuid;

use crate::result::CommandResult;

/// A published command and where to look for its result.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub command_id: Uuid,
    /// The aggregate the command addresses: a command id is scoped to it, so its result is
    /// the one with this id on this aggregate.
    pub aggregate: AggregateRef,
    /// The command's content digest (`order_events::codec::command_digest`): another command
    /// reusing the id has another, and gets its own answer.
    pub digest: String,
    /// The commands (and results) partition of the command's aggregate.
    pub partition: u32,
    /// The results partition's end when the command was published: its result comes after.
    pub results_from: u64,
}

/// The record of a JSON command: keyed by its aggregate id, with the routing headers.
pub fn json_record(log: &dyn Log, line: &[u8], envelope: &CommandEnvelope) -> OutgoingRecord {
    let headers = Headers::for_message(
        CONTENT_TYPE_JSON,
        envelope.command.type_name(),
        envelope.command.schema_version(),
    );
    OutgoingRecord::new(
        log.topics().name(Topic::Commands),
        envelope.command.target().id,
        headers,
        line.to_vec(),
    )
}

/// Publishes a JSON command as-is, keyed by its aggregate id, with the routing headers.
pub async fn publish_json(
    log: &dyn Log,
    line: &[u8],
    envelope: &CommandEnvelope,
) -> Result<Submitted, LogError> {
    let target = envelope.command.target();
    let partition = partition_for(target.id.as_bytes(), log.partitions(Topic::Commands));
    let results_from = log.end_offsets(Topic::CommandResults).await?[partition as usize];
    log.publish(vec![json_record(log, line, envelope)]).await?;
    Ok(Submitted {
        command_id: envelope.command_id,
        aggregate: target,
        digest: order_events::codec::command_digest(envelope),
        partition,
        results_from,
    })
}

/// Publishes a command, encoding it as JSON.
pub async fn publish(log: &dyn Log, envelope: &CommandEnvelope) -> Result<Submitted, LogError> {
    publish_json(log, json::encode_command(envelope).as_bytes(), envelope).await
}

/// Waits up to `limit` for the result of a submitted command.
pub async fn await_result(
    log: &dyn Log,
    submitted: &Submitted,
    limit: Duration,
) -> Result<Option<CommandResult>, LogError> {
    let results = TopicPartition::new(
        log.topics().name(Topic::CommandResults),
        submitted.partition,
    );
    let deadline = tokio::time::Instant::now() + limit;
    let mut offset = submitted.results_from;
    loop {
        let records = log.read(&results, offset, 500).await?;
        if let Some(last) = records.last() {
            offset = last.next_offset();
        }
        if let Some(result) = records
            .iter()
            .filter_map(CommandResult::from_record)
            .find(|r| {
                r.answers(
                    submitted.command_id,
                    &submitted.aggregate,
                    &submitted.digest,
                )
            })
        {
            return Ok(Some(result));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        if records.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
