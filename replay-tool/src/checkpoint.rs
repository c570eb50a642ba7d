//! The log's Merkle tree heads (issue 21's checkpoints, unsigned for now): one RFC 9162 tree
//! per events partition, its leaves the partition's records in offset order, each leaf the
//! hash of the record's bytes exactly as stored — so a tree covers content, not only the
//! hashes records state. A tree of the partitions' heads gives one root for the whole log.
//! Any reader recomputes them from the log alone, in one pass and O(log n) memory per
//! partition.

use std::collections::BTreeMap;

use event_log::LogReader;
use order_events::merkle::{self, Digest, Frontier};
use serde::{Deserialize, Serialize};

use crate::ReplayError;

pub const CHECKPOINT_FORMAT: &str = "order-ledger/checkpoint/v1";

/// One partition's tree: how many records it covers and its root (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionHead {
    pub partition: u32,
    pub size: u64,
    pub root: String,
}

impl PartitionHead {
    /// This head as a leaf of the log's tree: partition and size big-endian, then the root.
    fn leaf(&self) -> Digest {
        let mut data = Vec::with_capacity(4 + 8 + 32);
        data.extend_from_slice(&self.partition.to_be_bytes());
        data.extend_from_slice(&self.size.to_be_bytes());
        data.extend_from_slice(&hex::decode(&self.root).expect("roots are written as hex"));
        merkle::leaf_hash(&data)
    }
}

/// The log's tree heads at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    /// Every partition of the events topic, in order.
    pub partitions: Vec<PartitionHead>,
    /// The root of the tree whose leaves are the partition heads, in partition order.
    pub root: String,
}

impl Checkpoint {
    fn of(frontiers: &BTreeMap<u32, Frontier>) -> Checkpoint {
        let partitions: Vec<PartitionHead> = frontiers
            .iter()
            .map(|(&partition, frontier)| PartitionHead {
                partition,
                size: frontier.size(),
                root: hex::encode(frontier.root()),
            })
            .collect();
        let leaves: Vec<Digest> = partitions.iter().map(PartitionHead::leaf).collect();
        Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            root: hex::encode(merkle::root(&leaves)),
            partitions,
        }
    }
}

/// The tree heads of the whole events topic as it is now.
pub async fn checkpoint(log: &dyn LogReader) -> Result<Checkpoint, ReplayError> {
    let ends = log.end_offsets(event_log::Topic::Events).await?;
    let mut frontiers: BTreeMap<u32, Frontier> = (0..ends.len() as u32)
        .map(|partition| (partition, Frontier::default()))
        .collect();
    crate::scan(log, |record| {
        let leaf = merkle::leaf_hash(&record.payload);
        frontiers.entry(record.partition).or_default().push(leaf);
        Ok(())
    })
    .await?;
    Ok(Checkpoint::of(&frontiers))
}
