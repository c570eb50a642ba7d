//! `ledger serve` over HTTPS, met as its users meet it: curl trusting the certificate, the
//! ledger's own local tools through the serve, and a plain-HTTP client refused.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .output()
        .expect("the ledger binary runs")
}

/// A self-signed certificate for `names` (DNS names or IP addresses) and its key, as PEM
/// files in `dir`.
fn self_signed(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

/// A serve of `data` stopped (SIGTERM) when dropped; its standard error kept for the test.
struct Serve {
    child: Child,
}

impl Serve {
    fn start(data: &Path, extra: &[&str]) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the ledger binary runs");
        Serve { child }
    }

    /// The address file's text once the serve has written it.
    fn address_file(&mut self, data: &Path) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = std::fs::read_to_string(data.join("serve.addr")).unwrap_or_default();
            if text.ends_with('\n') {
                return text;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut said = String::new();
                let _ = self.child.stderr.take().unwrap().read_to_string(&mut said);
                panic!("the serve exited with {status}: {said}");
            }
            assert!(Instant::now() < deadline, "the serve wrote no address");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it printed on standard error up to its first line.
    fn start_up_line(&mut self) -> String {
        let mut stderr = self.child.stderr.take().unwrap();
        let mut said = Vec::new();
        let mut byte = [0u8];
        while stderr.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            said.push(byte[0]);
        }
        self.child.stderr = Some(stderr);
        String::from_utf8(said).unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child this test started and has not reaped.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl runs")
}

const STOCK: &str = r#"{"type":"ReceiveStock","command_id":"6e0c7d4e-1d7a-4f4b-9a57-3c1f00000001","issued_at":"2026-12-04T08:00:00Z","actor":{"kind":"service","id":"wms"},"payload":{"item":{"sku":"SKU-TLS","warehouse":"BER-1"},"quantity":7,"reference":"PO-TLS"}}"#;

#[test]
fn a_serve_given_a_certificate_speaks_https_to_curl_and_to_the_local_tools() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert, key) = self_signed(dir.path(), &["localhost", "127.0.0.1"]);
    let tls = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let mut serve = Serve::start(&data, &tls);
    let address = serve.address_file(&data);
    let url = address.lines().next().unwrap().to_owned();
    assert!(url.starts_with("https://localhost:"), "{address}");
    let line = serve.start_up_line();
    assert!(line.starts_with(&format!("ledger serve: {url}/")), "{line}");
    assert!(!line.contains("plain HTTP"), "{line}");

    // curl, trusting the certificate and nothing else.
    let cacert = ["--cacert", cert.to_str().unwrap()];
    let health = curl(&[&cacert[..], &[&format!("{url}/v1/health")]].concat());
    assert_eq!(
        String::from_utf8_lossy(&health.stdout),
        "ok\n",
        "{health:?}"
    );
    let console = curl(&[&cacert[..], &["--include", &format!("{url}/")]].concat());
    let page = String::from_utf8_lossy(&console.stdout);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<div id=\"app\">"), "{page}");
    // Without trusting it, curl refuses the certificate: the serve does not fall back.
    let untrusted = curl(&[&format!("{url}/v1/health")]);
    assert!(!untrusted.status.success(), "{untrusted:?}");

    // Plain HTTP to the same port gets no answer but a closed connection.
    let port = url.rsplit(':').next().unwrap();
    let mut plain = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    plain
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");

    // The ledger's own tools reach it through the files it wrote.
    let commands = dir.path().join("stock.jsonl");
    std::fs::write(&commands, format!("{STOCK}\n")).unwrap();
    let submitted = ledger(&[
        "submit",
        commands.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    let said = String::from_utf8_lossy(&submitted.stdout);
    assert!(
        submitted.status.success() && said.contains("\"accepted\""),
        "{submitted:?}"
    );
    let queried = ledger(&["query", "inventory", "--data", data.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&queried.stdout);
    assert!(
        queried.status.success() && said.contains("SKU-TLS"),
        "{queried:?}"
    );
}

#[test]
fn local_tools_verify_a_certificate_for_another_name_on_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A name that resolves nowhere: the tools connect to the serve's socket and check that
    // the certificate bears this name.
    let (cert, key) = self_signed(dir.path(), &["ledger.shop.invalid"]);
    // Given in the configuration file this time, as a deployment does.
    let config = dir.path().join("ledger.toml");
    let section = format!("[serve]\ntls_cert = {cert:?}\ntls_key = {key:?}\n");
    std::fs::write(&config, section).unwrap();
    let mut serve = Serve::start(&data, &["--config", config.to_str().unwrap()]);
    let address = serve.address_file(&data);
    let mut lines = address.lines();
    let url = lines.next().unwrap();
    assert!(url.starts_with("https://ledger.shop.invalid:"), "{address}");
    let socket: std::net::SocketAddr = lines.next().unwrap().parse().unwrap();
    let queried = ledger(&["query", "inventory", "--data", data.to_str().unwrap()]);
    assert!(queried.status.success(), "{queried:?}");
    let resolve = format!("ledger.shop.invalid:{}:{}", socket.port(), socket.ip());
    let health = curl(&[
        "--cacert",
        cert.to_str().unwrap(),
        "--resolve",
        &resolve,
        &format!("{url}/v1/health"),
    ]);
    assert_eq!(
        String::from_utf8_lossy(&health.stdout),
        "ok\n",
        "{health:?}"
    );
    drop(serve);
    // Stopped, it leaves no address or certificate behind to mislead a tool.
    assert!(!data.join("serve.addr").exists() && !data.join("serve.cert").exists());
}

#[test]
fn a_certificate_and_key_that_do_not_belong_together_are_refused_at_start_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert, _) = self_signed(dir.path(), &["localhost"]);
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, key) = self_signed(&other, &["localhost"]);
    let (cert, key, data_arg) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    let refused = ledger(&[
        "serve",
        "--data",
        data_arg,
        "--tls-cert",
        cert,
        "--tls-key",
        key,
    ]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{refused:?}");
    assert!(said.contains("cannot serve the certificate"), "{said}");

    // A key file that is the certificate, a missing file, and a half-given pair.
    let wrong = ledger(&[
        "serve",
        "--data",
        data_arg,
        "--tls-cert",
        cert,
        "--tls-key",
        cert,
    ]);
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && said.contains("holds no private key"),
        "{said}"
    );
    let missing = ledger(&[
        "serve",
        "--data",
        data_arg,
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        key,
    ]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && said.contains("/nonexistent.pem"),
        "{said}"
    );
    let half = ledger(&["serve", "--data", data_arg, "--tls-cert", cert]);
    assert!(!half.status.success(), "{half:?}");
}
