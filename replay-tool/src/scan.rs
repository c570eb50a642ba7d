//! Reading the events topic: every partition in offset order, one chunk in memory at a time,
//! from the beginning, an offset, or a time.

use chrono::{DateTime, Utc};
use event_log::{LogReader, StoredRecord, Topic, TopicPartition};
use order_events::codec::{self};
use serde::Serialize;

use crate::ReplayError;

/// Records read per call to the log.
pub(crate) const READ_CHUNK: usize = 1000;

/// Calls `visit` with every record of the events topic, partition by partition, each in offset
/// order, up to the ends the log had when the scan began. Memory stays at one chunk.
pub async fn scan(
    log: &dyn LogReader,
    visit: impl FnMut(&StoredRecord) -> Result<(), ReplayError>,
) -> Result<(), ReplayError> {
    scan_from(log, Start::Beginning, visit).await
}

/// Where a read of the events topic starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Offset 0 of every partition.
    #[default]
    Beginning,
    /// This offset of every partition (or its end, if it has fewer records).
    Offset(u64),
    /// In every partition, the first event the ledger recorded at or after this time.
    Time(DateTime<Utc>),
}

/// [`scan`] from `start`.
pub async fn scan_from(
    log: &dyn LogReader,
    start: Start,
    mut visit: impl FnMut(&StoredRecord) -> Result<(), ReplayError>,
) -> Result<(), ReplayError> {
    let topic = log.topics().name(Topic::Events);
    let ends = log.end_offsets(Topic::Events).await?;
    for (partition, &end) in ends.iter().enumerate() {
        let tp = TopicPartition::new(topic.clone(), partition as u32);
        let first = start_offset(log, &tp, end, start).await?;
        scan_partition(log, &tp, first, end, &mut visit).await?;
    }
    Ok(())
}

/// The offset of `tp` where a read from `start` begins.
///
/// A time is found by binary search over the events' `recorded_at`, which the handler stamps
/// in append order within a partition. Offsets without a record (Kafka's transaction markers)
/// narrow the search like events after the time. Records that do not decode are stepped over
/// (towards the end, for at most one chunk); a probe that finds none at all ends the search
/// early, at the lower bound, so the read starts before the time rather than after it and no
/// event of the period is left out.
pub(crate) async fn start_offset(
    log: &dyn LogReader,
    tp: &TopicPartition,
    end: u64,
    start: Start,
) -> Result<u64, ReplayError> {
    let at = match start {
        Start::Beginning => return Ok(0),
        Start::Offset(offset) => return Ok(offset.min(end)),
        Start::Time(at) => at,
    };
    // Invariant: every event before `low` was recorded before `at`; `high` is at or after it.
    let (mut low, mut high) = (0, end);
    while low < high {
        let middle = low + (high - low) / 2;
        let probe = log.read(tp, middle, READ_CHUNK).await?;
        let mut in_range = probe
            .iter()
            .filter(|record| record.offset < high)
            .peekable();
        if in_range.peek().is_none() {
            // Nothing but offsets without records (a Kafka transaction's commit markers) from
            // `middle` up to `high`: the first event at or after `at` is not among them.
            high = middle;
            continue;
        }
        let recorded = in_range.find_map(|record| {
            codec::decode_event(&record.payload)
                .ok()
                .map(|envelope| (record.offset, envelope.recorded_at))
        });
        match recorded {
            Some((offset, recorded_at)) if recorded_at < at => low = offset + 1,
            Some(_) => high = middle,
            None => break,
        }
    }
    Ok(low)
}

pub(crate) async fn scan_partition(
    log: &dyn LogReader,
    tp: &TopicPartition,
    first: u64,
    end: u64,
    visit: &mut impl FnMut(&StoredRecord) -> Result<(), ReplayError>,
) -> Result<(), ReplayError> {
    let mut offset = first;
    while offset < end {
        let records = log.read(tp, offset, READ_CHUNK).await?;
        let Some(last) = records.last() else { break };
        offset = last.next_offset();
        for record in records.iter().filter(|r| r.offset < end) {
            visit(record)?;
        }
    }
    Ok(())
}
