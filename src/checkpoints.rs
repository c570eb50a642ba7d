//! The checkpoints a serve publishes: the log's Merkle tree heads (`replay_tool::checkpoint`),
//! maintained incrementally as the log grows — each record is read and hashed once — signed
//! with the deployment's key, and published on a schedule and on demand: to the
//! `<prefix>.checkpoints` topic on Kafka, to `<data>/checkpoints.jsonl` on the embedded log.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use event_log::kafka::SideTopic;
use event_log::{LogReader, Topic, TopicPartition};
use replay_tool::checkpoint::{Checkpoint, LogTrees};
use replay_tool::proof::{self, Proof, ProofError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::background::Background;

/// The file beside an embedded log's data that checkpoints are appended to.
pub const CHECKPOINTS_FILE: &str = "checkpoints.jsonl";
/// The suffix of the Kafka topic checkpoints are published to.
pub const CHECKPOINTS_TOPIC: &str = "checkpoints";

/// Where checkpoints go.
pub enum Sink {
    /// Appended as a line each, and synced.
    File(PathBuf),
    Kafka(SideTopic),
}

impl Sink {
    async fn publish(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        let line = serde_json::to_string(checkpoint).map_err(|e| e.to_string())?;
        match self {
            Sink::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || append_line(&path, &line))
                    .await
                    .map_err(|e| e.to_string())?
            }
            Sink::Kafka(topic) => topic
                .append("checkpoint", line.as_bytes())
                .await
                .map_err(|e| format!("publishing to {}: {e}", topic.name())),
        }
    }
}

fn append_line(path: &std::path::Path, line: &str) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    writeln!(file, "{line}")
        .and_then(|()| file.sync_data())
        .map_err(|e| format!("appending to {}: {e}", path.display()))
}

/// The log's trees, grown from where the last checkpoint left them.
pub struct Checkpointer {
    log: Arc<dyn LogReader>,
    trees: LogTrees,
    /// Per events partition, the next offset to read.
    next: Vec<u64>,
    key: Option<SigningKey>,
    sink: Sink,
}

impl Checkpointer {
    pub async fn new(
        log: Arc<dyn LogReader>,
        key: Option<SigningKey>,
        sink: Sink,
    ) -> Result<Checkpointer, event_log::LogError> {
        let partitions = log.end_offsets(Topic::Events).await?.len();
        Ok(Checkpointer {
            log,
            trees: LogTrees::new(partitions),
            next: vec![0; partitions],
            key,
            sink,
        })
    }

    /// Reads what was committed since the last call, up to the ends asked for first, into the
    /// trees. A read may return records committed after the ends were asked for; they are
    /// left for the next call, and `next` stays on the first of them — a record read past
    /// and not hashed would be missing from the trees for good.
    async fn grow(&mut self) -> Result<(), event_log::LogError> {
        let topic = self.log.topics().name(Topic::Events);
        let ends = self.log.end_offsets(Topic::Events).await?;
        for (partition, &end) in ends.iter().enumerate().take(self.next.len()) {
            let tp = TopicPartition::new(topic.clone(), partition as u32);
            while self.next[partition] < end {
                let records = self.log.read(&tp, self.next[partition], 1000).await?;
                let within: Vec<_> = records.iter().take_while(|r| r.offset < end).collect();
                let Some(last) = within.last() else { break };
                self.next[partition] = last.next_offset();
                for record in within {
                    self.trees.push(record.partition, &record.payload);
                }
            }
        }
        Ok(())
    }

    /// Brings the trees up to the log's end, signs their heads and publishes them.
    pub async fn publish(&mut self) -> Result<Checkpoint, String> {
        self.grow().await.map_err(|e| e.to_string())?;
        let mut checkpoint = self.trees.checkpoint();
        if let Some(key) = &self.key {
            checkpoint = checkpoint.signed(key, std::time::SystemTime::now().into());
        }
        self.sink.publish(&checkpoint).await?;
        metrics::counter!("ledger_checkpoints_published_total").increment(1);
        metrics::gauge!("ledger_checkpoint_records").set(checkpoint.records() as f64);
        tracing::info!(root = %checkpoint.root, records = checkpoint.records(), "checkpoint published");
        Ok(checkpoint)
    }
}

/// How a serve publishes checkpoints.
pub struct CheckpointOptions {
    /// Between two scheduled checkpoints; `None`: only on request.
    pub interval: Option<Duration>,
    pub key: Option<SigningKey>,
    pub sink: Sink,
    /// A reader of the log of the publisher's own; `None`: the serve's log. On Kafka the
    /// serve's reader is one consumer behind a lock, which the handler's catch-up also reads
    /// through; the publisher's reads of whole partitions get a connection of their own so
    /// neither waits on the other.
    pub reader: Option<Arc<dyn LogReader>>,
}

/// A request for a checkpoint now, answered with it (or why none could be published).
type Request = oneshot::Sender<Result<Checkpoint, String>>;

/// A serve's handle on its checkpoint publisher: a checkpoint now, or the last one published.
#[derive(Clone)]
pub struct Publisher {
    requests: mpsc::Sender<Request>,
    latest: watch::Receiver<Option<Checkpoint>>,
}

impl Publisher {
    /// Publishes a checkpoint of the log as it is now, and answers it.
    pub async fn publish_now(&self) -> Result<Checkpoint, String> {
        let stopped = || "the checkpoint publisher stopped".to_owned();
        let (answer, answered) = oneshot::channel();
        self.requests.send(answer).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    /// The last checkpoint this serve published, if it published one yet.
    pub fn latest(&self) -> Option<Checkpoint> {
        self.latest.borrow().clone()
    }
}

/// Why a served proof could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("no checkpoint to prove against could be published: {0}")]
    Publish(String),
}

/// The inclusion proof of `event_id` (`replay_tool::proof`) against the last checkpoint this
/// serve published, or a new one when the event came after it or none was published yet: so
/// every proof a serve hands out is anchored in a checkpoint it published (signed when it has
/// a key). Without a publisher, against the log as it is now, unsigned. Reads the whole log.
pub async fn prove(
    log: &dyn LogReader,
    publisher: Option<&Publisher>,
    event_id: uuid::Uuid,
) -> Result<Proof, ProveError> {
    let Some(publisher) = publisher else {
        return Ok(proof::prove(log, event_id, None, None).await?);
    };
    if let Some(latest) = publisher.latest() {
        match proof::prove(log, event_id, Some(latest), None).await {
            Err(ProofError::AfterCheckpoint { .. }) => {}
            done => return Ok(done?),
        }
    }
    let fresh = publisher.publish_now().await.map_err(ProveError::Publish)?;
    Ok(proof::prove(log, event_id, Some(fresh), None).await?)
}

/// Starts publishing checkpoints every `interval` (none: only on request): the handle to ask
/// with, and the task to stop.
pub fn start(
    checkpointer: Checkpointer,
    interval: Option<Duration>,
) -> (Publisher, Background<()>) {
    let (requests, received) = mpsc::channel(16);
    let (published, latest) = watch::channel(None);
    let task = Background::spawn(move |stopped| {
        run(checkpointer, interval, received, published, stopped.wait())
    });
    (Publisher { requests, latest }, task)
}

/// Publishes a checkpoint every `interval` (none: only on request) and on every request,
/// until `stopped`; each one published is also `published`. A failed scheduled checkpoint is
/// logged and tried again at the next tick.
async fn run(
    mut checkpointer: Checkpointer,
    interval: Option<Duration>,
    mut requests: mpsc::Receiver<Request>,
    published: watch::Sender<Option<Checkpoint>>,
    stopped: impl std::future::Future<Output = ()>,
) {
    let mut publish = async || {
        let checkpoint = checkpointer.publish().await;
        if let Ok(checkpoint) = &checkpoint {
            published.send_replace(Some(checkpoint.clone()));
        }
        checkpoint
    };
    tokio::pin!(stopped);
    let mut ticks = interval.map(|every| {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    loop {
        let tick = async {
            match &mut ticks {
                Some(ticks) => {
                    ticks.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut stopped => return,
            () = tick => {
                if let Err(error) = publish().await {
                    tracing::warn!(%error, "publishing a checkpoint failed; trying again at the next tick");
                }
            }
            Some(request) = requests.recv() => {
                let _ = request.send(publish().await);
            }
        }
    }
}

/// Reads a signing key file for `[checkpoints] signing_key`.
pub fn signing_key(path: Option<&std::path::Path>) -> anyhow::Result<Option<SigningKey>> {
    path.map(|path| {
        replay_tool::checkpoint::read_signing_key(path)
            .map_err(|reason| anyhow::anyhow!("[checkpoints] signing_key: {reason}"))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use event_log::{Headers, LogError, StoredRecord, Topics};

    use super::*;

    /// One partition of ten records; the first `end_offsets` answer says 5, as if the last five
    /// were committed between that call and the read that returns them.
    struct LaggingEnd {
        topics: Topics,
        records: Vec<StoredRecord>,
        lagged: AtomicBool,
    }

    impl LaggingEnd {
        fn new() -> LaggingEnd {
            let topics = Topics::new("lag", 1).unwrap();
            let records = (0..10)
                .map(|offset| StoredRecord {
                    topic: topics.name(Topic::Events),
                    partition: 0,
                    offset,
                    key: None,
                    headers: Headers::default(),
                    payload: format!("record {offset}").into_bytes(),
                    timestamp_ms: 0,
                })
                .collect();
            LaggingEnd {
                topics,
                records,
                lagged: AtomicBool::new(false),
            }
        }
    }

    #[async_trait::async_trait]
    impl LogReader for LaggingEnd {
        fn topics(&self) -> &Topics {
            &self.topics
        }

        fn partitions(&self, _: Topic) -> u32 {
            1
        }

        async fn read(
            &self,
            _: &TopicPartition,
            from: u64,
            max: usize,
        ) -> Result<Vec<StoredRecord>, LogError> {
            Ok(self
                .records
                .iter()
                .skip(from as usize)
                .take(max)
                .cloned()
                .collect())
        }

        async fn end_offsets(&self, _: Topic) -> Result<Vec<u64>, LogError> {
            let lagged = self.lagged.swap(true, Ordering::SeqCst);
            Ok(vec![if lagged { 10 } else { 5 }])
        }

        async fn committed_offsets(&self, _: &str, _: Topic) -> Result<Vec<u64>, LogError> {
            Ok(vec![0])
        }
    }

    #[tokio::test]
    async fn a_record_committed_while_the_trees_grow_is_hashed_at_the_next_checkpoint() {
        let log = Arc::new(LaggingEnd::new());
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::File(dir.path().join(CHECKPOINTS_FILE));
        let mut checkpointer = Checkpointer::new(log.clone(), None, sink).await.unwrap();
        // Checkpointer::new asked for the ends once; the first grow sees the lagging 5.
        log.lagged.store(false, Ordering::SeqCst);
        let first = checkpointer.publish().await.unwrap();
        let second = checkpointer.publish().await.unwrap();
        let whole = replay_tool::checkpoint::checkpoint(log.as_ref())
            .await
            .unwrap();
        assert_eq!(
            first.records(),
            5,
            "the first checkpoint covers the end it was given"
        );
        assert_eq!(second.records(), 10);
        assert_eq!(
            second.root, whole.root,
            "the trees are the log's, record for record"
        );
    }
}
