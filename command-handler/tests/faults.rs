//! The handler under broker faults, on librdkafka's mock cluster, while commands stream in: a
//! broker down and back, injected errors on produce, fetch, offset commit and transaction end,
//! slow round trips, the group coordinator down for longer than a transaction call may
//! take. The handler retries or restarts its transaction; at the end every command
//! has one answer, and every accepted command's events are on the committed path exactly once
//! (read at the positions its result names: the mock cluster, like tansu, does not hide
//! aborted records, so the topic as a whole is not the committed path).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use command_handler::client::{await_result, publish};
use command_handler::{CommandResult, Handler, HandlerConfig, ManualClock, Outcome};
use event_log::kafka::{KafkaLog, KafkaSettings};
use event_log::{Log, LogReader as _, Topic, TopicPartition};
use order_events::codec;
use order_events::ids::StockKey;
use order_events::ledger::MemoryLedger;
use order_events::stock::ReceiveStock;
use order_events::{Actor, ActorKind, CommandEnvelope, Policy};
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use uuid::Uuid;

const PARTITIONS: u32 = 4;
const ITEMS: u64 = 12;

/// The broker the handler's consumer group is coordinated by; the fault of the last fifth
/// takes it down for longer than a transaction call may take.
const GROUP_COORDINATOR: i32 = 3;

/// A log on `cluster` whose calls time out after 5 s, so that a transaction call stuck past
/// its deadline is given up within the test's time.
async fn log_on(cluster: &MockCluster<'static, DefaultProducerContext>) -> Arc<dyn Log> {
    let config = HandlerConfig::default();
    cluster
        .coordinator(
            MockCoordinator::Group(config.group.clone()),
            GROUP_COORDINATOR,
        )
        .unwrap();
    let transactional_id = format!("{}-{}", config.group, config.instance_id);
    cluster
        .coordinator(MockCoordinator::Transaction(transactional_id), 1)
        .unwrap();
    let log = event_log::testing::log_on_mock_cluster(cluster, "handler-faults", PARTITIONS).await;
    let mut settings = KafkaSettings::new(&cluster.bootstrap_servers());
    settings.operation_timeout = Duration::from_secs(5);
    settings.session_timeout_ms = 6000;
    Arc::new(
        KafkaLog::connect(settings, log.topics().clone())
            .await
            .unwrap(),
    )
}

fn receive(i: u64) -> CommandEnvelope {
    CommandEnvelope {
        command_id: Uuid::from_u128(0xfa17_0000 + u128::from(i)),
        correlation_id: Uuid::from_u128(0xfa17_0000 + u128::from(i)),
        causation_id: None,
        actor: Actor::new(ActorKind::Service, "load"),
        issued_at: Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap(),
        command: ReceiveStock {
            item: StockKey::new(format!("SKU-{}", i % ITEMS), "BER-1"),
            quantity: 1,
            reference: format!("PO-{i}"),
        }
        .into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_faults_under_load_lose_and_double_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = MockCluster::new(3).unwrap();
    let log = log_on(&cluster).await;
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap(),
    ));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handler = tokio::spawn(
        Handler::new(log.clone(), HandlerConfig::default(), clock).run(async {
            let _ = stopped.await;
        }),
    );
    let total = 240u64;
    let started = std::time::Instant::now();
    let mut submitted = Vec::new();
    for i in 0..total {
        submitted.push(publish(log.as_ref(), &receive(i)).await.unwrap());
        // A fault in each fifth of the load.
        match i {
            40 => {
                cluster.broker_down(2).unwrap();
                tokio::time::sleep(Duration::from_millis(800)).await;
                cluster.broker_up(2).unwrap();
            }
            80 => cluster.request_errors(
                RDKafkaApiKey::Produce,
                &[
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                ],
            ),
            120 => cluster.request_errors(
                RDKafkaApiKey::Fetch,
                &[
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                    RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                ],
            ),
            160 => {
                cluster.request_errors(
                    RDKafkaApiKey::TxnOffsetCommit,
                    &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS],
                );
                cluster.request_errors(
                    RDKafkaApiKey::EndTxn,
                    &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR],
                );
            }
            180 => {
                // Offsets sent to a group coordinator that is down wait for it past their
                // timeout inside librdkafka (confluentinc/librdkafka#5456); the producer
                // gives the call up at its deadline (5 s + 5 s) and a new client goes on.
                cluster.broker_down(GROUP_COORDINATOR).unwrap();
                tokio::time::sleep(Duration::from_secs(12)).await;
                cluster.broker_up(GROUP_COORDINATOR).unwrap();
            }
            200 | 230 => {
                // Slow round trips for a stretch of the load, then back to normal.
                let rtt = Duration::from_millis(if i == 200 { 100 } else { 0 });
                for broker in 1..=3 {
                    cluster.broker_round_trip_time(broker, rtt).unwrap();
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    println!("load published in {:?}", started.elapsed());
    if handler.is_finished() {
        panic!("the handler stopped under the faults: {:?}", handler.await);
    }
    let mut results: BTreeMap<Uuid, CommandResult> = BTreeMap::new();
    // Generous (a run takes about 50 s): under the fault mix librdkafka retries for a while
    // before answers flow. One deadline for all, so a stalled handler fails the test in
    // minutes instead of holding CI up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    for s in &submitted {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let result = await_result(log.as_ref(), s, left).await.unwrap();
        let result = result.unwrap_or_else(|| {
            panic!(
                "no result for {} within 240 s of the load ({} of {total} answered)",
                s.command_id,
                results.len()
            )
        });
        results.insert(result.command_id, result);
    }
    println!("answered in {:?}", started.elapsed());
    let _ = stop.send(());
    let stats = tokio::time::timeout(Duration::from_secs(60), handler)
        .await
        .expect("the handler did not stop within 60 s of its shutdown")
        .unwrap()
        .unwrap();
    assert_eq!(results.len(), total as usize);

    // The events the results name, at the positions they name: each stock item's chain from
    // sequence 1, unbroken, no event twice, and exactly what was received.
    let events_topic = log.topics().name(Topic::Events);
    let mut named = Vec::new();
    for result in results.values() {
        let Outcome::Accepted { events } = &result.outcome else {
            panic!("{result:?} was rejected");
        };
        for event in events {
            let tp = TopicPartition::new(&events_topic, event.partition);
            let record = log.read(&tp, event.offset, 1).await.unwrap();
            let envelope = codec::decode_event(&record[0].payload).unwrap();
            assert_eq!(envelope.event_id, event.event_id, "wrong position");
            named.push(envelope);
        }
    }
    named.sort_by(|a, b| (&a.aggregate_id, a.sequence).cmp(&(&b.aggregate_id, b.sequence)));
    let mut ledger = MemoryLedger::new(Policy::default());
    let mut ids = HashSet::new();
    for event in &named {
        assert!(ids.insert(event.event_id), "an event twice");
        ledger.replay(event).unwrap();
    }
    for sku in 0..ITEMS {
        let item = ledger
            .stock_item(&StockKey::new(format!("SKU-{sku}"), "BER-1"))
            .unwrap();
        assert_eq!(item.on_hand, total / ITEMS, "SKU-{sku}");
    }
    println!("{stats:?}");
}
