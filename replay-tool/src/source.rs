//! Opening a deployment's log as a reader: the auditor's tool finds a log where it is pointed
//! or says so, and never creates one (a mistyped path must not "verify" as an empty log).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use event_log::embedded::EmbeddedLog;
use event_log::kafka::{KafkaLog, KafkaSettings};
use event_log::{Log, LogError, Topics};

use crate::served::ServedLog;
use crate::ReplayError;

/// The file in a data directory where a running `ledger serve` writes its HTTP address.
pub const SERVE_ADDRESS_FILE: &str = "serve.addr";

/// The file in a data directory where a running `ledger serve` writes an admin token for this
/// run (readable by its owner only).
pub const SERVE_TOKEN_FILE: &str = "serve.token";

/// The file in a data directory a running `ledger serve` holds locked for as long as it runs.
/// The kernel releases the lock however the serve ends, so an address file left behind by a
/// killed serve is known for stale.
pub const SERVE_LOCK_FILE: &str = "serve.lock";

/// Where the serve owning `data` listens, if one runs: its address file, trusted only while a
/// serve holds the directory's lock (a serve killed with SIGKILL leaves the file behind).
pub fn serve_address(data: &Path) -> Option<String> {
    if !serve_running(data) {
        return None;
    }
    std::fs::read_to_string(data.join(SERVE_ADDRESS_FILE))
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// Whether a serve holds `data`'s lock file now.
fn serve_running(data: &Path) -> bool {
    let Ok(file) = std::fs::File::open(data.join(SERVE_LOCK_FILE)) else {
        return false;
    };
    // Taken and given back at once when free; held by a serve, it cannot be taken.
    matches!(
        file.try_lock_shared(),
        Err(std::fs::TryLockError::WouldBlock)
    )
}

/// The environment variable a client's bearer token is read from.
pub const TOKEN_ENV: &str = "LEDGER_TOKEN";

/// The bearer token to present to a serve: `LEDGER_TOKEN`, else the token the serve owning
/// `data` wrote there.
pub fn serve_token(data: Option<&Path>) -> Option<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .or_else(|| std::fs::read_to_string(data?.join(SERVE_TOKEN_FILE)).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// An HTTP client for a serve: no error for a 4xx/5xx (the answer says why), every request
/// bearing `token` when there is one.
pub fn serve_client(timeout: std::time::Duration, token: Option<String>) -> ureq::Agent {
    let builder = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    match token {
        None => builder.build().into(),
        Some(token) => {
            let value = format!("Bearer {token}");
            builder
                .middleware(
                    move |mut request: ureq::http::Request<ureq::SendBody>,
                          next: ureq::middleware::MiddlewareNext| {
                        if let Ok(header) = ureq::http::HeaderValue::from_str(&value) {
                            request
                                .headers_mut()
                                .insert(ureq::http::header::AUTHORIZATION, header);
                        }
                        next.handle(request)
                    },
                )
                .build()
                .into()
        }
    }
}

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
pub async fn open_reader(source: &Source, prefix: &str) -> Result<Arc<dyn Log>, ReplayError> {
    let topics = Topics::new(prefix, event_log::DEFAULT_PARTITIONS)?;
    match source {
        Source::Kafka(settings) => Ok(Arc::new(
            KafkaLog::connect_existing(settings.clone(), topics).await?,
        )),
        Source::Embedded { data } => match EmbeddedLog::open_existing(data, topics) {
            Ok(log) => Ok(Arc::new(log)),
            Err(LogError::InUse { path }) => {
                let address = serve_address(data).ok_or(ReplayError::InUseWithoutServe { path })?;
                let token = serve_token(Some(data));
                Ok(Arc::new(ServedLog::connect(&address, token).await?))
            }
            Err(other) => Err(other.into()),
        },
    }
}
