//! `ledger serve` on Kafka killed with SIGKILL in the middle of a load, and restarted: every
//! command gets one answer, and every accepted command's events are in the log exactly once.
//!
//! CI kills it twice in 150 commands; the crash soak sets `LEDGER_KILL_CYCLES` and
//! `LEDGER_KILL_COMMANDS` (figures of a long run in RELIABILITY.md).
//!
//! What is checked is the committed path: the events each result names, at the positions it
//! names, form every aggregate's unbroken chain, with no event twice. (tansu, the test broker,
//! does not hide aborted records from `read_committed` readers, so a killed transaction's
//! records stay visible there; against a real Kafka, `LEDGER_KAFKA_BOOTSTRAP=...`, the whole
//! events topic is also checked for duplicates.)

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use command_handler::client::{await_result, publish};
use command_handler::{CommandResult, Outcome};
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{Log, Topic, TopicPartition, Topics};
use order_events::codec;
use order_events::ids::StockKey;
use order_events::ledger::MemoryLedger;
use order_events::stock::ReceiveStock;
use order_events::{Actor, ActorKind, CommandEnvelope, Policy};
use uuid::Uuid;

fn serve(bootstrap: &str, prefix: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args([
            "serve",
            "--kafka",
            bootstrap,
            "--prefix",
            prefix,
            "--partitions",
            "4",
            "--kafka-config",
            "session.timeout.ms=6000",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the ledger binary runs")
}

fn kill(child: &mut Child) {
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_killed_mid_load_loses_and_doubles_nothing() {
    let broker = TestBroker::start();
    let prefix = unique_prefix("kill");
    let log: Arc<dyn Log> = Arc::new(
        KafkaLog::connect(broker.settings(), Topics::new(&prefix, 4).unwrap())
            .await
            .unwrap(),
    );
    let seed = std::env::var("LEDGER_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos() as u64
        });
    println!("kill seed {seed} (LEDGER_KILL_SEED={seed} repeats it)");
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (cycles, total) = (
        setting("LEDGER_KILL_CYCLES", 2).max(1),
        setting("LEDGER_KILL_COMMANDS", 150),
    );
    // One kill somewhere in each of `cycles` slices of the load after the first.
    let slice = (total / (cycles + 1)).max(1);
    let mut rng = order_events::simulation::SplitMix64::new(seed);
    let kill_at: Vec<u64> = (1..=cycles).map(|k| k * slice + rng.below(slice)).collect();
    println!("{cycles} kills in {total} commands, after commands {kill_at:?}");

    let mut server = serve(broker.bootstrap(), &prefix);
    let mut submitted = Vec::new();
    for i in 0..total {
        let envelope = CommandEnvelope {
            command_id: Uuid::from_u128(0x4b11_0000 + u128::from(i)),
            correlation_id: Uuid::from_u128(0x4b11_0000 + u128::from(i)),
            causation_id: None,
            actor: Actor::new(ActorKind::Service, "load"),
            issued_at: chrono::DateTime::UNIX_EPOCH,
            command: ReceiveStock {
                item: StockKey::new(format!("SKU-{}", i % 15), "BER-1"),
                quantity: 1,
                reference: format!("PO-{i}"),
            }
            .into(),
        };
        submitted.push(publish(log.as_ref(), &envelope).await.unwrap());
        if kill_at.contains(&i) {
            kill(&mut server);
            println!("killed the serve after publishing command {i}");
            server = serve(broker.bootstrap(), &prefix);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let kills = kill_at.iter().filter(|&&at| at < total).count();
    assert_eq!(kills as u64, cycles, "every planned kill happened");
    // Every command is answered, by one result (repeats of it are identical).
    let mut results: BTreeMap<Uuid, CommandResult> = BTreeMap::new();
    for s in &submitted {
        let result = await_result(log.as_ref(), s, Duration::from_secs(120))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("seed {seed}: no result for {}", s.command_id));
        results.insert(result.command_id, result);
    }
    kill(&mut server);
    let results_topic = log.topics().name(Topic::CommandResults);
    for partition in 0..log.partitions(Topic::CommandResults) {
        for record in log
            .read(&TopicPartition::new(&results_topic, partition), 0, 100_000)
            .await
            .unwrap()
        {
            let Some(result) = CommandResult::from_record(&record) else {
                continue;
            };
            if let Some(first) = results.get(&result.command_id) {
                // A result from a killed (uncommitted) transaction may be visible on tansu;
                // a committed second answer would have to be the same answer.
                if broker.is_external() {
                    assert_eq!(&result, first, "seed {seed}: two answers");
                }
            }
        }
    }
    assert_eq!(results.len(), total as usize);

    // The events the results name, read at the positions they name: each aggregate's chain
    // from sequence 1, unbroken, with no event twice.
    let events_topic = log.topics().name(Topic::Events);
    let mut named = Vec::new();
    for result in results.values() {
        let Outcome::Accepted { events } = &result.outcome else {
            panic!("seed {seed}: {result:?} was rejected");
        };
        assert_eq!(events.len(), 1);
        for event in events {
            let tp = TopicPartition::new(&events_topic, event.partition);
            let record = log.read(&tp, event.offset, 1).await.unwrap();
            let envelope = codec::decode_event(&record[0].payload).unwrap();
            assert_eq!(
                envelope.event_id, event.event_id,
                "seed {seed}: wrong position"
            );
            named.push(envelope);
        }
    }
    named.sort_by(|a, b| (&a.aggregate_id, a.sequence).cmp(&(&b.aggregate_id, b.sequence)));
    let mut ledger = MemoryLedger::new(Policy::default());
    let mut ids = HashSet::new();
    for event in &named {
        assert!(ids.insert(event.event_id), "seed {seed}: an event twice");
        ledger
            .replay(event)
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    for sku in 0..15 {
        let item = ledger
            .stock_item(&StockKey::new(format!("SKU-{sku}"), "BER-1"))
            .unwrap();
        let received = (0..total).filter(|i| i % 15 == sku).count() as u64;
        assert_eq!(item.on_hand, received, "seed {seed}: SKU-{sku}");
    }
    if broker.is_external() {
        // A real Kafka hides aborted records: the whole topic is the committed path.
        let mut all = 0;
        for partition in 0..log.partitions(Topic::Events) {
            all += log
                .read(&TopicPartition::new(&events_topic, partition), 0, 100_000)
                .await
                .unwrap()
                .len();
        }
        assert_eq!(all, total as usize, "seed {seed}: events in the topic");
    }
}
