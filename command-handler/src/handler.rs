//! The handler loop: consume commands, decide, append events and results with the input
//! offsets in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use event_log::{
    ConsumedOffsets, Consumer, ConsumerEvent, GroupToken, Headers, Log, LogError, OutgoingRecord,
    Position, Producer, StoredRecord, Topic, TopicPartition, CONTENT_TYPE_BINCODE,
};
use order_events::codec::{self, EventFormat, SealedEvent};
use order_events::ids::OrderId;
use order_events::ledger::MemoryLedger;
use order_events::process::ProcessRules;
use order_events::process::TimerKind;
use order_events::{CommandEnvelope, Policy};

use crate::clock::Clock;
use crate::dead_letter::dead_letter;
use crate::inbox::{Mailbox, Submission};
use crate::metrics as m;
use crate::partition::{Decided, OwnedStock, PartitionState};
use crate::result::{CommandResult, EventRef, Outcome, ResultRecord};
use crate::shutdown::{Backoff, Shutdown};
use crate::store::{CommandKey, StateStore, StoreError, Write};
use order_events::envelope::AggregateRef;

#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// Consumer group of all handler instances of a deployment.
    pub group: String,
    /// This instance's stable name; its transactional id is `<group>-<instance_id>`, so a
    /// restarted instance fences its own zombie.
    pub instance_id: String,
    /// Most commands decided in one transaction.
    pub batch_size_max: usize,
    /// How long a poll waits for commands before the loop checks for shutdown again.
    pub poll_wait: Duration,
    /// How long to wait for more commands when a poll brings fewer than `batch_size_max`, so
    /// a transaction carries more of them: throughput for at most this much latency. Zero:
    /// decide what is there at once.
    pub linger: Duration,
    pub policy: Policy,
    /// Run the order process: issue the reactions of every decided command and fire due
    /// timers (see `order_events::process`). Off only for tests and tools that drive every
    /// step by hand.
    pub process: bool,
    /// Decide the order process's commands in the transaction that issued them, where the
    /// log allows it (`LogWriter::positions_at_send`); off: each waits for the next poll. Either
    /// way every partition is decided in its log order; what changes is how the process's
    /// steps interleave with timers fired meanwhile, so a driver that replays a schedule to
    /// reproduce a log byte for byte (the demo) turns it off.
    pub decide_in_place: bool,
    /// Warehouse and carrier tables and the shortage policy of the order process.
    pub rules: ProcessRules,
    /// Most aggregates held in memory per partition; the rest live in the state store and
    /// are loaded when a command needs them.
    pub cache_aggregates_max: usize,
    /// Where the state store (snapshots, decided commands, deadlines) lives; `None`: a
    /// temporary one, so every start catches up from the beginning of the log.
    pub state_dir: Option<PathBuf>,
    /// Committed events between two writes of the state store: snapshots of the aggregates
    /// changed since, the decided commands and the checkpoints. A restart folds at most about
    /// this many events of a partition's tail.
    pub snapshot_every_events: usize,
    /// The format new event records are written in (`[log] event_format`).
    pub event_format: EventFormat,
}

impl Default for HandlerConfig {
    fn default() -> HandlerConfig {
        HandlerConfig {
            group: "order-ledger-handler".to_owned(),
            instance_id: "0".to_owned(),
            batch_size_max: 500,
            poll_wait: Duration::from_millis(100),
            linger: Duration::ZERO,
            policy: Policy::default(),
            process: true,
            decide_in_place: true,
            rules: ProcessRules::default(),
            cache_aggregates_max: 100_000,
            state_dir: None,
            snapshot_every_events: 1_000,
            event_format: EventFormat::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the event log is corrupt at {at}: {reason}")]
    Corrupt { at: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl HandlerError {
    /// Whether the handler stops on this error rather than going on: a fenced producer
    /// (another instance took its partitions over), a corrupt log, or a log or state store that
    /// cannot be written (a full disk). Trying again could only spin or guess; a write that
    /// failed left nothing half-done, and a restart goes on from the last commit (the state
    /// store is rebuilt from the log). Anything else failed for the log's sake: the
    /// transaction is rebuilt from the last commit and tried again.
    pub fn stops_the_handler(&self) -> bool {
        matches!(
            self,
            HandlerError::Log(LogError::Fenced(_) | LogError::Storage(_))
                | HandlerError::Corrupt { .. }
                | HandlerError::Store(_)
        )
    }
}

/// Counters since start, for logs and tests. The same figures go to the `metrics` facade
/// (`ledger_commands_total`, `ledger_rejections_total{rule}`, `ledger_batch_size`,
/// `ledger_decide_seconds`, `ledger_catch_up_seconds`, ...), which `ledger serve` exports at
/// `/metrics`; without an installed recorder they cost nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandlerStats {
    pub accepted: u64,
    pub rejected: u64,
    /// Rejections by rule code.
    pub rejected_by_rule: BTreeMap<String, u64>,
    pub duplicates: u64,
    pub dead_lettered: u64,
    /// Committed transactions, and the commands they carried in all (mean batch size =
    /// `commands_committed / transactions`).
    pub transactions: u64,
    pub commands_committed: u64,
    /// Largest number of commands in one committed transaction.
    pub batch_size_max: u64,
    /// Time spent in `decide` (including sealing), in microseconds, over all commands.
    pub decide_us_total: u64,
    /// Partition catch-ups and the time they took, in milliseconds.
    pub catch_ups: u64,
    pub catch_up_ms_total: u64,
    pub recoveries: u64,
    /// Commands the order process issued in reaction to decided commands.
    pub process_commands: u64,
    /// Timer commands published (expiries, automatic confirmations).
    pub timers_fired: u64,
    /// Events folded during catch-ups (the tails after the state store's checkpoints).
    pub catch_up_events: u64,
    /// Most aggregates held in memory by one partition at the end of a transaction.
    pub cached_aggregates_max: u64,
    /// Commands of the order process decided in the transaction that issued them, and
    /// commands of the front door decided in the transaction that recorded them, rather than
    /// after another poll.
    pub decided_in_place: u64,
    /// Commands the front door of this process handed over and a transaction recorded.
    pub submitted: u64,
}

pub struct Handler {
    log: Arc<dyn Log>,
    config: HandlerConfig,
    clock: Arc<dyn Clock>,
    /// Opened when the handler starts running.
    store: Option<StateStore>,
    partitions: BTreeMap<u32, PartitionState>,
    stats: HandlerStats,
    /// Commands the front door of this process hands over ([`Handler::with_inbox`]).
    mailbox: Option<Mailbox>,
}

/// Says why the handler stops, and passes the error on.
fn stopping(error: HandlerError) -> HandlerError {
    tracing::error!(%error, "the command handler stops");
    error
}

/// The next commands handed over through the inbox, if there is one (else never).
async fn next_submissions(mailbox: &mut Option<Mailbox>) -> Vec<Submission> {
    match mailbox {
        Some(mailbox) => mailbox.next().await,
        None => std::future::pending().await,
    }
}

/// Rounds of reactions a transaction decides in place at most (the reservation chain takes
/// four); what is left waits for the next poll.
const IN_PLACE_ROUNDS_MAX: usize = 8;

/// What one transaction gathers while it decides.
#[derive(Default)]
struct Chunk {
    /// The topics records go to, named once per transaction.
    events_topic: String,
    commands_topic: String,
    answers: Vec<Answer>,
    /// Answers by command, for a repeat within the transaction.
    in_chunk: HashMap<CommandKey, usize>,
    /// Records sent so far.
    sent: usize,
    dead: u64,
    process_commands: u64,
    touched: BTreeMap<u32, HashSet<AggregateRef>>,
    /// The process's commands sent and not yet looked at for deciding in place, with their
    /// index among the records sent.
    issued: Vec<(usize, CommandEnvelope)>,
}

/// How one command of a chunk is answered.
enum Answer {
    Decided {
        partition: u32,
        envelope: Box<CommandEnvelope>,
        events: Vec<SealedEvent>,
        /// Index of the first event among the records sent in the transaction.
        first_sent: usize,
        rejection: Option<order_events::Rejection>,
    },
    /// A command id seen before on this aggregate: its original result, sent again if this
    /// is the same command, else a `command_id_reused` refusal.
    Repeat {
        partition: u32,
        envelope: Box<CommandEnvelope>,
        result: CommandResult,
    },
    /// The same command id on the same aggregate earlier in this chunk (answer `of`).
    RepeatInChunk {
        partition: u32,
        envelope: Box<CommandEnvelope>,
        of: usize,
    },
}

/// How a result sent in a transaction relates to the decided commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answered {
    /// Decided now: the first use of its id.
    Decided,
    /// The same command again: its first answer, sent again.
    Repeat,
    /// Another command under a used id: refused, claiming nothing.
    Reused,
}

/// The answer to `repeat`, which carries the id of the command `first` answered: `first`
/// again if it is the same command, else its refusal as `command_id_reused`.
fn answer_repeat(
    first: &CommandResult,
    repeat: &CommandEnvelope,
    decided_at: DateTime<Utc>,
) -> (CommandResult, Answered) {
    let target = repeat.command.target();
    match order_events::idempotency::check_repeat(&first.first_use(target.clone()), repeat) {
        Ok(()) => (first.clone(), Answered::Repeat),
        Err(rejection) => {
            let result = CommandResult {
                command_id: repeat.command_id,
                command_type: repeat.command.type_name().to_owned(),
                aggregate_kind: target.kind.code().to_owned(),
                aggregate_id: target.id,
                outcome: Outcome::Rejected {
                    rule: rejection.rule.code().to_owned(),
                    detail: rejection.detail,
                },
                decided_at,
                command_digest: Some(codec::command_digest(repeat)),
            };
            (result, Answered::Reused)
        }
    }
}

impl Handler {
    pub fn new(log: Arc<dyn Log>, config: HandlerConfig, clock: Arc<dyn Clock>) -> Handler {
        Handler {
            log,
            config,
            clock,
            store: None,
            partitions: BTreeMap::new(),
            stats: HandlerStats::default(),
            mailbox: None,
        }
    }

    /// Takes the commands handed to `mailbox`'s inbox into its transactions: each is recorded
    /// on the commands topic and, where this handler owns its partition and has read all of
    /// it, decided in the same transaction (see [`crate::inbox`]). Only for a log that says
    /// where records land before the commit (`LogWriter::positions_at_send`); elsewhere the
    /// commands are recorded and wait for their poll like published ones.
    pub fn with_inbox(mut self, mailbox: Mailbox) -> Handler {
        self.mailbox = Some(mailbox);
        self
    }

    pub fn stats(&self) -> HandlerStats {
        self.stats.clone()
    }

    fn topic(&self, topic: Topic) -> String {
        self.log.topics().name(topic)
    }

    /// Runs until `shutdown` completes (then finishes the current batch, commits, and leaves
    /// the group) or the producer is fenced.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<HandlerStats, HandlerError> {
        let mut consumer = self
            .log
            .consumer(&self.config.group, &[Topic::Commands])
            .await?;
        self.store = Some(StateStore::open(self.config.state_dir.as_deref())?);
        let transactional_id = format!("{}-{}", self.config.group, self.config.instance_id);
        let mut producer = self.log.producer(&transactional_id).await?;
        tokio::pin!(shutdown);
        let mut shutdown = Shutdown::new(shutdown);
        // An assignment change met while lingering for more records, handled next.
        let mut pending: Option<ConsumerEvent> = None;
        let mut polls = Backoff::new("poll");
        loop {
            let Some((event, submitted)) = self
                .next_event(consumer.as_mut(), &mut shutdown, &mut pending, &mut polls)
                .await?
            else {
                break;
            };
            match event {
                ConsumerEvent::Assigned(partitions) => {
                    if !self.assigned(partitions, &mut shutdown).await? {
                        break;
                    }
                }
                ConsumerEvent::Revoked(partitions) => {
                    for tp in partitions {
                        if let Some(mut state) = self.partitions.remove(&tp.partition) {
                            // Committed state: worth keeping for the next owner's catch-up.
                            state.flush()?;
                        }
                    }
                }
                ConsumerEvent::Records(records) => {
                    self.decide_all(
                        consumer.as_mut(),
                        producer.as_mut(),
                        &records,
                        submitted,
                        &mut shutdown,
                    )
                    .await?;
                }
                // Commands handed over before the partitions are assigned are dropped
                // unanswered (nothing could be decided in place): their front door publishes
                // them.
                ConsumerEvent::Idle if !submitted.is_empty() && !self.partitions.is_empty() => {
                    self.decide_all(
                        consumer.as_mut(),
                        producer.as_mut(),
                        &[],
                        submitted,
                        &mut shutdown,
                    )
                    .await?;
                }
                ConsumerEvent::Idle => {}
            }
            if self.config.process {
                match self.fire_timers(producer.as_mut()).await {
                    Ok(()) => {}
                    Err(error) if error.stops_the_handler() => return Err(stopping(error)),
                    // Not marked fired: the next turn of the loop tries again.
                    Err(error) => tracing::warn!(%error, "firing timers failed; retrying"),
                }
            }
        }
        for state in self.partitions.values_mut() {
            state.flush()?;
        }
        Ok(self.stats)
    }

    /// The next thing to do: what a poll brought (with the records of a linger), or the
    /// commands the front door handed over, with those waiting in the inbox when records
    /// came; `None` once shutdown comes. A poll that failed for the broker's sake is tried
    /// again after a backoff: the position is where it was, so nothing is skipped.
    async fn next_event(
        &mut self,
        consumer: &mut dyn Consumer,
        shutdown: &mut Shutdown<'_, impl Future<Output = ()>>,
        pending: &mut Option<ConsumerEvent>,
        polls: &mut Backoff,
    ) -> Result<Option<(ConsumerEvent, Vec<Submission>)>, HandlerError> {
        if let Some(event) = pending.take() {
            return Ok(Some((event, Vec::new())));
        }
        loop {
            let polled = tokio::select! {
                biased;
                () = shutdown.signalled() => return Ok(None),
                handed = next_submissions(&mut self.mailbox) => return Ok(Some((ConsumerEvent::Idle, handed))),
                polled = consumer.poll(self.config.poll_wait) => polled,
            };
            match polled {
                Ok(ConsumerEvent::Records(records)) => {
                    polls.succeeded();
                    let records = self.linger(consumer, records, pending).await?;
                    let submitted = match &mut self.mailbox {
                        Some(mailbox) => mailbox.ready(crate::inbox::BATCH_MAX),
                        None => Vec::new(),
                    };
                    return Ok(Some((ConsumerEvent::Records(records), submitted)));
                }
                Ok(event) => {
                    polls.succeeded();
                    return Ok(Some((event, Vec::new())));
                }
                Err(error) => {
                    if !polls.after(error, shutdown).await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Catches up every newly assigned partition before deciding anything on it; `false` if
    /// shutdown came first.
    async fn assigned(
        &mut self,
        partitions: Vec<TopicPartition>,
        shutdown: &mut Shutdown<'_, impl Future<Output = ()>>,
    ) -> Result<bool, HandlerError> {
        for tp in partitions {
            let started = Instant::now();
            let mut backoff = Backoff::new("catch-up");
            let mut state = loop {
                match self.catch_up(tp.partition).await {
                    Ok(state) => break state,
                    Err(HandlerError::Log(error)) => {
                        if !backoff.after(error, shutdown).await? {
                            return Ok(false);
                        }
                    }
                    Err(error) => return Err(error),
                }
            };
            // Where this instance decides from: what the process issues to the partition may
            // be decided in place once it follows on from here.
            state.committed_next = self
                .log
                .committed_offsets(&self.config.group, Topic::Commands)
                .await
                .ok()
                .and_then(|offsets| offsets.get(tp.partition as usize).copied());
            self.stats.catch_ups += 1;
            self.stats.catch_up_ms_total += started.elapsed().as_millis() as u64;
            metrics::histogram!(m::CATCH_UP_SECONDS).record(started.elapsed().as_secs_f64());
            tracing::info!(
                partition = tp.partition,
                aggregates = state.ledger.loaded(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "caught up"
            );
            self.partitions.insert(tp.partition, state);
        }
        Ok(true)
    }

    /// Decides polled `records` in transactions of at most a batch, the commands `submitted`
    /// through the inbox with the first. A transaction that failed for the log's sake is
    /// rebuilt from the last commit and its records read again (its submissions are not
    /// recorded: their front door publishes them); an error that
    /// [stops the handler](HandlerError::stops_the_handler) is returned.
    async fn decide_all(
        &mut self,
        consumer: &mut dyn Consumer,
        producer: &mut dyn Producer,
        records: &[StoredRecord],
        mut submitted: Vec<Submission>,
        shutdown: &mut Shutdown<'_, impl Future<Output = ()>>,
    ) -> Result<(), HandlerError> {
        let size = self.config.batch_size_max.max(1);
        let mut start = 0;
        while start < records.len() || !submitted.is_empty() {
            let chunk = &records[start..(start + size).min(records.len())];
            let handed = std::mem::take(&mut submitted);
            match self.process(consumer, producer, chunk, handed).await {
                Ok(()) => {}
                Err(error) if error.stops_the_handler() => return Err(stopping(error)),
                Err(error) => {
                    tracing::warn!(%error, "transaction failed; rebuilding and retrying");
                    // Rewind every partition of this chunk and of the rest of the poll: all
                    // of it is read again from the last commit. Shutdown meanwhile leaves
                    // the rest to the next start, which reads on from the last commit too.
                    let unprocessed = &records[start..];
                    self.recover_with_retries(consumer, unprocessed, shutdown)
                        .await?;
                    return Ok(());
                }
            }
            start += chunk.len();
        }
        Ok(())
    }

    /// [`recover`](Self::recover)s, again after a backoff while that fails for the log's
    /// sake, until it succeeds or shutdown comes.
    async fn recover_with_retries(
        &mut self,
        consumer: &mut dyn Consumer,
        unprocessed: &[StoredRecord],
        shutdown: &mut Shutdown<'_, impl Future<Output = ()>>,
    ) -> Result<(), HandlerError> {
        let mut backoff = Backoff::new("recovery");
        loop {
            match self.recover(consumer, unprocessed).await {
                Ok(()) => return Ok(()),
                Err(HandlerError::Log(error)) => {
                    if !backoff.after(error, shutdown).await? {
                        return Ok(());
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// With a linger, waits a little for more records when a poll brought fewer than a
    /// batch, so one transaction carries a fuller one. An assignment change met meanwhile is
    /// left in `pending` for the loop to handle next.
    async fn linger(
        &self,
        consumer: &mut dyn Consumer,
        mut records: Vec<StoredRecord>,
        pending: &mut Option<ConsumerEvent>,
    ) -> Result<Vec<StoredRecord>, LogError> {
        if self.config.linger.is_zero() {
            return Ok(records);
        }
        let deadline = tokio::time::Instant::now() + self.config.linger;
        while records.len() < self.config.batch_size_max {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match consumer.poll(left).await {
                Ok(ConsumerEvent::Records(more)) => records.extend(more),
                Ok(ConsumerEvent::Idle) => break,
                Ok(other) => {
                    *pending = Some(other);
                    break;
                }
                // Decide what was already read; the next poll meets the error again.
                Err(error) if error.is_retriable() => break,
                Err(error) => return Err(error),
            }
        }
        Ok(records)
    }

    /// A decided command's result, read back from the results partition at the offset the
    /// state store keeps for it.
    async fn stored_result(
        &self,
        partition: u32,
        offset: u64,
        command: &CommandKey,
    ) -> Result<CommandResult, HandlerError> {
        let results = TopicPartition::new(self.topic(Topic::CommandResults), partition);
        let records = self.log.read(&results, offset, 1).await?;
        records
            .first()
            .and_then(CommandResult::from_record)
            .filter(|result| result.is_for(command.command_id, &command.aggregate))
            .ok_or_else(|| HandlerError::Corrupt {
                at: format!("{results}@{offset}"),
                reason: format!(
                    "the state store places the result of {} on {} {} here, but it is not",
                    command.command_id, command.aggregate.kind, command.aggregate.id
                ),
            })
    }

    /// Publishes the command of every due timer of the owned partitions, in one transaction.
    /// A timer's command id depends only on its order and kind, so publishing it again (after
    /// a crash, or by a zombie) is the same command and is decided once.
    async fn fire_timers(&mut self, producer: &mut dyn Producer) -> Result<(), HandlerError> {
        let now = self.clock.now();
        let commands_topic = self.topic(Topic::Commands);
        // The due deadlines not yet fired, with their orders loaded (a timer's id and a
        // re-plan need the order). Fired ones are remembered until they are no longer due.
        let mut deadlines: Vec<(u32, OrderId, TimerKind)> = Vec::new();
        for (&partition, state) in &mut self.partitions {
            let mut still_due = HashSet::new();
            for (order_id, kind) in state.due(now)? {
                state.load(&AggregateRef::order(order_id))?;
                let Some(order) = state.ledger.order(&order_id) else {
                    continue;
                };
                let id = order_events::process::timer_id(order_id, order, kind);
                if !state.fired.contains(&id) {
                    deadlines.push((partition, order_id, kind));
                }
                still_due.insert(id);
            }
            state.fired.retain(|id| still_due.contains(id));
        }
        if deadlines.is_empty() {
            return Ok(());
        }
        let view = OwnedStock(&self.partitions);
        let due: Vec<(u32, CommandEnvelope)> = deadlines
            .into_iter()
            .filter_map(|(partition, order_id, kind)| {
                let order = self.partitions[&partition].ledger.order(&order_id)?;
                let (command_id, command) = order_events::process::timer_command(
                    order_id,
                    order,
                    kind,
                    &self.config.rules,
                    &view,
                );
                let envelope = CommandEnvelope {
                    command_id,
                    correlation_id: command_id,
                    causation_id: None,
                    actor: order_events::Actor::system(),
                    issued_at: now,
                    command,
                };
                Some((partition, envelope))
            })
            .collect();
        let records = due
            .iter()
            .map(|(_, command)| command_record(&commands_topic, command))
            .collect();
        event_log::transact(producer, records, None).await?;
        for (partition, command) in due {
            tracing::info!(id = %command.command_id, kind = command.command.type_name(), "timer fired");
            self.stats.timers_fired += 1;
            metrics::counter!(m::TIMERS_FIRED).increment(1);
            if let Some(state) = self.partitions.get_mut(&partition) {
                state.fired.insert(command.command_id);
            }
        }
        Ok(())
    }

    /// Brings a partition's state up to the log's end: the state store's snapshots and
    /// decided commands, plus the events and results written after its checkpoints. Memory
    /// stays within the cache bound however long the tail.
    /// The latest `recorded_at` among the events just before offset `before` of `events` (a
    /// few offsets back: Kafka's transaction markers take offsets without records).
    async fn recorded_before(
        &self,
        events: &TopicPartition,
        before: u64,
    ) -> Result<Option<DateTime<Utc>>, HandlerError> {
        const BACK: u64 = 64;
        if before == 0 {
            return Ok(None);
        }
        let from = before.saturating_sub(BACK);
        let records = self.log.read(events, from, BACK as usize).await?;
        Ok(records
            .iter()
            .filter(|record| record.offset < before)
            .filter_map(|record| codec::decode_event(&record.payload).ok())
            .map(|envelope| envelope.recorded_at)
            .max())
    }

    async fn catch_up(&mut self, partition: u32) -> Result<PartitionState, HandlerError> {
        let store = self
            .store
            .as_ref()
            .expect("the store is opened before partitions are assigned")
            .partition(partition)?;
        let (events_from, results_from) = store.checkpoints()?;
        let mut state = PartitionState {
            ledger: MemoryLedger::with_rules(self.config.policy.clone(), self.config.rules.clone())
                .writing(self.config.event_format),
            store,
            recent: lru::LruCache::unbounded(),
            committed_next: None,
            fired: HashSet::new(),
            dirty: HashSet::new(),
            pending_results: HashMap::new(),
            warehouses: BTreeSet::new(),
            pending_events_next: None,
            pending_results_next: None,
            pending_events: 0,
            recorded_until: None,
        };
        state.warehouses = state.store.warehouses()?;
        let events = TopicPartition::new(self.topic(Topic::Events), partition);
        state.recorded_until = self.recorded_before(&events, events_from).await?;
        let mut offset = events_from;
        loop {
            let records = self.log.read(&events, offset, 1000).await?;
            let Some(last) = records.last() else { break };
            offset = last.next_offset();
            let mut changed = HashSet::new();
            for record in &records {
                let at = || format!("{}@{}", events, record.offset);
                let envelope =
                    codec::decode_event(&record.payload).map_err(|e| HandlerError::Corrupt {
                        at: at(),
                        reason: e.to_string(),
                    })?;
                let aggregate = AggregateRef {
                    kind: envelope.aggregate_kind,
                    id: envelope.aggregate_id.clone(),
                };
                state.recorded_until = state.recorded_until.max(Some(envelope.recorded_at));
                state.load(&aggregate)?;
                if let Some(key) = aggregate.stock_key() {
                    state.warehouses.insert(key.warehouse);
                }
                // A snapshot written after this event already holds it.
                if envelope.sequence <= state.ledger.head(&aggregate).sequence {
                    continue;
                }
                state
                    .ledger
                    .replay(&envelope)
                    .map_err(|e| HandlerError::Corrupt {
                        at: at(),
                        reason: e.to_string(),
                    })?;
                self.stats.catch_up_events += 1;
                changed.insert(aggregate);
            }
            let write = Write {
                aggregates: changed.into_iter().collect(),
                events_next: Some(offset),
                ..Write::default()
            };
            state.store.write(&state.ledger, &write)?;
            state.trim(self.config.cache_aggregates_max)?;
        }
        let results_partition = TopicPartition::new(self.topic(Topic::CommandResults), partition);
        let mut offset = results_from;
        loop {
            let records = self.log.read(&results_partition, offset, 1000).await?;
            let Some(last) = records.last() else { break };
            offset = last.next_offset();
            // A record that is no result of ours, or a refusal of a reused id, claims nothing.
            let results: Vec<(CommandKey, u64)> = records
                .iter()
                .filter_map(|record| {
                    let result = CommandResult::from_record(record)?;
                    if !result.is_first_use() {
                        return None;
                    }
                    let aggregate = result.aggregate()?;
                    let key = CommandKey {
                        aggregate,
                        command_id: result.command_id,
                    };
                    Some((key, record.offset))
                })
                .collect();
            let write = Write {
                results,
                results_next: Some(offset),
                ..Write::default()
            };
            state.store.write(&state.ledger, &write)?;
        }
        Ok(state)
    }

    /// After a failed transaction: rebuild the partitions of the unprocessed records and rewind
    /// them to their last commit, so nothing decided in the failed transaction survives and
    /// nothing after it is skipped.
    async fn recover(
        &mut self,
        consumer: &mut dyn Consumer,
        unprocessed: &[StoredRecord],
    ) -> Result<(), HandlerError> {
        self.stats.recoveries += 1;
        metrics::counter!(m::RECOVERIES).increment(1);
        let mut touched: Vec<u32> = unprocessed.iter().map(|r| r.partition).collect();
        touched.sort_unstable();
        touched.dedup();
        for partition in touched {
            let Some(previous) = self.partitions.get(&partition) else {
                continue;
            };
            let rewind = previous.committed_next.unwrap_or_else(|| {
                unprocessed
                    .iter()
                    .filter(|r| r.partition == partition)
                    .map(|r| r.offset)
                    .min()
                    .unwrap_or(0)
            });
            // Drop the failed transaction's working set before rebuilding from the store.
            self.partitions.remove(&partition);
            let mut state = self.catch_up(partition).await?;
            state.committed_next = Some(rewind);
            self.partitions.insert(partition, state);
            let tp = TopicPartition::new(self.topic(Topic::Commands), partition);
            consumer.seek(&tp, rewind).await?;
        }
        Ok(())
    }

    /// Decodes a command record, or says why it cannot be one.
    fn decode(&self, record: &StoredRecord) -> Result<CommandEnvelope, (&'static str, String)> {
        let meta = record
            .headers
            .message_meta()
            .map_err(|e| ("invalid_headers", e.to_string()))?;
        let envelope = codec::decode_command_as(meta.content_type, &record.payload)
            .map_err(|e| (e.code(), e.to_string()))?;
        let target = envelope.command.target();
        let expected =
            event_log::partition_for(target.id.as_bytes(), self.log.partitions(Topic::Commands));
        if expected != record.partition {
            return Err((
                "wrong_partition",
                format!(
                    "the command addresses {} {}, whose commands belong on partition {expected}; publish commands keyed by their aggregate id",
                    target.kind, target.id
                ),
            ));
        }
        Ok(envelope)
    }

    /// Decides one command into the open transaction: its events, and the reactions the
    /// process issues, are sent; its answer is gathered in `work`. A command id already
    /// decided on its aggregate is answered from its first decision instead.
    async fn decide(
        &mut self,
        producer: &mut dyn Producer,
        work: &mut Chunk,
        partition: u32,
        envelope: CommandEnvelope,
    ) -> Result<(), HandlerError> {
        let state = self
            .partitions
            .get_mut(&partition)
            .expect("an owned partition");
        let key = CommandKey {
            aggregate: envelope.command.target(),
            command_id: envelope.command_id,
        };
        if let Some(&of) = work.in_chunk.get(&key) {
            work.answers.push(Answer::RepeatInChunk {
                partition,
                envelope: Box::new(envelope),
                of,
            });
            return Ok(());
        }
        let earlier = match state.decided(&key)? {
            Some(Decided::Pending(result)) => Some(result),
            Some(Decided::At(offset)) => Some(self.stored_result(partition, offset, &key).await?),
            None => None,
        };
        if let Some(result) = earlier {
            work.answers.push(Answer::Repeat {
                partition,
                envelope: Box::new(envelope),
                result,
            });
            return Ok(());
        }
        let state = self
            .partitions
            .get_mut(&partition)
            .expect("an owned partition");
        let target = key.aggregate.clone();
        state.load(&target)?;
        work.touched.entry(partition).or_default().insert(target);
        work.in_chunk.insert(key, work.answers.len());
        // Never earlier than the partition's last event: time read from the log then means
        // the same as order in it, even when the clock steps back.
        let now = match state.recorded_until {
            Some(until) => self.clock.now().max(until),
            None => self.clock.now(),
        };
        let span = tracing::debug_span!(
            "command",
            id = %envelope.command_id,
            kind = envelope.command.type_name(),
            partition
        );
        let deciding = Instant::now();
        // In scope only while deciding: the span guard must not live across an await.
        let (events, rejection) = span.in_scope(|| {
            let decided = match state.ledger.submit(&envelope, now) {
                Ok(events) => (events, None),
                Err(rejection) => (Vec::new(), Some(rejection)),
            };
            tracing::debug!(
                events = decided.0.len(),
                rejected = decided.1.as_ref().map(|r| r.rule.code()),
                "decided"
            );
            decided
        });
        if !events.is_empty() {
            state.recorded_until = Some(now);
        }
        self.stats.decide_us_total += deciding.elapsed().as_micros() as u64;
        metrics::histogram!(m::DECIDE_SECONDS).record(deciding.elapsed().as_secs_f64());
        let reactions = if self.config.process {
            let outcome = match &rejection {
                None => Ok(events.as_slice()),
                Some(rejection) => Err(rejection),
            };
            let view = OwnedStock(&self.partitions);
            self.partitions[&partition]
                .ledger
                .reactions_with_view(&envelope, outcome, now, &view)
        } else {
            Vec::new()
        };
        if let (Some(rejection), order_events::ActorKind::System) =
            (&rejection, envelope.actor.kind)
        {
            // The process only issues commands that fit the state it saw; a refusal is worth a
            // look (a manual step raced it, or a rule table points nowhere) — except a stock
            // item short of stock, an answer the process plans for.
            if rejection.rule == order_events::rejection::Rule::StockInsufficient {
                tracing::debug!(id = %envelope.command_id, "a reservation was refused: stock insufficient");
            } else {
                tracing::warn!(id = %envelope.command_id, kind = envelope.command.type_name(), rule = rejection.rule.code(), detail = %rejection.detail, "a process command was refused");
            }
        }
        if let (Some(key), false) = (envelope.command.target().stock_key(), events.is_empty()) {
            self.partitions
                .get_mut(&partition)
                .expect("an owned partition")
                .warehouses
                .insert(key.warehouse);
        }
        let first_sent = work.sent;
        for event in &events {
            let headers = Headers::for_message(
                self.config.event_format.content_type(),
                event.envelope.event.type_name(),
                event.envelope.event.schema_version(),
            );
            let outgoing = OutgoingRecord::new(
                &work.events_topic,
                event.envelope.aggregate_id.clone(),
                headers,
                event.record.clone(),
            )
            .on_partition(partition);
            producer.send(outgoing).await?;
            work.sent += 1;
        }
        work.process_commands += reactions.len() as u64;
        for reaction in reactions {
            producer
                .send(command_record(&work.commands_topic, &reaction))
                .await?;
            work.issued.push((work.sent, reaction));
            work.sent += 1;
        }
        work.answers.push(Answer::Decided {
            partition,
            envelope: Box::new(envelope),
            events,
            first_sent,
            rejection,
        });
        Ok(())
    }

    /// Decides, in the same transaction, the commands the process issued to partitions this
    /// instance owns — when the log says where they landed before the commit
    /// (`LogWriter::positions_at_send`) and each landed right after everything decided on its
    /// partition, so deciding it now is deciding it in the partition's order. A reaction
    /// that landed after a record not yet read (another publisher's) waits for its turn, and
    /// so does every later one on that partition. Advances `next` past the commands decided
    /// here; returns their partitions, which the consumer then reads on from `next`.
    async fn decide_in_place(
        &mut self,
        producer: &mut dyn Producer,
        work: &mut Chunk,
        next: &mut BTreeMap<u32, u64>,
    ) -> Result<BTreeSet<u32>, HandlerError> {
        let mut in_place = BTreeSet::new();
        if !self.config.decide_in_place || !self.log.positions_at_send() {
            work.issued.clear();
            return Ok(in_place);
        }
        let mut waiting: HashSet<u32> = HashSet::new();
        for _ in 0..IN_PLACE_ROUNDS_MAX {
            let issued = std::mem::take(&mut work.issued);
            if issued.is_empty() {
                break;
            }
            let positions = producer.sent_positions().await?;
            for (index, reaction) in issued {
                let position = &positions[index];
                let partition = position.partition;
                let expected = next.get(&partition).copied().or_else(|| {
                    self.partitions
                        .get(&partition)
                        .and_then(|s| s.committed_next)
                });
                if waiting.contains(&partition) || expected != Some(position.offset) {
                    waiting.insert(partition);
                    continue;
                }
                next.insert(partition, position.offset + 1);
                in_place.insert(partition);
                self.stats.decided_in_place += 1;
                self.decide(producer, work, partition, reaction).await?;
            }
        }
        work.issued.clear();
        Ok(in_place)
    }

    /// One transaction: decides `chunk` and the commands `submitted` through the inbox, sends
    /// their events and results, commits them with the consumed offsets, then lets the
    /// partitions' state learn what was committed. A failed transaction is aborted.
    async fn process(
        &mut self,
        consumer: &mut dyn Consumer,
        producer: &mut dyn Producer,
        chunk: &[StoredRecord],
        submitted: Vec<Submission>,
    ) -> Result<(), HandlerError> {
        let group = consumer.group()?;
        producer.begin().await?;
        let outcome = async {
            let mut sent = self.decide_transaction(producer, chunk, submitted).await?;
            let committed = self.commit(producer, group, &mut sent).await?;
            Ok::<_, HandlerError>((sent, committed))
        }
        .await;
        match outcome {
            Ok((sent, committed)) => self.after_commit(consumer, sent, committed).await,
            Err(error) => {
                if !matches!(error, HandlerError::Log(LogError::Fenced(_))) {
                    if let Err(abort) = producer.abort().await {
                        tracing::warn!(%abort, "abort failed");
                    }
                }
                Err(error)
            }
        }
    }

    /// Decides the chunk's commands, records and decides the submitted ones, decides the
    /// process's reactions in place, and sends every record of the transaction but the offsets.
    async fn decide_transaction(
        &mut self,
        producer: &mut dyn Producer,
        chunk: &[StoredRecord],
        submitted: Vec<Submission>,
    ) -> Result<Sent, HandlerError> {
        let mut work = Chunk {
            events_topic: self.topic(Topic::Events),
            commands_topic: self.topic(Topic::Commands),
            ..Chunk::default()
        };
        self.decide_chunk(producer, &mut work, chunk).await?;
        let mut next = self.consumed_next(chunk);
        let recorded = record_submissions(producer, &mut work, submitted).await?;
        let in_place = self.decide_in_place(producer, &mut work, &mut next).await?;
        let Chunk {
            answers,
            sent,
            dead,
            process_commands,
            touched,
            ..
        } = work;
        let results = self.send_results(producer, answers, sent).await?;
        Ok(Sent {
            results,
            next,
            dead,
            process_commands,
            touched,
            in_place,
            recorded,
        })
    }

    /// Decides the records of the chunk on partitions this instance holds; a record that is
    /// no command goes to the dead-letter topic.
    async fn decide_chunk(
        &mut self,
        producer: &mut dyn Producer,
        work: &mut Chunk,
        chunk: &[StoredRecord],
    ) -> Result<(), HandlerError> {
        let dead_letter_topic = self.topic(Topic::DeadLetter);
        for record in chunk {
            if !self.partitions.contains_key(&record.partition) {
                continue;
            }
            let envelope = match self.decode(record) {
                Ok(envelope) => envelope,
                Err((code, reason)) => {
                    tracing::warn!(partition = record.partition, offset = record.offset, code, %reason, "dead-lettered");
                    producer
                        .send(dead_letter(&dead_letter_topic, record, code, &reason))
                        .await?;
                    work.sent += 1;
                    work.dead += 1;
                    continue;
                }
            };
            self.decide(producer, work, record.partition, envelope)
                .await?;
        }
        Ok(())
    }

    /// The next command offset of each partition the chunk consumed. Only partitions this
    /// instance holds: anything else is not its to commit.
    fn consumed_next(&self, chunk: &[StoredRecord]) -> BTreeMap<u32, u64> {
        let mut next: BTreeMap<u32, u64> = BTreeMap::new();
        for record in chunk
            .iter()
            .filter(|r| self.partitions.contains_key(&r.partition))
        {
            let entry = next.entry(record.partition).or_insert(0);
            *entry = (*entry).max(record.next_offset());
        }
        next
    }

    /// Sends one result per answer, after every event of the transaction (so the results
    /// can name where their events landed).
    async fn send_results(
        &self,
        producer: &mut dyn Producer,
        answers: Vec<Answer>,
        mut index: usize,
    ) -> Result<Vec<SentResult>, HandlerError> {
        let results_topic = self.topic(Topic::CommandResults);
        let positions = producer.sent_positions().await?;
        let decided_at = self.clock.now();
        let mut results: Vec<SentResult> = Vec::with_capacity(answers.len());
        for answer in answers {
            let (partition, result, answered) = match answer {
                Answer::Decided {
                    partition,
                    envelope,
                    events,
                    first_sent,
                    rejection,
                } => {
                    let placed = &positions[first_sent..first_sent + events.len()];
                    let result = decided_result(&envelope, &events, placed, rejection, decided_at);
                    (partition, result, Answered::Decided)
                }
                Answer::Repeat {
                    partition,
                    envelope,
                    result,
                } => {
                    let (result, answered) = answer_repeat(&result, &envelope, decided_at);
                    (partition, result, answered)
                }
                Answer::RepeatInChunk {
                    partition,
                    envelope,
                    of,
                } => {
                    let (result, answered) =
                        answer_repeat(&results[of].result, &envelope, decided_at);
                    (partition, result, answered)
                }
            };
            producer
                .send(result.to_record(&results_topic, partition))
                .await?;
            results.push(SentResult {
                partition,
                result,
                answered,
                index,
            });
            index += 1;
        }
        Ok(results)
    }

    /// Sends the consumed offsets and commits; then the front door learns its commands are
    /// recorded.
    async fn commit(
        &mut self,
        producer: &mut dyn Producer,
        group: GroupToken,
        sent: &mut Sent,
    ) -> Result<Vec<Position>, HandlerError> {
        let commands_topic = self.topic(Topic::Commands);
        let offsets = ConsumedOffsets {
            group,
            offsets: sent
                .next
                .iter()
                .map(|(&p, &o)| (TopicPartition::new(commands_topic.clone(), p), o))
                .collect(),
        };
        producer.send_offsets(offsets).await?;
        let committed = producer.commit().await?;
        self.stats.submitted += sent.recorded.len() as u64;
        for recorded in sent.recorded.drain(..) {
            let _ = recorded.send(());
        }
        Ok(committed)
    }

    /// After the commit: reads on past the commands decided in place, counts, and hands the
    /// committed results and changed aggregates to each partition's state (its store is
    /// written every `snapshot_every_events`).
    async fn after_commit(
        &mut self,
        consumer: &mut dyn Consumer,
        sent: Sent,
        committed: Vec<Position>,
    ) -> Result<(), HandlerError> {
        for partition in &sent.in_place {
            let tp = TopicPartition::new(self.topic(Topic::Commands), *partition);
            consumer.seek(&tp, sent.next[partition]).await?;
        }
        self.count(&sent);
        for (&partition, &offset) in &sent.next {
            if let Some(state) = self.partitions.get_mut(&partition) {
                state.committed_next = Some(offset);
            }
        }
        let mut new_results: BTreeMap<u32, Vec<(CommandResult, u64)>> = BTreeMap::new();
        for sent_result in sent.results {
            // A reused id's refusal claims no id: the first use stays the answer to retries.
            if sent_result.answered == Answered::Reused {
                continue;
            }
            let offset = committed[sent_result.index].offset;
            new_results
                .entry(sent_result.partition)
                .or_default()
                .push((sent_result.result, offset));
        }
        self.remember(&committed, new_results, sent.touched)
    }

    /// The transaction's figures, in the stats and the metrics.
    fn count(&mut self, sent: &Sent) {
        let commands = sent.results.len() as u64;
        self.stats.transactions += 1;
        self.stats.process_commands += sent.process_commands;
        self.stats.dead_lettered += sent.dead;
        self.stats.commands_committed += commands;
        self.stats.batch_size_max = self.stats.batch_size_max.max(commands);
        metrics::counter!(m::TRANSACTIONS).increment(1);
        metrics::counter!(m::DEAD_LETTERS).increment(sent.dead);
        metrics::counter!(m::PROCESS_COMMANDS).increment(sent.process_commands);
        metrics::histogram!(m::BATCH_SIZE).record(commands as f64);
        for sent_result in &sent.results {
            let result = &sent_result.result;
            let outcome = match (&result.outcome, sent_result.answered) {
                (_, Answered::Repeat) => {
                    self.stats.duplicates += 1;
                    "duplicate"
                }
                (Outcome::Accepted { .. }, _) => {
                    self.stats.accepted += 1;
                    "accepted"
                }
                (Outcome::Rejected { rule, .. }, _) => {
                    self.stats.rejected += 1;
                    *self.stats.rejected_by_rule.entry(rule.clone()).or_default() += 1;
                    metrics::counter!(m::REJECTIONS, "rule" => rule.clone()).increment(1);
                    "rejected"
                }
            };
            let labels = [
                ("type", result.command_type.clone()),
                ("outcome", outcome.into()),
            ];
            metrics::counter!(m::COMMANDS, &labels).increment(1);
        }
    }

    /// Committed: now each partition's state may learn it — the results, the aggregates
    /// changed, and checkpoints past this transaction's own events and results.
    fn remember(
        &mut self,
        committed: &[Position],
        mut new_results: BTreeMap<u32, Vec<(CommandResult, u64)>>,
        mut touched: BTreeMap<u32, HashSet<AggregateRef>>,
    ) -> Result<(), HandlerError> {
        let written = self.written_per_partition(committed);
        let partitions: HashSet<u32> = touched.keys().chain(new_results.keys()).copied().collect();
        for partition in partitions {
            let Some(state) = self.partitions.get_mut(&partition) else {
                continue;
            };
            let results = new_results.remove(&partition).unwrap_or_default();
            let changed = touched.remove(&partition).unwrap_or_default();
            let written = written.get(&partition).copied().unwrap_or_default();
            state.pending_events += written.events;
            state.dirty.extend(changed);
            for (result, offset) in results {
                let Some(aggregate) = result.aggregate() else {
                    continue;
                };
                let key = CommandKey {
                    aggregate,
                    command_id: result.command_id,
                };
                state.pending_results.insert(key, (result, offset));
            }
            if written.events_next.is_some() {
                state.pending_events_next = written.events_next;
            }
            if written.results_next.is_some() {
                state.pending_results_next = written.results_next;
            }
            if state.pending_events >= self.config.snapshot_every_events.max(1) {
                state.flush()?;
            }
            self.stats.cached_aggregates_max = self
                .stats
                .cached_aggregates_max
                .max(state.ledger.loaded() as u64);
            state.trim(self.config.cache_aggregates_max)?;
        }
        Ok(())
    }

    /// Per partition: the events a transaction wrote, and the next events and results offsets.
    fn written_per_partition(&self, committed: &[Position]) -> BTreeMap<u32, Written> {
        let events_topic = self.topic(Topic::Events);
        let results_topic = self.topic(Topic::CommandResults);
        let mut written: BTreeMap<u32, Written> = BTreeMap::new();
        for position in committed {
            let entry = written.entry(position.partition).or_default();
            if position.topic == events_topic {
                entry.events += 1;
                entry.events_next = entry.events_next.max(Some(position.offset + 1));
            } else if position.topic == results_topic {
                entry.results_next = entry.results_next.max(Some(position.offset + 1));
            }
        }
        written
    }
}

/// What a transaction sent before its commit, for the steps after it.
struct Sent {
    results: Vec<SentResult>,
    /// The next command offset of each partition it consumed.
    next: BTreeMap<u32, u64>,
    /// Records dead-lettered, and commands the order process issued.
    dead: u64,
    process_commands: u64,
    /// The aggregates it changed, by partition.
    touched: BTreeMap<u32, HashSet<AggregateRef>>,
    /// Partitions whose commands it decided in place, past its poll.
    in_place: BTreeSet<u32>,
    /// The front door's commands it recorded, answered once it is durable.
    recorded: Vec<tokio::sync::oneshot::Sender<()>>,
}

/// One result sent in a transaction.
struct SentResult {
    partition: u32,
    result: CommandResult,
    answered: Answered,
    /// Its index among the transaction's records.
    index: usize,
}

/// What a committed transaction wrote on one partition.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    events: usize,
    events_next: Option<u64>,
    results_next: Option<u64>,
}

/// Records the commands handed over through the inbox on the commands topic, to be decided
/// in place; returns whom to tell once they are durable.
async fn record_submissions(
    producer: &mut dyn Producer,
    work: &mut Chunk,
    submitted: Vec<Submission>,
) -> Result<Vec<tokio::sync::oneshot::Sender<()>>, HandlerError> {
    let mut recorded = Vec::with_capacity(submitted.len());
    for submission in submitted {
        producer.send(submission.record).await?;
        work.issued.push((work.sent, submission.envelope));
        work.sent += 1;
        recorded.push(submission.recorded);
    }
    Ok(recorded)
}

/// The result of a decided command: its events and where they landed, or its rejection.
fn decided_result(
    envelope: &CommandEnvelope,
    events: &[SealedEvent],
    placed: &[Position],
    rejection: Option<order_events::Rejection>,
    decided_at: DateTime<Utc>,
) -> CommandResult {
    let target = envelope.command.target();
    let outcome = match rejection {
        Some(rejection) => Outcome::Rejected {
            rule: rejection.rule.code().to_owned(),
            detail: rejection.detail,
        },
        None => Outcome::Accepted {
            events: events
                .iter()
                .zip(placed)
                .map(|(event, position)| EventRef {
                    event_id: event.envelope.event_id,
                    event_type: event.envelope.event.type_name().to_owned(),
                    sequence: event.envelope.sequence,
                    partition: position.partition,
                    offset: position.offset,
                })
                .collect(),
        },
    };
    CommandResult {
        command_id: envelope.command_id,
        command_type: envelope.command.type_name().to_owned(),
        aggregate_kind: target.kind.code().to_owned(),
        aggregate_id: target.id,
        outcome,
        decided_at,
        command_digest: Some(codec::command_digest(envelope)),
    }
}

/// A command as the process publishes it: bincode, keyed by its aggregate id (so it lands on
/// the partition that aggregate's commands belong to).
fn command_record(topic: &str, command: &CommandEnvelope) -> OutgoingRecord {
    let headers = Headers::for_message(
        CONTENT_TYPE_BINCODE,
        command.command.type_name(),
        command.command.schema_version(),
    );
    OutgoingRecord::new(
        topic,
        command.command.target().id,
        headers,
        codec::encode_command_bincode(command),
    )
}
