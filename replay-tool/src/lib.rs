//! The auditor's tool: reads the events topic of a deployment — never writes it — and checks,
//! exports and explains it.
//!
//! - [`verify`]: every record decodes (through the upcasters), every aggregate's sequence starts
//!   at 1 and has no gaps or repeats, every hash chain is intact, every event is a legal
//!   transition from the state before it with the domain's invariants holding after it; each
//!   break is reported with partition, offset, aggregate, sequence, expected and found. Ends
//!   with a digest over all chain heads.
//! - [`export`]: one line per event (JSON Lines or CSV) with the envelope fields, streaming.
//! - [`history`]: one aggregate's audit trail, and its state as of a time or an offset.

pub mod checkpoint;
pub mod cli;
pub mod consistency;
pub mod follow;
pub mod proof;
pub mod rebuild;
pub mod running;
pub mod served;
pub mod source;
pub mod unique;

mod export;
mod history;
mod scan;
mod state;
mod verify;

pub use export::{export, spreadsheet_safe, ExportFormat, ExportSummary, TimeRange};
pub use history::{history, AsOf, History, HistoryEntry};
pub use scan::{scan, scan_from, Start};
pub use verify::{
    check_all, digest_of, verify, verify_against, verify_from, Break, BreakKind, Head,
    RunningTrialBalance, Verifier, VerifyReport,
};

use event_log::LogError;

/// Why the tool could not do its job (as opposed to what it found wrong in the log).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("writing the output: {0}")]
    Output(String),
    /// The reader of the output went away (`replay export | head`): not a failure.
    #[error("the output was closed by its reader")]
    OutputClosed,
    #[error("the rebuilt read models: {0}")]
    ReadModels(String),
    #[error("the scratch store for aggregates that do not fit in memory: {0}")]
    Scratch(String),
    #[error("{path} is in use by another process that publishes no serve address to read through")]
    InUseWithoutServe { path: String },
    #[error("decoding events on a worker thread failed: {0}")]
    Decoding(String),
    #[error("{file}: {reason}")]
    Proof { file: String, reason: String },
    #[error("no events of {aggregate_id} in the log (as asked)")]
    NoHistory { aggregate_id: String },
    #[error(transparent)]
    CannotProve(Box<proof::ProofError>),
    #[error(transparent)]
    CannotProveConsistency(Box<consistency::ConsistencyError>),
}

impl From<consistency::ConsistencyError> for ReplayError {
    fn from(error: consistency::ConsistencyError) -> ReplayError {
        match error {
            consistency::ConsistencyError::Replay(inner) => inner,
            other => ReplayError::CannotProveConsistency(Box::new(other)),
        }
    }
}

/// A proof that failed for a reason of the log's stays that reason (a corrupt byte is a
/// break); otherwise it says why no proof could be made.
impl From<proof::ProofError> for ReplayError {
    fn from(error: proof::ProofError) -> ReplayError {
        match error {
            proof::ProofError::Replay(inner) => inner,
            other => ReplayError::CannotProve(Box::new(other)),
        }
    }
}

impl ReplayError {
    /// Whether the stored history is damaged (a corrupt byte in the log): a break, which the
    /// replay commands report with exit status 1, not a failure to run (3); so is a log that
    /// does not extend the checkpoint a proof was asked against.
    pub fn is_break(&self) -> bool {
        match self {
            ReplayError::Log(LogError::Corrupt { .. }) => true,
            ReplayError::CannotProve(error) => {
                matches!(**error, proof::ProofError::NotExtended { .. })
            }
            ReplayError::CannotProveConsistency(error) => {
                matches!(**error, consistency::ConsistencyError::NotExtended(_))
            }
            _ => false,
        }
    }

    /// A failed write of the output: [`ReplayError::OutputClosed`] when its reader went away.
    fn output(kind: Option<std::io::ErrorKind>, error: impl std::fmt::Display) -> ReplayError {
        match kind {
            Some(std::io::ErrorKind::BrokenPipe) => ReplayError::OutputClosed,
            _ => ReplayError::Output(error.to_string()),
        }
    }
}

impl From<std::io::Error> for ReplayError {
    fn from(error: std::io::Error) -> ReplayError {
        ReplayError::output(Some(error.kind()), error)
    }
}

impl From<serde_json::Error> for ReplayError {
    fn from(error: serde_json::Error) -> ReplayError {
        ReplayError::output(error.io_error_kind(), error)
    }
}

impl From<csv::Error> for ReplayError {
    fn from(error: csv::Error) -> ReplayError {
        let kind = match error.kind() {
            csv::ErrorKind::Io(io) => Some(io.kind()),
            _ => None,
        };
        ReplayError::output(kind, error)
    }
}
