//! # event-log: the log port of order-ledger
//!
//! Commands and events live in topics (`<prefix>.commands`, `.events`, `.command-results`,
//! `.dead-letter`), partitioned by key with the Java client's murmur2 partitioner. The [`Log`]
//! port gives consumers (group membership, assignment and revocation, records in order per
//! partition), transactional producers (records to many partitions + consumer offsets, all or
//! nothing), range reads and end offsets. Two backends implement it and pass one conformance
//! suite: [`embedded::EmbeddedLog`] (sled, the default, no broker) and [`kafka::KafkaLog`]
//! (rdkafka, exactly-once with KIP-447).

pub mod embedded;
pub mod kafka;
mod partition;
mod port;
pub mod process;
mod record;
#[cfg(feature = "test-support")]
pub mod testing;
mod topic;

pub use partition::{murmur2, partition_for};
pub use port::{
    retry_backoff, transact, ConsumedOffsets, Consumer, ConsumerEvent, GroupToken, Log, LogError,
    LogReader, LogWriter, Producer,
};
pub use record::{
    Headers, MessageMeta, OutgoingRecord, Position, RecordError, StoredRecord,
    CONTENT_TYPE_BINCODE, CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_MESSAGE_TYPE,
    HEADER_SCHEMA_VERSION,
};
pub use topic::{
    check_partition_counts, Topic, TopicPartition, Topics, DEFAULT_PARTITIONS, DEFAULT_PREFIX,
};
