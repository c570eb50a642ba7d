//! Inclusion proofs: what an auditor needs to check, offline and in O(log n) hashes, that one
//! event is in the log a checkpoint they trust describes.
//!
//! A proof holds the event's record as stored, its place in its partition's tree (RFC 9162
//! leaf index) and the audit path up to that partition's root; the partition's head and its
//! audit path up to the checkpoint's root; and the checkpoint's root and signature. Checking
//! it needs no log: hash the record into its leaf, follow the paths to the root, and check the
//! root against a checkpoint or a public key the auditor trusts (`docs/verifiable-history.md`).

use event_log::{LogReader, Topic, TopicPartition};
use order_events::codec;
use order_events::envelope::EventEnvelope;
use order_events::merkle::{self, Digest, RangeRoots};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::checkpoint::{
    self, parse_digest, Checkpoint, CheckpointError, CheckpointSignature, LogTrees, PartitionHead,
};
use crate::ReplayError;

pub const PROOF_FORMAT: &str = "order-ledger/proof/v2";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub format: String,
    pub event_id: Uuid,
    /// Where the record is: its partition, its leaf index in the partition's tree, and (for
    /// finding it in the log; not proven) its offset.
    pub partition: u32,
    pub index: u64,
    pub offset: u64,
    /// Hex of the record exactly as stored.
    pub record: String,
    /// The audit path from the record's leaf to `head.root` (hex, from the leaf up).
    pub path: Vec<String>,
    /// The partition's head in the checkpoint.
    pub head: PartitionHead,
    /// How many partitions (leaves) the checkpoint's tree of heads has.
    pub partitions: u64,
    /// The audit path from the head's leaf (index: the partition) to `root`.
    pub heads_path: Vec<String>,
    /// The checkpoint's root, and its signature when it was signed.
    pub root: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<CheckpointSignature>,
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("no event {0} in the log")]
    NotFound(Uuid),
    #[error("event {event_id} is record {index} of partition {partition}, after the checkpoint's {size} records: prove it against a later checkpoint")]
    AfterCheckpoint {
        event_id: Uuid,
        partition: u32,
        index: u64,
        size: u64,
    },
    #[error("the log does not extend the checkpoint (partition {partition}'s first {size} records are not the ones it covers): run verify --checkpoint")]
    NotExtended { partition: u32, size: u64 },
    #[error("the checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl From<event_log::LogError> for ProofError {
    fn from(error: event_log::LogError) -> ProofError {
        ProofError::Replay(error.into())
    }
}

/// Where an event was found: its partition, leaf index, offset and stored bytes.
struct Found {
    partition: u32,
    index: u64,
    offset: u64,
    record: Vec<u8>,
}

/// Makes the proof of `event_id` against `against` (a checkpoint kept earlier), or against the
/// log as it is now (signed with `key` when given). Two reads: the whole log to find the event
/// (and make the checkpoint), then the event's partition for the audit path.
pub async fn prove(
    log: &dyn LogReader,
    event_id: Uuid,
    against: Option<Checkpoint>,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<Proof, ProofError> {
    let ends = log.end_offsets(Topic::Events).await?;
    let mut trees = LogTrees::new(ends.len());
    let mut found: Option<Found> = None;
    crate::scan(log, |record| {
        let index = trees.push(record.partition, &record.payload);
        if found.is_none() && is_event(&record.payload, event_id) {
            found = Some(Found {
                partition: record.partition,
                index,
                offset: record.offset,
                record: record.payload.clone(),
            });
        }
        Ok(())
    })
    .await?;
    let found = found.ok_or(ProofError::NotFound(event_id))?;
    let checkpoint = match against {
        Some(kept) => kept,
        None => {
            let now = trees.checkpoint();
            match key {
                Some(key) => now.signed(key, std::time::SystemTime::now().into()),
                None => now,
            }
        }
    };
    checkpoint.check_heads()?;
    let head = checkpoint
        .head(found.partition)
        .cloned()
        .ok_or(ProofError::NotExtended {
            partition: found.partition,
            size: 0,
        })?;
    if found.index >= head.size {
        return Err(ProofError::AfterCheckpoint {
            event_id,
            partition: found.partition,
            index: found.index,
            size: head.size,
        });
    }
    let path = audit_path(log, &found, &head).await?;
    let heads_path = checkpoint
        .heads_path(found.partition)
        .expect("the checkpoint has the partition's head");
    Ok(Proof {
        format: PROOF_FORMAT.to_owned(),
        event_id,
        partition: found.partition,
        index: found.index,
        offset: found.offset,
        record: hex::encode(&found.record),
        path: path.iter().map(hex::encode).collect(),
        partitions: checkpoint.partitions.len() as u64,
        heads_path: heads_path.iter().map(hex::encode).collect(),
        head,
        root: checkpoint.root,
        signature: checkpoint.signature,
    })
}

/// Whether a stored record is the event `event_id`.
fn is_event(payload: &[u8], event_id: Uuid) -> bool {
    codec::split_raw_event_unverified(payload).is_ok_and(|raw| raw.event_id == event_id)
}

/// The audit path of `found` in its partition's first `head.size` records, read once; checks
/// on the way that those records still hash to `head.root`.
async fn audit_path(
    log: &dyn LogReader,
    found: &Found,
    head: &PartitionHead,
) -> Result<Vec<Digest>, ProofError> {
    let not_extended = || ProofError::NotExtended {
        partition: found.partition,
        size: head.size,
    };
    let ranges = merkle::inclusion_ranges(found.index, head.size).ok_or_else(not_extended)?;
    let mut roots = RangeRoots::new(ranges);
    let mut tree = merkle::Frontier::default();
    let tp = TopicPartition::new(log.topics().name(Topic::Events), found.partition);
    let end = log.end_offsets(Topic::Events).await?[found.partition as usize];
    crate::scan::scan_partition(log, &tp, 0, end, &mut |record| {
        if tree.size() < head.size {
            let leaf = merkle::leaf_hash(&record.payload);
            roots.push(leaf);
            tree.push(leaf);
        }
        Ok(())
    })
    .await?;
    if tree.size() < head.size || hex::encode(tree.root()) != head.root {
        return Err(not_extended());
    }
    roots.roots().ok_or_else(not_extended)
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofInvalid {
    #[error("not a proof of this format (expected {PROOF_FORMAT}): {0}")]
    Format(String),
    #[error("the record is not a valid event record: {0}")]
    Record(String),
    #[error("the record is event {found}, not {expected}")]
    WrongEvent { expected: Uuid, found: Uuid },
    #[error(
        "the record is not leaf {index} of partition {partition}'s tree with root {root}: {reason}"
    )]
    NotInPartition {
        partition: u32,
        index: u64,
        root: String,
        reason: merkle::ProofError,
    },
    #[error("partition {partition}'s head is not in the checkpoint with root {root}: {reason}")]
    HeadNotInCheckpoint {
        partition: u32,
        root: String,
        reason: merkle::ProofError,
    },
    #[error("the proof is against another checkpoint than the trusted one: {0}")]
    OtherCheckpoint(String),
    #[error("the checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// What a proof holds against: the checkpoint and the key the auditor trusts.
#[derive(Default)]
pub struct Trusted<'a> {
    pub checkpoint: Option<&'a Checkpoint>,
    pub key: Option<&'a ed25519_dalek::VerifyingKey>,
}

/// Checks a proof offline: that its record is the event, in its partition's tree, whose head is
/// in the checkpoint's tree with the proof's root; then that root against what is trusted (a
/// kept checkpoint must list the same head and root; a key must have signed the checkpoint
/// used). Returns the event.
pub fn check(proof: &Proof, trusted: &Trusted) -> Result<EventEnvelope, ProofInvalid> {
    let record = hashes_up(proof)?;
    if let Some(kept) = trusted.checkpoint {
        kept.check_heads()?;
        if kept.head(proof.partition) != Some(&proof.head) || kept.root != proof.root {
            return Err(ProofInvalid::OtherCheckpoint(format!(
                "it proves partition {} at {} records (root {}); the trusted checkpoint has root {} and {}",
                proof.partition,
                proof.head.size,
                proof.root,
                kept.root,
                kept.head(proof.partition).map_or("no such partition".to_owned(), |h| format!(
                    "{} records there: make the proof with --checkpoint",
                    h.size
                )),
            )));
        }
    }
    if let Some(key) = trusted.key {
        let signature = match trusted.checkpoint {
            Some(kept) => kept.signature.as_ref(),
            None => proof.signature.as_ref(),
        };
        let signature = signature.ok_or(CheckpointError::Unsigned)?;
        checkpoint::check_signature(checkpoint::CHECKPOINT_FORMAT, &proof.root, signature, key)?;
    }
    Ok(record)
}

/// The proof's own consistency: record → partition root → checkpoint root.
fn hashes_up(proof: &Proof) -> Result<EventEnvelope, ProofInvalid> {
    if proof.format != PROOF_FORMAT {
        return Err(ProofInvalid::Format(format!("format {:?}", proof.format)));
    }
    let bytes = hex::decode(&proof.record).map_err(|e| ProofInvalid::Record(e.to_string()))?;
    let event = codec::decode_event(&bytes).map_err(|e| ProofInvalid::Record(e.to_string()))?;
    if event.event_id != proof.event_id {
        return Err(ProofInvalid::WrongEvent {
            expected: proof.event_id,
            found: event.event_id,
        });
    }
    let digests = |hexes: &[String], what: &str| -> Result<Vec<Digest>, ProofInvalid> {
        hexes
            .iter()
            .map(|h| parse_digest(h))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ProofInvalid::Format(format!("{what} holds a hash that is not 32 bytes of hex"))
            })
    };
    let head_root = proof.head.checked_root()?;
    let root = parse_digest(&proof.root)
        .ok_or_else(|| ProofInvalid::Format("the root is not 32 bytes of hex".into()))?;
    if proof.head.partition != proof.partition {
        return Err(ProofInvalid::Format(
            "the head is another partition's".into(),
        ));
    }
    let leaf = merkle::leaf_hash(&bytes);
    let path = digests(&proof.path, "path")?;
    merkle::verify_inclusion(&leaf, proof.index, proof.head.size, &path, &head_root).map_err(
        |reason| ProofInvalid::NotInPartition {
            partition: proof.partition,
            index: proof.index,
            root: proof.head.root.clone(),
            reason,
        },
    )?;
    let heads_path = digests(&proof.heads_path, "heads_path")?;
    let head_leaf = proof.head.leaf();
    merkle::verify_inclusion(
        &head_leaf,
        u64::from(proof.partition),
        proof.partitions,
        &heads_path,
        &root,
    )
    .map_err(|reason| ProofInvalid::HeadNotInCheckpoint {
        partition: proof.partition,
        root: proof.root.clone(),
        reason,
    })?;
    Ok(event)
}
