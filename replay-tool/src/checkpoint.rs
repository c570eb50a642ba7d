//! The log's Merkle tree heads (issue 21's checkpoints, unsigned for now): one RFC 9162 tree
//! per events partition, its leaves the partition's records in offset order, each leaf the
//! hash of the record's bytes exactly as stored — so a tree covers content, not only the
//! hashes records state. A tree of the partitions' heads gives one root for the whole log.
//! Any reader recomputes them from the log alone, in one pass and O(log n) memory per
//! partition.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use event_log::LogReader;
use order_events::merkle::{self, Digest, Frontier};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

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
    /// (Call on a head whose root is 32 bytes of hex: [`PartitionHead::checked_root`].)
    pub fn leaf(&self) -> Digest {
        let mut data = Vec::with_capacity(4 + 8 + 32);
        data.extend_from_slice(&self.partition.to_be_bytes());
        data.extend_from_slice(&self.size.to_be_bytes());
        data.extend_from_slice(&hex::decode(&self.root).expect("roots are written as hex"));
        merkle::leaf_hash(&data)
    }

    /// The root, when it is 32 bytes of hex.
    pub fn checked_root(&self) -> Result<Digest, CheckpointError> {
        parse_digest(&self.root).ok_or_else(|| {
            CheckpointError::Malformed(format!(
                "partition {}'s root is not 32 bytes of hex",
                self.partition
            ))
        })
    }
}

/// 32 bytes written as 64 hex digits.
pub fn parse_digest(text: &str) -> Option<Digest> {
    hex::decode(text).ok()?.try_into().ok()
}

/// The log's tree heads at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    /// Every partition of the events topic, in order.
    pub partitions: Vec<PartitionHead>,
    /// The root of the tree whose leaves are the partition heads, in partition order.
    pub root: String,
    /// Who vouches for these heads, and when; absent on an unsigned checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<CheckpointSignature>,
}

/// An Ed25519 signature over a checkpoint's [`Checkpoint::message`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSignature {
    /// The first 8 bytes of SHA-256 of the public key, hex.
    pub key_id: String,
    pub signed_at: DateTime<Utc>,
    /// 64 bytes, hex.
    pub signature: String,
}

/// Why a checkpoint is not one to trust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not signed")]
    Unsigned,
    #[error("signed with key {signed_by}, not the trusted key {trusted}")]
    OtherKey { signed_by: String, trusted: String },
    #[error("the signature does not hold: the checkpoint was changed after signing, or forged")]
    BadSignature,
    #[error("the root is not the root of the partition heads it lists")]
    RootMismatch,
    #[error("{0}")]
    Malformed(String),
}

impl Checkpoint {
    fn of(frontiers: &BTreeMap<u32, Frontier>) -> Checkpoint {
        Checkpoint::from_heads(
            frontiers
                .iter()
                .map(|(&partition, frontier)| PartitionHead {
                    partition,
                    size: frontier.size(),
                    root: hex::encode(frontier.root()),
                })
                .collect(),
        )
    }

    /// The unsigned checkpoint of these heads (partitions 0, 1, 2, … in order; each root 32
    /// bytes of hex).
    pub fn from_heads(partitions: Vec<PartitionHead>) -> Checkpoint {
        let leaves: Vec<Digest> = partitions.iter().map(PartitionHead::leaf).collect();
        Checkpoint {
            format: CHECKPOINT_FORMAT.to_owned(),
            root: hex::encode(merkle::root(&leaves)),
            partitions,
            signature: None,
        }
    }

    /// The bytes a signature covers: see [`signed_message`]. The root covers every partition
    /// head, so a proof can carry the root and the signature without the heads.
    pub fn message(&self, key_id: &str, signed_at: DateTime<Utc>) -> Vec<u8> {
        signed_message(&self.format, &self.root, key_id, signed_at)
    }

    /// This checkpoint signed with `key` at `at` (whole seconds).
    pub fn signed(mut self, key: &SigningKey, at: DateTime<Utc>) -> Checkpoint {
        let at = DateTime::from_timestamp(at.timestamp(), 0).expect("a time in range");
        let key_id = key_id(&key.verifying_key());
        let signature = key.sign(&self.message(&key_id, at));
        self.signature = Some(CheckpointSignature {
            key_id,
            signed_at: at,
            signature: hex::encode(signature.to_bytes()),
        });
        self
    }

    /// Checks that `trusted` signed this checkpoint as it is, and that its root is its heads'.
    pub fn check(&self, trusted: &VerifyingKey) -> Result<(), CheckpointError> {
        let signed = self.signature.as_ref().ok_or(CheckpointError::Unsigned)?;
        check_signature(&self.format, &self.root, signed, trusted)?;
        self.check_heads()
    }

    /// Checks that the root is the root of the partition heads listed (signed or not).
    pub fn check_heads(&self) -> Result<(), CheckpointError> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::Malformed(format!(
                "not a checkpoint of this format (expected {CHECKPOINT_FORMAT})"
            )));
        }
        let mut leaves = Vec::with_capacity(self.partitions.len());
        for (place, head) in self.partitions.iter().enumerate() {
            head.checked_root()?;
            if head.partition as usize != place {
                return Err(CheckpointError::Malformed(format!(
                    "the heads are not partitions 0, 1, 2, … in order (partition {} at place {place})",
                    head.partition
                )));
            }
            leaves.push(head.leaf());
        }
        if hex::encode(merkle::root(&leaves)) != self.root {
            return Err(CheckpointError::RootMismatch);
        }
        Ok(())
    }

    /// The inclusion proof of `partition`'s head in the tree of heads (its leaf index is the
    /// partition).
    pub fn heads_path(&self, partition: u32) -> Option<Vec<Digest>> {
        let leaves: Vec<Digest> = self.partitions.iter().map(PartitionHead::leaf).collect();
        merkle::inclusion_proof(&leaves, partition as usize)
    }

    /// The head of `partition`, if the checkpoint covers it.
    pub fn head(&self, partition: u32) -> Option<&PartitionHead> {
        self.partitions.get(partition as usize)
    }

    /// How many records the checkpoint covers.
    pub fn records(&self) -> u64 {
        self.partitions.iter().map(|head| head.size).sum()
    }
}

/// The bytes a checkpoint signature covers, as text, each line ending in a line feed:
/// the format, `key ` and the key id, `time ` and the time (RFC 3339, whole seconds, `Z`),
/// `root ` and the root (hex).
pub fn signed_message(format: &str, root: &str, key_id: &str, signed_at: DateTime<Utc>) -> Vec<u8> {
    format!(
        "{format}\nkey {key_id}\ntime {}\nroot {root}\n",
        signed_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
    .into_bytes()
}

/// Checks that `trusted` signed `root` (of a checkpoint of `format`) as `signed` says.
pub fn check_signature(
    format: &str,
    root: &str,
    signed: &CheckpointSignature,
    trusted: &VerifyingKey,
) -> Result<(), CheckpointError> {
    let trusted_id = key_id(trusted);
    if signed.key_id != trusted_id {
        return Err(CheckpointError::OtherKey {
            signed_by: signed.key_id.clone(),
            trusted: trusted_id,
        });
    }
    let bytes: [u8; 64] = hex::decode(&signed.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| CheckpointError::Malformed("the signature is not 64 bytes of hex".into()))?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    let message = signed_message(format, root, &signed.key_id, signed.signed_at);
    trusted
        .verify(&message, &signature)
        .map_err(|_| CheckpointError::BadSignature)
}

/// A public key's id: the first 8 bytes of its SHA-256, hex.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&sha2::Sha256::digest(key.as_bytes())[..8])
}

/// A new signing key from the operating system's random source.
pub fn new_signing_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("the system's random source failed: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads a signing key file: its 32-byte seed as 64 hex digits.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the signing key {}: {e}", path.display()))?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            format!(
                "{} does not hold a signing key (64 hex digits)",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key written as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a public key is 64 hex digits".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// The trees of the events topic's partitions, grown one record at a time as a reader meets
/// them (each partition's in offset order).
#[derive(Debug, Clone, Default)]
pub struct LogTrees {
    frontiers: BTreeMap<u32, Frontier>,
}

impl LogTrees {
    /// Trees for `partitions` partitions, empty so far (a partition without records still
    /// has a head).
    pub fn new(partitions: usize) -> LogTrees {
        LogTrees {
            frontiers: (0..partitions as u32)
                .map(|partition| (partition, Frontier::default()))
                .collect(),
        }
    }

    /// Adds the next record of `partition`; returns its leaf index.
    pub fn push(&mut self, partition: u32, payload: &[u8]) -> u64 {
        self.push_leaf(partition, merkle::leaf_hash(payload))
    }

    /// [`LogTrees::push`] of a leaf hash computed elsewhere.
    pub fn push_leaf(&mut self, partition: u32, leaf: Digest) -> u64 {
        let frontier = self.frontiers.entry(partition).or_default();
        frontier.push(leaf);
        frontier.size() - 1
    }

    /// The heads of every tree as they are now (unsigned).
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint::of(&self.frontiers)
    }
}

/// The tree heads of the whole events topic as it is now.
pub async fn checkpoint(log: &dyn LogReader) -> Result<Checkpoint, ReplayError> {
    let ends = log.end_offsets(event_log::Topic::Events).await?;
    let mut trees = LogTrees::new(ends.len());
    crate::scan(log, |record| {
        trees.push(record.partition, &record.payload);
        Ok(())
    })
    .await?;
    Ok(trees.checkpoint())
}

/// How a log fails to extend a kept checkpoint, in one partition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Departure {
    #[error("partition {partition} has {found} records; the checkpoint covers {covered}: records were removed")]
    Removed {
        partition: u32,
        found: u64,
        covered: u64,
        /// The offset after the partition's last record.
        end: u64,
    },
    #[error("partition {partition}'s first {size} records (to offset {offset}) are not the ones the checkpoint covers: history was rewritten")]
    Rewritten {
        partition: u32,
        size: u64,
        /// The offset of the last record the checkpoint covers.
        offset: u64,
    },
}

/// Whether a log extends a kept checkpoint — for each partition it covers, the first `size`
/// records must be the ones its root was made of — checked as a reader meets the records.
/// Catches a rewritten record or chain (another root at the same size), records removed from
/// the end (fewer records than covered) and another history of the same length.
#[derive(Debug, Clone)]
pub struct Extension {
    kept: Checkpoint,
    trees: BTreeMap<u32, Frontier>,
    /// Per partition, the root at the kept size and the offset of its last record.
    at_size: BTreeMap<u32, (Digest, u64)>,
    /// Per partition, the offset after the last record read.
    ends: BTreeMap<u32, u64>,
}

impl Extension {
    pub fn new(kept: Checkpoint) -> Extension {
        Extension {
            kept,
            trees: BTreeMap::new(),
            at_size: BTreeMap::new(),
            ends: BTreeMap::new(),
        }
    }

    /// The next record's leaf in `partition`, at `offset`.
    pub fn push_leaf(&mut self, partition: u32, offset: u64, leaf: Digest) {
        let Some(size) = self.kept.head(partition).map(|head| head.size) else {
            return;
        };
        self.ends.insert(partition, offset + 1);
        let tree = self.trees.entry(partition).or_default();
        if tree.size() < size {
            tree.push(leaf);
            if tree.size() == size {
                self.at_size.insert(partition, (tree.root(), offset));
            }
        }
    }

    /// How the log read departs from the checkpoint; empty when it extends it.
    pub fn departures(&self) -> Vec<Departure> {
        let empty = Frontier::default().root();
        let mut departures = Vec::new();
        for head in &self.kept.partitions {
            let found = self.trees.get(&head.partition).map_or(0, Frontier::size);
            let root = if head.size == 0 {
                Some((empty, 0))
            } else {
                self.at_size.get(&head.partition).copied()
            };
            match root {
                None => departures.push(Departure::Removed {
                    partition: head.partition,
                    found,
                    covered: head.size,
                    end: self.ends.get(&head.partition).copied().unwrap_or(0),
                }),
                Some((root, offset)) if hex::encode(root) != head.root => {
                    departures.push(Departure::Rewritten {
                        partition: head.partition,
                        size: head.size,
                        offset,
                    })
                }
                Some(_) => {}
            }
        }
        departures
    }
}

/// What a full read of the log says about its trees: their heads, and how the log departs
/// from a kept checkpoint when there is one. Fed one leaf at a time (`verify` does, in its
/// single pass).
#[derive(Debug, Clone, Default)]
pub struct Witness {
    trees: LogTrees,
    kept: Option<Extension>,
}

impl Witness {
    /// A witness of a log of `partitions` partitions, checking it extends `kept` when given.
    pub fn new(partitions: usize, kept: Option<Checkpoint>) -> Witness {
        Witness {
            trees: LogTrees::new(partitions),
            kept: kept.map(Extension::new),
        }
    }

    /// The next record of `partition`, at `offset`, hashed into its leaf.
    pub fn push_leaf(&mut self, partition: u32, offset: u64, leaf: Digest) {
        self.trees.push_leaf(partition, leaf);
        if let Some(kept) = &mut self.kept {
            kept.push_leaf(partition, offset, leaf);
        }
    }

    /// The log's checkpoint (unsigned) and its departures from the kept one.
    pub fn finish(&self) -> (Checkpoint, Vec<Departure>) {
        let departures = self
            .kept
            .as_ref()
            .map(Extension::departures)
            .unwrap_or_default();
        (self.trees.checkpoint(), departures)
    }
}
