//! HTTPS for `ledger serve`: its certificate chain and key (PEM files, `[serve] tls_cert` and
//! `tls_key` or `--tls-cert`/`--tls-key`), a listener that completes TLS handshakes off the
//! accept path, and the name local tools (`ledger query`, `submit`, the replay tool) verify
//! the serve by.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Where a serve's certificate chain and private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A serve's TLS: how it accepts connections, and what it tells local tools.
#[derive(Clone)]
pub struct ServeTls {
    acceptor: TlsAcceptor,
    /// The certificate chain as PEM, written beside the serve's address for local tools.
    pub chain_pem: String,
    /// The name local tools reach the serve by: one its certificate bears (`localhost` and
    /// the loopback addresses first). `None`: it bears no name a client can use.
    pub name: Option<String>,
    /// Why local tools cannot verify the certificate, when they cannot.
    pub unverifiable: Option<&'static str>,
}

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{0} holds no certificate (a PEM `CERTIFICATE` block)")]
    NoCertificate(PathBuf),
    #[error("{0} holds no private key (a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` block)")]
    NoKey(PathBuf),
    #[error("the certificate in {cert} cannot be read: {reason}")]
    BadCertificate { cert: PathBuf, reason: String },
    #[error("the key in {key} cannot serve the certificate in {cert}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Reads the certificate chain and key, checks that they belong together, and makes the
/// acceptor (TLS 1.2 and 1.3, HTTP/1.1).
pub fn load(files: &TlsFiles) -> Result<ServeTls, TlsError> {
    let chain_pem = read(&files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate {
            cert: files.cert.clone(),
            reason: e.to_string(),
        })?;
    let leaf = chain
        .first()
        .ok_or_else(|| TlsError::NoCertificate(files.cert.clone()))?;
    let (name, is_ca) = names(leaf).map_err(|reason| TlsError::BadCertificate {
        cert: files.cert.clone(),
        reason,
    })?;
    let unverifiable = match (&name, is_ca) {
        (None, _) => Some("the certificate names no host"),
        (_, true) => Some(
            "the certificate says it is a CA, which TLS clients refuse as a server's (make it \
             with basicConstraints CA:FALSE)",
        ),
        _ => None,
    };
    let key_pem = read(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|_| TlsError::NoKey(files.key.clone()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mismatch = |e: rustls::Error| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServeTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        chain_pem,
        name,
        unverifiable,
    })
}

fn read(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(|e| TlsError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// The name a local tool should use for the serve, and whether the certificate says it is a
/// CA. The name: `localhost` or a loopback address when the certificate bears one (they reach
/// this machine whatever DNS says), else its first DNS name that is not a wildcard, else its
/// first IP address.
fn names(leaf: &CertificateDer<'_>) -> Result<(Option<String>, bool), String> {
    let (_, certificate) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| e.to_string())?;
    let is_ca =
        matches!(certificate.basic_constraints(), Ok(Some(constraints)) if constraints.value.ca);
    Ok((local_name(&certificate)?, is_ca))
}

fn local_name(
    certificate: &x509_parser::certificate::X509Certificate<'_>,
) -> Result<Option<String>, String> {
    use x509_parser::extensions::GeneralName;
    let names = match certificate.subject_alternative_name() {
        Ok(Some(names)) => names.value.general_names.clone(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(e.to_string()),
    };
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &names {
        match name {
            GeneralName::DNSName(host) if !host.contains('*') => dns.push(host.to_string()),
            GeneralName::IPAddress(bytes) => ips.extend(ip(bytes)),
            _ => {}
        }
    }
    if dns
        .iter()
        .any(|host| host.eq_ignore_ascii_case("localhost"))
    {
        return Ok(Some("localhost".to_owned()));
    }
    if let Some(loopback) = ips.iter().find(|ip| ip.is_loopback()) {
        return Ok(Some(url_host(*loopback)));
    }
    Ok(dns
        .into_iter()
        .next()
        .or(ips.first().map(|ip| url_host(*ip))))
}

fn ip(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => None,
    }
}

/// An address as a URL's host (an IPv6 address in brackets).
fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The base URL a serve listening on `address` is reached at: `http://address`, or with TLS
/// `https://` and the name its certificate bears (the address when it bears none).
pub fn base_url(address: SocketAddr, tls: Option<&ServeTls>) -> String {
    match tls {
        None => format!("http://{address}"),
        Some(tls) => match &tls.name {
            Some(name) => format!("https://{name}:{}", address.port()),
            None => format!("https://{address}"),
        },
    }
}

/// Where a tool on this machine connects to a serve listening on `address`: the address, or
/// for a wildcard one (`0.0.0.0`, `::`) the loopback address of its family.
pub fn local_socket(address: SocketAddr) -> SocketAddr {
    match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, address.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, address.port()).into(),
        _ => address,
    }
}

/// How long a client may take over its handshake before it is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once; more connections wait in the kernel's backlog.
const HANDSHAKES_MAX: usize = 256;

/// A listener whose connections have completed their TLS handshake. Handshakes run in tasks
/// of their own, so one slow or silent client holds up no other.
pub struct TlsListener {
    accepted: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, tls: &ServeTls) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (sender, accepted) = mpsc::channel(64);
        let accepting = tokio::spawn(accept_loop(tcp, tls.acceptor.clone(), sender));
        Ok(TlsListener {
            accepted,
            local,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(HANDSHAKES_MAX));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, most often: wait for some to be given back.
                tracing::warn!(%error, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, sender) = (acceptor.clone(), sender.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    let _ = sender.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // Never: the accepting task holds a sender until this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[&str], ca: bool) -> CertificateDer<'static> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        if ca {
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn local_tools_use_a_loopback_name_first_then_a_concrete_dns_name_then_an_address() {
        let name = |names: &[&str]| names_of(&certificate(names, false)).0;
        assert_eq!(
            name(&["shop.example", "localhost"]).as_deref(),
            Some("localhost")
        );
        assert_eq!(
            name(&["shop.example", "127.0.0.1"]).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(name(&["::1"]).as_deref(), Some("[::1]"));
        assert_eq!(
            name(&["*.example", "shop.example"]).as_deref(),
            Some("shop.example")
        );
        assert_eq!(
            name(&["*.example", "10.1.2.3"]).as_deref(),
            Some("10.1.2.3")
        );
        assert_eq!(name(&["*.example"]), None);
    }

    fn names_of(leaf: &CertificateDer<'_>) -> (Option<String>, bool) {
        names(leaf).unwrap()
    }

    #[test]
    fn a_certificate_that_says_it_is_a_ca_is_told_apart() {
        assert!(names_of(&certificate(&["localhost"], true)).1);
        assert!(!names_of(&certificate(&["localhost"], false)).1);
    }

    #[test]
    fn tools_reach_a_wildcard_listener_on_the_loopback_address_of_its_family() {
        let local = |address: &str| local_socket(address.parse().unwrap()).to_string();
        assert_eq!(local("0.0.0.0:8443"), "127.0.0.1:8443");
        assert_eq!(local("[::]:8443"), "[::1]:8443");
        assert_eq!(local("10.1.2.3:8443"), "10.1.2.3:8443");
    }
}
