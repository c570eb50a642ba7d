//! Delivering the notifications outbox (`order_events::notification`, kept by the read models)
//! to webhooks: `[[notifications.webhooks]]`, each with a URL, the kinds it wants and a
//! secret. Each delivery is a POST of the notification's JSON, signed as payment providers
//! sign theirs — `Ledger-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! — retried with exponential backoff up to `max_attempts`, then parked until an operator
//! retries it (`POST /v1/notifications/{id}/retry`).
//!
//! At least once: a receiver deduplicates by `notification_id`. Every step is a line of an
//! append-only journal (`deliveries.jsonl` in the state directory, synced): what was queued,
//! each attempt when it starts and how it ended, the outbox cursor, retries. A restart replays
//! it, and an attempt that started with no outcome (the serve stopped during it) gets one then,
//! so no attempt's record is lost or written twice.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use projections::query::{notification_cursor, NotificationCursor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// `[notifications]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsSection {
    /// Where the delivery journal is kept; unset: `<data>/notifications` on the embedded log
    /// (a serve on Kafka with webhooks needs it set).
    pub state_dir: Option<PathBuf>,
    /// Attempts per delivery before it is parked.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each (at most an hour).
    pub first_retry_ms: u64,
    /// How long one attempt may take.
    pub timeout_ms: u64,
    pub webhooks: Vec<Webhook>,
}

impl Default for NotificationsSection {
    fn default() -> NotificationsSection {
        NotificationsSection {
            state_dir: None,
            max_attempts: 8,
            first_retry_ms: 1000,
            timeout_ms: 10_000,
            webhooks: Vec::new(),
        }
    }
}

/// `[[notifications.webhooks]]`: a receiver of notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Names it in the journal and the failed list.
    pub name: String,
    pub url: String,
    /// The kinds it wants (`shipped`, `delivered`, …); empty: all.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// The signing secret, or the environment variable holding it.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
}

impl NotificationsSection {
    /// Checks the webhooks: unique names, http(s) URLs, known kinds, a secret each.
    pub fn check(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for hook in &self.webhooks {
            let what = format!("[[notifications.webhooks]] {:?}", hook.name);
            if hook.name.is_empty() || !names.insert(hook.name.as_str()) {
                return Err(format!("{what}: every webhook needs a name of its own"));
            }
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(format!("{what}: url {:?} is not http(s)", hook.url));
            }
            if let Some(kind) = hook
                .kinds
                .iter()
                .find(|k| !Notice::KINDS.contains(&k.as_str()))
            {
                return Err(format!(
                    "{what}: no notification kind {kind:?} (kinds: {})",
                    Notice::KINDS.join(", ")
                ));
            }
            hook.signing_secret()
                .map_err(|why| format!("{what}: {why}"))?;
        }
        if self.max_attempts == 0 {
            return Err("[notifications] max_attempts is at least 1".into());
        }
        Ok(())
    }
}

use order_events::notification::Notice;

impl Webhook {
    fn signing_secret(&self) -> Result<String, String> {
        match (&self.secret, &self.secret_env) {
            (Some(secret), None) if !secret.is_empty() => Ok(secret.clone()),
            (None, Some(name)) => std::env::var(name)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("secret_env {name} is not set")),
            _ => Err("give exactly one of secret and secret_env".into()),
        }
    }

    fn wants(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }
}

/// `Ledger-Signature` of `body` at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{unix_seconds}.").as_bytes());
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Record {
    Queued {
        id: Uuid,
        webhook: String,
        kind: String,
        body: String,
    },
    /// The outbox was read up to here (after what it gave was queued).
    Read { cursor: String },
    Started {
        id: Uuid,
        webhook: String,
        attempt: u32,
        at: DateTime<Utc>,
    },
    Ended {
        id: Uuid,
        webhook: String,
        attempt: u32,
        at: DateTime<Utc>,
        outcome: Outcome,
    },
    Retried {
        id: Uuid,
        webhook: String,
        at: DateTime<Utc>,
    },
    /// A delivery as it stood when the journal was compacted.
    Snapshot {
        id: Uuid,
        webhook: String,
        kind: String,
        body: String,
        attempts: u32,
        retried_after: u32,
        parked: bool,
        last_error: Option<String>,
        next_at: DateTime<Utc>,
    },
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Delivered {
        status: u16,
    },
    /// Refused (a status outside 2xx), unreachable, timed out, or interrupted by a restart.
    Failed {
        error: String,
    },
}

/// Where a delivery not yet made stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Pending,
    Parked,
}

#[derive(Debug, Clone)]
struct Delivery {
    kind: String,
    body: String,
    /// Attempts so far, counted across retries by hand.
    attempts: u32,
    /// The attempts made before the last retry by hand: the budget counts from there.
    retried_after: u32,
    started: Option<u32>,
    next_at: DateTime<Utc>,
    standing: Standing,
    last_error: Option<String>,
}

/// A delivery that was parked after its last attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FailedDelivery {
    pub notification_id: Uuid,
    pub webhook: String,
    pub kind: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

/// The deliveries, as the journal says.
#[derive(Debug, Default)]
struct Book {
    cursor: NotificationCursor,
    deliveries: BTreeMap<(String, Uuid), Delivery>,
}

impl Book {
    fn apply(&mut self, record: &Record, rules: &Rules) {
        match record {
            Record::Queued {
                id,
                webhook,
                kind,
                body,
            } => {
                self.deliveries
                    .entry((webhook.clone(), *id))
                    .or_insert(Delivery {
                        kind: kind.clone(),
                        body: body.clone(),
                        attempts: 0,
                        retried_after: 0,
                        started: None,
                        next_at: DateTime::<Utc>::MIN_UTC,
                        standing: Standing::Pending,
                        last_error: None,
                    });
            }
            Record::Read { cursor } => {
                self.cursor = notification_cursor(cursor).unwrap_or_default();
            }
            Record::Started {
                id,
                webhook,
                attempt,
                ..
            } => {
                if let Some(d) = self.deliveries.get_mut(&(webhook.clone(), *id)) {
                    d.started = Some(*attempt);
                    d.attempts = *attempt;
                }
            }
            Record::Ended {
                id,
                webhook,
                attempt,
                at,
                outcome,
            } => {
                let key = (webhook.clone(), *id);
                match outcome {
                    // Forgotten: it was queued from before the cursor, so nothing queues it
                    // again, and the book holds only what is still to deliver.
                    Outcome::Delivered { .. } => {
                        self.deliveries.remove(&key);
                    }
                    Outcome::Failed { error } => {
                        if let Some(d) = self.deliveries.get_mut(&key) {
                            let spent = attempt.saturating_sub(d.retried_after);
                            d.started = None;
                            d.last_error = Some(error.clone());
                            d.next_at = *at + rules.backoff(spent);
                            if spent >= rules.max_attempts {
                                d.standing = Standing::Parked;
                            }
                        }
                    }
                }
            }
            Record::Snapshot {
                id,
                webhook,
                kind,
                body,
                attempts,
                retried_after,
                parked,
                last_error,
                next_at,
            } => {
                let standing = if *parked {
                    Standing::Parked
                } else {
                    Standing::Pending
                };
                let delivery = Delivery {
                    kind: kind.clone(),
                    body: body.clone(),
                    attempts: *attempts,
                    retried_after: *retried_after,
                    started: None,
                    next_at: *next_at,
                    standing,
                    last_error: last_error.clone(),
                };
                self.deliveries.insert((webhook.clone(), *id), delivery);
            }
            Record::Retried { id, webhook, at } => {
                if let Some(d) = self.deliveries.get_mut(&(webhook.clone(), *id)) {
                    d.standing = Standing::Pending;
                    d.retried_after = d.attempts;
                    d.next_at = *at;
                }
            }
        }
    }
}

/// Attempts and backoff.
#[derive(Debug, Clone, Copy)]
struct Rules {
    max_attempts: u32,
    first_retry: Duration,
    timeout: Duration,
}

impl Rules {
    /// The wait after failed attempt `attempt` (1-based): doubling from the first, at most an hour.
    fn backoff(&self, attempt: u32) -> chrono::Duration {
        let factor = 1u64 << attempt.saturating_sub(1).min(20);
        let ms = (self.first_retry.as_millis() as u64)
            .saturating_mul(factor)
            .min(3_600_000);
        chrono::Duration::milliseconds(ms as i64)
    }
}

/// The journal file: replayed at start, appended to and synced after.
struct Journal {
    file: std::fs::File,
    /// Records in the file.
    records: usize,
}

impl Journal {
    fn open(dir: &Path, rules: &Rules) -> anyhow::Result<(Journal, Book)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(JOURNAL_FILE);
        let (whole, torn) = whole_lines(&path)?;
        if torn {
            // A record whose write a crash cut short never took effect (an attempt is sent only
            // once its start is written): cut off before anything more is appended.
            tracing::warn!(path = %path.display(), "cutting a journal record a crash left half written");
            let file = std::fs::OpenOptions::new().write(true).open(&path)?;
            file.set_len(whole.len() as u64)?;
            file.sync_all()?;
        }
        let (book, records) = replay(&path, &whole, rules)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        Ok((Journal { file, records }, book))
    }

    /// Whether the file holds many more records than the deliveries still to make need.
    fn worth_compacting(&self, book: &Book) -> bool {
        self.records > COMPACT_AFTER && self.records > 4 * (book.deliveries.len() + 1)
    }

    /// Rewrites the journal as the cursor and a snapshot of each delivery still to make: a new
    /// file, synced, renamed over the old one (a crash leaves one or the other, whole).
    fn compact(&mut self, dir: &Path, book: &Book) -> std::io::Result<()> {
        let cursor = projections::query::notification_cursor_text(&book.cursor);
        let records: Vec<Record> = std::iter::once(Record::Read { cursor })
            .chain(
                book.deliveries
                    .iter()
                    .map(|((webhook, id), d)| Record::Snapshot {
                        id: *id,
                        webhook: webhook.clone(),
                        kind: d.kind.clone(),
                        body: d.body.clone(),
                        attempts: d.attempts,
                        retried_after: d.retried_after,
                        parked: d.standing == Standing::Parked,
                        last_error: d.last_error.clone(),
                        next_at: d.next_at,
                    }),
            )
            .collect();
        let mut text = String::new();
        for record in &records {
            text.push_str(&serde_json::to_string(record).expect("journal records serialize"));
            text.push('\n');
        }
        let (path, fresh) = (dir.join(JOURNAL_FILE), dir.join(COMPACTING_FILE));
        let mut file = std::fs::File::create(&fresh)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&fresh, &path)?;
        std::fs::File::open(dir)?.sync_all()?;
        self.file = std::fs::OpenOptions::new().append(true).open(&path)?;
        self.records = records.len();
        Ok(())
    }

    /// One record, as one write of one line, synced.
    fn append(&mut self, record: &Record) -> std::io::Result<()> {
        let mut line = serde_json::to_string(record).expect("journal records serialize");
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.records += 1;
        self.file.sync_data()
    }
}

/// The journal's complete lines (none when there is no journal), and whether a last line with
/// no end follows them.
fn whole_lines(path: &Path) -> anyhow::Result<(String, bool)> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), false)),
        Err(e) => anyhow::bail!("reading {}: {e}", path.display()),
    };
    let whole = bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    let text = String::from_utf8(bytes[..whole].to_vec())
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8: {e}", path.display()))?;
    Ok((text, whole < bytes.len()))
}

/// The book the journal's `text` (from `path`) makes, and how many records it holds.
fn replay(path: &Path, text: &str, rules: &Rules) -> anyhow::Result<(Book, usize)> {
    let mut book = Book::default();
    let mut records = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: Record = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), n + 1))?;
        book.apply(&record, rules);
        records += 1;
    }
    Ok((book, records))
}

/// The suffix of the Kafka topic notifications are published to.
pub const NOTIFICATIONS_TOPIC: &str = "notifications";

/// The state directory's name in an embedded data directory.
pub const STATE_DIR: &str = "notifications";

/// Records past which a journal mostly of finished deliveries is compacted at start.
const COMPACT_AFTER: usize = 10_000;
/// The compacted journal while it is written.
const COMPACTING_FILE: &str = "deliveries.jsonl.compacting";

/// The journal's file name in the state directory.
pub const JOURNAL_FILE: &str = "deliveries.jsonl";

/// The parked deliveries a journal in `dir` records (for `ledger query` with no serve).
pub fn failed_in(
    dir: &Path,
    section: &NotificationsSection,
) -> anyhow::Result<Vec<FailedDelivery>> {
    // Read only: a torn last line is left for the serve to cut.
    let path = dir.join(JOURNAL_FILE);
    let (text, _) = whole_lines(&path)?;
    let (book, _) = replay(&path, &text, &rules_of(section))?;
    Ok(failed(&book))
}

fn failed(book: &Book) -> Vec<FailedDelivery> {
    book.deliveries
        .iter()
        .filter(|(_, d)| d.standing == Standing::Parked)
        .map(|((webhook, id), d)| FailedDelivery {
            notification_id: *id,
            webhook: webhook.clone(),
            kind: d.kind.clone(),
            attempts: d.attempts,
            last_error: d.last_error.clone(),
        })
        .collect()
}

fn rules_of(section: &NotificationsSection) -> Rules {
    Rules {
        max_attempts: section.max_attempts,
        first_retry: Duration::from_millis(section.first_retry_ms),
        timeout: Duration::from_millis(section.timeout_ms),
    }
}

/// What a serve's deliverer is started with.
pub struct Delivering {
    /// The journal's directory.
    pub dir: PathBuf,
    pub section: NotificationsSection,
    /// `<prefix>.notifications`, on Kafka.
    pub topic: Option<event_log::kafka::SideTopic>,
}

/// Where the read API finds the webhook deliveries: a serve's deliverer, a journal on disk
/// (`ledger query` with no serve), or nowhere (no webhook configured).
#[derive(Clone, Default)]
pub enum Deliveries {
    #[default]
    None,
    Serving(Notifier),
    Journal(PathBuf, NotificationsSection),
}

impl Deliveries {
    /// The deliveries parked after their last attempt failed; `None` with no webhook.
    pub fn failed(&self) -> anyhow::Result<Option<Vec<FailedDelivery>>> {
        Ok(match self {
            Deliveries::None => None,
            Deliveries::Serving(notifier) => Some(notifier.failed()),
            Deliveries::Journal(dir, section) => Some(failed_in(dir, section)?),
        })
    }
}

/// A serve's deliverer: its book and journal, shared with the HTTP routes.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Mutex<(Journal, Book)>>,
    /// `<prefix>.notifications` on Kafka: every notification is published there first.
    topic: Option<Arc<event_log::kafka::SideTopic>>,
    webhooks: Arc<Vec<(Webhook, String)>>,
    rules: Rules,
    wake: Arc<tokio::sync::Notify>,
}

/// Why a retry was refused.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no delivery of notification {0} is parked")]
    NothingParked(Uuid),
    #[error("the delivery journal cannot be written: {0}")]
    Journal(#[from] std::io::Error),
}

impl Notifier {
    /// Opens the journal in `dir` (finishing attempts a stop interrupted); publishes to `topic`
    /// too when given.
    pub fn open(
        dir: &Path,
        section: &NotificationsSection,
        topic: Option<event_log::kafka::SideTopic>,
    ) -> anyhow::Result<Notifier> {
        section.check().map_err(|why| anyhow::anyhow!(why))?;
        let rules = rules_of(section);
        let (mut journal, mut book) = Journal::open(dir, &rules)?;
        let interrupted: Vec<Record> = book
            .deliveries
            .iter()
            .filter_map(|((webhook, id), d)| {
                Some(Record::Ended {
                    id: *id,
                    webhook: webhook.clone(),
                    attempt: d.started?,
                    at: now(),
                    outcome: Outcome::Failed {
                        error: "the serve stopped during the attempt".into(),
                    },
                })
            })
            .collect();
        for record in interrupted {
            journal.append(&record)?;
            book.apply(&record, &rules);
        }
        if journal.worth_compacting(&book) {
            journal.compact(dir, &book)?;
        }
        let webhooks = section
            .webhooks
            .iter()
            .map(|hook| {
                Ok((
                    hook.clone(),
                    hook.signing_secret().map_err(|e| anyhow::anyhow!(e))?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Notifier {
            inner: Arc::new(Mutex::new((journal, book))),
            topic: topic.map(Arc::new),
            webhooks: Arc::new(webhooks),
            rules,
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    pub fn failed(&self) -> Vec<FailedDelivery> {
        failed(&self.inner.lock().expect("the book").1)
    }

    /// Sends the parked deliveries of notification `id` again; how many.
    pub fn retry(&self, id: Uuid) -> Result<usize, RetryError> {
        let mut guard = self.inner.lock().expect("the book");
        let (journal, book) = &mut *guard;
        let parked: Vec<String> = book
            .deliveries
            .iter()
            .filter(|((_, d_id), d)| *d_id == id && d.standing == Standing::Parked)
            .map(|((webhook, _), _)| webhook.clone())
            .collect();
        if parked.is_empty() {
            return Err(RetryError::NothingParked(id));
        }
        for webhook in &parked {
            let record = Record::Retried {
                id,
                webhook: webhook.clone(),
                at: now(),
            };
            journal.append(&record)?;
            book.apply(&record, &self.rules);
        }
        self.wake.notify_one();
        Ok(parked.len())
    }

    fn record(&self, record: Record) -> std::io::Result<()> {
        let mut guard = self.inner.lock().expect("the book");
        let (journal, book) = &mut *guard;
        journal.append(&record)?;
        book.apply(&record, &self.rules);
        Ok(())
    }

    /// Publishes what the outbox holds after the cursor (on Kafka) and queues it for the
    /// webhooks that want it.
    async fn queue_new(&self, store: &projections::ProjectionStore) -> anyhow::Result<()> {
        let cursor = self.inner.lock().expect("the book").1.cursor.clone();
        let page = store.notifications(&cursor, 200)?;
        if page.items.is_empty() {
            return Ok(());
        }
        for notification in &page.items {
            let kind = notification.notice.kind();
            let body = serde_json::to_string(notification)?;
            if let Some(topic) = &self.topic {
                let key = notification.notification_id.to_string();
                topic.append(&key, body.as_bytes()).await?;
            }
            for (hook, _) in self.webhooks.iter().filter(|(hook, _)| hook.wants(kind)) {
                self.record(Record::Queued {
                    id: notification.notification_id,
                    webhook: hook.name.clone(),
                    kind: kind.to_owned(),
                    body: body.clone(),
                })?;
            }
        }
        self.record(Record::Read { cursor: page.next })?;
        Ok(())
    }

    /// Per webhook with nothing in flight, its next due delivery: (webhook, id, attempt, body).
    fn due(
        &self,
        now: DateTime<Utc>,
        busy: &std::collections::BTreeSet<String>,
    ) -> Vec<(String, Uuid, u32, String)> {
        let guard = self.inner.lock().expect("the book");
        let mut picked: BTreeMap<String, (Uuid, u32, String)> = BTreeMap::new();
        // A webhook no longer configured keeps its deliveries in the journal until it is again.
        let configured = |name: &str| self.webhooks.iter().any(|(hook, _)| hook.name == name);
        for ((webhook, id), d) in &guard.1.deliveries {
            let ready = d.standing == Standing::Pending && d.next_at <= now && configured(webhook);
            if ready && !busy.contains(webhook) && !picked.contains_key(webhook) {
                picked.insert(webhook.clone(), (*id, d.attempts + 1, d.body.clone()));
            }
        }
        picked
            .into_iter()
            .map(|(w, (id, n, body))| (w, id, n, body))
            .collect()
    }

    /// Runs deliveries until `stopped`: reads the outbox, sends what is due (one at a time per
    /// webhook, so a slow receiver holds up no other), records every attempt.
    pub async fn run(
        self,
        projections: projections::worker::Projections,
        stopped: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stopped);
        let mut in_flight = tokio::task::JoinSet::new();
        let mut busy = std::collections::BTreeSet::new();
        loop {
            // The live generation's store, read anew each time: a rebuild switches it.
            if let Err(error) = self.queue_new(&projections.store()).await {
                tracing::warn!(%error, "reading the notifications outbox");
            }
            for (webhook, id, attempt, body) in self.due(now(), &busy) {
                if let Err(error) = self.record(Record::Started {
                    id,
                    webhook: webhook.clone(),
                    attempt,
                    at: now(),
                }) {
                    tracing::error!(%error, "the delivery journal cannot be written");
                    continue;
                }
                busy.insert(webhook.clone());
                let (hook, secret) = self
                    .webhooks
                    .iter()
                    .find(|(h, _)| h.name == webhook)
                    .cloned()
                    .expect("a configured webhook");
                let timeout = self.rules.timeout;
                in_flight.spawn_blocking(move || {
                    let outcome = post(&hook, &secret, id, attempt, &body, timeout);
                    (webhook, id, attempt, outcome)
                });
            }
            tokio::select! {
                () = &mut stopped => return,
                Some(done) = in_flight.join_next() => {
                    if let Ok((webhook, id, attempt, outcome)) = done {
                        busy.remove(&webhook);
                        let ended = Record::Ended { id, webhook, attempt, at: now(), outcome };
                        if let Err(error) = self.record(ended) {
                            tracing::error!(%error, "the delivery journal cannot be written");
                        }
                    }
                }
                () = self.wake.notified() => {}
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// The time now (the domain's chrono has no clock of its own).
fn now() -> DateTime<Utc> {
    std::time::SystemTime::now().into()
}

/// How often the outbox is read and due retries looked for.
const POLL: Duration = Duration::from_millis(200);

/// One attempt: POST the notification, signed.
fn post(
    hook: &Webhook,
    secret: &str,
    id: Uuid,
    attempt: u32,
    body: &str,
    timeout: Duration,
) -> Outcome {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let sent_at = now().timestamp();
    let answer = agent
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("ledger-notification-id", id.to_string())
        .header("ledger-delivery-attempt", attempt.to_string())
        .header(
            "ledger-signature",
            signature(secret, sent_at, body.as_bytes()),
        )
        .send(body);
    match answer {
        Ok(response) if response.status().is_success() => Outcome::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => Outcome::Failed {
            error: format!("answered {}", response.status()),
        },
        Err(error) => Outcome::Failed {
            error: error.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_the_time_and_the_body() {
        // RFC 4231 test case 2's key and data, split as "<t>." and body.
        let said = signature("Jefe", 1, b"what do ya want for nothing?");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"1.what do ya want for nothing?");
        assert_eq!(
            said,
            format!("t=1,v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }

    #[test]
    fn a_record_a_crash_cut_short_is_cut_off_and_the_journal_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let rules = Rules {
            max_attempts: 3,
            first_retry: Duration::from_millis(1),
            timeout: Duration::from_secs(1),
        };
        let id = Uuid::from_u128(7);
        let queued = Record::Queued {
            id,
            webhook: "crm".into(),
            kind: "shipped".into(),
            body: "{}".into(),
        };
        let line = serde_json::to_string(&queued).unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(&path, format!("{line}\n{{\"record\":\"sta")).unwrap();
        let (mut journal, book) = Journal::open(dir.path(), &rules).unwrap();
        assert_eq!(book.deliveries.len(), 1);
        journal
            .append(&Record::Read {
                cursor: "0:3".into(),
            })
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("{line}\n{{\"record\":\"read\",\"cursor\":\"0:3\"}}\n")
        );
        let (_, book) = Journal::open(dir.path(), &rules).unwrap();
        assert_eq!(book.cursor, [(0, 3)].into());
        // Reading the failed deliveries writes nothing, not even an empty journal.
        let nowhere = dir.path().join("nothing-here");
        let section = NotificationsSection::default();
        assert!(failed_in(&nowhere, &section).unwrap().is_empty());
        assert!(!nowhere.exists());
    }

    #[test]
    fn a_journal_of_mostly_finished_deliveries_is_compacted_at_start_to_what_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let section = NotificationsSection {
            max_attempts: 2,
            ..NotificationsSection::default()
        };
        let rules = rules_of(&section);
        let at = |s: i64| DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let mut lines = Vec::new();
        let mut add = |record: Record| lines.push(serde_json::to_string(&record).unwrap());
        for n in 0..(COMPACT_AFTER as u128 / 3 + 1) {
            let (id, webhook) = (Uuid::from_u128(n), "crm".to_owned());
            let body = "{}".to_owned();
            let kind = "shipped".to_owned();
            add(Record::Queued {
                id,
                webhook: webhook.clone(),
                kind,
                body,
            });
            add(Record::Started {
                id,
                webhook: webhook.clone(),
                attempt: 1,
                at: at(0),
            });
            let outcome = if n < 2 {
                Outcome::Failed {
                    error: "answered 503".into(),
                }
            } else {
                Outcome::Delivered { status: 200 }
            };
            add(Record::Ended {
                id,
                webhook,
                attempt: 1,
                at: at(1),
                outcome,
            });
        }
        // The first delivery fails again and is parked; the second waits for its retry.
        let webhook = "crm".to_owned();
        let id = Uuid::from_u128(0);
        add(Record::Started {
            id,
            webhook: webhook.clone(),
            attempt: 2,
            at: at(2),
        });
        let outcome = Outcome::Failed {
            error: "answered 503".into(),
        };
        add(Record::Ended {
            id,
            webhook,
            attempt: 2,
            at: at(3),
            outcome,
        });
        add(Record::Read {
            cursor: "0:41,3:7".into(),
        });
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let (_, before) = Journal::open(dir.path(), &rules).unwrap();

        let mut journal = Journal::open(dir.path(), &rules).unwrap().0;
        assert!(journal.worth_compacting(&before));
        journal.compact(dir.path(), &before).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().count(),
            3,
            "the cursor and the two deliveries left"
        );
        let (_, after) = Journal::open(dir.path(), &rules).unwrap();
        assert_eq!(after.cursor, before.cursor);
        assert_eq!(failed(&after), failed(&before));
        assert_eq!(failed(&after).len(), 1);
        let waiting = &after.deliveries[&("crm".to_owned(), Uuid::from_u128(1))];
        assert_eq!((waiting.attempts, waiting.standing), (1, Standing::Pending));
        assert_eq!(waiting.next_at, at(1) + rules.backoff(1));
    }

    #[test]
    fn backoff_doubles_from_the_first_retry_up_to_an_hour() {
        let rules = Rules {
            max_attempts: 8,
            first_retry: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        };
        let waits: Vec<i64> = (1..=4).map(|n| rules.backoff(n).num_seconds()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(rules.backoff(30).num_seconds(), 3600);
    }
}
