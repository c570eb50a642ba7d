//! The warehouse's wave listings with years of waves in the read models. Not a test:
//! `cargo bench -p projections --bench waves` (LEDGER_BENCH_WAVES sets the wave count, default
//! 20 000: four warehouses planning a wave of 40 orders every 2 hours, for about 2 years);
//! figures and method in BENCHMARKS.md.
//!
//! Every wave is planned, picked line by line and completed, but the newest of each
//! warehouse, which is still picking. Timed: the open waves of one warehouse (what the
//! planner and `GET /v1/waves?open=true` read), the newest 50 of every warehouse, and the
//! planner's proposal for a warehouse.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use event_log::{partition_for, StoredRecord};
use order_events::codec;
use order_events::envelope::{ChainHead, CommandEnvelope, Event};
use order_events::ids::{OrderId, Sku, WarehouseId, WaveId};
use order_events::order::ServiceLevel;
use order_events::shipping::Shipping;
use order_events::wave::{
    PickListLine, PickRecorded, PlanWave, WaveCommand, WaveCompleted, WaveEvent, WavePlanned,
};
use projections::testing::stored_event;
use projections::warehouse_queries::WavePlanRequest;
use projections::{ProjectionStore, Projector};

const PARTITIONS: u32 = 8;
const WAREHOUSES: [&str; 4] = ["BER-1", "HAM-1", "MUC-1", "CGN-1"];
const LINES: u32 = 40;

/// The allocator of the binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn planned_at(n: u64) -> DateTime<Utc> {
    let per_warehouse = n / WAREHOUSES.len() as u64;
    Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()
        + chrono::Duration::hours(2 * per_warehouse as i64)
}

/// Wave `n`'s events: planned, and unless `open`, each line picked and the wave completed.
fn wave_events(n: u64, open: bool) -> Vec<Event> {
    let warehouse = WarehouseId::from(WAREHOUSES[(n % WAREHOUSES.len() as u64) as usize]);
    let at = planned_at(n);
    let pick_list: Vec<PickListLine> = (0..LINES)
        .map(|i| PickListLine {
            bin: Some(format!("A-{:02}-{:02}", i / 8, i % 8)),
            sku: Sku::new(format!("SKU-{:03}", (n + u64::from(i)) % 200)),
            order_id: OrderId(uuid::Uuid::from_u64_pair(n, u64::from(i))),
            quantity: 1 + i % 3,
            service_level: ServiceLevel::Standard,
        })
        .collect();
    let mut events = vec![WaveEvent::from(WavePlanned {
        warehouse,
        carrier: None,
        service_level: None,
        cutoff_at: None,
        pick_list: pick_list.clone(),
        planned_at: at,
    })];
    if !open {
        events.extend(pick_list.into_iter().map(|line| {
            WaveEvent::from(PickRecorded {
                order_id: line.order_id,
                sku: line.sku,
                bin: line.bin,
                quantity: line.quantity,
                picked_quantity: line.quantity,
            })
        }));
        events.push(WaveEvent::from(WaveCompleted {
            lines: LINES,
            short_lines: 0,
            completed_at: at + chrono::Duration::minutes(45),
        }));
    }
    events.into_iter().map(Event::Wave).collect()
}

/// The records of `waves` waves, in steps of 50 waves as the worker folds polls.
fn steps(waves: u64) -> Vec<Vec<StoredRecord>> {
    let mut next = [0u64; PARTITIONS as usize];
    let newest = waves.saturating_sub(WAREHOUSES.len() as u64);
    let mut steps = Vec::new();
    for first in (0..waves).step_by(50) {
        let mut step = Vec::new();
        for n in first..(first + 50).min(waves) {
            let id = WaveId::from(format!("W-{n:06}").as_str());
            let command = CommandEnvelope {
                command_id: uuid::Uuid::from_u64_pair(0xa7e, n),
                correlation_id: uuid::Uuid::from_u64_pair(0xa7e, n),
                causation_id: None,
                actor: order_events::Actor::new(order_events::ActorKind::Service, "bench"),
                issued_at: planned_at(n),
                command: WaveCommand::from(PlanWave {
                    wave_id: id.clone(),
                    warehouse: WAREHOUSES[0].into(),
                    carrier: None,
                    service_level: None,
                    cutoff_at: None,
                    orders: Vec::new(),
                })
                .into(),
            };
            let events = wave_events(n, n >= newest);
            let key = id.as_str().as_bytes().to_vec();
            let partition = partition_for(&key, PARTITIONS);
            for sealed in codec::seal(&command, ChainHead::GENESIS, events, planned_at(n)) {
                let offset = next[partition as usize];
                next[partition as usize] += 1;
                step.push(stored_event("bench.events", sealed, partition, offset));
            }
        }
        steps.push(step);
    }
    steps
}

/// The median of `runs` timings of `query`, in microseconds.
fn median_us(runs: usize, mut query: impl FnMut()) -> f64 {
    let mut took: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            query();
            started.elapsed()
        })
        .collect();
    took.sort();
    took[runs / 2].as_secs_f64() * 1e6
}

fn main() {
    let waves: u64 = std::env::var("LEDGER_BENCH_WAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let store =
        ProjectionStore::open(&dir.path().join("read-models"), Projector::default()).unwrap();
    let started = Instant::now();
    for step in steps(waves) {
        store.fold(&step).unwrap();
    }
    store.flush().unwrap();
    println!(
        "{waves} waves of {LINES} lines folded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let open = store.waves(Some("HAM-1"), true, 100).unwrap();
    assert_eq!(open.len(), 1, "the newest wave of HAM-1 is still picking");
    let newest = store.waves(None, false, 50).unwrap();
    assert_eq!(newest.len(), 50);
    let runs = 21;
    let open_us = median_us(runs, || {
        store.waves(Some("HAM-1"), true, 100).unwrap();
    });
    let newest_us = median_us(runs, || {
        store.waves(None, false, 50).unwrap();
    });
    let request = WavePlanRequest {
        wave_id: WaveId::from("W-next"),
        warehouse: "HAM-1".into(),
        orders_max: 40,
        carrier: None,
        service_level: None,
        cutoff_at: None,
    };
    let shipping = Shipping::default();
    let plan_us = median_us(runs, || {
        store
            .propose_wave(&request, &shipping, &Default::default())
            .unwrap();
    });
    println!(
        "median of {runs}: open waves of a warehouse {open_us:.0} us, newest 50 waves {newest_us:.0} us, the planner's proposal {plan_us:.0} us"
    );
}
