//! Verify and rebuild rates next to a raw scan + decode of the same embedded log, and peak
//! memory. Not a test: `cargo bench -p replay-tool` (LEDGER_BENCH_ORDERS orders, default
//! 500 000, about 2.2 M events); figures and method in BENCHMARKS.md.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use event_log::embedded::EmbeddedLog;
use event_log::{
    Headers, Log, LogReader, LogWriter, OutgoingRecord, Topic, Topics, CONTENT_TYPE_BINCODE,
};
use order_events::codec;
use order_events::envelope::{ChainHead, CommandEnvelope, Event};
use order_events::ids::{Channel, CustomerId, MerchantId, OrderId};
use order_events::order::{OrderCommand, OrderEvent, OrderStatus};
use order_events::testkit::samples;
use projections::Projector;

/// The allocator of the binaries (see replay-tool/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resident, peak resident and anonymous resident memory of this process, in MiB (Linux).
/// Resident memory also counts the pages of the log's segments that readers map; the
/// anonymous part is the process's own.
fn memory_mib() -> (u64, u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
}

/// Highest resident memory (all, and anonymous) seen by a sampler thread since the last reset,
/// in MiB.
struct Sampler([std::sync::Arc<std::sync::atomic::AtomicU64>; 2]);

impl Sampler {
    fn start() -> Sampler {
        let peaks = [(); 2].map(|()| std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)));
        let seen = peaks.clone();
        std::thread::spawn(move || loop {
            let (rss, _, anon) = memory_mib();
            seen[0].fetch_max(rss, std::sync::atomic::Ordering::Relaxed);
            seen[1].fetch_max(anon, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
        Sampler(peaks)
    }

    /// The peaks since the last call, as text, and a new start from the current level.
    fn take(&self) -> String {
        let (rss, _, anon) = memory_mib();
        let rss = self.0[0].swap(rss, std::sync::atomic::Ordering::Relaxed);
        let anon = self.0[1].swap(anon, std::sync::atomic::Ordering::Relaxed);
        format!("{rss} MiB ({anon} MiB anonymous, the rest mapped pages of the log)")
    }
}

fn order_records(log: &dyn Log, n: u64) -> Vec<OutgoingRecord> {
    use OrderStatus::*;
    let statuses = [
        Placed,
        Paid,
        Shipped,
        Delivered,
        Completed,
        PartiallyReturned,
        Refunded,
        Cancelled,
    ];
    let id = OrderId(uuid::Uuid::from_u64_pair(0xa0d17, n));
    let mut events = samples::history_to(statuses[(n % statuses.len() as u64) as usize]);
    if let OrderEvent::OrderPlaced(placed) = &mut events[0] {
        placed.order_id = id;
        placed.merchant_id = MerchantId::new(format!("merchant-{}", n % 50));
        placed.customer_id = CustomerId::new(format!("cust-{}", n % 100_000));
        placed.channel = Channel::new(["web", "app", "marketplace"][(n % 3) as usize]);
    }
    let command = CommandEnvelope {
        command_id: uuid::Uuid::from_u64_pair(0xc0, n),
        correlation_id: uuid::Uuid::from_u64_pair(0xc0, n),
        causation_id: None,
        actor: order_events::Actor::new(order_events::ActorKind::Service, "bench"),
        issued_at: order_events::testkit::at(0),
        command: OrderCommand::from(order_events::order::ExpireOrder { order_id: id }).into(),
    };
    let recorded_at =
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(n as i64);
    let events = events.into_iter().map(Event::Order).collect();
    codec::seal(&command, ChainHead::GENESIS, events, recorded_at)
        .into_iter()
        .map(|sealed| {
            OutgoingRecord::new(
                log.topics().name(Topic::Events),
                id.to_string(),
                Headers::for_message(
                    CONTENT_TYPE_BINCODE,
                    sealed.envelope.event.type_name(),
                    sealed.envelope.event.schema_version(),
                ),
                sealed.record,
            )
        })
        .collect()
}

/// `LEDGER_BENCH_<name>` parsed, or `default`.
fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(format!("LEDGER_BENCH_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes the log of `orders` orders into `path`.
async fn write_log(path: &std::path::Path, orders: u64) {
    let log = EmbeddedLog::open(path, Topics::new("audit", 8).unwrap()).unwrap();
    let mut batch = Vec::new();
    for n in 0..orders {
        batch.extend(order_records(&log, n));
        if batch.len() >= 20_000 {
            log.publish(std::mem::take(&mut batch)).await.unwrap();
        }
        if n % 100_000 == 0 && n > 0 {
            eprintln!("written {n} orders");
        }
    }
    log.publish(batch).await.unwrap();
}

/// Environment: LEDGER_BENCH_ORDERS (orders written, default 500 000), LEDGER_BENCH_LOG (a
/// directory to keep the log in and reuse on the next run, so a long log is written once and
/// each phase can be measured in a fresh process), LEDGER_BENCH_PHASES (any of raw, verify,
/// rebuild, comma-separated; default all), LEDGER_BENCH_STATES and LEDGER_BENCH_HEADS (how many of
/// each verify keeps in memory), LEDGER_BENCH_PROGRESS=true (rebuild's progress bar, on a terminal),
/// LEDGER_BENCH_STORE_CACHE_MIB (the rebuilt store's page cache; default 256).
fn main() {
    event_log::process::disable_transparent_huge_pages();
    let orders: u64 = setting("ORDERS", 500_000);
    let phases: String = setting("PHASES", "raw,plain,verify,proof,rebuild".to_owned());
    let states = setting("STATES", replay_tool::follow::STATES_IN_MEMORY);
    let heads = setting("HEADS", replay_tool::follow::HEADS_IN_MEMORY);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let scratch = tempfile::tempdir().unwrap();
        let path = std::env::var_os("LEDGER_BENCH_LOG")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| scratch.path().join("log"));
        if !path.join("ledger-log").exists() {
            write_log(&path, orders).await;
        }
        let log = EmbeddedLog::open_existing(&path, Topics::new("audit", 8).unwrap()).unwrap();
        let events: u64 = log.end_offsets(Topic::Events).await.unwrap().iter().sum();
        println!(
            "log: {events} events; memory after opening it {:?} MiB (rss, peak, anonymous)",
            memory_mib()
        );
        let sampler = Sampler::start();
        sampler.take();

        // The raw rate is the yardstick of the others; a run without the raw phase prints
        // plain rates.
        let mut raw = None;
        if phases.contains("raw") {
            let started = Instant::now();
            let mut decoded = 0u64;
            replay_tool::scan(&log, |record| {
                codec::decode_event(&record.payload).unwrap();
                decoded += 1;
                Ok(())
            })
            .await
            .unwrap();
            let rate = decoded as f64 / started.elapsed().as_secs_f64();
            raw = Some(rate);
            println!(
                "raw scan + decode: {rate:.0} events/s; peak resident memory during it {}",
                sampler.take()
            );
        }
        let share = |rate: f64| {
            raw.map(|raw| format!(" ({:.0} % of raw)", 100.0 * rate / raw))
                .unwrap_or_default()
        };

        // `plain`: verify without the Merkle trees (as before issue 21), to see what they cost.
        if phases.contains("plain") {
            let started = Instant::now();
            let mut verifier = replay_tool::Verifier::default().with_memory_limits(states, heads);
            replay_tool::check_all(&log, replay_tool::Start::Beginning, &mut verifier)
                .await
                .unwrap();
            let report = verifier.finish().unwrap();
            assert!(report.is_intact());
            let plain = report.events as f64 / started.elapsed().as_secs_f64();
            println!(
                "verify without trees: {plain:.0} events/s{}; peak resident memory during it {}",
                share(plain),
                sampler.take()
            );
        }

        // `verify`: as `replay verify --checkpoint` runs — the trees grown in the same pass and
        // checked against a kept checkpoint (the log's own, made first and timed apart).
        if phases.contains("verify") {
            let started = Instant::now();
            let kept = replay_tool::checkpoint::checkpoint(&log).await.unwrap();
            let made = started.elapsed().as_secs_f64();
            println!(
                "checkpoint: {:.0} events/s{}",
                events as f64 / made,
                share(events as f64 / made)
            );
            let started = Instant::now();
            let partitions = log.end_offsets(Topic::Events).await.unwrap().len();
            let mut verifier = replay_tool::Verifier::default()
                .with_memory_limits(states, heads)
                .witnessing(partitions, Some(kept.clone()));
            replay_tool::check_all(&log, replay_tool::Start::Beginning, &mut verifier)
                .await
                .unwrap();
            let report = verifier.finish().unwrap();
            assert!(report.is_intact(), "{:?}", report.breaks.first());
            assert_eq!(report.root.as_ref(), Some(&kept.root));
            let verify = report.events as f64 / started.elapsed().as_secs_f64();
            println!(
                "verify --checkpoint: {verify:.0} events/s{}; peak resident memory during it {}",
                share(verify),
                sampler.take()
            );
        }

        // `proof`: one event from the middle of partition 0, proven against the log's
        // checkpoint: how long it takes and how large it is.
        if phases.contains("proof") {
            let tp = event_log::TopicPartition::new(log.topics().name(Topic::Events), 0);
            let end = log.end_offsets(Topic::Events).await.unwrap()[0];
            let record = log.read(&tp, end / 2, 1).await.unwrap().remove(0);
            let event_id = codec::decode_event(&record.payload).unwrap().event_id;
            let started = Instant::now();
            let proof = replay_tool::proof::prove(&log, event_id, None, None)
                .await
                .unwrap();
            let took = started.elapsed().as_secs_f64();
            let size = serde_json::to_string_pretty(&proof).unwrap().len();
            println!(
                "proof of one event among {events}: {size} bytes, {} + {} hashes, {took:.1} s",
                proof.path.len(),
                proof.heads_path.len()
            );
        }

        if phases.contains("rebuild") {
            let started = Instant::now();
            let rebuilt = replay_tool::rebuild::rebuild(
                &log,
                &scratch.path().join("rebuilt"),
                Projector::default(),
                None,
                replay_tool::rebuild::RebuildOptions {
                    progress: setting("PROGRESS", false),
                    store_cache_bytes: setting("STORE_CACHE_MIB", 256u64) << 20,
                },
            )
            .await
            .unwrap();
            let rebuild = rebuilt.events as f64 / started.elapsed().as_secs_f64();
            println!(
                "rebuild: {rebuild:.0} events/s{}; peak resident memory during it {}",
                share(rebuild),
                sampler.take()
            );
        }
    });
}
