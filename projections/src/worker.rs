//! The projection worker: follows the events topic and folds every record into the store, one
//! atomic step per poll. It joins its own consumer group but never commits offsets to the log:
//! the store's checkpoints are the truth, and every assignment starts at them.
//!
//! Every instance keeps a full copy of the read models (its group is its own), so queries are
//! local on each `ledger serve`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use event_log::{ConsumerEvent, Log, LogError, LogReader, Topic, TopicPartition};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::model::{GapAlarm, UndecodableAlarm};
use crate::store::{ProjectionDir, ProjectionStore, StepStats};
use crate::{Projector, StoreError};

/// Where the read models' generations live.
#[derive(Clone)]
enum Home {
    /// Temporary stores, rebuilt from the log at every start.
    Temporary,
    Dir(ProjectionDir),
    Postgres(crate::postgres::PgGenerations),
}

impl Home {
    /// Ends a rebuild (done or failed): on PostgreSQL, releases the lock that keeps one
    /// rebuild at a time across processes.
    fn end_rebuild(&self) -> Result<(), StoreError> {
        match self {
            Home::Postgres(generations) => generations.unlock_rebuild(),
            Home::Temporary | Home::Dir(_) => Ok(()),
        }
    }

    /// Removes a replaced generation.
    fn remove(&self, generation: u64) -> Result<(), StoreError> {
        match self {
            Home::Temporary => Ok(()),
            Home::Dir(dir) => dir.remove(generation),
            Home::Postgres(generations) => generations.remove(generation),
        }
    }
}

/// The live read models and where a rebuild puts the next generation.
#[derive(Clone)]
pub struct ReadModels {
    home: Home,
    projector: Projector,
    generation: u64,
    store: ProjectionStore,
}

impl ReadModels {
    /// Opens the live generation in `dir` (see [`ProjectionDir`]), or a temporary store.
    pub fn open(
        dir: Option<&std::path::Path>,
        projector: Projector,
    ) -> Result<ReadModels, StoreError> {
        let (home, generation, store) = match dir {
            Some(path) => {
                let (dir, generation, store) = ProjectionDir::open(path, projector.clone())?;
                (Home::Dir(dir), generation, store)
            }
            None => (
                Home::Temporary,
                1,
                ProjectionStore::open_temporary(projector.clone())?,
            ),
        };
        Ok(ReadModels {
            home,
            projector,
            generation,
            store,
        })
    }

    /// Opens the live generation in PostgreSQL at `url`, under schemas named from `base`
    /// (see [`crate::postgres::PgGenerations`]).
    pub fn open_postgres(
        url: &str,
        base: &str,
        projector: Projector,
    ) -> Result<ReadModels, StoreError> {
        let (generations, generation) = crate::postgres::PgGenerations::open(url, base)?;
        let store = ProjectionStore::in_postgres(generations.rows(generation)?, projector.clone())?;
        Ok(ReadModels {
            home: Home::Postgres(generations),
            projector,
            generation,
            store,
        })
    }

    pub fn store(&self) -> &ProjectionStore {
        &self.store
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A fresh, empty store for the next generation, beside the live one. On PostgreSQL it
    /// takes the rebuild lock ([`Home::end_rebuild`] releases it): other processes hold the
    /// same generations, and one rebuild at a time may fill the next.
    fn create_next(&self) -> Result<ProjectionStore, StoreError> {
        let next = self.generation + 1;
        match &self.home {
            Home::Dir(dir) => dir.create(next, self.projector.clone()),
            Home::Temporary => ProjectionStore::open_temporary(self.projector.clone()),
            Home::Postgres(generations) => {
                if !generations.lock_rebuild()? {
                    return Err(StoreError::InUse(
                        "PostgreSQL: a rebuild of these read models runs in another process".into(),
                    ));
                }
                let created = generations
                    .remove(next)
                    .and_then(|()| generations.rows(next));
                match created {
                    Ok(rows) => ProjectionStore::in_postgres(rows, self.projector.clone()),
                    Err(error) => {
                        generations.unlock_rebuild()?;
                        Err(error)
                    }
                }
            }
        }
    }

    /// Moves to the live generation when another process's rebuild switched to a newer one;
    /// `true` when it did. Only PostgreSQL's generations are shared.
    fn follow_switch(&mut self) -> Result<bool, StoreError> {
        let Home::Postgres(generations) = &self.home else {
            return Ok(false);
        };
        let live = generations.live()?;
        if live == self.generation {
            return Ok(false);
        }
        let store = ProjectionStore::in_postgres(generations.rows(live)?, self.projector.clone())?;
        tracing::info!(
            from = self.generation,
            to = live,
            "another instance switched the read models; following"
        );
        self.generation = live;
        self.store = store;
        Ok(true)
    }

    /// Makes `store` (from [`ReadModels::create_next`]) live; returns the generation it
    /// replaced.
    fn switch(&mut self, store: ProjectionStore) -> Result<u64, StoreError> {
        let replaced = self.generation;
        match &self.home {
            Home::Dir(dir) => dir.switch(replaced + 1)?,
            Home::Postgres(generations) => generations.switch(replaced + 1)?,
            Home::Temporary => {}
        }
        self.generation = replaced + 1;
        self.store = store;
        Ok(replaced)
    }

    /// Builds the next generation from offset 0 and switches to it, with nothing else folding
    /// meanwhile (`ledger rebuild` on a directory no serve runs on).
    pub async fn rebuild_offline(&mut self, log: &dyn LogReader) -> Result<StepStats, WorkerError> {
        let fresh = self.create_next()?;
        let built = async {
            let stats = catch_up(log, &fresh).await?;
            fresh.flush()?;
            let replaced = self.switch(fresh)?;
            self.home.remove(replaced)?;
            Ok(stats)
        }
        .await;
        self.home.end_rebuild()?;
        built
    }
}

/// Where a rebuild is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RebuildState {
    Running,
    Done,
    Failed,
}

/// The last rebuild of this process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RebuildStatus {
    /// The generation being built (live once done).
    pub generation: u64,
    pub state: RebuildState,
    /// Events folded into the new generation.
    pub events_folded: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

/// Why a rebuild was not started.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("a rebuild is already running (generation {0})")]
    AlreadyRunning(u64),
    #[error("the projection worker is not running")]
    WorkerStopped,
}

/// Why the worker stopped.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("folding stopped unexpectedly: {0}")]
    Task(String),
}

/// Counters since the worker started.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    steps: StepStats,
    started: Option<Instant>,
}

/// Read-side handle: the live store, the worker's progress, and the log to measure lag
/// against.
#[derive(Clone)]
pub struct Projections {
    live: Arc<Mutex<ReadModels>>,
    log: Arc<dyn LogReader>,
    progress: watch::Receiver<BTreeMap<u32, u64>>,
    counters: Arc<Mutex<Counters>>,
    rebuild: Arc<Mutex<Option<RebuildStatus>>>,
    requests: tokio::sync::mpsc::Sender<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// One events partition: how far the read models are, and how far the log is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PartitionLag {
    pub partition: u32,
    /// Next offset the read models will fold.
    pub checkpoint: u64,
    /// Next offset the log will give a record.
    pub end: u64,
    /// `end − checkpoint`: records not folded yet (on Kafka, transaction markers count too).
    pub lag: u64,
}

/// What `/v1/projections/status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectionStatus {
    /// No gaps and no undecodable records.
    pub healthy: bool,
    /// The live generation of the read models (a rebuild makes the next one).
    pub generation: u64,
    /// The last rebuild started by this process, if any.
    pub rebuild: Option<RebuildStatus>,
    pub partitions: Vec<PartitionLag>,
    pub lag_total: u64,
    /// Events folded since this process started, and per second over that time.
    pub events_applied: u64,
    pub apply_rate_per_second: f64,
    pub duplicates_ignored: u64,
    pub gaps: Vec<GapAlarm>,
    pub undecodable: Vec<UndecodableAlarm>,
}

/// Positions the caller must see folded, and those it did not within the wait.
#[derive(Debug, thiserror::Error)]
#[error("the read models have not reached {missing:?} (partition, offset) yet")]
pub struct NotReached {
    pub missing: Vec<(u32, u64)>,
}

impl Projections {
    /// The live store (a rebuild may replace it; a handle keeps working until dropped).
    pub fn store(&self) -> ProjectionStore {
        lock(&self.live).store.clone()
    }

    /// Asks the worker to build a fresh generation from offset 0 beside the live one and
    /// switch to it when it has caught up; queries keep answering from the live one meanwhile.
    pub fn request_rebuild(&self) -> Result<(), RebuildError> {
        if let Some(status) = lock(&self.rebuild).as_ref() {
            if status.state == RebuildState::Running {
                return Err(RebuildError::AlreadyRunning(status.generation));
            }
        }
        match self.requests.try_send(()) {
            Ok(()) => Ok(()),
            Err(tokio::sync::mpsc::error::TrySendError::Full(())) => Err(
                RebuildError::AlreadyRunning(lock(&self.live).generation + 1),
            ),
            Err(tokio::sync::mpsc::error::TrySendError::Closed(())) => {
                Err(RebuildError::WorkerStopped)
            }
        }
    }

    /// Waits until every `(partition, offset)` of the events topic is folded, at most `wait`.
    /// On a store other instances fold into too (PostgreSQL), what counts is the checkpoints
    /// in the store, read every [`SHARED_POLL`]; otherwise this instance's worker's progress.
    pub async fn wait_for(
        &self,
        positions: &[(u32, u64)],
        wait: Duration,
    ) -> Result<(), NotReached> {
        let missing = |checkpoints: &BTreeMap<u32, u64>| -> Vec<(u32, u64)> {
            positions
                .iter()
                .filter(|(p, o)| checkpoints.get(p).is_none_or(|next| next <= o))
                .copied()
                .collect()
        };
        let mut progress = self.progress.clone();
        let store = self.store();
        let mut seen = progress.borrow_and_update().clone();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if store.is_shared() && !missing(&seen).is_empty() {
                let store = store.clone();
                if let Ok(Ok(checkpoints)) =
                    tokio::task::spawn_blocking(move || store.checkpoints()).await
                {
                    seen = checkpoints;
                }
            }
            if missing(&seen).is_empty() {
                return Ok(());
            }
            let changed = async {
                if store.is_shared() {
                    tokio::time::sleep(SHARED_POLL).await;
                } else if progress.changed().await.is_err() {
                    // The worker stopped; nothing more will be folded.
                    std::future::pending::<()>().await;
                }
            };
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(NotReached {
                    missing: missing(&seen),
                });
            }
            if !store.is_shared() {
                seen = progress.borrow_and_update().clone();
            }
        }
    }

    /// The positions among `positions` that the events topic does not have yet: a partition
    /// it lacks, or an offset at or past the partition's end. No command result names one, so
    /// waiting for it would only run out the wait.
    pub async fn unwritten(
        &self,
        positions: &[(u32, u64)],
    ) -> Result<Vec<(u32, u64)>, WorkerError> {
        let ends = self.log.end_offsets(Topic::Events).await?;
        Ok(positions
            .iter()
            .filter(|&&(partition, offset)| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|p| ends.get(p))
                    .is_none_or(|&end| offset >= end)
            })
            .copied()
            .collect())
    }

    /// Lag per partition, alarms, and the fold rate.
    pub async fn status(&self) -> Result<ProjectionStatus, WorkerError> {
        let ends = self.log.end_offsets(Topic::Events).await?;
        let (generation, store) = {
            let live = lock(&self.live);
            (live.generation, live.store.clone())
        };
        let checkpoints = store.checkpoints()?;
        let partitions: Vec<PartitionLag> = ends
            .iter()
            .enumerate()
            .map(|(p, &end)| {
                let checkpoint = checkpoints.get(&(p as u32)).copied().unwrap_or(0);
                PartitionLag {
                    partition: p as u32,
                    checkpoint,
                    end,
                    lag: end.saturating_sub(checkpoint),
                }
            })
            .collect();
        let gaps = store.gaps()?;
        let undecodable = store.undecodable()?;
        let counters = *lock(&self.counters);
        let elapsed = counters
            .started
            .map_or(0.0, |started| started.elapsed().as_secs_f64());
        Ok(ProjectionStatus {
            healthy: gaps.is_empty() && undecodable.is_empty(),
            generation,
            rebuild: lock(&self.rebuild).clone(),
            lag_total: partitions.iter().map(|p| p.lag).sum(),
            partitions,
            events_applied: counters.steps.applied,
            apply_rate_per_second: if elapsed > 0.0 {
                counters.steps.applied as f64 / elapsed
            } else {
                0.0
            },
            duplicates_ignored: counters.steps.duplicates,
            gaps,
            undecodable,
        })
    }
}

/// Folds every committed record of the events topic the store has not folded yet, reading
/// the log directly (no consumer group): what `ledger query` does on a directory no serve
/// runs on, and how a rebuild starts.
pub async fn catch_up(
    log: &dyn LogReader,
    store: &ProjectionStore,
) -> Result<StepStats, WorkerError> {
    let topic = log.topics().name(Topic::Events);
    let mut total = StepStats::default();
    let ends = log.end_offsets(Topic::Events).await?;
    for (partition, &end) in ends.iter().enumerate() {
        let tp = TopicPartition::new(topic.clone(), partition as u32);
        let mut offset = store
            .checkpoints()?
            .get(&(partition as u32))
            .copied()
            .unwrap_or(0);
        while offset < end {
            let records = log.read(&tp, offset, 1000).await?;
            let Some(last) = records.last() else { break };
            offset = last.next_offset();
            let stats = fold_blocking(store, records).await?;
            add(&mut total, stats);
        }
    }
    Ok(total)
}

/// Positions the consumer on `tp` at `from`. librdkafka refuses a seek of a partition whose
/// assignment it has not applied yet ("Erroneous state", a retriable error): the seek is tried
/// again for up to two seconds before the error stops the worker.
async fn seek_when_assigned(
    consumer: &mut dyn event_log::Consumer,
    tp: &TopicPartition,
    from: u64,
) -> Result<(), LogError> {
    const TRIES: u32 = 40;
    let mut tries = 0;
    loop {
        match consumer.seek(tp, from).await {
            Err(error) if error.is_retriable() && tries < TRIES => {
                tries += 1;
                tracing::debug!(%tp, %error, tries, "seek refused; trying again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

fn add(total: &mut StepStats, step: StepStats) {
    total.applied += step.applied;
    total.duplicates += step.duplicates;
    total.held_back += step.held_back;
    total.gaps += step.gaps;
    total.undecodable += step.undecodable;
    total.already_folded += step.already_folded;
    total.conflicts += step.conflicts;
}

async fn fold_blocking(
    store: &ProjectionStore,
    records: Vec<event_log::StoredRecord>,
) -> Result<StepStats, WorkerError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.fold(&records))
        .await
        .map_err(|e| WorkerError::Task(e.to_string()))?
        .map_err(WorkerError::from)
}

/// Follows the events topic into the live store; builds and switches generations on request.
pub struct ProjectionWorker {
    log: Arc<dyn Log>,
    live: Arc<Mutex<ReadModels>>,
    group: String,
    poll_wait: Duration,
    progress: watch::Sender<BTreeMap<u32, u64>>,
    counters: Arc<Mutex<Counters>>,
    rebuild: Arc<Mutex<Option<RebuildStatus>>>,
    requests: tokio::sync::mpsc::Receiver<()>,
    /// When the lag gauge was last set: reading the log's ends is a round trip on Kafka, so it
    /// is done at most once per [`LAG_EVERY`], not on every poll.
    lag_recorded: Option<Instant>,
}

/// How often a read waiting for positions on a shared store (PostgreSQL) reads its
/// checkpoints.
const SHARED_POLL: Duration = Duration::from_millis(20);

/// How often the worker measures its lag while it is busy folding.
const LAG_EVERY: Duration = Duration::from_secs(1);

/// A rebuild folding in the background.
struct Building {
    store: ProjectionStore,
    generation: u64,
    started: Instant,
    task: tokio::task::JoinHandle<Result<StepStats, WorkerError>>,
}

impl ProjectionWorker {
    /// A worker for `store` in consumer group `group` (one per store: every instance folds
    /// every partition), and the handle queries use.
    pub fn new(
        log: Arc<dyn Log>,
        read_models: ReadModels,
        group: impl Into<String>,
    ) -> Result<(ProjectionWorker, Projections), WorkerError> {
        let (progress, receiver) = watch::channel(read_models.store.checkpoints()?);
        let counters = Arc::new(Mutex::new(Counters {
            steps: StepStats::default(),
            started: Some(Instant::now()),
        }));
        let live = Arc::new(Mutex::new(read_models));
        let rebuild = Arc::new(Mutex::new(None));
        let (requests_tx, requests) = tokio::sync::mpsc::channel(1);
        let handle = Projections {
            live: live.clone(),
            log: log.clone(),
            progress: receiver,
            counters: counters.clone(),
            rebuild: rebuild.clone(),
            requests: requests_tx,
        };
        Ok((
            ProjectionWorker {
                log,
                live,
                group: group.into(),
                poll_wait: Duration::from_millis(200),
                progress,
                counters,
                rebuild,
                requests,
                lag_recorded: None,
            },
            handle,
        ))
    }

    fn store(&self) -> ProjectionStore {
        lock(&self.live).store.clone()
    }

    fn start_rebuild(&self) -> Result<Building, WorkerError> {
        let (store, generation) = {
            let live = lock(&self.live);
            (live.create_next()?, live.generation + 1)
        };
        tracing::info!(
            generation,
            "rebuilding the read models beside the live ones"
        );
        *lock(&self.rebuild) = Some(RebuildStatus {
            generation,
            state: RebuildState::Running,
            events_folded: 0,
            seconds: 0.0,
            error: None,
        });
        let log = self.log.clone();
        let building = store.clone();
        let task = tokio::spawn(async move { catch_up(log.as_ref(), &building).await });
        Ok(Building {
            store,
            generation,
            started: Instant::now(),
            task,
        })
    }

    /// Finishes a rebuild whose background fold is done: folds what arrived meanwhile, then
    /// switches (queries move to the new store; the consumer continues from its checkpoints).
    async fn finish_rebuild(
        &self,
        building: Building,
        consumer: &mut dyn event_log::Consumer,
        assigned: &[TopicPartition],
    ) -> Result<(), WorkerError> {
        let outcome = async {
            let mut stats = building
                .task
                .await
                .map_err(|e| WorkerError::Task(e.to_string()))??;
            add(
                &mut stats,
                catch_up(self.log.as_ref(), &building.store).await?,
            );
            building.store.flush()?;
            let checkpoints = building.store.checkpoints()?;
            let replaced = {
                let mut live = lock(&self.live);
                let replaced = live.switch(building.store.clone())?;
                (replaced, live.home.clone())
            };
            for tp in assigned {
                let from = checkpoints.get(&tp.partition).copied().unwrap_or(0);
                seek_when_assigned(consumer, tp, from).await?;
            }
            self.progress.send_replace(checkpoints);
            let (generation, home) = replaced;
            // Queries that took the old store finish on it; then it goes.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(90)).await;
                let removed = tokio::task::spawn_blocking(move || home.remove(generation)).await;
                if let Ok(Err(error)) = removed {
                    tracing::warn!(%error, "removing replaced read models");
                }
            });
            Ok::<_, WorkerError>(stats)
        }
        .await;
        let home = lock(&self.live).home.clone();
        if let Err(error) = home.end_rebuild() {
            tracing::warn!(%error, "releasing the rebuild lock");
        }
        let seconds = building.started.elapsed().as_secs_f64();
        let mut status = lock(&self.rebuild);
        *status = Some(match &outcome {
            Ok(stats) => {
                tracing::info!(
                    generation = building.generation,
                    events = stats.applied,
                    seconds,
                    "read models rebuilt and switched"
                );
                RebuildStatus {
                    generation: building.generation,
                    state: RebuildState::Done,
                    events_folded: stats.applied,
                    seconds,
                    error: None,
                }
            }
            Err(error) => {
                tracing::error!(%error, "rebuilding the read models failed; the live ones stay");
                RebuildStatus {
                    generation: building.generation,
                    state: RebuildState::Failed,
                    events_folded: 0,
                    seconds,
                    error: Some(error.to_string()),
                }
            }
        });
        Ok(())
    }

    /// Folds until `shutdown` completes, then flushes the store.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        tokio::pin!(shutdown);
        let mut consumer = self.log.consumer(&self.group, &[Topic::Events]).await?;
        let events = self.log.topics().name(Topic::Events);
        let mut assigned: Vec<TopicPartition> = Vec::new();
        let mut building: Option<Building> = None;
        // Polls in a row that failed with a retriable error (a broker down).
        let mut poll_failures = 0u32;
        let outcome = loop {
            if building.as_ref().is_some_and(|b| b.task.is_finished()) {
                let done = building.take().expect("checked");
                if let Err(error) = self
                    .finish_rebuild(done, consumer.as_mut(), &assigned)
                    .await
                {
                    break Err(error);
                }
            }
            let polled = tokio::select! {
                () = &mut shutdown => break Ok(()),
                Some(()) = self.requests.recv(), if building.is_none() => {
                    match self.start_rebuild() {
                        Ok(started) => building = Some(started),
                        Err(error) => tracing::error!(%error, "cannot start a rebuild"),
                    }
                    continue;
                }
                polled = consumer.poll(self.poll_wait) => polled,
            };
            let polled = match polled {
                Ok(polled) => {
                    poll_failures = 0;
                    polled
                }
                // The position is where it was: wait and poll again, nothing is skipped.
                Err(error) if error.is_retriable() => {
                    poll_failures += 1;
                    tracing::warn!(%error, attempt = poll_failures, "poll failed; retrying");
                    tokio::select! {
                        () = &mut shutdown => break Ok(()),
                        () = tokio::time::sleep(event_log::retry_backoff(poll_failures)) => continue,
                    }
                }
                Err(error) => break Err(error.into()),
            };
            match polled {
                ConsumerEvent::Assigned(partitions) => {
                    let checkpoints = self.store().checkpoints()?;
                    for tp in partitions.iter().filter(|tp| tp.topic == events) {
                        let from = checkpoints.get(&tp.partition).copied().unwrap_or(0);
                        seek_when_assigned(consumer.as_mut(), tp, from).await?;
                    }
                    assigned = partitions;
                }
                ConsumerEvent::Records(records) => {
                    let started = Instant::now();
                    let count = records.len();
                    let store = self.store();
                    let stats = match fold_blocking(&store, records).await {
                        Ok(stats) => stats,
                        Err(error) => break Err(error),
                    };
                    metrics::counter!(crate::metrics::EVENTS_APPLIED).increment(stats.applied);
                    metrics::histogram!(crate::metrics::STEP_SECONDS)
                        .record(started.elapsed().as_secs_f64());
                    tracing::debug!(records = count, applied = stats.applied, "folded");
                    add(&mut lock(&self.counters).steps, stats);
                    self.progress.send_replace(store.checkpoints()?);
                }
                ConsumerEvent::Revoked(_) => assigned.clear(),
                ConsumerEvent::Idle => {}
            }
            let rebuilding = building.is_some();
            self.every_second(consumer.as_mut(), &assigned, rebuilding)
                .await;
        };
        if let Some(building) = building {
            building.task.abort();
        }
        self.store().flush()?;
        outcome
    }

    /// Follows a generation switch made by another instance (PostgreSQL): queries move to
    /// the new live store and the assigned partitions continue from its checkpoints.
    async fn follow_switch(
        &self,
        consumer: &mut dyn event_log::Consumer,
        assigned: &[TopicPartition],
    ) -> Result<(), WorkerError> {
        let live = self.live.clone();
        let switched = tokio::task::spawn_blocking(move || lock(&live).follow_switch())
            .await
            .map_err(|e| WorkerError::Task(e.to_string()))??;
        if switched {
            let checkpoints = self.store().checkpoints()?;
            for tp in assigned {
                let from = checkpoints.get(&tp.partition).copied().unwrap_or(0);
                seek_when_assigned(consumer, tp, from).await?;
            }
            self.progress.send_replace(checkpoints);
        }
        Ok(())
    }

    /// Once per [`LAG_EVERY`]: the lag gauges, and a switch another instance made.
    async fn every_second(
        &mut self,
        consumer: &mut dyn event_log::Consumer,
        assigned: &[TopicPartition],
        building: bool,
    ) {
        if self.lag_recorded.is_some_and(|at| at.elapsed() < LAG_EVERY) {
            return;
        }
        if !building {
            // Tried again a second later; the live store answers meanwhile.
            if let Err(error) = self.follow_switch(consumer, assigned).await {
                tracing::warn!(%error, "checking for a switch of the read models");
            }
        }
        self.record_lag().await;
    }

    async fn record_lag(&mut self) {
        self.lag_recorded = Some(Instant::now());
        let Ok(ends) = self.log.end_offsets(Topic::Events).await else {
            return;
        };
        let Ok(checkpoints) = self.store().checkpoints() else {
            return;
        };
        for (partition, end) in ends.into_iter().enumerate() {
            let checkpoint = checkpoints.get(&(partition as u32)).copied().unwrap_or(0);
            metrics::gauge!(crate::metrics::LAG, "partition" => partition.to_string())
                .set(end.saturating_sub(checkpoint) as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let mut total = StepStats::default();
        let step = StepStats {
            applied: 3,
            duplicates: 1,
            held_back: 2,
            gaps: 1,
            undecodable: 1,
            already_folded: 4,
            conflicts: 2,
        };
        add(&mut total, step);
        add(&mut total, step);
        assert_eq!(total.applied, 6);
        assert_eq!(total.already_folded, 8);
        assert_eq!(total.gaps, 2);
        assert_eq!(total.conflicts, 4);
    }
}
