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
            signature: None,
        }
    }

    /// The bytes a signature covers: the format, the key id, the time (RFC 3339, seconds,
    /// `Z`), the root and one line per partition head, each line ending in a line feed.
    pub fn message(&self, key_id: &str, signed_at: DateTime<Utc>) -> Vec<u8> {
        let mut text = format!(
            "{}\nkey {key_id}\ntime {}\nroot {}\n",
            self.format,
            signed_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.root
        );
        for head in &self.partitions {
            text.push_str(&format!("{} {} {}\n", head.partition, head.size, head.root));
        }
        text.into_bytes()
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
            .ok_or_else(|| {
                CheckpointError::Malformed("the signature is not 64 bytes of hex".into())
            })?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        trusted
            .verify(&self.message(&signed.key_id, signed.signed_at), &signature)
            .map_err(|_| CheckpointError::BadSignature)?;
        let mut leaves = Vec::with_capacity(self.partitions.len());
        for head in &self.partitions {
            if hex::decode(&head.root).map_or(true, |root| root.len() != 32) {
                return Err(CheckpointError::Malformed(format!(
                    "partition {}'s root is not 32 bytes of hex",
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

/// How the log fails to extend a checkpoint: for each partition the checkpoint covers, its
/// first `size` records must be the ones the checkpoint's root was made of. Empty when the log
/// extends it. Catches a rewritten record or chain (a different root at the same size), records
/// removed from the end (fewer records than the checkpoint covers) and another history of the
/// same length.
pub async fn departures(
    log: &dyn LogReader,
    checkpoint: &Checkpoint,
) -> Result<Vec<String>, ReplayError> {
    let sizes: BTreeMap<u32, u64> = checkpoint
        .partitions
        .iter()
        .map(|head| (head.partition, head.size))
        .collect();
    let mut frontiers: BTreeMap<u32, Frontier> = BTreeMap::new();
    let mut at_size: BTreeMap<u32, Digest> = BTreeMap::new();
    let empty = Frontier::default().root();
    crate::scan(log, |record| {
        let frontier = frontiers.entry(record.partition).or_default();
        if sizes
            .get(&record.partition)
            .is_some_and(|&size| frontier.size() < size)
        {
            frontier.push(merkle::leaf_hash(&record.payload));
            if Some(&frontier.size()) == sizes.get(&record.partition) {
                at_size.insert(record.partition, frontier.root());
            }
        }
        Ok(())
    })
    .await?;
    let mut departures = Vec::new();
    for head in &checkpoint.partitions {
        let found = frontiers.get(&head.partition).map_or(0, Frontier::size);
        let root = if head.size == 0 {
            Some(empty)
        } else {
            at_size.get(&head.partition).copied()
        };
        match root {
            None => departures.push(format!(
                "partition {} has {found} records; the checkpoint covers {}: records were removed",
                head.partition, head.size
            )),
            Some(root) if hex::encode(root) != head.root => departures.push(format!(
                "partition {}'s first {} records are not the ones the checkpoint covers: history was rewritten",
                head.partition, head.size
            )),
            Some(_) => {}
        }
    }
    Ok(departures)
}
