//! `history`: one aggregate's audit trail, and its state as of a time or an offset.

use chrono::{DateTime, Utc};
use event_log::{LogReader, Topic, TopicPartition};
use order_events::codec::{self, json};
use serde::Serialize;

use crate::scan::scan_partition;
use crate::state::{aggregate_name, fold, State};
use crate::ReplayError;

/// One event of an aggregate's audit trail, with the state it left.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub partition: u32,
    pub offset: u64,
    /// The event's envelope and payload, as exported.
    pub event: serde_json::Value,
    /// The aggregate's state after the event.
    pub state_after: serde_json::Value,
}

/// Where a history stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsOf {
    /// Events recorded at or before this time.
    pub time: Option<DateTime<Utc>>,
    /// Events at or before this offset of the aggregate's partition.
    pub offset: Option<u64>,
}

/// The audit trail of one aggregate.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub aggregate: String,
    pub partition: u32,
    pub entries: Vec<HistoryEntry>,
    /// The state as of the requested moment (after the last entry); `null` before the first.
    pub state: serde_json::Value,
}

/// Follows `aggregate_id` (an order id, or `SKU@WAREHOUSE`) through its partition.
pub async fn history(
    log: &dyn LogReader,
    aggregate_id: &str,
    as_of: AsOf,
) -> Result<History, ReplayError> {
    let partitions = log.partitions(Topic::Events);
    let partition = event_log::partition_for(aggregate_id.as_bytes(), partitions);
    let tp = TopicPartition::new(log.topics().name(Topic::Events), partition);
    let end = log.end_offsets(Topic::Events).await?[partition as usize];
    let mut state: Option<State> = None;
    let mut entries = Vec::new();
    let mut aggregate = aggregate_id.to_owned();
    scan_partition(log, &tp, 0, end, &mut |record| {
        if record.key.as_deref() != Some(aggregate_id.as_bytes()) {
            return Ok(());
        }
        if as_of.offset.is_some_and(|last| record.offset > last) {
            return Ok(());
        }
        let Ok(envelope) = codec::decode_event(&record.payload) else {
            // `verify` reports it; the trail shows what can be read.
            return Ok(());
        };
        if envelope.aggregate_id != aggregate_id
            || as_of.time.is_some_and(|t| envelope.recorded_at > t)
        {
            return Ok(());
        }
        aggregate = aggregate_name(envelope.aggregate_kind, aggregate_id);
        let before = state
            .take()
            .unwrap_or_else(|| State::initial(envelope.aggregate_kind));
        let after = fold(&before, &envelope.event).unwrap_or(before);
        entries.push(HistoryEntry {
            partition: record.partition,
            offset: record.offset,
            event: json::encode_event(&envelope),
            state_after: state_json(&after),
        });
        state = Some(after);
        Ok(())
    })
    .await?;
    Ok(History {
        aggregate,
        partition,
        state: state.as_ref().map_or(serde_json::Value::Null, state_json),
        entries,
    })
}

fn state_json(state: &State) -> serde_json::Value {
    match state {
        State::Order(order) => serde_json::to_value(order.as_ref()),
        State::Stock(item) => serde_json::to_value(item),
        State::Reconciliation(run) => serde_json::to_value(run),
        State::Account(account) => serde_json::to_value(account),
        State::Wave(wave) => serde_json::to_value(wave),
    }
    .expect("domain state serializes to JSON")
}
