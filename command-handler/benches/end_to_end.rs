//! End-to-end commands/s: published, decoded, decided, appended and answered, next to the raw
//! transactional append ceiling of the same log in the same run. Not a test: run with
//! `cargo bench -p command-handler`; figures and method in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use command_handler::client::{await_result, json_record, publish, Submitted};
use command_handler::{Handler, HandlerConfig, ManualClock};
use event_log::embedded::EmbeddedLog;
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{transact, Headers, Log, OutgoingRecord, Topic, Topics, CONTENT_TYPE_BINCODE};
use order_events::codec::json;
use order_events::envelope::CommandEnvelope;
use order_events::ids::StockKey;
use order_events::stock::{ReceiveStock, StockCommand};
use order_events::{Actor, ActorKind};
use uuid::Uuid;

const PARTITIONS: u32 = 8;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Commands in the embedded run: `LEDGER_BENCH_COMMANDS`, 10 000 by default.
fn embedded_commands() -> usize {
    std::env::var("LEDGER_BENCH_COMMANDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn command(n: u128) -> CommandEnvelope {
    CommandEnvelope {
        command_id: Uuid::from_u128(0xbe00_0000 + n),
        correlation_id: Uuid::from_u128(0xbe00_0000 + n),
        causation_id: None,
        actor: Actor::new(ActorKind::Service, "bench"),
        issued_at: Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap(),
        command: StockCommand::from(ReceiveStock {
            item: StockKey::new(format!("SKU-{}", n % 1000), "BER-1"),
            quantity: 1,
            reference: format!("PO-{n}"),
        })
        .into(),
    }
}

/// Raw ceiling: transactions of event-sized (400 B) records, 100 per transaction unless
/// `LEDGER_BENCH_RAW_TRANSACTION` says otherwise.
async fn raw_append(log: &dyn Log, records: usize) -> f64 {
    let events = log.topics().name(Topic::Events);
    let mut producer = log.producer("raw").await.unwrap();
    let size: usize = std::env::var("LEDGER_BENCH_RAW_TRANSACTION")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let started = Instant::now();
    for batch in 0..records / size {
        let records = (0..size)
            .map(|i| {
                OutgoingRecord::new(
                    &events,
                    format!("SKU-{}", (batch * size + i) % 1000),
                    Headers::for_message(CONTENT_TYPE_BINCODE, "StockReceived", 1),
                    vec![7; 400],
                )
            })
            .collect();
        transact(producer.as_mut(), records, None).await.unwrap();
    }
    records as f64 / started.elapsed().as_secs_f64()
}

/// `raw` is a second deployment on the same backend for the ceiling: raw records in the events
/// topic are not events, and the handler would rightly refuse to catch up over them.
async fn measure(name: &str, log: Arc<dyn Log>, raw: Arc<dyn Log>, commands: usize) {
    let raw = raw_append(raw.as_ref(), commands).await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap(),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(Handler::new(log.clone(), bench_config(), clock).run(async {
        let _ = stopped.await;
    }));
    // Warm-up: the handler has joined its group and caught up once this is answered (a new
    // group's first join waits for the broker's initial rebalance delay, seconds on Kafka).
    let warm_up = publish(log.as_ref(), &command(2_000_000)).await.unwrap();
    await_result(log.as_ref(), &warm_up, Duration::from_secs(120))
        .await
        .unwrap()
        .expect("answered");
    // Throughput: all commands published in one pipelined batch while the handler runs, until
    // the last command of every partition is answered (partitions are processed in order).
    let ends = log.end_offsets(Topic::CommandResults).await.unwrap();
    let envelopes: Vec<CommandEnvelope> = (0..commands).map(|n| command(n as u128)).collect();
    let records = envelopes
        .iter()
        .map(|e| json_record(log.as_ref(), json::encode_command_json(e).as_bytes(), e))
        .collect();
    let appended_before = appended(log.as_ref()).await;
    let started = Instant::now();
    log.publish(records).await.unwrap();
    let mut last_per_partition = std::collections::BTreeMap::new();
    for envelope in &envelopes {
        let partition = event_log::partition_for(
            envelope.command.target().id.as_bytes(),
            log.partitions(Topic::Commands),
        );
        last_per_partition.insert(partition, envelope);
    }
    for (&partition, envelope) in &last_per_partition {
        let submitted = Submitted {
            command_id: envelope.command_id,
            aggregate: envelope.command.target(),
            digest: order_events::codec::command_digest(envelope),
            partition,
            results_from: ends[partition as usize],
        };
        await_result(log.as_ref(), &submitted, Duration::from_secs(120))
            .await
            .unwrap()
            .expect("answered");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let throughput = commands as f64 / elapsed;
    // Every record appended in the window, on every topic: the published commands, and the
    // events and results the handler appended for them.
    let records_appended = appended(log.as_ref()).await - appended_before;
    let record_figure = if name == "embedded" {
        let rate = records_appended as f64 / elapsed;
        format!(
            "; {rate:.0} records/s appended in the window ({:.0} % of the ceiling)",
            100.0 * rate / raw
        )
    } else {
        String::new()
    };
    // Latency: one command at a time, publish to result read back.
    let mut latencies = Vec::new();
    for n in 0..300 {
        let sent = Instant::now();
        let s = publish(log.as_ref(), &command(1_000_000 + n))
            .await
            .unwrap();
        await_result(log.as_ref(), &s, Duration::from_secs(60))
            .await
            .unwrap()
            .expect("answered");
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let p = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    println!(
        "{name:<9} {commands:>6} commands: {throughput:>8.0} commands/s end to end ({:.0} % of the raw ceiling {raw:.0} rec/s){record_figure}; latency p50 {:.1} ms, p99 {:.1} ms",
        100.0 * throughput / raw,
        p(0.50),
        p(0.99)
    );
}

/// Records on every topic of the deployment. Only the embedded log's offsets count records:
/// Kafka's count transaction markers too (and tansu's high watermark moves once per produced
/// batch), so the bench reports this figure for the embedded backend only.
async fn appended(log: &dyn Log) -> u64 {
    let mut total = 0;
    for topic in Topic::ALL {
        total += log.end_offsets(topic).await.unwrap().iter().sum::<u64>();
    }
    total
}

fn main() {
    event_log::process::disable_transparent_huge_pages();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let log = EmbeddedLog::open(
            &dir.path().join("ledger"),
            Topics::new("bench", PARTITIONS).unwrap(),
        )
        .unwrap();
        let raw = EmbeddedLog::open(
            &dir.path().join("raw"),
            Topics::new("raw", PARTITIONS).unwrap(),
        )
        .unwrap();
        measure(
            "embedded",
            Arc::new(log),
            Arc::new(raw),
            embedded_commands(),
        )
        .await;

        if std::env::var("LEDGER_BENCH_EMBEDDED_ONLY").is_ok() {
            return;
        }
        let broker = TestBroker::start();
        let mut settings = broker.settings();
        settings.operation_timeout = Duration::from_secs(60);
        if let Ok(props) = std::env::var("LEDGER_BENCH_KAFKA_PROPS") {
            for assignment in props.split(',') {
                settings = settings.with_property(assignment).unwrap();
            }
        }
        let log = KafkaLog::connect(
            settings.clone(),
            Topics::new(&unique_prefix("bench"), PARTITIONS).unwrap(),
        )
        .await
        .unwrap();
        let raw = KafkaLog::connect(
            settings,
            Topics::new(&unique_prefix("raw"), PARTITIONS).unwrap(),
        )
        .await
        .unwrap();
        // tansu holds an empty fetch for the whole `fetch.wait.max.ms` (500 ms by default)
        // instead of answering when records arrive; `LEDGER_BENCH_KAFKA_PROPS=fetch.wait.max.ms=10`
        // shows the latency without that wait.
        let name = if broker.is_external() {
            "kafka"
        } else {
            "tansu"
        };
        measure(name, Arc::new(log), Arc::new(raw), 3_000).await;
    });
}

/// The handler's settings, with `LEDGER_BENCH_SNAPSHOT_EVERY` to vary the store's write rate.
fn bench_config() -> HandlerConfig {
    let mut config = HandlerConfig::default();
    if let Some(every) = std::env::var("LEDGER_BENCH_SNAPSHOT_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.snapshot_every_events = every;
    }
    config
}
