//! The embedded backend: Kafka's semantics on one machine, in a journal of its own.
//!
//! Every commit — records to any partitions plus consumer offsets, or a group of publishes —
//! is one CRC-checked frame appended to the journal and made durable with one `fdatasync`
//! before `commit` returns (`journal.rs` has the format and the crash argument). Consumer
//! groups, rebalances and producer fencing are kept in memory by the one process that writes
//! the directory (a lock file refuses a second writer). Readers open it read-only: they never
//! write a byte of it. A directory an older build wrote with sled is migrated by the first
//! writer that opens it (`migrate.rs`).

mod group;
mod journal;
mod migrate;
mod store;
mod syncer;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::port::{
    ConsumedOffsets, Consumer, ConsumerEvent, GroupToken, LogError, LogReader, LogWriter, Producer,
};
use crate::record::{OutgoingRecord, Position, StoredRecord};
use crate::topic::{check_partition_counts, Topic, TopicPartition, Topics};
use group::Groups;
use journal::{Appended, Journal};
use syncer::Syncer;

/// Most records one poll returns.
const POLL_BATCH_MAX: usize = 500;

/// A log in a local directory.
#[derive(Clone)]
pub struct EmbeddedLog {
    shared: Arc<Shared>,
}

struct Shared {
    journal: Arc<Journal>,
    topics: Topics,
    /// Partition count of every topic of the deployment, by name.
    partitions: BTreeMap<String, u32>,
    /// Serialises commits, so offsets are handed out in order, and holds the writer's
    /// partition ends.
    commit: Arc<tokio::sync::Mutex<Ends>>,
    /// Publishes waiting for the commit lock: whoever takes it commits all of them at once
    /// (group commit), so concurrent publishers share one write and one sync.
    publishes: Mutex<Vec<Publish>>,
    groups: Mutex<Groups>,
    /// Current epoch of every transactional id; a producer with an older one is fenced.
    producer_epochs: Mutex<HashMap<String, u64>>,
    /// Woken on every commit and rebalance.
    changed: Arc<Notify>,
    /// Makes written frames durable and shows them to readers.
    syncer: Syncer,
}

/// The offset the next record of a partition gets, for every partition a frame was written
/// to since the log was opened: frames not yet durable (and not yet in the journal's index)
/// included.
type Ends = HashMap<TopicPartition, u64>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; keep serving.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in `path` for writing. Existing topics keep their
    /// partition counts; missing ones are created with `topics.partitions`.
    pub fn open(path: &Path, topics: Topics) -> Result<EmbeddedLog, LogError> {
        EmbeddedLog::open_with(path, topics, true)
    }

    /// Opens the log in `path` as a reader: it must exist and hold every topic of `topics`
    /// (their partition counts are read from it). Nothing in the directory is written.
    pub fn open_existing(path: &Path, topics: Topics) -> Result<EmbeddedLog, LogError> {
        EmbeddedLog::open_with(path, topics, false)
    }

    fn open_with(path: &Path, topics: Topics, write: bool) -> Result<EmbeddedLog, LogError> {
        let wanted: Vec<(String, u32)> = Topic::ALL
            .iter()
            .map(|&topic| (topics.name(topic), topics.partitions))
            .collect();
        if !Journal::exists(path) {
            no_journal_yet(path, write, &wanted)?;
        }
        let journal = Journal::open(path, write, &wanted)?;
        let partitions = journal.layout.partitions();
        for (name, _) in &wanted {
            if !partitions.contains_key(name) {
                return Err(LogError::NotFound {
                    what: format!("topic {name} in the log in {}", path.display()),
                });
            }
        }
        check_partition_counts(
            partitions[&topics.name(Topic::Commands)],
            partitions[&topics.name(Topic::Events)],
        )?;
        let journal = Arc::new(journal);
        let changed = Arc::new(Notify::new());
        let syncer = Syncer::start(journal.clone(), write, changed.clone())?;
        Ok(EmbeddedLog {
            shared: Arc::new(Shared {
                journal,
                topics,
                partitions,
                commit: Arc::new(tokio::sync::Mutex::new(Ends::new())),
                publishes: Mutex::new(Vec::new()),
                groups: Mutex::new(Groups::default()),
                producer_epochs: Mutex::new(HashMap::new()),
                changed,
                syncer,
            }),
        })
    }
}

/// A directory without a journal: an older build's sled log is migrated (by a writer; a
/// reader is told how), a writer creates an empty journal, a reader finds nothing.
fn no_journal_yet(path: &Path, write: bool, wanted: &[(String, u32)]) -> Result<(), LogError> {
    if migrate::is_sled_log(path) {
        if !write {
            return Err(LogError::NotFound {
                what: format!(
                    "an embedded log in {} in this build's format: it holds one an older build wrote with sled, which the first writer to open it (`ledger serve --data {0}`, say) converts",
                    path.display()
                ),
            });
        }
        migrate::migrate(path)?;
    } else if write {
        if path.exists() && !path.is_dir() {
            return Err(LogError::Storage(format!(
                "opening the embedded log in {}: Not a directory",
                path.display()
            )));
        }
        std::fs::create_dir_all(path).map_err(|error| {
            LogError::Storage(format!(
                "creating the embedded log in {}: {error}",
                path.display()
            ))
        })?;
        Journal::create(path, wanted.to_vec())?;
    } else {
        let why = match std::fs::metadata(path) {
            Ok(metadata) if !metadata.is_dir() => ": Not a directory",
            Ok(_) => ": the directory holds no log",
            Err(_) => ": no such directory",
        };
        return Err(LogError::NotFound {
            what: format!("an embedded log in {}{why}", path.display()),
        });
    }
    Ok(())
}

impl Shared {
    fn partition_of(&self, record: &OutgoingRecord) -> Result<TopicPartition, LogError> {
        let partition = record.partition_in(&self.partitions)?;
        Ok(TopicPartition::new(record.topic.clone(), partition))
    }

    fn read(
        &self,
        tp: &TopicPartition,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.journal.read(tp, from, max)
    }

    fn committed(&self, group: &str, tp: &TopicPartition) -> Result<u64, LogError> {
        self.journal.committed(group, tp)
    }

    /// Gives `records` their offsets: `next` for partitions this transaction already placed
    /// records on (updated), else the partition's end. The caller holds the commit lock
    /// (`ends`), so nobody else moves the ends meanwhile.
    fn place(
        &self,
        ends: &Ends,
        next: &mut HashMap<TopicPartition, u64>,
        records: impl IntoIterator<Item = (TopicPartition, OutgoingRecord)>,
    ) -> Result<Vec<Placed>, LogError> {
        records
            .into_iter()
            .map(|(partition, record)| {
                let offset = match next.get_mut(&partition) {
                    Some(offset) => offset,
                    None => {
                        let end = match ends.get(&partition) {
                            Some(&end) => end,
                            None => self.journal.end(&partition)?,
                        };
                        next.entry(partition.clone()).or_insert(end)
                    }
                };
                let placed = Placed {
                    partition,
                    offset: *offset,
                    record,
                };
                *offset += 1;
                Ok(placed)
            })
            .collect()
    }

    /// Writes placed records and `offsets` as one journal frame behind every frame written
    /// before it, and moves `ends` past the records. The caller holds the commit lock
    /// (`ends`), placed the records under it and waited until every frame before is durable
    /// ([`Syncer::settled`]). Returns where the records are and the
    /// frame's sequence number (`None`: nothing to write), durable once [`Syncer::durable`]
    /// says so.
    fn write(
        self: &Arc<Self>,
        ends: &mut Ends,
        placed: Vec<Placed>,
        offsets: &[ConsumedOffsets],
    ) -> Result<(Vec<Position>, Option<u64>), LogError> {
        let timestamp = now_ms();
        let appended: Vec<Appended<'_>> = placed
            .iter()
            .map(|p| Appended {
                partition: &p.partition,
                offset: p.offset,
                timestamp_ms: timestamp,
                key: p.record.key.as_bytes(),
                headers: &p.record.headers,
                payload: &p.record.payload,
            })
            .collect();
        let offset_writes: Vec<(&str, &TopicPartition, u64)> = offsets
            .iter()
            .filter_map(|consumed| {
                let membership = consumed.group.of::<Membership>()?;
                Some((membership.group.as_str(), &consumed.offsets))
            })
            .flat_map(|(group, list)| list.iter().map(move |(tp, next)| (group, tp, *next)))
            .collect();
        let frame = self.journal.frame(&appended, &offset_writes)?;
        drop(appended);
        let seq = match frame {
            Some(frame) => {
                let seq = self.journal.write(frame)?;
                self.syncer.request();
                Some(seq)
            }
            None => None,
        };
        let positions = placed
            .into_iter()
            .map(|p| {
                ends.insert(p.partition.clone(), p.offset + 1);
                Position {
                    topic: p.partition.topic,
                    partition: p.partition.partition,
                    offset: p.offset,
                }
            })
            .collect();
        Ok((positions, seq))
    }
}

#[async_trait]
impl LogReader for EmbeddedLog {
    fn topics(&self) -> &Topics {
        &self.shared.topics
    }

    fn partitions(&self, topic: Topic) -> u32 {
        self.shared.partitions[&self.shared.topics.name(topic)]
    }

    async fn read(
        &self,
        partition: &TopicPartition,
        from_offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.shared.read(partition, from_offset, max_records)
    }

    /// The ends as of one commit (the journal takes a frame's records and consumer offsets
    /// into its index at once, after the frame is durable; a reader never waits for a write).
    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError> {
        let name = self.shared.topics.name(topic);
        let count = self.shared.partitions[&name];
        let tps: Vec<TopicPartition> = (0..count)
            .map(|p| TopicPartition::new(name.clone(), p))
            .collect();
        self.shared.journal.ends(&tps)
    }

    async fn wait_for_records(
        &self,
        topic: Topic,
        seen: &[u64],
        max_wait: Duration,
    ) -> Result<(), LogError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            // Armed before the ends are read, so a commit in between still wakes this wait.
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let ends = self.end_offsets(topic).await?;
            if crate::port::past(&ends, seen) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Ok(());
            }
        }
    }

    async fn committed_offsets(&self, group: &str, topic: Topic) -> Result<Vec<u64>, LogError> {
        let name = self.shared.topics.name(topic);
        let count = self.shared.partitions[&name];
        let tps: Vec<TopicPartition> = (0..count)
            .map(|p| TopicPartition::new(name.clone(), p))
            .collect();
        self.shared.journal.committed_all(group, &tps)
    }
}

#[async_trait]
impl LogWriter for EmbeddedLog {
    /// A transaction holds the commit lock from `begin` to `commit`: its offsets are handed
    /// out at `send`, and nobody else's records come between.
    fn positions_at_send(&self) -> bool {
        true
    }

    async fn consumer(&self, group: &str, topics: &[Topic]) -> Result<Box<dyn Consumer>, LogError> {
        let names: Vec<String> = topics.iter().map(|&t| self.shared.topics.name(t)).collect();
        let member = lock(&self.shared.groups).join(group, names, &self.shared.partitions);
        self.shared.changed.notify_waiters();
        Ok(Box::new(EmbeddedConsumer {
            shared: self.shared.clone(),
            group: group.to_owned(),
            member,
            generation: 0,
            assigned: Vec::new(),
            positions: HashMap::new(),
            pending: VecDeque::new(),
        }))
    }

    async fn producer(&self, transactional_id: &str) -> Result<Box<dyn Producer>, LogError> {
        let mut epochs = lock(&self.shared.producer_epochs);
        let epoch = epochs.entry(transactional_id.to_owned()).or_insert(0);
        *epoch += 1;
        Ok(Box::new(EmbeddedProducer {
            shared: self.shared.clone(),
            transactional_id: transactional_id.to_owned(),
            epoch: *epoch,
            transaction: None,
        }))
    }

    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Position>, LogError> {
        let routed = records
            .into_iter()
            .map(|record| Ok((self.shared.partition_of(&record)?, record)))
            .collect::<Result<Vec<_>, LogError>>()?;
        let (done, answer) = tokio::sync::oneshot::channel();
        lock(&self.shared.publishes).push(Publish { routed, done });
        tokio::pin!(answer);
        let unanswered =
            || LogError::Storage("the group commit ended without an answer".to_owned());
        // Whoever holds the commit lock next takes this publish into its frame (a transaction
        // or another publisher): answered by then, this one leaves the lock's queue.
        let serial = tokio::select! {
            biased;
            answered = &mut answer => return answered.unwrap_or_else(|_| Err(unanswered())),
            serial = self.shared.commit.clone().lock_owned() => serial,
        };
        if !lock(&self.shared.publishes).is_empty() {
            // Its own task, so a caller that stops waiting cannot cut the group's commit short
            // and leave the others without an answer.
            let shared = self.shared.clone();
            tokio::spawn(async move { shared.commit_publishes(serial).await });
        }
        answer.await.unwrap_or_else(|_| Err(unanswered()))
    }
}

struct EmbeddedConsumer {
    shared: Arc<Shared>,
    group: String,
    member: u64,
    /// The group generation this consumer's assignment belongs to.
    generation: u64,
    assigned: Vec<TopicPartition>,
    positions: HashMap<TopicPartition, u64>,
    pending: VecDeque<ConsumerEvent>,
}

impl EmbeddedConsumer {
    /// Takes up a new group generation: revoke the old assignment, assign the new one at the
    /// committed offsets.
    async fn follow_rebalance(&mut self) -> Result<(), LogError> {
        let (generation, assignment) =
            lock(&self.shared.groups).assignment(&self.group, self.member);
        if generation == self.generation {
            return Ok(());
        }
        // The last owner's commits, written before this generation began, are what the
        // committed offsets below must include.
        self.shared.syncer.settled().await?;
        self.generation = generation;
        let revoked = std::mem::take(&mut self.assigned);
        self.positions.clear();
        for tp in &assignment {
            self.positions
                .insert(tp.clone(), self.shared.committed(&self.group, tp)?);
        }
        self.assigned = assignment;
        if !revoked.is_empty() {
            self.pending.push_back(ConsumerEvent::Revoked(revoked));
        }
        if !self.assigned.is_empty() {
            self.pending
                .push_back(ConsumerEvent::Assigned(self.assigned.clone()));
        }
        Ok(())
    }

    fn read_batch(&mut self) -> Result<Vec<StoredRecord>, LogError> {
        let mut batch = Vec::new();
        for tp in &self.assigned {
            let room = POLL_BATCH_MAX - batch.len();
            if room == 0 {
                break;
            }
            let position = self.positions[tp];
            let records = self.shared.read(tp, position, room)?;
            if let Some(last) = records.last() {
                self.positions.insert(tp.clone(), last.next_offset());
            }
            batch.extend(records);
        }
        Ok(batch)
    }
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&mut self, max_wait: Duration) -> Result<ConsumerEvent, LogError> {
        let deadline = tokio::time::Instant::now() + max_wait;
        let shared = self.shared.clone();
        loop {
            let changed = shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            self.follow_rebalance().await?;
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let batch = self.read_batch()?;
            if !batch.is_empty() {
                return Ok(ConsumerEvent::Records(batch));
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Ok(ConsumerEvent::Idle);
            }
        }
    }

    fn group(&self) -> Result<GroupToken, LogError> {
        Ok(GroupToken::new(Membership {
            group: self.group.clone(),
            member: self.member,
            generation: self.generation,
        }))
    }

    async fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), LogError> {
        if !self.assigned.contains(partition) {
            return Err(LogError::InvalidState {
                operation: "seek",
                state: "on a partition not assigned to this consumer",
            });
        }
        self.positions.insert(partition.clone(), offset);
        Ok(())
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        lock(&self.shared.groups).leave(&self.group, self.member, &self.shared.partitions);
        self.shared.changed.notify_waiters();
    }
}

/// An embedded consumer's group membership, in the [`GroupToken`] a transaction commits its
/// offsets with: the group, and the member and generation the group's owner check wants.
#[derive(Debug)]
struct Membership {
    group: String,
    member: u64,
    generation: u64,
}

/// A publish waiting to be committed with whatever else is waiting then.
struct Publish {
    routed: Vec<(TopicPartition, OutgoingRecord)>,
    done: PublishAnswer,
}

/// Where a publish's records landed, or why they did not.
type PublishAnswer = tokio::sync::oneshot::Sender<Result<Vec<Position>, LogError>>;

/// Publishes taken into a frame, each with how many of its records are there (in order,
/// after whatever else the frame holds).
#[derive(Default)]
struct Riders(Vec<(usize, PublishAnswer)>);

impl Riders {
    fn len(&self) -> usize {
        self.0.iter().map(|(count, _)| count).sum()
    }

    /// Tells each publish where its records landed (the frame's last positions, in order),
    /// or why they did not.
    fn answer(self, written: Result<&[Position], LogError>) {
        match written {
            Ok(positions) => {
                let mut positions = positions.iter();
                for (count, done) in self.0 {
                    let _ = done.send(Ok(positions.by_ref().take(count).cloned().collect()));
                }
            }
            Err(error) => {
                for (_, done) in self.0 {
                    let _ = done.send(Err(error.clone()));
                }
            }
        }
    }
}

impl Shared {
    /// Takes every publish waiting for the commit lock into the frame its holder is about to
    /// write, placed after `next` (the holder's own records): concurrent publishers and a
    /// transaction share one write and one sync. The caller holds the commit lock (`ends`).
    fn take_publishes(
        &self,
        ends: &Ends,
        next: &mut HashMap<TopicPartition, u64>,
    ) -> (Vec<Placed>, Riders) {
        let waiting = std::mem::take(&mut *lock(&self.publishes));
        let mut riders = Riders(Vec::with_capacity(waiting.len()));
        let mut routed = Vec::new();
        for publish in waiting {
            riders.0.push((publish.routed.len(), publish.done));
            routed.extend(publish.routed);
        }
        match self.place(ends, next, routed) {
            Ok(placed) => (placed, riders),
            Err(error) => {
                riders.answer(Err(error));
                (Vec::new(), Riders::default())
            }
        }
    }

    /// Writes a transaction's records and consumer offsets as one frame, with the publishes
    /// waiting for the commit lock after them; returns where the transaction's records are
    /// and the frame's sequence number. The publishes are answered by a task of their own
    /// once the frame is durable. The caller holds the commit lock (`ends`) and waited until
    /// every frame before is durable.
    fn write_transaction(
        self: &Arc<Self>,
        ends: &mut Ends,
        mut records: Vec<Placed>,
        mut next: HashMap<TopicPartition, u64>,
        offsets: &[ConsumedOffsets],
    ) -> Result<(Vec<Position>, Option<u64>), LogError> {
        // Held through the write, so a rebalance either comes before the ownership check or
        // finds the frame written (a consumer that takes partitions over waits for what was
        // written before it reads their committed offsets).
        let groups = lock(&self.groups);
        for consumed in offsets {
            if let Some(Membership {
                group,
                member,
                generation,
            }) = consumed.group.of()
            {
                let partitions: Vec<&TopicPartition> =
                    consumed.offsets.iter().map(|(tp, _)| tp).collect();
                groups.check_owner(group, *member, *generation, &partitions)?;
            }
        }
        let own = records.len();
        let (riding, riders) = self.take_publishes(ends, &mut next);
        records.extend(riding);
        let written = self.write(ends, records, offsets);
        drop(groups);
        let (mut positions, seq) = match written {
            Ok(written) => written,
            Err(error) => {
                riders.answer(Err(error.clone()));
                return Err(error);
            }
        };
        if !riders.0.is_empty() {
            let theirs = positions.split_off(own);
            let shared = self.clone();
            tokio::spawn(async move { shared.finish_publishes(Ok((theirs, seq)), riders).await });
        }
        Ok((positions, seq))
    }

    /// Commits waiting publishes as one write; each learns where its own records landed,
    /// once they are durable. The commit lock (`serial`) is held until the frame is written.
    async fn commit_publishes(self: Arc<Self>, mut serial: tokio::sync::OwnedMutexGuard<Ends>) {
        if let Err(error) = self.syncer.settled().await {
            let (_, riders) = self.take_publishes(&serial, &mut HashMap::new());
            riders.answer(Err(error));
            return;
        }
        let (placed, riders) = self.take_publishes(&serial, &mut HashMap::new());
        tracing::trace!(publishes = riders.0.len(), "group commit");
        let written = self.write(&mut serial, placed, &[]);
        drop(serial);
        self.finish_publishes(written, riders).await;
    }

    /// Answers the publishes of a written frame once it is durable.
    async fn finish_publishes(
        &self,
        written: Result<(Vec<Position>, Option<u64>), LogError>,
        riders: Riders,
    ) {
        let written = match written {
            Ok((positions, Some(seq))) => self.syncer.durable(seq).await.map(|()| positions),
            Ok((positions, None)) => Ok(positions),
            Err(error) => Err(error),
        };
        match &written {
            Ok(positions) => {
                let theirs = positions.len() - riders.len();
                riders.answer(Ok(&positions[theirs..]))
            }
            Err(error) => riders.answer(Err(error.clone())),
        }
    }
}

/// A record with the offset it will have.
struct Placed {
    partition: TopicPartition,
    offset: u64,
    record: OutgoingRecord,
}

/// An open transaction. It holds the log's commit lock from `begin` until its frame is
/// written at `commit` (or until `abort`), so the offsets handed out at `send` are the ones
/// the records get.
struct Transaction {
    records: Vec<Placed>,
    /// Next offset of every partition this transaction placed records on.
    next: HashMap<TopicPartition, u64>,
    offsets: Vec<ConsumedOffsets>,
    ends: tokio::sync::OwnedMutexGuard<Ends>,
}

struct EmbeddedProducer {
    shared: Arc<Shared>,
    transactional_id: String,
    epoch: u64,
    transaction: Option<Transaction>,
}

impl EmbeddedProducer {
    fn check_not_fenced(&self) -> Result<(), LogError> {
        let current = lock(&self.shared.producer_epochs)[&self.transactional_id];
        if current != self.epoch {
            return Err(LogError::Fenced(format!(
                "transactional id {} was taken over (epoch {} > {})",
                self.transactional_id, current, self.epoch
            )));
        }
        Ok(())
    }

    fn transaction(&mut self, operation: &'static str) -> Result<&mut Transaction, LogError> {
        self.transaction.as_mut().ok_or(LogError::InvalidState {
            operation,
            state: "outside a transaction",
        })
    }
}

#[async_trait]
impl Producer for EmbeddedProducer {
    async fn begin(&mut self) -> Result<(), LogError> {
        self.check_not_fenced()?;
        if self.transaction.is_some() {
            return Err(LogError::InvalidState {
                operation: "begin",
                state: "while a transaction is open",
            });
        }
        let ends = self.shared.commit.clone().lock_owned().await;
        self.transaction = Some(Transaction {
            records: Vec::new(),
            next: HashMap::new(),
            offsets: Vec::new(),
            ends,
        });
        Ok(())
    }

    async fn send(&mut self, record: OutgoingRecord) -> Result<(), LogError> {
        let tp = self.shared.partition_of(&record)?;
        let shared = self.shared.clone();
        let transaction = self.transaction("send")?;
        let placed = shared.place(&transaction.ends, &mut transaction.next, [(tp, record)])?;
        transaction.records.extend(placed);
        Ok(())
    }

    async fn send_offsets(&mut self, offsets: ConsumedOffsets) -> Result<(), LogError> {
        if offsets.group.of::<Membership>().is_none() {
            return Err(LogError::Config(
                "a Kafka consumer's offsets cannot commit to an embedded log".to_owned(),
            ));
        }
        self.transaction("send_offsets")?.offsets.push(offsets);
        Ok(())
    }

    /// Writes the transaction's frame (with the publishes waiting for the commit lock) once
    /// the frame before it is durable, lets go of the lock, and returns once the frame is
    /// durable: the next commit places its records during this one's sync.
    async fn commit(&mut self) -> Result<Vec<Position>, LogError> {
        let transaction = self.transaction.take().ok_or(LogError::InvalidState {
            operation: "commit",
            state: "outside a transaction",
        })?;
        self.check_not_fenced()?;
        let Transaction {
            records,
            next,
            offsets,
            mut ends,
        } = transaction;
        // One frame at most is written and not yet durable: a crash can tear only the last.
        self.shared.syncer.settled().await?;
        let (positions, seq) = self
            .shared
            .write_transaction(&mut ends, records, next, &offsets)?;
        drop(ends);
        if let Some(seq) = seq {
            self.shared.syncer.durable(seq).await?;
        }
        Ok(positions)
    }

    async fn sent_positions(&mut self) -> Result<Vec<Position>, LogError> {
        Ok(self
            .transaction("sent_positions")?
            .records
            .iter()
            .map(|p| Position {
                topic: p.partition.topic.clone(),
                partition: p.partition.partition,
                offset: p.offset,
            })
            .collect())
    }

    async fn abort(&mut self) -> Result<(), LogError> {
        self.transaction = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Headers;

    fn record(topic: &str, body: &str) -> OutgoingRecord {
        let headers = Headers::for_message(crate::record::CONTENT_TYPE_JSON, "Test", 1);
        OutgoingRecord::new(topic, "k", headers, body.as_bytes().to_vec())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publishes_waiting_for_a_transaction_ride_in_its_frame() {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(dir.path(), Topics::new("t", 2).unwrap()).unwrap();
        let commands = log.topics().name(Topic::Commands);
        let mut producer = log.producer("p").await.unwrap();
        producer.begin().await.unwrap();
        producer.send(record(&commands, "tx")).await.unwrap();
        let publishing: Vec<_> = (0..3)
            .map(|n| {
                let (log, commands) = (log.clone(), commands.clone());
                tokio::spawn(
                    async move { log.publish(vec![record(&commands, &format!("p{n}"))]).await },
                )
            })
            .collect();
        while lock(&log.shared.publishes).len() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let committed = producer.commit().await.unwrap();
        let mut offsets = vec![committed[0].offset];
        for publishing in publishing {
            let positions = publishing.await.unwrap().unwrap();
            offsets.push(positions[0].offset);
        }
        assert_eq!(offsets[0], 0);
        offsets.sort_unstable();
        assert_eq!(
            offsets,
            [0, 1, 2, 3],
            "the publishes follow the transaction"
        );
        assert_eq!(
            log.shared.journal.written(),
            1,
            "one frame, one sync for the transaction and the publishes"
        );
        let tp = TopicPartition::new(&commands, committed[0].partition);
        let stored = log.read(&tp, 0, 10).await.unwrap();
        let mut bodies: Vec<&[u8]> = stored.iter().map(|r| r.payload.as_slice()).collect();
        bodies[1..].sort_unstable();
        assert_eq!(bodies, [&b"tx"[..], b"p0", b"p1", b"p2"]);
    }
}
