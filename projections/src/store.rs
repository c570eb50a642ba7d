//! The read-model store: one sled tree, written one atomic batch per fold step.
//!
//! A fold step reads rows through an overlay (its own writes first, then the tree), and ends
//! with one `sled::Batch` holding every changed row *and* the new checkpoints. Rows an event
//! changes (an order, a day's report, a balance) stay decoded in the overlay until the step
//! ends, so an order with five events in a step is decoded and encoded once, not five times;
//! an index entry written and removed again in one step never reaches the batch. sled applies a
//! batch atomically, also across a crash, so after any crash the store holds exactly the
//! events up to its checkpoints: none applied twice, none skipped.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use event_log::StoredRecord;
use order_events::codec;

use crate::backend::{storage, Backend, Step};
use crate::fold::{Decoded, Folded, Projector, Rows};
use crate::keys;
use crate::known::KnownParts;
use crate::model::UndecodableAlarm;
use crate::StoreError;

/// Bumped when the layout of rows changes; a store of another format is rebuilt from the log.
const FORMAT: &[u8] = b"13";

/// Rows of one fold step: writes kept aside until the batch is applied.
struct Overlay<'a> {
    rows: &'a Step<'a>,
    /// The parts this store knows to be committed as they were (PostgreSQL).
    known: &'a KnownParts,
    changes: HashMap<Vec<u8>, Change>,
    /// Rows the step keeps decoded: written to `changes` when the step ends. A row is in one
    /// of the two maps, never both.
    decoded: HashMap<Vec<u8>, Decoded>,
    /// What the store held when the step read it (it stays true for the step: no other
    /// writes in between on sled, a REPEATABLE READ transaction on PostgreSQL, until the step
    /// changes the row, which `changes` then answers): a PostgreSQL store is asked once per
    /// row and step, not at every event.
    read: std::cell::RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

/// A row's change in this step.
enum Change {
    /// `fresh`: the tree did not hold the key when the step began, so removing it again
    /// leaves nothing to write.
    Put {
        value: Vec<u8>,
        fresh: bool,
    },
    Remove,
}

impl Overlay<'_> {
    /// Writes a change of `key` whose freshness is `fresh_if_untouched` unless the step
    /// touched the key before (then what that touch knew).
    fn put_with(&mut self, key: Vec<u8>, value: Vec<u8>, fresh_if_untouched: bool) {
        let fresh = match self.changes.get(&key) {
            None => fresh_if_untouched,
            Some(Change::Put { fresh, .. }) => *fresh,
            Some(Change::Remove) => false,
        };
        self.changes.insert(key, Change::Put { value, fresh });
    }

    /// Every change of the step, the rows kept decoded encoded now.
    fn into_changes(mut self) -> HashMap<Vec<u8>, Change> {
        for (key, row) in std::mem::take(&mut self.decoded) {
            let value = row.encode();
            self.put_with(key, value, false);
        }
        self.changes
    }
}

impl Overlay<'_> {
    /// Reads the rows the step's events read first in one request, where the store answers
    /// many keys at once cheaper than one at a time.
    fn prefetch(
        &self,
        decoded: &[Result<order_events::EventEnvelope, codec::DecodeError>],
    ) -> Result<(), StoreError> {
        // Only where it saves round trips: on sled the keys would be built for nothing.
        let Some(bulk) = self.rows.bulk_reader() else {
            return Ok(());
        };
        let mut wanted: Vec<Vec<u8>> = decoded
            .iter()
            .flatten()
            .flat_map(Projector::rows_read)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        self.read.borrow_mut().extend(bulk.get_many(wanted)?);
        Ok(())
    }
}

impl Rows for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(row) = self.decoded.get(key) {
            return Ok(Some(row.encode()));
        }
        match self.changes.get(key) {
            Some(Change::Put { value, .. }) => Ok(Some(value.clone())),
            Some(Change::Remove) => Ok(None),
            None => {
                if let Some(known) = self.read.borrow().get(key) {
                    return Ok(known.clone());
                }
                if let Some(known) = self.known.get(key) {
                    return Ok(known.clone());
                }
                let value = self.rows.get(key)?;
                self.read.borrow_mut().insert(key.to_vec(), value.clone());
                Ok(value)
            }
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.decoded.remove(&key);
        self.put_with(key, value, false);
    }

    fn put_new(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.decoded.remove(&key);
        self.put_with(key, value, true);
    }

    fn take_decoded(&mut self, key: &[u8]) -> Option<Decoded> {
        self.decoded.remove(key)
    }

    fn keep_decoded(&mut self, key: Vec<u8>, row: Decoded) {
        self.decoded.insert(key, row);
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.decoded.remove(&key);
        match self.changes.get(&key) {
            Some(Change::Put { fresh: true, .. }) => {
                self.changes.remove(&key);
            }
            _ => {
                self.changes.insert(key, Change::Remove);
            }
        }
    }
}

/// How many times a conflicting step is folded again before the conflict is an error (a
/// step that runs alone meets no other, so this is a safety net, not a limit met in use).
pub const CONFLICT_RETRIES: u32 = 50;

/// Conflicts after which a step is folded again with no other process's step running.
const ALONE_AFTER: u32 = 3;

/// A pause before folding a conflicting step again, growing with the conflicts and jittered
/// (from the clock's nanoseconds) so two workers that keep meeting fall out of step.
fn conflict_pause(conflicts: u32) -> std::time::Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos() % 1_000);
    let millis = u64::from(conflicts.min(8)) * 2;
    std::time::Duration::from_micros(millis * 1_000 + u64::from(jitter) * millis)
}

/// A checkpoint row: partition u32 → next offset u64.
fn checkpoint(key: &[u8], value: &[u8]) -> Result<(u32, u64), StoreError> {
    let corrupt = || StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: "checkpoint is not partition u32 → offset u64".into(),
    };
    let partition = u32::from_be_bytes(key[1..].try_into().map_err(|_| corrupt())?);
    let offset = u64::from_be_bytes(value.try_into().map_err(|_| corrupt())?);
    Ok((partition, offset))
}

/// What one fold step did, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepStats {
    pub applied: u64,
    pub duplicates: u64,
    pub held_back: u64,
    pub gaps: u64,
    pub undecodable: u64,
    /// Records below the checkpoint (redelivered after a restart or rebalance): skipped.
    pub already_folded: u64,
    /// Times the step met another process's over the same rows and was folded again.
    pub conflicts: u32,
}

/// The read models of one deployment, in a local directory.
#[derive(Clone)]
pub struct ProjectionStore {
    rows: Arc<Backend>,
    projector: Arc<Projector>,
    /// One fold step at a time (steps read rows other steps write), and what the steps
    /// know of the parts they wrote.
    writer: Arc<Mutex<KnownParts>>,
}

impl ProjectionStore {
    /// Opens (creating if needed) the store in `path`. A store written by another layout
    /// version is emptied, to be rebuilt from the log.
    pub fn open(path: &Path, projector: Projector) -> Result<ProjectionStore, StoreError> {
        Self::open_with(sled::Config::new().path(path), path, projector)
    }

    /// [`open`](Self::open) with a page cache of `cache_capacity_bytes` instead of sled's
    /// default 1 GiB: the store's memory is mostly this cache (and sled keeps roughly twice
    /// its nominal size resident), so a one-pass writer such as a rebuild bounds it here.
    pub fn open_with_cache(
        path: &Path,
        projector: Projector,
        cache_capacity_bytes: u64,
    ) -> Result<ProjectionStore, StoreError> {
        Self::open_with(
            sled::Config::new()
                .path(path)
                .cache_capacity(cache_capacity_bytes),
            path,
            projector,
        )
    }

    /// A store that lives as long as this process (deleted when dropped): for deployments
    /// that rebuild their read models from the log at every start.
    pub fn open_temporary(projector: Projector) -> Result<ProjectionStore, StoreError> {
        Self::open_with(
            sled::Config::new().temporary(true),
            Path::new("(temporary)"),
            projector,
        )
    }

    fn open_with(
        config: sled::Config,
        path: &Path,
        projector: Projector,
    ) -> Result<ProjectionStore, StoreError> {
        let db = config.open().map_err(|error| match &error {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::InUse(path.display().to_string())
            }
            _ => storage(error),
        })?;
        let tree = db.open_tree("read-models").map_err(storage)?;
        ProjectionStore::over(Backend::Sled { db, tree }, projector)
    }

    /// The read models in PostgreSQL at `url`, in `schema` (created when missing).
    pub fn open_postgres(
        url: &str,
        schema: &str,
        projector: Projector,
    ) -> Result<ProjectionStore, StoreError> {
        let rows = crate::postgres::PgRows::open(url, schema)?;
        ProjectionStore::in_postgres(rows, projector)
    }

    /// The read models in PostgreSQL rows opened already.
    pub fn in_postgres(
        rows: crate::postgres::PgRows,
        projector: Projector,
    ) -> Result<ProjectionStore, StoreError> {
        ProjectionStore::over(Backend::Postgres(rows), projector)
    }

    /// A store over `rows`, emptied when they were written by another layout version.
    fn over(rows: Backend, projector: Projector) -> Result<ProjectionStore, StoreError> {
        match rows.get(keys::FORMAT)? {
            Some(format) if format == FORMAT => {}
            Some(other) => {
                tracing::warn!(
                    found = %String::from_utf8_lossy(&other),
                    "read models of another format: rebuilding from the log"
                );
                rows.clear()?;
                rows.apply(vec![(keys::FORMAT.to_vec(), Some(FORMAT.to_vec()))])?;
            }
            None => rows.apply(vec![(keys::FORMAT.to_vec(), Some(FORMAT.to_vec()))])?,
        }
        Ok(ProjectionStore {
            rows: Arc::new(rows),
            projector: Arc::new(projector),
            writer: Arc::new(Mutex::new(KnownParts::default())),
        })
    }

    /// Whether other processes may fold into these rows too (PostgreSQL): then this
    /// process's own progress is not the store's.
    pub fn is_shared(&self) -> bool {
        matches!(*self.rows, Backend::Postgres(_))
    }

    pub fn projector(&self) -> &Projector {
        &self.projector
    }

    pub(crate) fn backend(&self) -> &Backend {
        &self.rows
    }

    /// The next offset to fold of every events partition folded so far.
    pub fn checkpoints(&self) -> Result<BTreeMap<u32, u64>, StoreError> {
        self.rows
            .scan_prefix(&[keys::CHECKPOINT])
            .map(|entry| entry.and_then(|(key, value)| checkpoint(&key, &value)))
            .collect()
    }

    /// Folds records of the events topic, in their order, as one atomic step. Records below a
    /// partition's checkpoint were folded before and are skipped. A step that conflicts with
    /// another process's over the same rows (PostgreSQL; see [`Step`]) is folded again from
    /// what is committed then; after [`ALONE_AFTER`] conflicts with no other step running.
    pub fn fold(&self, records: &[StoredRecord]) -> Result<StepStats, StoreError> {
        let mut known = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut conflicts = 0;
        loop {
            match self.fold_once(records, conflicts >= ALONE_AFTER, &mut known) {
                Err(StoreError::Conflict(reason)) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    metrics::counter!(crate::metrics::CONFLICTS).increment(1);
                    tracing::debug!(%reason, conflicts, "fold step conflicted; folding it again");
                    // A step about to run alone waits on the step lock instead.
                    if conflicts > ALONE_AFTER {
                        std::thread::sleep(conflict_pause(conflicts));
                    }
                }
                Ok(mut stats) => {
                    stats.conflicts = conflicts;
                    return Ok(stats);
                }
                Err(error) => return Err(error),
            }
        }
    }

    fn fold_once(
        &self,
        records: &[StoredRecord],
        alone: bool,
        known: &mut KnownParts,
    ) -> Result<StepStats, StoreError> {
        let step = self.rows.begin_step(alone)?;
        let mut checkpoints = step
            .scan_prefix(&[keys::CHECKPOINT])?
            .iter()
            .map(|(key, value)| checkpoint(key, value))
            .collect::<Result<BTreeMap<u32, u64>, StoreError>>()?;
        let began = checkpoints.clone();
        known.keep_true(&began);
        let mut overlay = Overlay {
            rows: &step,
            known,
            changes: HashMap::new(),
            decoded: HashMap::new(),
            read: Default::default(),
        };
        let decoded: Vec<_> = records
            .iter()
            .map(|record| codec::decode_event(&record.payload))
            .collect();
        overlay.prefetch(&decoded)?;
        let mut stats = StepStats::default();
        // Only the checkpoints this step moves are written.
        let mut advanced = std::collections::BTreeSet::new();
        for (record, decoded) in records.iter().zip(decoded) {
            let next = checkpoints.entry(record.partition).or_insert(0);
            if record.offset < *next {
                stats.already_folded += 1;
                continue;
            }
            *next = record.next_offset();
            advanced.insert(record.partition);
            match decoded {
                Ok(envelope) => {
                    match self.projector.fold(
                        &mut overlay,
                        record.partition,
                        record.offset,
                        &envelope,
                    )? {
                        Folded::Applied => stats.applied += 1,
                        Folded::Duplicate => stats.duplicates += 1,
                        Folded::HeldBack => stats.held_back += 1,
                        Folded::Gap => stats.gaps += 1,
                    }
                }
                Err(error) => {
                    tracing::error!(partition = record.partition, offset = record.offset, %error, "an events record that is no event");
                    metrics::counter!(crate::metrics::UNDECODABLE).increment(1);
                    let alarm = UndecodableAlarm {
                        partition: record.partition,
                        offset: record.offset,
                        reason: error.to_string(),
                    };
                    crate::row::put(
                        &mut overlay,
                        keys::undecodable(record.partition, record.offset),
                        &alarm,
                    );
                    stats.undecodable += 1;
                }
            }
        }
        let read = overlay.read.take();
        let mut writes: Vec<crate::backend::Write> = overlay
            .into_changes()
            .into_iter()
            .map(|(key, change)| match change {
                Change::Put { value, .. } => (key, Some(value)),
                Change::Remove => (key, None),
            })
            .collect();
        writes.extend(advanced.into_iter().map(|partition| {
            let next = checkpoints[&partition].to_be_bytes().to_vec();
            (keys::checkpoint(partition), Some(next))
        }));
        // What a step writes of the parts, known for the next ones (where reads cost a round
        // trip: sled's cost no more than the lookup).
        let remember = step.bulk_reader().is_some();
        let parts: Vec<_> = match remember {
            true => writes
                .iter()
                .filter(|(key, _)| keys::is_part(key))
                .cloned()
                .collect(),
            false => Vec::new(),
        };
        step.commit(writes)?;
        if remember {
            known.learn(&began, &checkpoints, read, &parts);
        }
        Ok(stats)
    }

    /// Makes everything folded so far durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.rows.flush()
    }

    /// Every row, for comparisons with a reference fold (tests, rebuild digests).
    pub fn rows(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
        self.rows
            .range(std::ops::Bound::Unbounded, std::ops::Bound::Unbounded)
            .collect()
    }
}

/// A read-model directory holding generations of the store, so a rebuild can fill a fresh one
/// beside the live one and then switch:
///
/// ```text
/// <dir>/CURRENT        the live generation's name ("gen-3"), replaced atomically (rename)
/// <dir>/gen-3/         the live store
/// <dir>/gen-4/         a rebuild in progress (removed at open if it never became current)
/// ```
#[derive(Debug, Clone)]
pub struct ProjectionDir {
    path: std::path::PathBuf,
}

const CURRENT: &str = "CURRENT";

impl ProjectionDir {
    /// Opens the directory (creating it) and its live generation (creating the first), and
    /// removes generations that are not live: a rebuild a crash interrupted, or the store a
    /// finished rebuild replaced.
    pub fn open(
        path: &Path,
        projector: Projector,
    ) -> Result<(ProjectionDir, u64, ProjectionStore), StoreError> {
        let io = |e: std::io::Error| StoreError::Storage(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(path).map_err(io)?;
        let dir = ProjectionDir {
            path: path.to_owned(),
        };
        let generation = match std::fs::read_to_string(path.join(CURRENT)) {
            Ok(text) => text
                .trim()
                .strip_prefix("gen-")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: path.join(CURRENT).display().to_string(),
                    reason: format!("'{}' names no generation", text.trim()),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                dir.switch(1)?;
                1
            }
            Err(e) => return Err(io(e)),
        };
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("gen-") && name != format!("gen-{generation}") {
                tracing::info!(%name, "removing a read-model generation that is not live");
                std::fs::remove_dir_all(entry.path()).map_err(io)?;
            }
        }
        let store = ProjectionStore::open(&dir.generation_path(generation), projector)?;
        Ok((dir, generation, store))
    }

    fn generation_path(&self, generation: u64) -> std::path::PathBuf {
        self.path.join(format!("gen-{generation}"))
    }

    /// A fresh, empty store for generation `generation`, beside the live one.
    pub fn create(
        &self,
        generation: u64,
        projector: Projector,
    ) -> Result<ProjectionStore, StoreError> {
        let path = self.generation_path(generation);
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .map_err(|e| StoreError::Storage(format!("{}: {e}", path.display())))?;
        }
        ProjectionStore::open(&path, projector)
    }

    /// Removes a generation that is no longer live (the caller makes sure nothing uses it).
    pub fn remove(&self, generation: u64) -> Result<(), StoreError> {
        let path = self.generation_path(generation);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::Storage(format!("{}: {e}", path.display()))),
        }
    }

    /// Makes `generation` the live one, atomically and durably. The replaced generation stays
    /// on disk until [`ProjectionDir::remove`] or the next open.
    pub fn switch(&self, generation: u64) -> Result<(), StoreError> {
        let io = |e: std::io::Error| StoreError::Storage(format!("{}: {e}", self.path.display()));
        let temporary = self.path.join("CURRENT.new");
        {
            let mut file = std::fs::File::create(&temporary).map_err(io)?;
            std::io::Write::write_all(&mut file, format!("gen-{generation}\n").as_bytes())
                .map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        std::fs::rename(&temporary, self.path.join(CURRENT)).map_err(io)?;
        // The rename is durable once the directory is: until then a crash may bring the old
        // `CURRENT` back, which is why a failed sync is an error, not a shrug.
        std::fs::File::open(&self.path)
            .and_then(|directory| directory.sync_all())
            .map_err(io)?;
        Ok(())
    }
}

/// The read models a store holds, by the key prefixes of their rows (see `keys.rs`).
pub const READ_MODELS: [(&str, &[u8]); 7] = [
    (
        "order_status",
        &[keys::ORDER, keys::INDEX, keys::ORDER_EVENTS],
    ),
    ("inventory", &[keys::STOCK]),
    (
        "settlement",
        &[keys::ACCOUNT, keys::MERCHANT, keys::ORDER_BALANCE],
    ),
    ("reports", &[keys::DAY, keys::PROCESSING]),
    ("sequences", &[keys::SEQUENCE]),
    ("alarms", &[keys::GAP, keys::UNDECODABLE]),
    ("reconciliations", &[keys::RECONCILIATION]),
];

impl ProjectionStore {
    /// One SHA-256 per read model over its rows (keys and values, in key order): two stores
    /// with the same digests hold the same read models. Checkpoints are not covered (a store
    /// may be folded from a different position of an equal log).
    pub fn digests(&self) -> Result<BTreeMap<&'static str, String>, StoreError> {
        use sha2::{Digest, Sha256};
        let mut digests = BTreeMap::new();
        for (name, prefixes) in READ_MODELS {
            let mut hasher = Sha256::new();
            hasher.update(format!("order-ledger/read-model/{name}/v1\0").as_bytes());
            for prefix in prefixes {
                for entry in self.rows.scan_prefix(&[*prefix]) {
                    let (key, value) = entry?;
                    hasher.update((key.len() as u64).to_be_bytes());
                    hasher.update(&key);
                    hasher.update((value.len() as u64).to_be_bytes());
                    hasher.update(&value);
                }
            }
            let digest: [u8; 32] = hasher.finalize().into();
            digests.insert(name, digest.iter().map(|b| format!("{b:02x}")).collect());
        }
        Ok(digests)
    }
}
