//! Crash safety, as a seeded simulation on the embedded backend: the handler is killed at random
//! points — before or after any producer call, so before and after deciding, mid-transaction
//! and right after a commit — and restarted on a reopened directory, until every command has
//! its result. The event log must equal that of a run without crashes: nothing lost, nothing
//! doubled. Each failure names its seed; `LEDGER_SIM_SEEDS=1,2,3` replays chosen seeds.
//!
//! The same for the order process: its reactions and timers, crashed at random points, end in
//! the state a crash-free run reaches, with every command's effect exactly once.
//!
//! Also here: the oversell race.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use command_handler::client::{await_result, publish, Submitted};
use command_handler::{Handler, HandlerConfig, ManualClock, ResultRecord};
use event_log::embedded::EmbeddedLog;
use event_log::{
    ConsumedOffsets, Consumer, ConsumerEvent, GroupToken, Log, LogError, LogReader, LogWriter,
    OutgoingRecord, Position, Producer, StoredRecord, Topic, TopicPartition, Topics,
};
use order_events::envelope::{Command, CommandEnvelope};
use order_events::ids::*;
use order_events::ledger::MemoryLedger;
use order_events::order::*;
use order_events::stock::*;
use order_events::testkit::samples;
use order_events::{Actor, ActorKind};
use uuid::Uuid;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .unwrap()
}

/// xorshift64*: enough randomness for crash points, and no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Counts down on every producer call (before and after it) and panics — the crash — at zero.
struct Fuse(Arc<AtomicI64>);

impl Fuse {
    fn tick(&self, point: &str) {
        if self.0.fetch_sub(1, Ordering::SeqCst) == 1 {
            panic!("injected crash at {point}");
        }
    }
}

struct CrashingLog {
    inner: Arc<dyn Log>,
    fuse: Arc<AtomicI64>,
    /// Instead of crashing, fail every `n`-th commit with a retriable error (0: never).
    fail_every: i64,
}

struct CrashingProducer {
    inner: Box<dyn Producer>,
    fuse: Fuse,
    fail_every: i64,
    commits: i64,
}

#[async_trait]
impl Producer for CrashingProducer {
    async fn begin(&mut self) -> Result<(), LogError> {
        self.fuse.tick("before begin");
        let result = self.inner.begin().await;
        self.fuse.tick("after begin");
        result
    }

    async fn send(&mut self, record: OutgoingRecord) -> Result<(), LogError> {
        self.fuse.tick("before send");
        let result = self.inner.send(record).await;
        self.fuse.tick("after send");
        result
    }

    async fn send_offsets(&mut self, offsets: ConsumedOffsets) -> Result<(), LogError> {
        self.fuse.tick("before send_offsets");
        self.inner.send_offsets(offsets).await
    }

    async fn sent_positions(&mut self) -> Result<Vec<Position>, LogError> {
        self.fuse.tick("before sent_positions");
        self.inner.sent_positions().await
    }

    async fn commit(&mut self) -> Result<Vec<Position>, LogError> {
        self.commits += 1;
        if self.fail_every > 0 && self.commits % self.fail_every == 0 {
            return Err(LogError::Broker {
                message: "injected commit failure".to_owned(),
                retriable: true,
            });
        }
        self.fuse.tick("before commit");
        let result = self.inner.commit().await;
        self.fuse.tick("after commit");
        result
    }

    async fn abort(&mut self) -> Result<(), LogError> {
        self.inner.abort().await
    }
}

struct PassConsumer(Box<dyn Consumer>);

#[async_trait]
impl Consumer for PassConsumer {
    async fn poll(&mut self, max_wait: Duration) -> Result<ConsumerEvent, LogError> {
        self.0.poll(max_wait).await
    }
    fn group(&self) -> Result<GroupToken, LogError> {
        self.0.group()
    }
    async fn seek(&mut self, partition: &TopicPartition, offset: u64) -> Result<(), LogError> {
        self.0.seek(partition, offset).await
    }
}

#[async_trait]
impl LogReader for CrashingLog {
    fn topics(&self) -> &Topics {
        self.inner.topics()
    }

    fn partitions(&self, topic: Topic) -> u32 {
        self.inner.partitions(topic)
    }

    async fn read(
        &self,
        partition: &TopicPartition,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.inner.read(partition, from, max).await
    }

    async fn end_offsets(&self, topic: Topic) -> Result<Vec<u64>, LogError> {
        self.inner.end_offsets(topic).await
    }

    async fn committed_offsets(&self, group: &str, topic: Topic) -> Result<Vec<u64>, LogError> {
        self.inner.committed_offsets(group, topic).await
    }
}

#[async_trait]
impl LogWriter for CrashingLog {
    async fn consumer(&self, group: &str, topics: &[Topic]) -> Result<Box<dyn Consumer>, LogError> {
        Ok(Box::new(PassConsumer(
            self.inner.consumer(group, topics).await?,
        )))
    }

    async fn producer(&self, transactional_id: &str) -> Result<Box<dyn Producer>, LogError> {
        Ok(Box::new(CrashingProducer {
            inner: self.inner.producer(transactional_id).await?,
            fuse: Fuse(self.fuse.clone()),
            fail_every: self.fail_every,
            commits: 0,
        }))
    }

    async fn publish(&self, records: Vec<OutgoingRecord>) -> Result<Vec<Position>, LogError> {
        self.inner.publish(records).await
    }
}

/// Reopens the directory. sled releases its lock from a background thread shortly after the
/// last handle drops, so a reopen right after a crash may briefly find it held.
fn open(dir: &Path) -> Arc<dyn Log> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match EmbeddedLog::open(dir, Topics::new("sim", 4).unwrap()) {
            Ok(log) => return Arc::new(log),
            Err(LogError::InUse { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(error) => panic!("reopening {}: {error}", dir.display()),
        }
    }
}

/// The explicit workload drives every stock step by hand, so the order process stays off;
/// `the_order_process_survives_crashes` runs it.
fn config() -> HandlerConfig {
    HandlerConfig {
        batch_size_max: 4,
        poll_wait: Duration::from_millis(20),
        process: false,
        ..HandlerConfig::default()
    }
}

/// Sixty-odd commands over three orders and their stock: accepted ones, rejected ones and
/// repeated command ids.
fn workload() -> Vec<CommandEnvelope> {
    let mut commands: Vec<Command> = Vec::new();
    for sku in [samples::TSHIRT, samples::MUG] {
        commands.push(
            StockCommand::from(ReceiveStock {
                item: StockKey::new(sku, samples::WAREHOUSE),
                quantity: 6,
                reference: "PO".into(),
            })
            .into(),
        );
    }
    for reference in ["S-1", "S-2", "S-3"] {
        let mut place = samples::place_order();
        place.external_reference = reference.to_owned();
        let order = OrderId::for_external_reference("web", reference);
        commands.push(OrderCommand::from(place).into());
        for (sku, quantity) in [(samples::TSHIRT, 2), (samples::MUG, 1)] {
            commands.push(
                StockCommand::from(ReserveStock {
                    item: StockKey::new(sku, samples::WAREHOUSE),
                    order_id: order,
                    quantity,
                    expires_at: start() + chrono::Duration::hours(1),
                    minimum: None,
                })
                .into(),
            );
        }
        commands.push(
            OrderCommand::from(ConfirmStockReserved {
                order_id: order,
                reservations: samples::reservations(),
            })
            .into(),
        );
        for (id, amount) in [("P1", "30.00"), ("P2", "24.38"), ("P3", "1.00")] {
            commands.push(
                OrderCommand::from(CapturePayment {
                    order_id: order,
                    payment_id: PaymentId::from(id),
                    method: PaymentMethod::Card,
                    amount: samples::amount(amount),
                    currency: order_events::Currency::EUR,
                    psp_reference: id.into(),
                })
                .into(),
            );
        }
        commands.push(
            OrderCommand::from(Ship {
                order_id: order,
                shipment_id: ShipmentId::from("S"),
                carrier: Some(CarrierId::from("dhl")),
                service_level: ServiceLevel::Standard,
                tracking_number: "T".into(),
                lines: vec![
                    samples::line_quantity(samples::TSHIRT, 2),
                    samples::line_quantity(samples::MUG, 1),
                ],
                freight_cost: Some(samples::amount("3.00")),
                weight_grams: Some(900),
            })
            .into(),
        );
        commands.push(
            OrderCommand::from(Refund {
                order_id: order,
                refund_id: RefundId::from("R"),
                amount: samples::amount("5.00"),
                reason: RefundReason::Goodwill,
                psp_reference: "r".into(),
            })
            .into(),
        );
    }
    let mut envelopes: Vec<CommandEnvelope> = commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| CommandEnvelope {
            command_id: Uuid::from_u128(0x51_0000 + i as u128),
            correlation_id: Uuid::from_u128(1),
            causation_id: None,
            actor: Actor::new(ActorKind::Service, "sim"),
            issued_at: start(),
            command,
        })
        .collect();
    // Every fifth command is published again.
    let repeats: Vec<CommandEnvelope> = envelopes.iter().step_by(5).cloned().collect();
    envelopes.extend(repeats);
    envelopes
}

async fn publish_all(log: &dyn Log, commands: &[CommandEnvelope]) -> Vec<Submitted> {
    let mut submitted = Vec::new();
    for envelope in commands {
        submitted.push(publish(log, envelope).await.unwrap());
    }
    submitted
}

/// Events and results by partition, as raw payloads: the whole observable outcome.
async fn snapshot(log: &dyn Log) -> BTreeMap<(String, u32), Vec<Vec<u8>>> {
    let mut all = BTreeMap::new();
    for topic in [Topic::Events, Topic::CommandResults, Topic::DeadLetter] {
        let name = log.topics().name(topic);
        for partition in 0..log.partitions(topic) {
            let records = log
                .read(&TopicPartition::new(&name, partition), 0, 100_000)
                .await
                .unwrap();
            all.insert(
                (name.clone(), partition),
                records.into_iter().map(|r| r.payload).collect(),
            );
        }
    }
    all
}

async fn all_answered(log: &dyn Log, submitted: &[Submitted]) -> bool {
    for s in submitted {
        if await_result(log, s, Duration::ZERO)
            .await
            .unwrap()
            .is_none()
        {
            return false;
        }
    }
    true
}

/// Runs the workload to completion on `dir`, crashing the handler per `seed` (none for 0).
async fn run(dir: &Path, seed: u64) -> (BTreeMap<(String, u32), Vec<Vec<u8>>>, u32) {
    let clock = Arc::new(ManualClock::new(start()));
    let commands = workload();
    let submitted = publish_all(open(dir).as_ref(), &commands).await;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut crashes = 0;
    loop {
        let log = open(dir);
        if all_answered(log.as_ref(), &submitted).await {
            let outcome = snapshot(log.as_ref()).await;
            return (outcome, crashes);
        }
        // After 40 crashes, let it finish so every seed terminates.
        let fuse = if seed == 0 || crashes >= 40 {
            i64::MAX
        } else {
            1 + rng.below(30) as i64
        };
        let crashing: Arc<dyn Log> = Arc::new(CrashingLog {
            inner: log,
            fuse: Arc::new(AtomicI64::new(fuse)),
            fail_every: 0,
        });
        let label = format!("seed {seed}");
        let done = || all_answered(crashing.as_ref(), &submitted);
        if run_until_done_or_crash(crashing.clone(), config(), clock.clone(), &label, done).await {
            crashes += 1;
        }
    }
}

/// Runs one handler on `log` until `done` holds (then stops it) or it crashes; true when it
/// crashed. Fails the test when neither happens within a minute.
async fn run_until_done_or_crash<F, Fut>(
    log: Arc<dyn Log>,
    config: HandlerConfig,
    clock: Arc<ManualClock>,
    label: &str,
    mut done: F,
) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let handler = Handler::new(log, config, clock);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(AssertUnwindSafe(handler.run(async {
        let _ = stopped.await;
    })));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !task.is_finished() && !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{label}: no progress"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    match task.await {
        Ok(result) => {
            result.unwrap_or_else(|e| panic!("{label}: handler failed: {e}"));
            false
        }
        Err(join) if join.is_panic() => true,
        Err(join) => panic!("{label}: {join}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_at_random_points_lose_and_double_nothing() {
    // Crashes are expected here; keep their panic messages out of the output.
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        if !message.contains("injected crash") {
            eprintln!("{message}");
        }
    }));
    let reference_dir = tempfile::tempdir().unwrap();
    let (reference, _) = run(reference_dir.path(), 0).await;
    let results: usize = reference
        .iter()
        .filter(|((topic, _), _)| topic.ends_with("command-results"))
        .map(|(_, records)| records.len())
        .sum();
    assert_eq!(
        results,
        workload().len(),
        "one result per published command"
    );

    let seeds: Vec<u64> = match std::env::var("LEDGER_SIM_SEEDS") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().unwrap()).collect(),
        Err(_) => (1..=6).collect(),
    };
    for seed in seeds {
        let dir = tempfile::tempdir().unwrap();
        let (outcome, crashes) = run(dir.path(), seed).await;
        assert!(crashes > 0, "seed {seed}: the simulation crashed nothing");
        for (key, expected) in &reference {
            let found = outcome
                .get(key)
                .unwrap_or_else(|| panic!("seed {seed}: {key:?} missing"));
            assert_eq!(
                found, expected,
                "seed {seed}: {key:?} differs after {crashes} crashes"
            );
        }
        println!("seed {seed}: {crashes} crashes, log identical to the crash-free run");
    }
}

/// Failed transactions (not crashes) mid-poll: the handler aborts, rebuilds, rewinds every
/// partition of the unprocessed rest of the poll, and ends with the crash-free log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_transactions_are_retried_without_loss_or_duplicates() {
    let reference_dir = tempfile::tempdir().unwrap();
    let (reference, _) = run(reference_dir.path(), 0).await;

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(start()));
    let commands = workload();
    let log = open(dir.path());
    // Everything is published first, so each poll brings several chunks.
    let submitted = publish_all(log.as_ref(), &commands).await;
    let flaky: Arc<dyn Log> = Arc::new(CrashingLog {
        inner: log.clone(),
        fuse: Arc::new(AtomicI64::new(i64::MAX)),
        fail_every: 3,
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Handler::new(flaky, config(), clock).run(async {
        let _ = stopped.await;
    }));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !all_answered(log.as_ref(), &submitted).await {
        assert!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    let stats = task.await.unwrap().unwrap();
    assert!(stats.recoveries > 0, "no failure was injected");
    assert_eq!(
        snapshot(log.as_ref()).await,
        reference,
        "after {} recoveries",
        stats.recoveries
    );
}

/// Every event in the log, in partition order (each aggregate's chain in order).
async fn events_in_log(log: &dyn Log) -> Vec<order_events::EventEnvelope> {
    let topic = log.topics().name(Topic::Events);
    let mut events = Vec::new();
    for partition in 0..log.partitions(Topic::Events) {
        for record in log
            .read(&TopicPartition::new(&topic, partition), 0, 1_000_000)
            .await
            .unwrap()
        {
            events.push(order_events::codec::decode_event(&record.payload).unwrap());
        }
    }
    events
}

/// Replays the log, checking every chain; fails on a gap or a doubled event.
async fn replayed(log: &dyn Log) -> MemoryLedger {
    let mut ledger = MemoryLedger::new(order_events::Policy::default());
    let mut ids = std::collections::HashSet::new();
    for event in events_in_log(log).await {
        assert!(ids.insert(event.event_id), "event {} twice", event.event_id);
        ledger.replay(&event).unwrap();
    }
    ledger
}

/// Every result in the log, by command id; a command answered twice must be answered alike.
async fn results_by_command(log: &dyn Log) -> BTreeMap<Uuid, command_handler::CommandResult> {
    let topic = log.topics().name(Topic::CommandResults);
    let mut results = BTreeMap::new();
    for partition in 0..log.partitions(Topic::CommandResults) {
        for record in log
            .read(&TopicPartition::new(&topic, partition), 0, 1_000_000)
            .await
            .unwrap()
        {
            let result = command_handler::CommandResult::from_record(&record).unwrap();
            if let Some(earlier) = results.insert(result.command_id, result.clone()) {
                assert_eq!(earlier, result, "a command answered two ways");
            }
        }
    }
    results
}

fn order_ids(count: usize) -> Vec<OrderId> {
    (0..count)
        .map(|i| OrderId::for_external_reference("web", &format!("P-{i}")))
        .collect()
}

/// Six orders, each for its own SKU (so no two race and the outcome is deterministic);
/// two of them find less stock than they ask for.
fn process_workload() -> Vec<CommandEnvelope> {
    let mut commands: Vec<Command> = Vec::new();
    for i in 0..6 {
        let sku = format!("SKU-{i}");
        commands.push(
            ReceiveStock {
                item: StockKey::new(&sku, samples::WAREHOUSE),
                quantity: if i < 4 { 5 } else { 1 },
                reference: "PO".into(),
            }
            .into(),
        );
        let mut place = samples::place_order();
        place.external_reference = format!("P-{i}");
        place.lines.truncate(1);
        place.lines[0].sku = Sku::from(sku.as_str());
        place.lines[0].quantity = 2;
        commands.push(place.into());
    }
    commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| CommandEnvelope {
            command_id: Uuid::from_u128(0x9a_0000 + i as u128),
            correlation_id: Uuid::from_u128(0x9a_0000 + i as u128),
            causation_id: None,
            actor: Actor::new(ActorKind::Service, "sim"),
            issued_at: start(),
            command,
        })
        .collect()
}

/// The status every order of the process workload should reach, and the reserved units.
async fn settled(log: &dyn Log, want: OrderStatus) -> Option<MemoryLedger> {
    let ledger = replayed(log).await;
    (order_ids(6)
        .iter()
        .all(|id| ledger.order(id).map(|o| o.status) == Some(want))
        && (want != OrderStatus::Expired || reservations_released(&ledger)))
    .then_some(ledger)
}

/// Whether the process has released every reservation of the workload's stock items: after
/// expiry, the releases are reactions decided after the orders' own events, so an expired
/// order alone does not mean the run is over.
fn reservations_released(ledger: &MemoryLedger) -> bool {
    (0..6).all(|i| {
        let item = StockKey::new(format!("SKU-{i}"), samples::WAREHOUSE);
        ledger
            .stock_item(&item)
            .is_none_or(|item| item.reserved() == 0)
    })
}

/// Runs the process workload on `dir`, crashing per `seed` (none for 0): first to the
/// reservations (awaiting payment, or cancelled for stock per the split policy), then, with
/// the clock past the payment deadline, to expiry. Returns the final ledger and the crashes.
async fn run_process(dir: &Path, seed: u64) -> (MemoryLedger, u32) {
    let clock = Arc::new(ManualClock::new(start()));
    let commands = process_workload();
    // Stock first (and decided, by a handler that then stops), so every order finds it.
    let (stock, orders): (Vec<_>, Vec<_>) = commands
        .into_iter()
        .partition(|c| matches!(c.command, Command::Stock(_)));
    {
        let log = open(dir);
        let received = publish_all(log.as_ref(), &stock).await;
        let handler = Handler::new(log.clone(), config(), clock.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(handler.run(async {
            let _ = stopped.await;
        }));
        for submitted in &received {
            await_result(log.as_ref(), submitted, Duration::from_secs(30))
                .await
                .unwrap()
                .expect("stock received");
        }
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
    publish_all(open(dir).as_ref(), &orders).await;
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut crashes = 0;
    let mut phase = 0;
    loop {
        let log = open(dir);
        let done = |ledger: &MemoryLedger, status: OrderStatus, short: usize| {
            let ids = order_ids(6);
            let with_status = ids
                .iter()
                .filter(|id| ledger.order(id).map(|o| o.status) == Some(status))
                .count();
            let cancelled = ids
                .iter()
                .filter(|id| ledger.order(id).map(|o| o.status) == Some(OrderStatus::Cancelled))
                .count();
            with_status == 6 - short && cancelled == short
        };
        let ledger = replayed(log.as_ref()).await;
        if phase == 0 && done(&ledger, OrderStatus::AwaitingPayment, 0) {
            phase = 1;
            clock.set(start() + chrono::Duration::hours(2));
        }
        if phase == 1 && done(&ledger, OrderStatus::Expired, 0) && reservations_released(&ledger) {
            return (ledger, crashes);
        }
        let fuse = if seed == 0 || crashes >= 40 {
            i64::MAX
        } else {
            1 + rng.below(20) as i64
        };
        let crashing: Arc<dyn Log> = Arc::new(CrashingLog {
            inner: log,
            fuse: Arc::new(AtomicI64::new(fuse)),
            fail_every: 0,
        });
        // A working set of four aggregates and a store that outlives each crash: every
        // restart resumes from snapshots, and decisions keep evicting and reloading state.
        let config = HandlerConfig {
            batch_size_max: 3,
            poll_wait: Duration::from_millis(20),
            cache_aggregates_max: 4,
            state_dir: Some(dir.join("handler-state")),
            ..HandlerConfig::default()
        };
        let want = if phase == 0 {
            OrderStatus::AwaitingPayment
        } else {
            OrderStatus::Expired
        };
        let label = format!("seed {seed}, phase {phase}");
        let done = || async { settled(crashing.as_ref(), want).await.is_some() };
        if run_until_done_or_crash(crashing.clone(), config, clock.clone(), &label, done).await {
            crashes += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_process_survives_crashes() {
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        if !message.contains("injected crash") {
            eprintln!("{message}");
        }
    }));
    let reference_dir = tempfile::tempdir().unwrap();
    let (reference, _) = run_process(reference_dir.path(), 0).await;
    let reference_log = open(reference_dir.path());
    let reference_results = results_by_command(reference_log.as_ref()).await;
    // 12 published; per order plan, reserve, record, then confirm or short/split-cancel, then
    // expiry and its releases.
    assert!(
        reference_results.len() > 12 * 4,
        "{}",
        reference_results.len()
    );
    let seeds: Vec<u64> = match std::env::var("LEDGER_SIM_SEEDS") {
        Ok(list) => list.split(',').map(|s| s.trim().parse().unwrap()).collect(),
        Err(_) => (1..=4).collect(),
    };
    for seed in seeds {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, crashes) = run_process(dir.path(), seed).await;
        assert!(crashes > 0, "seed {seed}: the simulation crashed nothing");
        for (i, id) in order_ids(6).iter().enumerate() {
            assert_eq!(
                ledger.order(id),
                reference.order(id),
                "seed {seed}: order {i}"
            );
            let item = StockKey::new(format!("SKU-{i}"), samples::WAREHOUSE);
            assert_eq!(
                ledger.stock_item(&item),
                reference.stock_item(&item),
                "seed {seed}: {item}"
            );
            assert_eq!(ledger.stock_item(&item).unwrap().reserved(), 0);
        }
        let log = open(dir.path());
        let results = results_by_command(log.as_ref()).await;
        assert_eq!(
            results.keys().collect::<Vec<_>>(),
            reference_results.keys().collect::<Vec<_>>(),
            "seed {seed}: the same commands were decided"
        );
        println!("seed {seed}: {crashes} crashes, same outcome as the crash-free run");
    }
}

/// Two hundred orders of one unit each, placed concurrently by four producers, compete for
/// fifty units: the order process reserves for exactly fifty; the others find the item short
/// and, under the split policy with nothing to sell, are cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_orders_racing_for_fifty_units_oversell_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let clock = Arc::new(ManualClock::new(start()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = Handler::new(log.clone(), HandlerConfig::default(), clock);
    let task = tokio::spawn(handler.run(async {
        let _ = stopped.await;
    }));
    let key = StockKey::new("HOT-ITEM", samples::WAREHOUSE);
    let receive = CommandEnvelope {
        command_id: Uuid::from_u128(0x7700),
        correlation_id: Uuid::from_u128(0x7700),
        causation_id: None,
        actor: Actor::new(ActorKind::Service, "wms"),
        issued_at: start(),
        command: StockCommand::from(ReceiveStock {
            item: key.clone(),
            quantity: 50,
            reference: "PO".into(),
        })
        .into(),
    };
    let received = publish(log.as_ref(), &receive).await.unwrap();
    assert!(
        await_result(log.as_ref(), &received, Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap()
            .is_accepted()
    );
    let order_of = |n: u128| OrderId::for_external_reference("race", &n.to_string());
    // Four producers place fifty orders each, concurrently.
    let mut producers = Vec::new();
    for producer in 0..4u128 {
        let log = log.clone();
        let key = key.clone();
        producers.push(tokio::spawn(async move {
            let mut submitted = Vec::new();
            for i in 0..50u128 {
                let n = producer * 50 + i;
                let mut place = samples::place_order();
                place.channel = Channel::from("race");
                place.external_reference = n.to_string();
                place.lines.truncate(1);
                place.lines[0].sku = key.sku.clone();
                place.lines[0].quantity = 1;
                let envelope = CommandEnvelope {
                    command_id: Uuid::from_u128(0x7800 + n),
                    correlation_id: Uuid::from_u128(0x7800 + n),
                    causation_id: None,
                    actor: Actor::new(ActorKind::Service, "checkout"),
                    issued_at: start(),
                    command: place.into(),
                };
                submitted.push(publish(log.as_ref(), &envelope).await.unwrap());
            }
            submitted
        }));
    }
    for producer in producers {
        for submitted in producer.await.unwrap() {
            let result = await_result(log.as_ref(), &submitted, Duration::from_secs(60))
                .await
                .unwrap()
                .expect("a definite outcome");
            assert!(result.is_accepted(), "{result:?}");
        }
    }
    // Every order reaches a definite end of its reservation: awaiting payment or cancelled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let ledger = loop {
        let ledger = replayed(log.as_ref()).await;
        let statuses: Vec<OrderStatus> = (0..200u128)
            .filter_map(|n| ledger.order(&order_of(n)).map(|o| o.status))
            .collect();
        if statuses.len() == 200
            && statuses
                .iter()
                .all(|s| matches!(s, OrderStatus::AwaitingPayment | OrderStatus::Cancelled))
        {
            break ledger;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the orders did not settle"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = stop.send(());
    let stats = task.await.unwrap().unwrap();
    let awaiting = (0..200u128)
        .filter(|&n| ledger.order(&order_of(n)).unwrap().status == OrderStatus::AwaitingPayment)
        .count();
    assert_eq!(awaiting, 50);
    // The stock item's answers: 50 reservations made, 150 refused for stock.
    assert_eq!(
        stats.rejected_by_rule.get("stock_insufficient"),
        Some(&150),
        "{stats:?}"
    );
    assert!(stats.catch_ups == 4, "{stats:?}");
    // Fold the item's events: exactly fifty reserved, nothing available, never below zero.
    let events = log.topics().name(Topic::Events);
    let partition =
        event_log::partition_for(key.to_string().as_bytes(), log.partitions(Topic::Events));
    let mut item = StockItem::default();
    for record in log
        .read(&TopicPartition::new(&events, partition), 0, 10_000)
        .await
        .unwrap()
    {
        let envelope = order_events::codec::decode_event(&record.payload).unwrap();
        if let order_events::Event::Stock(event) = envelope.event {
            order_events::stock::apply(&mut item, &event);
            item.check_invariants().unwrap();
        }
    }
    assert_eq!(
        (item.on_hand, item.reserved(), item.available()),
        (50, 50, 0)
    );
}

/// A clock that steps back (NTP, a moved VM, another instance taking a partition over) does
/// not make `recorded_at` go back within a partition: events are stamped no earlier than the
/// partition's last one, by the handler that wrote it and by a new one after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_at_never_goes_back_within_a_partition_when_the_clock_does() {
    let dir = tempfile::tempdir().unwrap();
    let commands = workload();
    let (first, rest) = commands.split_at(commands.len() / 2);
    let clock = Arc::new(ManualClock::new(start() + chrono::Duration::hours(2)));
    let run_until_answered = |submitted: Vec<Submitted>, clock: Arc<ManualClock>| {
        let log = open(dir.path());
        async move {
            let done = || all_answered(log.as_ref(), &submitted);
            let crashed =
                run_until_done_or_crash(log.clone(), config(), clock, "clock", done).await;
            assert!(!crashed);
        }
    };
    let submitted = publish_all(open(dir.path()).as_ref(), first).await;
    run_until_answered(submitted, clock.clone()).await;
    // A new handler (which catches up from the log), with the clock an hour behind.
    clock.set(start() + chrono::Duration::hours(1));
    let submitted = publish_all(open(dir.path()).as_ref(), rest).await;
    run_until_answered(submitted, clock.clone()).await;

    let log = open(dir.path());
    let topic = log.topics().name(Topic::Events);
    for partition in 0..log.partitions(Topic::Events) {
        let records = log
            .read(&TopicPartition::new(&topic, partition), 0, 1_000_000)
            .await
            .unwrap();
        let times: Vec<DateTime<Utc>> = records
            .iter()
            .map(|r| {
                order_events::codec::decode_event(&r.payload)
                    .unwrap()
                    .recorded_at
            })
            .collect();
        assert!(
            times.windows(2).all(|pair| pair[0] <= pair[1]),
            "partition {partition}: {times:?}"
        );
    }
}
