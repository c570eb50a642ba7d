//! Verify and rebuild rates next to a raw scan + decode of the same embedded log, and peak
//! memory. Not a test: `cargo bench -p replay-tool` (LEDGER_BENCH_ORDERS orders, default
//! 500 000, about 2.2 M events); figures and method in BENCHMARKS.md.

use std::time::Instant;

use chrono::{TimeZone, Utc};
use event_log::embedded::EmbeddedLog;
use event_log::{Headers, Log, OutgoingRecord, Topic, Topics, CONTENT_TYPE_BINCODE};
use order_events::codec;
use order_events::envelope::{ChainHead, CommandEnvelope, Event};
use order_events::ids::{Channel, CustomerId, MerchantId, OrderId};
use order_events::order::{OrderCommand, OrderEvent, OrderStatus};
use order_events::testkit::samples;
use projections::Projector;

/// Resident and peak resident memory of this process, in MiB (Linux).
fn memory_mib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Highest resident memory seen by a sampler thread since the last reset, in MiB.
struct Sampler(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl Sampler {
    fn start() -> Sampler {
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let seen = peak.clone();
        std::thread::spawn(move || loop {
            seen.fetch_max(memory_mib().0, std::sync::atomic::Ordering::Relaxed);
            std::thread::sleep(std::time::Duration::from_millis(20));
        });
        Sampler(peak)
    }

    /// The peak since the last call, and a new start from the current level.
    fn take(&self) -> u64 {
        self.0
            .swap(memory_mib().0, std::sync::atomic::Ordering::Relaxed)
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
                Headers::for_message(CONTENT_TYPE_BINCODE, sealed.envelope.event.type_name(), 1),
                sealed.record,
            )
        })
        .collect()
}

fn main() {
    let orders: u64 = std::env::var("LEDGER_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(&dir.path().join("log"), Topics::new("audit", 8).unwrap()).unwrap();
        let mut batch = Vec::new();
        for n in 0..orders {
            batch.extend(order_records(&log, n));
            if batch.len() >= 20_000 {
                log.publish(std::mem::take(&mut batch)).await.unwrap();
            }
        }
        log.publish(batch).await.unwrap();
        let events: u64 = log.end_offsets(Topic::Events).await.unwrap().iter().sum();
        println!("log: {orders} orders, {events} events; memory after writing it {:?} MiB (rss, peak)", memory_mib());
        let sampler = Sampler::start();
        sampler.take();

        let started = Instant::now();
        let mut decoded = 0u64;
        replay_tool::scan(&log, |record| {
            codec::decode_event(&record.payload).unwrap();
            decoded += 1;
            Ok(())
        })
        .await
        .unwrap();
        let raw = decoded as f64 / started.elapsed().as_secs_f64();
        println!("raw scan + decode: {raw:.0} events/s; peak resident memory during it {} MiB", sampler.take());

        let started = Instant::now();
        let report = replay_tool::verify(&log).await.unwrap();
        assert!(report.is_intact());
        let verify = report.events as f64 / started.elapsed().as_secs_f64();
        println!("verify: {verify:.0} events/s ({:.0} % of raw); peak resident memory during it {} MiB", 100.0 * verify / raw, sampler.take());

        let started = Instant::now();
        let rebuilt = replay_tool::rebuild::rebuild(&log, &dir.path().join("rebuilt"), Projector::default(), None, false)
            .await
            .unwrap();
        let rebuild = rebuilt.events as f64 / started.elapsed().as_secs_f64();
        println!("rebuild: {rebuild:.0} events/s ({:.0} % of raw); peak resident memory during it {} MiB", 100.0 * rebuild / raw, sampler.take());
    });
}
