//! A running `ledger serve`: how to find the one that owns a data directory (its address,
//! lock and token files) and how to talk to it (an HTTP client bearing its token). The one
//! home of this for every tool: the replay tool reads a held directory through it, and the
//! `ledger` binary's `submit`, `query`, `rebuild` and `bench` talk to a serve through it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A running serve to talk to: where it listens, and the bearer token to present.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its base URL, `http://host:port` or `https://name:port`, to put a path after.
    pub url: String,
    pub token: Option<String>,
    /// How to reach it when it speaks HTTPS.
    tls: Option<TlsTrust>,
}

/// What a client needs to talk HTTPS to a local serve: the socket to connect to, and the
/// serve's own certificate chain, trusted alone (the serve writes both for its clients).
#[derive(Debug, Clone)]
struct TlsTrust {
    socket: SocketAddr,
    certificates: Vec<ureq::tls::Certificate<'static>>,
}

impl Endpoint {
    /// The serve owning `data`, if one runs: its address, and the token in `LEDGER_TOKEN` or
    /// the one it wrote there.
    pub fn of(data: &Path) -> Option<Endpoint> {
        let (url, tls) = address(data)?;
        Some(Endpoint {
            url,
            token: token(Some(data)),
            tls,
        })
    }

    /// An HTTP client for it whose requests bear the token, giving up after `timeout`.
    pub fn client(&self, timeout: Duration) -> ureq::Agent {
        let config = config(timeout, self.token.clone());
        match &self.tls {
            None => config.build().into(),
            Some(trust) => {
                let roots = ureq::tls::RootCerts::Specific(Arc::new(trust.certificates.clone()));
                let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
                ureq::Agent::with_parts(
                    config.tls_config(tls).build(),
                    ureq::unversioned::transport::DefaultConnector::default(),
                    ToServe(trust.socket),
                )
            }
        }
    }
}

/// Resolves every name to the serve's socket: a local tool reaches the serve on this machine
/// by a name its certificate bears, whatever that name resolves to elsewhere.
#[derive(Debug)]
struct ToServe(SocketAddr);

impl ureq::unversioned::resolver::Resolver for ToServe {
    fn resolve(
        &self,
        _: &ureq::http::Uri,
        _: &ureq::config::Config,
        _: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut addresses = self.empty();
        addresses.push(self.0);
        Ok(addresses)
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

/// The file in a data directory where a serve speaking HTTPS writes its certificate chain
/// (public; no key), which local tools trust to talk to it.
pub const CERTIFICATE_FILE: &str = "serve.cert";

/// What a serve writes to its address file: `host:port` when it speaks plain HTTP; when it
/// speaks HTTPS, the URL to reach it by (a name its certificate bears) and, on the next line,
/// the socket to connect to on this machine.
pub fn address_file_text(url: &str, socket: SocketAddr) -> String {
    match url.strip_prefix("http://") {
        Some(plain) => format!("{plain}\n"),
        None => format!("{url}\n{socket}\n"),
    }
}

/// Where the serve owning `data` listens, if one runs: its address file, trusted only while a
/// serve holds the directory's lock (a serve killed with SIGKILL leaves the file behind). Its
/// base URL, and for HTTPS how to reach and trust it.
fn address(data: &Path) -> Option<(String, Option<TlsTrust>)> {
    if !serve_running(data) {
        return None;
    }
    let text = std::fs::read_to_string(data.join(ADDRESS_FILE)).ok()?;
    let mut lines = text.lines().map(str::trim).filter(|line| !line.is_empty());
    let first = lines.next()?;
    if !first.starts_with("https://") {
        return Some((format!("http://{first}"), None));
    }
    let socket = lines.next()?.parse().ok()?;
    let pem = std::fs::read(data.join(CERTIFICATE_FILE)).ok()?;
    let certificates = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(certificate)) => Some(certificate),
            _ => None,
        })
        .collect();
    let trust = TlsTrust {
        socket,
        certificates,
    };
    Some((first.trim_end_matches('/').to_owned(), Some(trust)))
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
    config(timeout, token).build().into()
}

/// The configuration of [`client`], to add TLS settings to.
fn config(
    timeout: Duration,
    token: Option<String>,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    let builder = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false);
    match token {
        None => builder,
        Some(token) => {
            let value = format!("Bearer {token}");
            builder.middleware(
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
        }
    }
}
