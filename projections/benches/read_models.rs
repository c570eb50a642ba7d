//! Projection apply rate and query latency with many orders in the read models. Not a test:
//! `cargo bench -p projections` (LEDGER_BENCH_ORDERS sets the order count, default 1 000 000);
//! figures and method in BENCHMARKS.md.
//!
//! Each order gets the sample journey of the domain's test kit up to a status drawn from its
//! number (placed … delivered, returned, refunded, cancelled), with its own id, merchant,
//! customer, channel and placement time; events are sealed (hash chain) and stored as the log
//! stores them, then folded in steps of ~500 records as the worker folds a poll. Only the
//! folding is timed.

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use event_log::{partition_for, StoredRecord};
use order_events::codec;
use order_events::envelope::{ChainHead, CommandEnvelope, Event};
use order_events::ids::{Channel, CustomerId, MerchantId, OrderId};
use order_events::order::{OrderCommand, OrderEvent, OrderStatus};
use order_events::simulation::SplitMix64;
use order_events::testkit::samples;
use projections::query::OrderFilter;
use projections::testing::stored_event;
use projections::{ProjectionStore, Projector};

const PARTITIONS: u32 = 8;

/// The allocator of the binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn order_events(n: u64) -> (OrderId, Vec<OrderEvent>) {
    use OrderStatus::*;
    let statuses = [
        Placed,
        AwaitingPayment,
        Paid,
        Shipped,
        Delivered,
        Delivered,
        Completed,
        Completed,
        PartiallyReturned,
        Refunded,
        Cancelled,
        OnHold,
    ];
    let status = statuses[(n % statuses.len() as u64) as usize];
    let id = OrderId(uuid::Uuid::from_u64_pair(0xbe4c, n));
    let mut events = samples::history_to(status);
    if let OrderEvent::OrderPlaced(placed) = &mut events[0] {
        placed.order_id = id;
        placed.merchant_id = MerchantId::new(format!("merchant-{}", n % 50));
        placed.customer_id = CustomerId::new(format!("cust-{}", n % 100_000));
        placed.channel = Channel::new(["web", "app", "marketplace"][(n % 3) as usize]);
        placed.placed_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::minutes(n as i64);
    }
    (id, events)
}

fn records(first: u64, count: u64, next: &mut [u64]) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    for n in first..first + count {
        let (id, events) = order_events(n);
        let command = CommandEnvelope {
            command_id: uuid::Uuid::from_u64_pair(0xc0, n),
            correlation_id: uuid::Uuid::from_u64_pair(0xc0, n),
            causation_id: None,
            actor: order_events::Actor::new(order_events::ActorKind::Service, "bench"),
            issued_at: order_events::testkit::at(0),
            command: OrderCommand::from(order_events::order::ExpireOrder { order_id: id }).into(),
        };
        let events: Vec<Event> = events.into_iter().map(Event::Order).collect();
        let recorded_at = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::minutes(n as i64 + 5);
        for sealed in codec::seal(&command, ChainHead::GENESIS, events, recorded_at) {
            let key = id.to_string().into_bytes();
            let partition = partition_for(&key, PARTITIONS);
            let offset = next[partition as usize];
            next[partition as usize] += 1;
            out.push(stored_event("bench.events", sealed, partition, offset));
        }
    }
    out
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99))
}

/// The records of `orders` orders, in steps of `chunk` orders as the worker folds polls.
fn all_steps(orders: u64, chunk: u64) -> Vec<Vec<StoredRecord>> {
    let mut next = vec![0u64; PARTITIONS as usize];
    let mut steps = Vec::new();
    let mut n = 0;
    while n < orders {
        let count = chunk.min(orders - n);
        steps.push(records(n, count, &mut next));
        n += count;
    }
    steps
}

/// Folds `steps` into `stores` as that many workers of one consumer group would: worker `w`
/// folds the records of the partitions `p % stores.len() == w`, each on a thread of its own,
/// in steps of about the same size. Returns the wall-clock time and the steps folded again
/// after a conflict.
fn fold_with_workers(stores: &[ProjectionStore], steps: &[Vec<StoredRecord>]) -> (Duration, u32) {
    let workers = stores.len() as u32;
    let shares: Vec<Vec<Vec<StoredRecord>>> = (0..workers)
        .map(|w| {
            let mine: Vec<StoredRecord> = steps
                .iter()
                .flatten()
                .filter(|r| r.partition % workers == w)
                .cloned()
                .collect();
            let size = steps.first().map_or(1, Vec::len).max(1);
            mine.chunks(size).map(<[StoredRecord]>::to_vec).collect()
        })
        .collect();
    let started = Instant::now();
    let conflicts = std::thread::scope(|scope| {
        let threads: Vec<_> = stores
            .iter()
            .zip(&shares)
            .map(|(store, share)| {
                scope.spawn(move || {
                    share
                        .iter()
                        .map(|step| store.fold(step).unwrap().conflicts)
                        .sum::<u32>()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    (started.elapsed(), conflicts)
}

fn main() {
    event_log::process::disable_transparent_huge_pages();
    let orders: u64 = std::env::var("LEDGER_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let steps = all_steps(orders, 70);
    let events: u64 = steps.iter().map(|s| s.len() as u64).sum();
    let dir = tempfile::tempdir().unwrap();
    let store =
        ProjectionStore::open(&dir.path().join("read-models"), Projector::default()).unwrap();
    let mut folding = Duration::ZERO;
    for (i, step) in steps.iter().enumerate() {
        let started = Instant::now();
        let stats = store.fold(step).unwrap();
        folding += started.elapsed();
        assert_eq!(stats.applied as usize, step.len());
        if (i + 1) % 1_430 == 0 {
            eprintln!(
                "{} orders, {:.0} events/s so far",
                (i + 1) * 70,
                steps[..=i].iter().map(Vec::len).sum::<usize>() as f64 / folding.as_secs_f64()
            );
        }
    }
    store.flush().unwrap();
    println!(
        "fold into sled: {orders} orders, {events} events in {:.1} s: {:.0} events/s",
        folding.as_secs_f64(),
        events as f64 / folding.as_secs_f64()
    );
    queries("sled", &store, orders);

    // PostgreSQL (LEDGER_BENCH_POSTGRES=1): a throwaway cluster, or LEDGER_TEST_POSTGRES.
    // Each worker count folds into a fresh schema; the queries run on the first.
    if std::env::var("LEDGER_BENCH_POSTGRES").is_ok() {
        let server = projections::testing::TestPostgres::start();
        let mut first = None;
        // LEDGER_BENCH_WORKERS: the worker counts to run, e.g. "1,2" (the default) or "2".
        let counts: Vec<usize> = std::env::var("LEDGER_BENCH_WORKERS")
            .unwrap_or_else(|_| "1,2".to_owned())
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        for workers in counts {
            let schema = projections::testing::unique_schema(&format!("bench{workers}"));
            let stores: Vec<ProjectionStore> = (0..workers)
                .map(|_| {
                    ProjectionStore::open_postgres(server.url(), &schema, Projector::default())
                        .unwrap()
                })
                .collect();
            let (took, conflicts) = fold_with_workers(&stores, &steps);
            println!(
                "fold into PostgreSQL, {workers} worker(s): {events} events in {:.1} s: {:.0} events/s, {conflicts} steps folded again after a conflict",
                took.as_secs_f64(),
                events as f64 / took.as_secs_f64()
            );
            assert_eq!(stores[0].digests().unwrap(), store.digests().unwrap());
            first.get_or_insert(stores);
        }
        if let Some(stores) = first {
            queries("PostgreSQL", &stores[0], orders);
        }
    }
}

/// Times each query on `store`, which holds `orders` orders.
fn queries(name: &str, store: &ProjectionStore, orders: u64) {
    println!("queries on {name}:");
    let mut rng = SplitMix64::new(7);
    let mut time = |name: &str, runs: usize, query: &mut dyn FnMut(&mut SplitMix64)| {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            query(&mut rng);
            samples.push(started.elapsed());
        }
        let (p50, p99) = percentiles(samples);
        println!("query {name:<34} p50 {p50:>9.1} µs  p99 {p99:>9.1} µs");
    };
    time("order by id", 2000, &mut |rng| {
        let id = OrderId(uuid::Uuid::from_u64_pair(0xbe4c, rng.below(orders)));
        assert!(store.order(id).unwrap().is_some());
    });
    time("orders page of 100 (all, by time)", 300, &mut |rng| {
        let from = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
            + chrono::Duration::minutes(rng.below(orders) as i64);
        let filter = OrderFilter {
            from: Some(from),
            ..OrderFilter::default()
        };
        store.orders(&filter, 100, None).unwrap();
    });
    time("orders page of 100 (one merchant)", 300, &mut |rng| {
        let filter = OrderFilter {
            merchant: Some(format!("merchant-{}", rng.below(50))),
            ..OrderFilter::default()
        };
        assert_eq!(store.orders(&filter, 100, None).unwrap().items.len(), 100);
    });
    time("orders page of 100 (merchant + status)", 300, &mut |rng| {
        let filter = OrderFilter {
            merchant: Some(format!("merchant-{}", rng.below(50))),
            status: Some(OrderStatus::Completed),
            ..OrderFilter::default()
        };
        store.orders(&filter, 100, None).unwrap();
    });
    time("exception queue (first 100)", 100, &mut |_| {
        let sla = projections::model::Slas {
            statuses: [(OrderStatus::Paid, 48)].into(),
            claim_hours: 48,
        };
        store
            .exceptions(
                Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap(),
                &sla,
                100,
            )
            .unwrap();
    });
    time("merchant balances", 300, &mut |_| {
        let now = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
        store
            .merchant_balances(None, None, now, &order_events::Policy::default())
            .unwrap();
    });
    time("trial balance", 300, &mut |_| {
        assert!(store.trial_balance().unwrap().balanced);
    });
    time("report, one month", 100, &mut |rng| {
        let from = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap()
            + chrono::Duration::days(rng.below(600) as i64);
        store
            .report(Some(from), Some(from + chrono::Duration::days(30)), None)
            .unwrap();
    });
    time("report, everything", 20, &mut |_| {
        store.report(None, None, None).unwrap();
    });
}
