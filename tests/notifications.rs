//! Notifications delivered to webhooks by a `ledger serve`, against local receivers that fail,
//! time out and answer late: signed, retried, parked and retried by hand, and a serve killed
//! during an attempt loses no attempt's record.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

const SECRET: &str = "whsec-test-0123456789";

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    attempt: String,
    signature: String,
    body: String,
    status: u16,
}

/// How a receiver answers its `n`-th request (0-based): a status after a delay.
type Behaviour = Box<dyn Fn(usize) -> (u16, Duration) + Send + Sync>;

/// A local HTTP receiver, answering each request as its behaviour says.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(behaviour: Behaviour, arrived: Option<mpsc::Sender<()>>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let (seen, count) = (got.clone(), Arc::new(AtomicUsize::new(0)));
        let behaviour = Arc::new(behaviour);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, count, behaviour) = (seen.clone(), count.clone(), behaviour.clone());
                let arrived = arrived.clone();
                std::thread::spawn(move || {
                    let n = count.fetch_add(1, Ordering::SeqCst);
                    let (status, delay) = behaviour(n);
                    if let Some(request) = read_request(&stream) {
                        if let Some(arrived) = &arrived {
                            let _ = arrived.send(());
                        }
                        std::thread::sleep(delay);
                        let mut stream = stream;
                        let answer = format!(
                            "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        if stream.write_all(answer.as_bytes()).is_ok() {
                            seen.lock().unwrap().push(Got { status, ..request });
                        }
                    }
                });
            }
        });
        Receiver { url, got }
    }

    /// The notification ids it answered 2xx, and how often each.
    fn delivered(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for got in self.got.lock().unwrap().iter().filter(|g| g.status < 300) {
            *ids.entry(got.id.clone()).or_default() += 1;
        }
        ids
    }
}

fn read_request(stream: &std::net::TcpStream) -> Option<Got> {
    let mut reader = BufReader::new(stream);
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers.get("content-length")?.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let header = |name: &str| headers.get(name).cloned().unwrap_or_default();
    Some(Got {
        id: header("ledger-notification-id"),
        attempt: header("ledger-delivery-attempt"),
        signature: header("ledger-signature"),
        body: String::from_utf8(body).ok()?,
        status: 0,
    })
}

/// Whether `signature` is the HMAC-SHA256 of `<t>.<body>` under the secret, `t` within 5 min.
fn signed(signature: &str, body: &str) -> bool {
    let Some((t, v1)) = signature
        .strip_prefix("t=")
        .and_then(|s| s.split_once(",v1="))
    else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh = t.parse::<i64>().is_ok_and(|t| (now - t).abs() < 300);
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    fresh
        && mac
            .verify_slice(&hex::decode(v1).unwrap_or_default())
            .is_ok()
}

fn ledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .output()
        .unwrap()
}

fn serve(config: &Path, data: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "serve",
            "--data",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) on a child this test started and has not reaped.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(child.id() as libc::pid_t, signal);
    }
}

fn eventually(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for_serve(data: &Path) {
    eventually("the serve's address", Duration::from_secs(60), || {
        order_ledger::running::Endpoint::of(data).is_some()
    });
}

/// The journal's records as JSON.
fn journal(data: &Path) -> Vec<serde_json::Value> {
    // Complete lines only: the serve may be writing the last one.
    let text = std::fs::read_to_string(data.join("notifications/deliveries.jsonl")).unwrap();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Every attempt started has exactly one end, and no attempt started twice.
fn every_attempt_ended_once(records: &[serde_json::Value]) {
    let key = |r: &serde_json::Value| {
        (
            r["id"].to_string(),
            r["webhook"].to_string(),
            r["attempt"].as_u64().unwrap(),
        )
    };
    let mut started = BTreeMap::new();
    let mut ended = BTreeMap::new();
    for record in records {
        match record["record"].as_str().unwrap() {
            "started" => *started.entry(key(record)).or_insert(0) += 1,
            "ended" => *ended.entry(key(record)).or_insert(0) += 1,
            _ => {}
        }
    }
    assert!(
        started.values().all(|&n| n == 1),
        "an attempt started twice: {started:?}"
    );
    assert_eq!(started, ended, "every attempt has one end");
}

#[test]
fn webhooks_get_signed_notifications_retried_parked_and_resent_and_a_killed_serve_loses_no_attempt()
{
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Fails twice, then takes everything.
    let steady = Receiver::start(
        Box::new(|n| (if n < 2 { 500 } else { 200 }, Duration::ZERO)),
        None,
    );
    // Shipped parcels only: the first request hangs past the timeout (the serve is killed
    // during it), the second answers late but in time.
    let (arrived, first_arrival) = mpsc::channel();
    let slow = Receiver::start(
        Box::new(|n| match n {
            0 => (200, Duration::from_millis(2500)),
            _ => (200, Duration::from_millis(600)),
        }),
        Some(arrived),
    );
    // Refunds only, down until it is mended.
    let mended = Arc::new(AtomicBool::new(false));
    let up = mended.clone();
    let down = Receiver::start(
        Box::new(move |_| {
            (
                if up.load(Ordering::SeqCst) { 200 } else { 503 },
                Duration::ZERO,
            )
        }),
        None,
    );
    let config = dir.path().join("ledger.toml");
    let hook = |name: &str, url: &str, kinds: &str| {
        format!("[[notifications.webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\nkinds = [{kinds}]\nsecret = \"{SECRET}\"\n")
    };
    std::fs::write(
        &config,
        [
            "[notifications]\nmax_attempts = 3\nfirst_retry_ms = 100\ntimeout_ms = 1500\n"
                .to_owned(),
            hook("steady", &steady.url, ""),
            hook("slow", &slow.url, "\"shipped\""),
            hook("down", &down.url, "\"refund_issued\""),
        ]
        .concat(),
    )
    .unwrap();
    let mut server = serve(&config, &data);
    wait_for_serve(&data);
    let submitted = ledger(&[
        "--config",
        config.to_str().unwrap(),
        "submit",
        "--data",
        data.to_str().unwrap(),
        "examples/order-journey.jsonl",
    ]);
    assert!(submitted.status.success(), "{submitted:?}");

    // Killed while the slow receiver holds its first request.
    first_arrival
        .recv_timeout(Duration::from_secs(60))
        .expect("the slow webhook is called");
    signal(&server, libc::SIGKILL);
    let _ = server.wait();
    server = serve(&config, &data);
    wait_for_serve(&data);

    // The journey tells its customer seven things; the steady receiver gets each once, signed.
    eventually(
        "the steady webhook's seven",
        Duration::from_secs(60),
        || steady.delivered().len() == 7,
    );
    for got in steady.got.lock().unwrap().iter() {
        assert!(signed(&got.signature, &got.body), "{got:?}");
        let body: serde_json::Value = serde_json::from_str(&got.body).unwrap();
        assert_eq!(body["notification_id"].as_str(), Some(got.id.as_str()));
    }
    eventually(
        "the slow webhook's two parcels",
        Duration::from_secs(60),
        || slow.delivered().len() == 2,
    );
    let interrupted = journal(&data).into_iter().any(|r| {
        r["record"] == "ended"
            && r["webhook"] == "slow"
            && r["outcome"]["error"] == "the serve stopped during the attempt"
    });
    assert!(interrupted, "the killed attempt got its end at the restart");

    // The refund's webhook is parked after three attempts, listed, and resent by hand.
    let failed = || {
        let listed = ledger(&[
            "--config",
            config.to_str().unwrap(),
            "query",
            "notifications",
            "--failed",
            "--data",
            data.to_str().unwrap(),
        ]);
        assert!(listed.status.success(), "{listed:?}");
        serde_json::from_slice::<Vec<serde_json::Value>>(&listed.stdout).unwrap()
    };
    eventually("the refund parked", Duration::from_secs(60), || {
        failed().len() == 1
    });
    let parked = failed().remove(0);
    assert_eq!(
        (
            parked["webhook"].as_str(),
            parked["kind"].as_str(),
            parked["attempts"].as_u64()
        ),
        (Some("down"), Some("refund_issued"), Some(3))
    );
    let attempts: BTreeSet<String> = down
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|g| g.attempt.clone())
        .collect();
    assert_eq!(attempts, ["1", "2", "3"].map(String::from).into());
    mended.store(true, Ordering::SeqCst);
    let endpoint = order_ledger::running::Endpoint::of(&data).unwrap();
    let id = parked["notification_id"].as_str().unwrap();
    let mut answer = endpoint
        .client(Duration::from_secs(10))
        .post(&format!("{}/v1/notifications/{id}/retry", endpoint.url))
        .send_empty()
        .unwrap();
    let retried: serde_json::Value = answer.body_mut().read_json().unwrap();
    assert_eq!(retried["retried"], 1, "{retried}");
    eventually("the refund delivered", Duration::from_secs(30), || {
        down.delivered().len() == 1
    });
    let last = down.got.lock().unwrap().last().unwrap().attempt.clone();
    assert_eq!(last, "4", "attempts count on across a retry by hand");
    assert!(failed().is_empty());

    // A clean restart sends nothing again.
    let before: usize = steady.got.lock().unwrap().len();
    signal(&server, libc::SIGTERM);
    let _ = server.wait();
    let mut server = serve(&config, &data);
    wait_for_serve(&data);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        steady.got.lock().unwrap().len(),
        before,
        "nothing delivered twice"
    );
    signal(&server, libc::SIGTERM);
    let _ = server.wait();
    every_attempt_ended_once(&journal(&data));
}
