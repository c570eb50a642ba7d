//! A running `ledger serve`: how to find the one that owns a data directory (its address,
//! lock and token files) and how to talk to it (an HTTP client bearing its token). The one
//! home of this for every tool: the replay tool reads a held directory through it, and the
//! `ledger` binary's `submit`, `query`, `rebuild` and `bench` talk to a serve through it.

use std::path::Path;
use std::time::Duration;

/// A running serve to talk to: where it listens, and the bearer token to present.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// host:port.
    pub address: String,
    pub token: Option<String>,
}

impl Endpoint {
    /// The serve owning `data`, if one runs: its address, and the token in `LEDGER_TOKEN` or
    /// the one it wrote there.
    pub fn of(data: &Path) -> Option<Endpoint> {
        Some(Endpoint {
            address: address(data)?,
            token: token(Some(data)),
        })
    }

    /// An HTTP client for it whose requests bear the token, giving up after `timeout`.
    pub fn client(&self, timeout: Duration) -> ureq::Agent {
        client(timeout, self.token.clone())
    }
}

/// The file in a data directory where a running `ledger serve` writes its HTTP address.
pub const ADDRESS_FILE: &str = "serve.addr";

/// The file in a data directory where a running `ledger serve` writes an admin token for this
/// run (readable by its owner only).
pub const TOKEN_FILE: &str = "serve.token";

/// The file in a data directory a running `ledger serve` holds locked for as long as it runs.
/// The kernel releases the lock however the serve ends, so an address file left behind by a
/// killed serve is known for stale.
pub const LOCK_FILE: &str = "serve.lock";

/// Where the serve owning `data` listens, if one runs: its address file, trusted only while a
/// serve holds the directory's lock (a serve killed with SIGKILL leaves the file behind).
fn address(data: &Path) -> Option<String> {
    if !serve_running(data) {
        return None;
    }
    std::fs::read_to_string(data.join(ADDRESS_FILE))
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// Whether a serve holds `data`'s lock file now.
fn serve_running(data: &Path) -> bool {
    let Ok(file) = std::fs::File::open(data.join(LOCK_FILE)) else {
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
pub fn token(data: Option<&Path>) -> Option<String> {
    std::env::var(TOKEN_ENV)
        .ok()
        .or_else(|| std::fs::read_to_string(data?.join(TOKEN_FILE)).ok())
        .map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

/// An HTTP client for a serve: no error for a 4xx/5xx (the answer says why), every request
/// bearing `token` when there is one.
pub fn client(timeout: Duration, token: Option<String>) -> ureq::Agent {
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
