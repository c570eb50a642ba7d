//! The port: what the ledger needs from a log, whichever backend provides it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::record::{OutgoingRecord, Position, StoredRecord};
use crate::topic::{Topic, TopicPartition, Topics};

/// Infrastructure failing — never a business answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// Another producer with the same transactional id took over: this one must stop writing
    /// and exit.
    #[error("producer fenced: {0}")]
    Fenced(String),
    /// The consumer group rebalanced and these offsets are no longer this member's to commit:
    /// abort, and poll again (the new owner reprocesses from the last commit).
    #[error("consumer group rebalanced: {0}")]
    Rebalanced(String),
    #[error("commands has {commands} partitions but events has {events}; they must be equal, because an aggregate's events go to the partition number its commands arrive on")]
    PartitionMismatch { commands: u32, events: u32 },
    #[error("topic {topic} has {found} partitions; this deployment expects {expected}")]
    TopicConfig {
        topic: String,
        expected: u32,
        found: u32,
    },
    #[error("the data directory {path} is already in use by another process")]
    InUse { path: String },
    /// A reader found nothing to read where it was pointed.
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("unknown topic or partition {0}")]
    UnknownPartition(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{operation} is not possible {state}")]
    InvalidState {
        operation: &'static str,
        state: &'static str,
    },
    /// The broker or client failed; `retriable` says whether the same operation may succeed if
    /// tried again (a new transaction after an abort).
    #[error("kafka: {message}")]
    Broker { message: String, retriable: bool },
    #[error("storage: {0}")]
    Storage(String),
    #[error("stored record {at} is corrupt: {reason}")]
    Corrupt { at: String, reason: String },
}

impl LogError {
    /// Whether trying again may succeed: a broker down, a leader moving, a rebalance (wait
    /// [`retry_backoff`] first).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            LogError::Broker {
                retriable: true,
                ..
            } | LogError::Rebalanced(_)
        )
    }
}

/// How long [`LogReader::wait_for_records`] pauses on a backend without notifications.
pub const RECORDS_POLL: Duration = Duration::from_millis(5);

/// Whether any partition's end in `ends` lies past the one in `seen`.
pub fn past(ends: &[u64], seen: &[u64]) -> bool {
    ends.iter()
        .zip(seen.iter().chain(std::iter::repeat(&0)))
        .any(|(end, seen)| end > seen)
}

/// How long to wait before the `attempt`-th retry (from 1) after a retriable error: 100 ms,
/// doubling, at most 5 s.
pub fn retry_backoff(attempt: u32) -> std::time::Duration {
    let doublings = attempt.saturating_sub(1).min(6);
    std::time::Duration::from_millis((100u64 << doublings).min(5_000))
}

/// Identifies a consumer's group membership, for committing offsets inside a transaction.
/// Opaque: each backend puts its own membership in (Kafka: the KIP-447 group metadata) and
/// takes it out again with [`GroupToken::of`], which finds nothing in another backend's token.
#[derive(Clone)]
pub struct GroupToken(Arc<dyn Membership>);

/// What a backend keeps in a [`GroupToken`].
pub(crate) trait Membership: Any + Send + Sync + fmt::Debug {}

impl<T: Any + Send + Sync + fmt::Debug> Membership for T {}

impl GroupToken {
    pub(crate) fn new(membership: impl Membership) -> GroupToken {
        GroupToken(Arc::new(membership))
    }

    /// The membership in this token, if a backend of membership type `T` made it.
    pub(crate) fn of<T: Membership>(&self) -> Option<&T> {
        let any: &dyn Any = self.0.as_ref();
        any.downcast_ref()
    }
}

impl fmt::Debug for GroupToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupToken({:?})", self.0)
    }
}

/// The input positions a transaction consumed up to: committed atomically with its output.
#[derive(Debug, Clone)]
pub struct ConsumedOffsets {
    pub group: GroupToken,
    /// Per partition, the next offset to read (last processed + 1).
    pub offsets: Vec<(TopicPartition, u64)>,
}

/// What a consumer's poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerEvent {
    /// These partitions are now this consumer's; reading resumes at their committed offsets.
    /// The command handler catches up before deciding anything from them.
    Assigned(Vec<TopicPartition>),
    /// These partitions are no longer this consumer's; stop working on them.
    Revoked(Vec<TopicPartition>),
    /// Records in offset order within each partition.
    Records(Vec<StoredRecord>),
    /// Nothing arrived within the wait.
    Idle,
}

#[async_trait]
pub trait Consumer: Send {
    /// Waits up to `max_wait` for records or an assignment change.
    async fn poll(&mut self, max_wait: Duration) -> Result<ConsumerEvent, LogError>;

    /// The membership token for committing offsets in a producer transaction.
    fn group(&self) -> Result<GroupToken, LogError>;

    /// Moves the read position of an assigned partition (to reprocess after an aborted
    /// transaction).
    async fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), LogError>;
}

/// A transactional producer. One transaction at a time: `begin`, `send`s, optionally
/// `send_offsets`, then `commit` or `abort`. Either everything sent and the offsets become
/// visible together, or nothing does.
#[async_trait]
pub trait Producer: Send {
    async fn begin(&mut self) -> Result<(), LogError>;
    async fn send(&mut self, record: OutgoingRecord) -> Result<(), LogError>;
    async fn send_offsets(&mut self, offsets: ConsumedOffsets) -> Result<(), LogError>;
    /// Where each record sent so far in this transaction will be, in send order (on Kafka this
    /// waits for their acknowledgements). Lets a transaction name its own records' positions
    /// in records it sends after them — the command results do.
    async fn sent_positions(&mut self) -> Result<Vec<Position>, LogError>;
    /// Commits; returns where each sent record landed, in send order, once the transaction
    /// is durable and visible to readers.
    async fn commit(&mut self) -> Result<Vec<Position>, LogError>;
    async fn abort(&mut self) -> Result<(), LogError>;
}

/// One whole transaction: begin, send every record, add the offsets, commit. On failure it
/// aborts (unless the producer was fenced, when there is nothing left to abort) and returns
/// the error.
pub async fn transact(
    producer: &mut dyn Producer,
    records: Vec<OutgoingRecord>,
    offsets: Option<ConsumedOffsets>,
) -> Result<Vec<Position>, LogError> {
    producer.begin().await?;
    let result = async {
        for record in records {
            producer.send(record).await?;
        }
        if let Some(offsets) = offsets {
            producer.send_offsets(offsets).await?;
        }
        producer.commit().await
    }
    .await;
    if let Err(error) = &result {
        if !matches!(error, LogError::Fenced(_)) {
            if let Err(abort) = producer.abort().await {
                tracing::warn!(%error, %abort, "abort after a failed transaction failed too");
            }
        }
    }
    result
}

/// Reading a deployment's log: ranges of committed records, where each partition ends, how
/// far a consumer group has come. Nothing here changes the log; the replay tool holds only
/// this, so that it never writes is a fact of its types.
#[async_trait]
pub trait LogReader: Send + Sync {
    fn topics(&self) -> &Topics;

    /// The partition count `topic` really has (an existing topic keeps its own).
    fn partitions(&self, topic: Topic) -> u32;

    /// Up to `max_records` committed records of one partition, from `from_offset` on.
    async fn read(
        &self,
        partition: &TopicPartition,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError>;

    /// Per partition of `topic`, the offset the next record will get (the end of the log).
    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError>;

    /// Waits until records may have arrived in `topic` past `seen` (per partition, the ends
    /// the caller has read up to), or `max_wait` passes; it may return early, and the caller
    /// reads to see. A follower sleeps on this instead of reading in a loop. The embedded log
    /// returns when one of its commits lands past `seen`; by default (Kafka) it pauses
    /// [`RECORDS_POLL`] — asking a broker for its ends would cost a client and a round trip
    /// per partition each time.
    async fn wait_for_records(
        &self,
        topic: Topic,
        seen: &[u64],
        max_wait: Duration,
    ) -> Result<(), LogError> {
        let _ = (topic, seen);
        tokio::time::sleep(RECORDS_POLL.min(max_wait)).await;
        Ok(())
    }

    /// Per partition of `topic`, the next offset consumer group `group` has committed (0
    /// where it has committed nothing): with [`LogReader::end_offsets`], how far behind it is.
    async fn committed_offsets(&self, group: &str, topic: Topic) -> Result<Vec<u64>, LogError>;
}

/// Writing to a deployment's log: consumer group members (they commit offsets), transactional
/// producers, and plain appends.
#[async_trait]
pub trait LogWriter: Send + Sync {
    /// Joins consumer group `group` on `topics`; partitions are assigned by the group.
    async fn consumer(&self, group: &str, topics: &[Topic]) -> Result<Box<dyn Consumer>, LogError>;

    /// A transactional producer; opening one fences any earlier producer with the same id.
    async fn producer(&self, transactional_id: &str) -> Result<Box<dyn Producer>, LogError>;

    /// Whether a producer knows where each record it sends lands at once, in a transaction no
    /// other writer's records interleave (`Producer::sent_positions` is free, and offsets are
    /// dense: no transaction markers between records). The command handler then decides the
    /// order process's commands in the transaction that issued them. Kafka: no.
    fn positions_at_send(&self) -> bool {
        false
    }

    /// Appends records outside any consumer: the way other services publish commands, and
    /// the way tests plant records. Not transactional with anything else.
    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Position>, LogError>;
}

/// A deployment's log, read and written: what the handler, the projection worker and the
/// command line's writers hold. Every backend that is both is one.
pub trait Log: LogReader + LogWriter {}

impl<T: LogReader + LogWriter + ?Sized> Log for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retries_back_off_from_100_ms_doubling_to_5_s() {
        let waits: Vec<Duration> = (1..=8).map(retry_backoff).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(retry_backoff(u32::MAX), Duration::from_secs(5));
        assert_eq!(retry_backoff(0), Duration::from_millis(100));
    }
}
