//! Consistency proofs: that the log today extends a checkpoint kept earlier — every record it
//! covered is still there, unchanged, in its place — in O(log n) hashes per partition, checked
//! offline against the old checkpoint and the new one (RFC 9162 §2.1.4).

use event_log::{LogReader, Topic};
use order_events::merkle::{self, Digest, RangeRoots};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, parse_digest, Checkpoint, CheckpointError, Departure};
use crate::ReplayError;

pub const CONSISTENCY_FORMAT: &str = "order-ledger/consistency/v1";

/// The proof that `new` extends `old`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub format: String,
    pub old: Checkpoint,
    pub new: Checkpoint,
    /// One per partition of `old`.
    pub partitions: Vec<PartitionConsistency>,
}

/// One partition's consistency proof between its sizes in the two checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionConsistency {
    pub partition: u32,
    pub old_size: u64,
    pub new_size: u64,
    /// RFC 9162 consistency proof (hex); empty when a size is 0 or the sizes are equal.
    pub path: Vec<String>,
}

/// Why no consistency proof could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConsistencyError {
    #[error("the log does not extend the old checkpoint: {}", list(.0))]
    NotExtended(Vec<Departure>),
    #[error("the old checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl From<event_log::LogError> for ConsistencyError {
    fn from(error: event_log::LogError) -> ConsistencyError {
        ConsistencyError::Replay(error.into())
    }
}

fn list(departures: &[Departure]) -> String {
    let lines: Vec<String> = departures.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

/// Proves that the log as it is now extends `old`; the new checkpoint is signed with `key`
/// when given. Two reads of the log: one for the new checkpoint (and that the log extends the
/// old one), one for the proofs' subtree roots.
pub async fn prove(
    log: &dyn LogReader,
    old: Checkpoint,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<ConsistencyProof, ConsistencyError> {
    old.check_heads()?;
    let ends = log.end_offsets(Topic::Events).await?;
    let mut trees = checkpoint::LogTrees::new(ends.len());
    let mut extension = checkpoint::Extension::new(old.clone());
    crate::scan(log, |record| {
        let leaf = merkle::leaf_hash(&record.payload);
        trees.push_leaf(record.partition, leaf);
        extension.push_leaf(record.partition, record.offset, leaf);
        Ok(())
    })
    .await?;
    let departures = extension.departures();
    if !departures.is_empty() {
        return Err(ConsistencyError::NotExtended(departures));
    }
    let mut new = trees.checkpoint();
    if let Some(key) = key {
        new = new.signed(key, std::time::SystemTime::now().into());
    }
    let partitions = subtree_roots(log, &old, &new).await?;
    Ok(ConsistencyProof {
        format: CONSISTENCY_FORMAT.to_owned(),
        old,
        new,
        partitions,
    })
}

/// Each partition's proof, its subtree roots computed in one read of the log.
async fn subtree_roots(
    log: &dyn LogReader,
    old: &Checkpoint,
    new: &Checkpoint,
) -> Result<Vec<PartitionConsistency>, ReplayError> {
    let mut proving: Vec<(PartitionConsistency, Option<RangeRoots>)> = old
        .partitions
        .iter()
        .map(|head| {
            let new_size = new.head(head.partition).map_or(0, |h| h.size);
            let ranges =
                merkle::consistency_ranges(head.size, new_size).filter(|_| head.size < new_size);
            let proof = PartitionConsistency {
                partition: head.partition,
                old_size: head.size,
                new_size,
                path: Vec::new(),
            };
            (proof, ranges.map(RangeRoots::new))
        })
        .collect();
    crate::scan(log, |record| {
        if let Some((_, Some(roots))) = proving.get_mut(record.partition as usize) {
            roots.push(merkle::leaf_hash(&record.payload));
        }
        Ok(())
    })
    .await?;
    let mut proofs = Vec::with_capacity(proving.len());
    for (mut proof, roots) in proving {
        if let Some(roots) = roots {
            let roots = roots.roots().ok_or_else(|| {
                ReplayError::Output(format!(
                    "partition {} shrank while it was read",
                    proof.partition
                ))
            })?;
            proof.path = roots.iter().map(hex::encode).collect();
        }
        proofs.push(proof);
    }
    Ok(proofs)
}

/// Why a consistency proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyInvalid {
    #[error("not a consistency proof of this format (expected {CONSISTENCY_FORMAT})")]
    Format,
    #[error("the {which} checkpoint: {error}")]
    Checkpoint {
        which: &'static str,
        error: CheckpointError,
    },
    #[error("the proof starts from another checkpoint (root {found}) than the trusted one (root {trusted})")]
    OtherOldCheckpoint { found: String, trusted: String },
    #[error("partition {partition}: {reason}")]
    Partition { partition: u32, reason: String },
}

/// What a consistency proof is checked against: the old checkpoint the auditor kept, and the
/// key that must have signed the new one.
pub struct TrustedOld<'a> {
    pub old: Option<&'a Checkpoint>,
    pub key: Option<&'a ed25519_dalek::VerifyingKey>,
}

/// Checks offline that `proof.new` extends `proof.old`, and both against what is trusted.
pub fn check(proof: &ConsistencyProof, trusted: &TrustedOld) -> Result<(), ConsistencyInvalid> {
    if proof.format != CONSISTENCY_FORMAT {
        return Err(ConsistencyInvalid::Format);
    }
    let invalid = |which| move |error| ConsistencyInvalid::Checkpoint { which, error };
    match trusted.key {
        Some(key) => proof.new.check(key).map_err(invalid("new"))?,
        None => proof.new.check_heads().map_err(invalid("new"))?,
    }
    proof.old.check_heads().map_err(invalid("old"))?;
    if let Some(kept) = trusted.old {
        if kept.root != proof.old.root {
            return Err(ConsistencyInvalid::OtherOldCheckpoint {
                found: proof.old.root.clone(),
                trusted: kept.root.clone(),
            });
        }
    }
    if proof.partitions.len() != proof.old.partitions.len() {
        return Err(ConsistencyInvalid::Format);
    }
    for (old, step) in proof.old.partitions.iter().zip(&proof.partitions) {
        check_partition(old, proof.new.head(old.partition), step).map_err(|reason| {
            ConsistencyInvalid::Partition {
                partition: old.partition,
                reason,
            }
        })?;
    }
    Ok(())
}

/// One partition: the new head extends the old one by the step's proof.
fn check_partition(
    old: &checkpoint::PartitionHead,
    new: Option<&checkpoint::PartitionHead>,
    step: &PartitionConsistency,
) -> Result<(), String> {
    let new = new.ok_or("the new checkpoint does not have it: it was removed")?;
    if step.partition != old.partition || step.old_size != old.size || step.new_size != new.size {
        return Err("the proof's sizes are not the checkpoints'".into());
    }
    if old.size == 0 {
        return Ok(());
    }
    let path: Vec<Digest> = step
        .path
        .iter()
        .map(|h| parse_digest(h))
        .collect::<Option<_>>()
        .ok_or("a hash of the proof is not 32 bytes of hex")?;
    let (old_root, new_root) = (
        old.checked_root().map_err(|e| e.to_string())?,
        new.checked_root().map_err(|e| e.to_string())?,
    );
    merkle::verify_consistency(old.size, new.size, &old_root, &new_root, &path).map_err(|e| {
        format!(
            "{} records with root {} are not extended by {} records with root {}: {e}",
            old.size, old.root, new.size, new.root
        )
    })
}
