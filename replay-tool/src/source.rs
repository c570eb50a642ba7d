//! Opening a deployment's log as a reader: the auditor's tool finds a log where it is pointed
//! or says so, and never creates one (a mistyped path must not "verify" as an empty log).

use std::path::PathBuf;
use std::sync::Arc;

use event_log::embedded::EmbeddedLog;
use event_log::kafka::{KafkaLog, KafkaSettings};
use event_log::{Log, LogError, Topics};

use crate::served::ServedLog;
use crate::ReplayError;

/// The file in a data directory where a running `ledger serve` writes its HTTP address.
pub const SERVE_ADDRESS_FILE: &str = "serve.addr";

/// Where the log to read is.
#[derive(Debug, Clone)]
pub enum Source {
    /// An embedded data directory; `cache_capacity_bytes` bounds sled's page cache (`None`:
    /// sled's 1 GiB).
    Embedded {
        data: PathBuf,
        cache_capacity_bytes: Option<u64>,
    },
    Kafka(KafkaSettings),
}

/// Opens the log of the deployment with topic `prefix` at `source` for reading. A data
/// directory that a running `ledger serve` holds is read through that serve's read-only log
/// endpoints, found through its address file.
pub async fn open_reader(source: &Source, prefix: &str) -> Result<Arc<dyn Log>, ReplayError> {
    let topics = Topics::new(prefix, event_log::DEFAULT_PARTITIONS)?;
    match source {
        Source::Kafka(settings) => Ok(Arc::new(
            KafkaLog::connect_existing(settings.clone(), topics).await?,
        )),
        Source::Embedded {
            data,
            cache_capacity_bytes,
        } => match EmbeddedLog::open_existing(data, topics, *cache_capacity_bytes) {
            Ok(log) => Ok(Arc::new(log)),
            Err(LogError::InUse { path }) => {
                let address = std::fs::read_to_string(data.join(SERVE_ADDRESS_FILE))
                    .ok()
                    .map(|text| text.trim().to_owned())
                    .filter(|text| !text.is_empty())
                    .ok_or(ReplayError::InUseWithoutServe { path })?;
                Ok(Arc::new(ServedLog::connect(&address).await?))
            }
            Err(other) => Err(other.into()),
        },
    }
}
