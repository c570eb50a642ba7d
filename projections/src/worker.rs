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

use event_log::{ConsumerEvent, Log, LogError, Topic, TopicPartition};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::model::{GapAlarm, UndecodableAlarm};
use crate::store::{ProjectionStore, StepStats};
use crate::StoreError;

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

/// Read-side handle: the store, the worker's progress, and the log to measure lag against.
#[derive(Clone)]
pub struct Projections {
    store: ProjectionStore,
    log: Arc<dyn Log>,
    progress: watch::Receiver<BTreeMap<u32, u64>>,
    counters: Arc<Mutex<Counters>>,
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
    pub fn store(&self) -> &ProjectionStore {
        &self.store
    }

    /// Waits until every `(partition, offset)` of the events topic is folded, at most `wait`.
    pub async fn wait_for(
        &self,
        positions: &[(u32, u64)],
        wait: Duration,
    ) -> Result<(), NotReached> {
        let mut progress = self.progress.clone();
        let missing = |checkpoints: &BTreeMap<u32, u64>| -> Vec<(u32, u64)> {
            positions
                .iter()
                .filter(|(p, o)| checkpoints.get(p).is_none_or(|next| next <= o))
                .copied()
                .collect()
        };
        let reached = tokio::time::timeout(wait, async {
            loop {
                if missing(&progress.borrow_and_update()).is_empty() {
                    return;
                }
                if progress.changed().await.is_err() {
                    // The worker stopped; nothing more will be folded.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        match reached {
            Ok(()) => Ok(()),
            Err(_) => Err(NotReached {
                missing: missing(&self.progress.borrow()),
            }),
        }
    }

    /// Lag per partition, alarms, and the fold rate.
    pub async fn status(&self) -> Result<ProjectionStatus, WorkerError> {
        let ends = self.log.end_offsets(Topic::Events).await?;
        let checkpoints = self.store.checkpoints()?;
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
        let gaps = self.store.gaps()?;
        let undecodable = self.store.undecodable()?;
        let counters = *self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let elapsed = counters
            .started
            .map_or(0.0, |started| started.elapsed().as_secs_f64());
        Ok(ProjectionStatus {
            healthy: gaps.is_empty() && undecodable.is_empty(),
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
pub async fn catch_up(log: &dyn Log, store: &ProjectionStore) -> Result<StepStats, WorkerError> {
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

fn add(total: &mut StepStats, step: StepStats) {
    total.applied += step.applied;
    total.duplicates += step.duplicates;
    total.held_back += step.held_back;
    total.gaps += step.gaps;
    total.undecodable += step.undecodable;
    total.already_folded += step.already_folded;
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

/// Follows the events topic into a store.
pub struct ProjectionWorker {
    log: Arc<dyn Log>,
    store: ProjectionStore,
    group: String,
    poll_wait: Duration,
    progress: watch::Sender<BTreeMap<u32, u64>>,
    counters: Arc<Mutex<Counters>>,
}

impl ProjectionWorker {
    /// A worker for `store` in consumer group `group` (one per store: every instance folds
    /// every partition), and the handle queries use.
    pub fn new(
        log: Arc<dyn Log>,
        store: ProjectionStore,
        group: impl Into<String>,
    ) -> Result<(ProjectionWorker, Projections), WorkerError> {
        let (progress, receiver) = watch::channel(store.checkpoints()?);
        let counters = Arc::new(Mutex::new(Counters {
            steps: StepStats::default(),
            started: Some(Instant::now()),
        }));
        let handle = Projections {
            store: store.clone(),
            log: log.clone(),
            progress: receiver,
            counters: counters.clone(),
        };
        Ok((
            ProjectionWorker {
                log,
                store,
                group: group.into(),
                poll_wait: Duration::from_millis(200),
                progress,
                counters,
            },
            handle,
        ))
    }

    /// Folds until `shutdown` completes, then flushes the store.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), WorkerError> {
        tokio::pin!(shutdown);
        let mut consumer = self.log.consumer(&self.group, &[Topic::Events]).await?;
        let events = self.log.topics().name(Topic::Events);
        let outcome = loop {
            let polled = tokio::select! {
                () = &mut shutdown => break Ok(()),
                polled = consumer.poll(self.poll_wait) => polled,
            };
            match polled? {
                ConsumerEvent::Assigned(partitions) => {
                    let checkpoints = self.store.checkpoints()?;
                    for tp in partitions.iter().filter(|tp| tp.topic == events) {
                        let from = checkpoints.get(&tp.partition).copied().unwrap_or(0);
                        consumer.seek(tp, from).await?;
                    }
                }
                ConsumerEvent::Records(records) => {
                    let started = Instant::now();
                    let count = records.len();
                    let stats = match fold_blocking(&self.store, records).await {
                        Ok(stats) => stats,
                        Err(error) => break Err(error),
                    };
                    metrics::counter!("ledger_projection_events_applied_total")
                        .increment(stats.applied);
                    metrics::histogram!("ledger_projection_step_seconds")
                        .record(started.elapsed().as_secs_f64());
                    tracing::debug!(records = count, applied = stats.applied, "folded");
                    {
                        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
                        add(&mut counters.steps, stats);
                    }
                    self.progress.send_replace(self.store.checkpoints()?);
                    self.record_lag().await;
                }
                ConsumerEvent::Revoked(_) => {}
                ConsumerEvent::Idle => self.record_lag().await,
            }
        };
        self.store.flush()?;
        outcome
    }

    async fn record_lag(&self) {
        let Ok(ends) = self.log.end_offsets(Topic::Events).await else {
            return;
        };
        let Ok(checkpoints) = self.store.checkpoints() else {
            return;
        };
        for (partition, end) in ends.into_iter().enumerate() {
            let checkpoint = checkpoints.get(&(partition as u32)).copied().unwrap_or(0);
            metrics::gauge!("ledger_projection_lag", "partition" => partition.to_string())
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
        };
        add(&mut total, step);
        add(&mut total, step);
        assert_eq!(total.applied, 6);
        assert_eq!(total.already_folded, 8);
        assert_eq!(total.gaps, 2);
    }
}
