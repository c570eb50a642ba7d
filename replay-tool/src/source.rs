//! Opening a deployment's log as a reader: the auditor's tool finds a log where it is pointed
//! or says so, and never creates one (a mistyped path must not "verify" as an empty log).

use std::path::PathBuf;
use std::sync::Arc;

use event_log::embedded::EmbeddedLog;
use event_log::kafka::{KafkaLog, KafkaSettings};
use event_log::{LogError, LogReader, Topics};

use crate::running::Endpoint;
use crate::served::ServedLog;
use crate::ReplayError;

/// Where the log to read is.
#[derive(Debug, Clone)]
pub enum Source {
    /// An embedded data directory.
    Embedded {
        data: PathBuf,
    },
    Kafka(KafkaSettings),
}

/// Opens the log of the deployment with topic `prefix` at `source` for reading. A data
/// directory that a running `ledger serve` holds is read through that serve's read-only log
/// endpoints, found through its address file.
pub async fn open_reader(source: &Source, prefix: &str) -> Result<Arc<dyn LogReader>, ReplayError> {
    let topics = Topics::new(prefix, event_log::DEFAULT_PARTITIONS)?;
    match source {
        Source::Kafka(settings) => Ok(Arc::new(
            KafkaLog::connect_existing(settings.clone(), topics).await?,
        )),
        Source::Embedded { data } => match EmbeddedLog::open_existing(data, topics) {
            Ok(log) => Ok(Arc::new(log)),
            Err(LogError::InUse { path }) => {
                let serve = Endpoint::of(data).ok_or(ReplayError::InUseWithoutServe { path })?;
                Ok(Arc::new(ServedLog::connect(&serve).await?))
            }
            Err(other) => Err(other.into()),
        },
    }
}
