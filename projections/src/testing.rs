//! Test support: a PostgreSQL for the tests of the PostgreSQL read store.
//!
//! `LEDGER_TEST_POSTGRES` (a connection URL) names one to use; otherwise a throwaway cluster
//! is made with the machine's PostgreSQL (`initdb` and `pg_ctl`, from Debian's `postgresql`
//! package, which `scripts/test.sh` installs when missing) in a temporary directory, on a free
//! local port, as the `postgres` user when run as root, and stopped when dropped.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A PostgreSQL server for a test.
pub struct TestPostgres {
    url: String,
    /// The throwaway cluster's directory, when this made one.
    cluster: Option<(PathBuf, PathBuf)>,
}

/// The directory of PostgreSQL's server programs, newest version first.
fn server_binaries() -> Result<PathBuf, String> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("no PostgreSQL in /usr/lib/postgresql ({e}): install Debian's postgresql package, or set LEDGER_TEST_POSTGRES"))?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_owned())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// Runs a PostgreSQL program, as `postgres` when this process is root (the server refuses
/// to run as root).
fn run(program: &std::path::Path, args: &[&str]) -> Result<(), String> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut command = if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl TestPostgres {
    /// Finds or starts a server. Panics with what to do when there is none: the tests that
    /// need one must not pass silently without it.
    pub fn start() -> TestPostgres {
        if let Ok(url) = std::env::var("LEDGER_TEST_POSTGRES") {
            return TestPostgres { url, cluster: None };
        }
        TestPostgres::throwaway().unwrap_or_else(|message| panic!("{message}"))
    }

    fn throwaway() -> Result<TestPostgres, String> {
        let bin = server_binaries()?;
        let dir = std::env::temp_dir().join(format!(
            "ledger-pg-{}-{}",
            std::process::id(),
            next_number()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        chown_to_postgres(&dir)?;
        let data = dir.join("data");
        let data_arg = data.to_str().expect("a UTF-8 temporary path");
        run(
            &bin.join("initdb"),
            &["-D", data_arg, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let log = dir.join("server.log");
        run(
            &bin.join("pg_ctl"),
            &[
                "-D",
                data_arg,
                "-o",
                &options,
                "-l",
                log.to_str().expect("UTF-8"),
                "-w",
                "start",
            ],
        )?;
        Ok(TestPostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            cluster: Some((bin, dir)),
        })
    }

    /// The server's connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates a database of its own for a test on this server (with `psql`), and returns its
    /// URL: the read models' schemas have fixed names, so tests that share a server must not
    /// share a database.
    pub fn new_database(&self, name: &str) -> String {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let database = format!(
            "{name}_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let created = Command::new("psql")
            .args([
                self.url.as_str(),
                "-c",
                &format!("CREATE DATABASE {database}"),
            ])
            .output()
            .expect("psql runs");
        assert!(created.status.success(), "{created:?}");
        let (server, _) = self
            .url
            .rsplit_once('/')
            .expect("a URL ending in /database");
        format!("{server}/{database}")
    }
}

fn chown_to_postgres(dir: &std::path::Path) -> Result<(), String> {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["postgres:postgres", dir.to_str().expect("UTF-8")])
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("chown postgres {} failed", dir.display()))
}

fn next_number() -> u32 {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A schema name no other test uses.
pub fn unique_schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let test: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("t_{test}_{}_{nanos}_{}", std::process::id(), next_number())
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some((bin, dir)) = self.cluster.take() {
            let data = dir.join("data");
            let _ = run(
                &bin.join("pg_ctl"),
                &[
                    "-D",
                    data.to_str().expect("UTF-8"),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// A sealed event as an events topic named `topic` holds it at `partition`/`offset`: keyed by
/// its aggregate, stamped with the time it was recorded. For the tests and benches that fold
/// made-up logs.
pub fn stored_event(
    topic: &str,
    sealed: order_events::codec::SealedEvent,
    partition: u32,
    offset: u64,
) -> event_log::StoredRecord {
    event_log::StoredRecord {
        topic: topic.to_owned(),
        partition,
        offset,
        key: Some(sealed.envelope.aggregate_id.clone().into_bytes()),
        headers: event_log::Headers::for_message(
            event_log::CONTENT_TYPE_BINCODE,
            sealed.envelope.event.type_name(),
            sealed.envelope.event.schema_version(),
        ),
        timestamp_ms: sealed.envelope.recorded_at.timestamp_millis(),
        payload: sealed.record,
    }
}
