//! Raw transport throughput of each backend: transactional append and sequential read of
//! event-sized records. Not a test: run with `cargo bench -p event-log`; figures in
//! BENCHMARKS.md.
//!
//! Each backend: append records of `LEDGER_BENCH_PAYLOAD` bytes (default 400) in transactions
//! of `LEDGER_BENCH_BATCH` (default 500; keys spread over 8 partitions, one commit per batch,
//! durable/acknowledged before the next), then read every partition from 0 to the end in
//! chunks of 1000. Wall-clock time around each phase; three runs, best reported.
//! `LEDGER_BENCH_RECORDS` (default 200 000) sets the embedded count; Kafka appends 10 000, and
//! `LEDGER_BENCH_KAFKA=0` skips it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use event_log::embedded::EmbeddedLog;
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{
    transact, Headers, Log, OutgoingRecord, Topic, TopicPartition, Topics, CONTENT_TYPE_BINCODE,
};

const PARTITIONS: u32 = 8;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn batch() -> usize {
    setting("LEDGER_BENCH_BATCH", 500)
}

fn payload_bytes() -> usize {
    setting("LEDGER_BENCH_PAYLOAD", 400)
}

fn records_of(topic: &str, start: usize) -> Vec<OutgoingRecord> {
    (start..start + batch())
        .map(|i| OutgoingRecord {
            topic: topic.to_owned(),
            key: format!("order-{}", i % 1000),
            partition: None,
            headers: Headers::for_message(CONTENT_TYPE_BINCODE, "OrderPlaced", 1),
            payload: vec![(i % 251) as u8; payload_bytes()],
        })
        .collect()
}

async fn measure(log: Arc<dyn Log>, records: usize) -> (f64, f64) {
    let events = log.topics().name(Topic::Events);
    let mut producer = log.producer("bench").await.unwrap();
    let started = Instant::now();
    for start in (0..records).step_by(batch()) {
        transact(producer.as_mut(), records_of(&events, start), None)
            .await
            .unwrap();
    }
    let append = records as f64 / started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut read = 0;
    for partition in 0..PARTITIONS {
        let tp = TopicPartition::new(&events, partition);
        let mut offset = 0;
        loop {
            let chunk = log.read(&tp, offset, 1000).await.unwrap();
            let Some(last) = chunk.last() else { break };
            offset = last.next_offset();
            read += chunk.len();
        }
    }
    assert_eq!(read, records, "every appended record read back");
    (append, read as f64 / started.elapsed().as_secs_f64())
}

fn report(backend: &str, records: usize, runs: Vec<(f64, f64)>) {
    let append = runs.iter().map(|r| r.0).fold(0.0, f64::max);
    let read = runs.iter().map(|r| r.1).fold(0.0, f64::max);
    let mib = |rate: f64| rate * payload_bytes() as f64 / (1024.0 * 1024.0);
    println!(
        "{backend:<9} {records:>6} records  transactional append {append:>9.0} rec/s ({:>6.1} MiB/s)  sequential read {read:>9.0} rec/s ({:>6.1} MiB/s)",
        mib(append),
        mib(read)
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "records of {} B in transactions of {}",
        payload_bytes(),
        batch()
    );
    runtime.block_on(async {
        let records = setting("LEDGER_BENCH_RECORDS", 200_000);
        let mut runs = Vec::new();
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let log =
                EmbeddedLog::open(dir.path(), Topics::new("bench", PARTITIONS).unwrap()).unwrap();
            runs.push(measure(Arc::new(log), records).await);
        }
        report("embedded", records, runs);
        if setting("LEDGER_BENCH_KAFKA", 1) == 0 {
            return;
        }

        let broker = TestBroker::start();
        let records = 10_000;
        let mut runs = Vec::new();
        for _ in 0..3 {
            let mut settings = broker.settings();
            settings.operation_timeout = Duration::from_secs(60);
            let topics = Topics::new(&unique_prefix("bench"), PARTITIONS).unwrap();
            let log = KafkaLog::connect(settings, topics).await.unwrap();
            runs.push(measure(Arc::new(log), records).await);
        }
        let name = if broker.is_external() {
            "kafka"
        } else {
            "tansu"
        };
        report(name, records, runs);
    });
}
