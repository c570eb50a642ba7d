//! Inclusion proofs: what an auditor needs to check, offline, that one event is part of a
//! digest written down earlier.
//!
//! A proof holds the event's record and every later record of its aggregate, up to the
//! aggregate's head (each record carries its own hash, and the next one's `prev_hash` must be
//! that hash), plus every chain head the digest covers. Checking it needs no log: recompute
//! each record's hash, follow the links to the head, find the head among the heads, and
//! recompute the digest over them.

use event_log::LogReader;
use order_events::codec;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{digest_of, Head, ReplayError, Verifier};

pub const PROOF_FORMAT: &str = "order-ledger/proof/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    pub format: String,
    pub event_id: Uuid,
    /// `kind:id` of the event's aggregate.
    pub aggregate: String,
    /// Hex of the stored records, from the event to the aggregate's head.
    pub records: Vec<String>,
    /// Every chain head the digest covers, in digest order.
    pub heads: Vec<Head>,
    pub digest: String,
}

/// Why a proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    #[error("no event {0} in the log")]
    NotFound(Uuid),
    #[error("the log is not intact ({0} breaks; run verify): a proof over it would prove nothing")]
    NotIntact(usize),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Makes the proof for `event_id`: one pass to find the event and follow its aggregate, one
/// pass (verify) for the heads and the digest.
pub async fn prove(log: &dyn LogReader, event_id: Uuid) -> Result<Proof, ProofError> {
    let mut found: Option<(String, u64)> = None;
    let mut records: Vec<(u64, Vec<u8>)> = Vec::new();
    crate::scan(log, |record| {
        let Ok(raw) = codec::decode_raw_event(&record.payload) else {
            return Ok(());
        };
        if found.is_none() && raw.event_id == event_id {
            found = Some((raw.aggregate_id.clone(), raw.sequence));
        }
        if let Some((aggregate, sequence)) = &found {
            if &raw.aggregate_id == aggregate && raw.sequence >= *sequence {
                records.push((raw.sequence, record.payload.clone()));
            }
        }
        Ok(())
    })
    .await?;
    let (aggregate_id, _) = found.ok_or(ProofError::NotFound(event_id))?;
    records.sort_by_key(|(sequence, _)| *sequence);
    let mut verifier = Verifier::default();
    crate::scan(log, |record| verifier.check(record)).await?;
    let (report, heads) = verifier.finish_with_heads()?;
    if !report.is_intact() {
        return Err(ProofError::NotIntact(report.breaks.len()));
    }
    let first = codec::decode_raw_event(&records[0].1).expect("decoded above");
    Ok(Proof {
        format: PROOF_FORMAT.to_owned(),
        event_id,
        aggregate: crate::state::aggregate_name(first.aggregate_kind, &aggregate_id),
        records: records
            .iter()
            .map(|(_, bytes)| hex::encode(bytes))
            .collect(),
        heads,
        digest: report.digest,
    })
}

/// Why a proof does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofInvalid {
    #[error("not a proof of this format (expected {PROOF_FORMAT})")]
    Format,
    #[error("record {index} is not a valid event record: {reason}")]
    Record { index: usize, reason: String },
    #[error("the first record is event {found}, not {expected}")]
    WrongEvent { expected: Uuid, found: Uuid },
    #[error("record {index} does not continue the chain: {reason}")]
    Link { index: usize, reason: String },
    #[error("the chain ends at sequence {sequence} hash {hash}, which is not the head of {aggregate} among the heads")]
    NotAHead {
        aggregate: String,
        sequence: u64,
        hash: String,
    },
    #[error("the heads hash to {computed}, not to the digest {stated}")]
    Digest { stated: String, computed: String },
}

/// Checks a proof offline. `Ok` means: this event is part of a log whose digest is
/// `proof.digest` (compare that with the digest you wrote down).
pub fn check(proof: &Proof) -> Result<(), ProofInvalid> {
    if proof.format != PROOF_FORMAT || proof.records.is_empty() {
        return Err(ProofInvalid::Format);
    }
    let mut previous: Option<codec::RawEvent> = None;
    for (index, text) in proof.records.iter().enumerate() {
        let bytes = hex::decode(text).map_err(|e| ProofInvalid::Record {
            index,
            reason: e.to_string(),
        })?;
        let raw = codec::decode_raw_event(&bytes).map_err(|e| ProofInvalid::Record {
            index,
            reason: e.to_string(),
        })?;
        match &previous {
            None if raw.event_id != proof.event_id => {
                return Err(ProofInvalid::WrongEvent {
                    expected: proof.event_id,
                    found: raw.event_id,
                })
            }
            None => {}
            Some(before)
                if raw.aggregate_id != before.aggregate_id
                    || raw.sequence != before.sequence + 1
                    || raw.prev_hash != before.hash =>
            {
                return Err(ProofInvalid::Link {
                    index,
                    reason: format!(
                        "expected {} sequence {} after hash {}, found {} sequence {} after {}",
                        before.aggregate_id,
                        before.sequence + 1,
                        before.hash.to_hex(),
                        raw.aggregate_id,
                        raw.sequence,
                        raw.prev_hash.to_hex()
                    ),
                });
            }
            Some(_) => {}
        }
        previous = Some(raw);
    }
    let last = previous.expect("at least one record");
    let aggregate = crate::state::aggregate_name(last.aggregate_kind, &last.aggregate_id);
    let is_head = proof.heads.iter().any(|head| {
        head.aggregate == aggregate
            && head.sequence == last.sequence
            && head.hash == last.hash.to_hex()
    });
    if aggregate != proof.aggregate || !is_head {
        return Err(ProofInvalid::NotAHead {
            aggregate,
            sequence: last.sequence,
            hash: last.hash.to_hex(),
        });
    }
    let computed = digest_of(&proof.heads);
    if computed != proof.digest {
        return Err(ProofInvalid::Digest {
            stated: proof.digest.clone(),
            computed,
        });
    }
    Ok(())
}
