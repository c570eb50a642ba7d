//! The handler end to end, on both backends: a scripted order journey, duplicates, dead
//! letters, and a restart that catches up.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use command_handler::client::{await_result, publish, Submitted};
use command_handler::{
    CommandResult, Handler, HandlerConfig, ManualClock, Outcome, ResultRecord, HEADER_REASON_CODE,
};
use event_log::embedded::EmbeddedLog;
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{Headers, Log, OutgoingRecord, Topic, TopicPartition, Topics, CONTENT_TYPE_JSON};
use order_events::codec;
use order_events::envelope::{Command, CommandEnvelope, Event};
use order_events::ids::*;
use order_events::ledger::MemoryLedger;
use order_events::order::*;
use order_events::process::{CarrierRule, ProcessRules};
use order_events::stock::*;
use order_events::testkit::samples::{
    self, amount, line_quantity, order_id, MUG, TSHIRT, WAREHOUSE,
};
use order_events::{Actor, ActorKind, Currency, Policy};
use tokio::sync::oneshot;
use uuid::Uuid;

const PATIENCE: Duration = Duration::from_secs(60);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
        .single()
        .unwrap()
}

/// A running handler and how to stop it.
struct Running {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<
        Result<command_handler::HandlerStats, command_handler::HandlerError>,
    >,
}

impl Running {
    fn start(log: Arc<dyn Log>, clock: Arc<ManualClock>) -> Running {
        Running::start_named(log, clock, "0")
    }

    fn start_named(log: Arc<dyn Log>, clock: Arc<ManualClock>, instance: &str) -> Running {
        let config = HandlerConfig {
            instance_id: instance.to_owned(),
            batch_size_max: 16,
            rules: rules(),
            ..HandlerConfig::default()
        };
        Running::with_config(log, clock, config)
    }

    fn with_config(log: Arc<dyn Log>, clock: Arc<ManualClock>, config: HandlerConfig) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let handler = Handler::new(log, config, clock);
        let task = tokio::spawn(handler.run(async {
            let _ = stopped.await;
        }));
        Running { stop, task }
    }

    async fn stop(self) -> command_handler::HandlerStats {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap()
    }
}

fn envelope(command: impl Into<Command>, id: u128, actor: Actor) -> CommandEnvelope {
    CommandEnvelope {
        command_id: Uuid::from_u128(0xe2e0_0000_0000_4000_8000_0000_0000_0000 | id),
        correlation_id: Uuid::from_u128(0xc0),
        causation_id: None,
        actor,
        issued_at: start(),
        command: command.into(),
    }
}

fn service() -> Actor {
    Actor::new(ActorKind::Service, "e2e")
}

fn item(sku: &str) -> StockKey {
    StockKey::new(sku, WAREHOUSE)
}

/// One step of the journey, at a number of minutes after the start.
#[allow(clippy::large_enum_variant)] // A test script of a dozen steps.
enum Step {
    /// A command from outside.
    Submit(i64, Command, Actor),
    /// Time passes: the handler's timers fire what is due.
    Timers(i64),
}

fn rules() -> ProcessRules {
    ProcessRules {
        carriers: vec![CarrierRule {
            carrier: CarrierId::from("dhl"),
            countries: vec!["DE".to_owned()],
            weight_grams_max: Some(31_500),
            service_levels: Vec::new(),
            handling: None,
            rates: Vec::new(),
        }],
        ..ProcessRules::default()
    }
}

/// The journey from outside; reservations, stock commits, restocking and the automatic
/// confirmation are the order process's.
fn journey() -> Vec<Step> {
    let o = order_id();
    let capture = |id: &str, value: &str| CapturePayment {
        order_id: o,
        payment_id: PaymentId::from(id),
        method: PaymentMethod::Card,
        amount: amount(value),
        currency: Currency::EUR,
        psp_reference: format!("psp-{id}"),
    };
    // No carrier named: the carrier rules choose.
    let ship = |id: &str, sku: &str, quantity: u32| Ship {
        order_id: o,
        shipment_id: ShipmentId::from(id),
        carrier: None,
        service_level: ServiceLevel::Standard,
        tracking_number: format!("JJD-{id}"),
        lines: vec![line_quantity(sku, quantity)],
        freight_cost: Some(amount("2.50")),
        weight_grams: Some(500),
    };
    let c = |m: i64, command: Command| Step::Submit(m, command, service());
    let day = 24 * 60;
    vec![
        c(
            0,
            ReceiveStock {
                item: item(TSHIRT),
                quantity: 10,
                reference: "PO-1".into(),
            }
            .into(),
        ),
        c(
            0,
            ReceiveStock {
                item: item(MUG),
                quantity: 10,
                reference: "PO-2".into(),
            }
            .into(),
        ),
        c(1, samples::place_order().into()),
        c(5, capture("P1", "20.00").into()),
        c(6, capture("P2", "34.38").into()),
        c(60, ship("S1", TSHIRT, 2).into()),
        c(120, ship("S2", MUG, 1).into()),
        c(
            day,
            RecordDelivery {
                order_id: o,
                shipment_id: ShipmentId::from("S1"),
            }
            .into(),
        ),
        c(
            day + 60,
            RecordDelivery {
                order_id: o,
                shipment_id: ShipmentId::from("S2"),
            }
            .into(),
        ),
        // A minute early nothing fires; at seven days after delivery the receipt is confirmed.
        Step::Timers(day + 60 + 7 * day - 1),
        Step::Timers(day + 60 + 7 * day),
        c(
            9 * day,
            RequestReturn {
                order_id: o,
                return_id: ReturnId::from("R1"),
                lines: vec![line_quantity(MUG, 1)],
                reason: ReturnReason::DamagedInTransit,
            }
            .into(),
        ),
        c(
            11 * day,
            ReceiveReturn {
                order_id: o,
                return_id: ReturnId::from("R1"),
                disposition: ReturnDisposition::Restock,
            }
            .into(),
        ),
        c(
            11 * day + 5,
            Refund {
                order_id: o,
                refund_id: RefundId::from("RF1"),
                amount: amount("9.50"),
                reason: RefundReason::Return,
                psp_reference: "psp-RF1".into(),
            }
            .into(),
        ),
    ]
}

async fn submit_and_wait(log: &dyn Log, envelope: &CommandEnvelope) -> CommandResult {
    let submitted = publish(log, envelope).await.unwrap();
    wait(log, &submitted).await
}

async fn wait(log: &dyn Log, submitted: &Submitted) -> CommandResult {
    await_result(log, submitted, PATIENCE)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no result for {}", submitted.command_id))
}

/// Every event in the log, decoded, ordered by aggregate and sequence.
async fn all_events(log: &dyn Log) -> Vec<order_events::EventEnvelope> {
    let topic = log.topics().name(Topic::Events);
    let mut events = Vec::new();
    for partition in 0..log.partitions(Topic::Events) {
        for record in log
            .read(&TopicPartition::new(&topic, partition), 0, 100_000)
            .await
            .unwrap()
        {
            events.push(codec::decode_event(&record.payload).unwrap());
        }
    }
    events.sort_by(|a, b| (&a.aggregate_id, a.sequence).cmp(&(&b.aggregate_id, b.sequence)));
    events
}

/// How many records of the commands topic are keyed by `aggregate_id` (commands to it).
async fn commands_to(log: &dyn Log, aggregate_id: &str) -> usize {
    let topic = log.topics().name(Topic::Commands);
    let mut count = 0;
    for partition in 0..log.partitions(Topic::Commands) {
        let records = log
            .read(&TopicPartition::new(&topic, partition), 0, 100_000)
            .await
            .unwrap();
        count += records
            .iter()
            .filter(|r| r.key.as_deref() == Some(aggregate_id.as_bytes()))
            .count();
    }
    count
}

/// Waits for the result of a command someone else published (the order process, a timer).
async fn wait_for(log: &dyn Log, command: &CommandEnvelope) -> CommandResult {
    let partition = event_log::partition_for(
        command.command.target().id.as_bytes(),
        log.partitions(Topic::Commands),
    );
    let submitted = Submitted {
        command_id: command.command_id,
        aggregate: command.command.target(),
        digest: order_events::codec::command_digest(command),
        partition,
        results_from: 0,
    };
    wait(log, &submitted).await
}

async fn the_order_journey_produces_exactly_the_expected_events(
    log: Arc<dyn Log>,
    restart: impl Fn() -> Arc<dyn Log>,
) {
    let clock = Arc::new(ManualClock::new(start()));
    let mut running = Running::start(log.clone(), clock.clone());
    let mut log = log;
    let mut reference = MemoryLedger::with_rules(Policy::default(), rules());
    let mut expected = Vec::new();
    let mut reference_records: Vec<(String, Vec<u8>)> = Vec::new();
    let mut process_steps = 0;
    for (index, step) in journey().into_iter().enumerate() {
        if index == 7 {
            // Restart mid-journey: the new handler catches up from the log.
            running.stop().await;
            drop(log);
            log = restart();
            running = Running::start(log.clone(), clock.clone());
        }
        let (minute, steps) = match step {
            Step::Submit(minute, command, actor) => {
                let now = start() + chrono::Duration::minutes(minute);
                clock.set(now);
                let envelope = envelope(command, index as u128, actor);
                let result = submit_and_wait(log.as_ref(), &envelope).await;
                assert!(
                    result.is_accepted(),
                    "step {index} ({}) rejected: {:?}",
                    envelope.command.type_name(),
                    result.outcome
                );
                (minute, reference.submit_with_process(&envelope, now))
            }
            Step::Timers(minute) => {
                let now = start() + chrono::Duration::minutes(minute);
                clock.set(now);
                (minute, reference.fire_timers(now))
            }
        };
        // Every command the process issued (or the timers fired) is decided as in the
        // reference, with the same ids.
        for (command, outcome) in &steps {
            let result = wait_for(log.as_ref(), command).await;
            let sealed = outcome
                .as_ref()
                .unwrap_or_else(|r| panic!("reference rejects at minute {minute}: {r}"));
            let Outcome::Accepted { events } = &result.outcome else {
                panic!(
                    "{} at minute {minute} rejected: {:?}",
                    command.command.type_name(),
                    result.outcome
                )
            };
            assert_eq!(events.len(), sealed.len());
            for (event, reference) in events.iter().zip(sealed) {
                assert_eq!(event.event_id, reference.envelope.event_id);
                assert_eq!(event.sequence, reference.envelope.sequence);
            }
            expected.extend(sealed.iter().map(|s| s.envelope.clone()));
            reference_records.extend(
                sealed
                    .iter()
                    .map(|s| (s.envelope.aggregate_id.clone(), s.record.clone())),
            );
        }
        process_steps += steps
            .iter()
            .filter(|(c, _)| c.actor == Actor::system())
            .count();
    }
    let stats = running.stop().await;
    // Where the log knows positions at send (embedded), the process's commands to this
    // instance's partitions were decided in the transaction that issued them — with the same
    // events and results as the reference, checked above and below.
    assert_eq!(
        stats.decided_in_place > 0,
        log.positions_at_send(),
        "{stats:?}"
    );
    // Reserve 2, record 2, plan, confirm, commit 2, restock, auto-confirm; and to the finance
    // accounts: earnings of 2 captures, freight of 2 parcels, the return window, the refund.
    assert_eq!(process_steps, 16);
    expected.sort_by(|a, b| (&a.aggregate_id, a.sequence).cmp(&(&b.aggregate_id, b.sequence)));
    assert_eq!(
        all_events(log.as_ref()).await,
        expected,
        "the log differs from the reference run"
    );
    let order = reference.order(&order_id()).unwrap();
    assert_eq!(order.status, OrderStatus::PartiallyReturned);
    assert_eq!(order.refunded(), amount("9.50"));
    assert!(order
        .shipments
        .iter()
        .all(|s| s.carrier == CarrierId::from("dhl")));
    let mug = reference.stock_item(&item(MUG)).unwrap();
    assert_eq!((mug.on_hand, mug.reserved()), (10, 0));

    // The auditor's replay of this backend's log: intact, and the digest of the reference
    // run's records — so every backend gives the same digest for the same commands.
    let report = replay_tool::verify(log.as_ref()).await.unwrap();
    assert!(report.is_intact(), "{:?}", report.breaks);
    let mut verifier = replay_tool::Verifier::default();
    let mut records: Vec<event_log::StoredRecord> = reference_records
        .iter()
        .enumerate()
        .map(|(offset, (key, payload))| event_log::StoredRecord {
            topic: "reference".into(),
            partition: event_log::partition_for(key.as_bytes(), 8),
            offset: offset as u64,
            key: Some(key.clone().into_bytes()),
            headers: Default::default(),
            payload: payload.clone(),
            timestamp_ms: 0,
        })
        .collect();
    records.sort_by_key(|r| r.partition);
    records.iter().for_each(|r| verifier.check(r).unwrap());
    assert_eq!(report.digest, verifier.finish().unwrap().digest);
    // Exported from a time on: exactly the events recorded since.
    let since = start() + chrono::Duration::minutes(60);
    let mut lines = Vec::new();
    let range = replay_tool::TimeRange {
        from: Some(since),
        to: None,
    };
    let summary = replay_tool::export(
        log.as_ref(),
        replay_tool::ExportFormat::Jsonl,
        replay_tool::Start::Beginning,
        range,
        &mut lines,
    )
    .await
    .unwrap();
    let later = expected.iter().filter(|e| e.recorded_at >= since).count();
    assert!(later > 0 && later < expected.len());
    assert_eq!(summary.events, later as u64);
    // Every capture, refund and paid freight was checked against the trial balance.
    let money = expected
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                Event::Order(OrderEvent::PaymentCaptured(_) | OrderEvent::RefundIssued(_))
            ) || matches!(&e.event, Event::Order(OrderEvent::ShipmentDispatched(d)) if d.freight_cost.is_positive())
        })
        .count();
    assert!(money > 0);
    assert_eq!(report.money_events, money as u64);
    // Verified from a time on: exactly the window, intact, with the aggregates that began
    // earlier anchored in it.
    let projector = projections::Projector::default();
    let window =
        replay_tool::verify_from(log.as_ref(), &projector, replay_tool::Start::Time(since))
            .await
            .unwrap();
    assert!(window.is_intact(), "{:?}", window.breaks);
    assert_eq!(window.events, later as u64);
    let began_earlier: std::collections::BTreeSet<_> = expected
        .iter()
        .filter(|e| e.recorded_at >= since && e.sequence > 1)
        .filter(|e| {
            expected.iter().any(|earlier| {
                earlier.aggregate_id == e.aggregate_id && earlier.recorded_at < since
            })
        })
        .map(|e| e.aggregate_id.clone())
        .collect();
    assert!(!began_earlier.is_empty());
    assert_eq!(window.anchored, began_earlier.len() as u64);
    // From offset 0 is the whole log.
    let whole = replay_tool::verify_from(log.as_ref(), &projector, replay_tool::Start::Offset(0))
        .await
        .unwrap();
    assert_eq!(
        (whole.events, &whole.digest),
        (report.events, &report.digest)
    );
}

async fn a_command_published_three_times_has_one_effect_and_three_identical_results(
    log: Arc<dyn Log>,
) {
    let clock = Arc::new(ManualClock::new(start()));
    let running = Running::start(log.clone(), clock);
    let receive = envelope(
        StockCommand::from(ReceiveStock {
            item: item(MUG),
            quantity: 5,
            reference: "PO-9".into(),
        }),
        900,
        service(),
    );
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(submit_and_wait(log.as_ref(), &receive).await);
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[1], results[2]);
    // A wait for the same id may be met by an earlier copy's answer: wait for all three.
    let results_topic = log.topics().name(Topic::CommandResults);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut answers = Vec::new();
        for partition in 0..log.partitions(Topic::CommandResults) {
            for record in log
                .read(&TopicPartition::new(&results_topic, partition), 0, 100)
                .await
                .unwrap()
            {
                answers.extend(CommandResult::from_record(&record));
            }
        }
        answers.retain(|r| r.command_id == receive.command_id);
        if answers.len() == 3 {
            assert!(answers.iter().all(|a| a == &results[0]));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answers:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = running.stop().await;
    assert_eq!((stats.accepted, stats.duplicates), (1, 2));
    assert_eq!(all_events(log.as_ref()).await.len(), 1);
}

/// A command id names one command on its aggregate: a retry (even rebuilt with a new
/// `issued_at`) gets the first answer byte for byte, another command under the id on that
/// aggregate is refused as `command_id_reused` naming the first — whether it arrives in the
/// same chunk or later — and the id on another aggregate is that aggregate's own command, whose
/// events get ids of their own and whose order process runs.
async fn a_command_id_names_one_command_on_its_aggregate(log: Arc<dyn Log>) {
    let clock = Arc::new(ManualClock::new(start()));
    let receive = |sku: &str, id: u128| {
        envelope(
            StockCommand::from(ReceiveStock {
                item: item(sku),
                quantity: 10,
                reference: format!("PO-{id}"),
            }),
            id,
            service(),
        )
    };
    let place = |reference: &str, customer: &str| {
        let mut command = samples::place_order();
        command.external_reference = reference.to_owned();
        command.customer_id = CustomerId::from(customer);
        envelope(OrderCommand::from(command), 700, service())
    };
    let first = place("W-1001", "cust-42");
    let other_content = place("W-1001", "cust-43");
    let running = Running::start(log.clone(), clock.clone());
    for command in [receive(TSHIRT, 701), receive(MUG, 702)] {
        assert!(submit_and_wait(log.as_ref(), &command).await.is_accepted());
    }
    running.stop().await;
    // Both in one chunk: the handler is not running while they are published.
    let first_sent = publish(log.as_ref(), &first).await.unwrap();
    let other_sent = publish(log.as_ref(), &other_content).await.unwrap();
    let running = Running::start(log.clone(), clock);
    let accepted = wait(log.as_ref(), &first_sent).await;
    assert!(accepted.is_accepted(), "{accepted:?}");
    let refused = wait(log.as_ref(), &other_sent).await;
    let refusal = |result: &CommandResult| match &result.outcome {
        Outcome::Rejected { rule, detail } if rule == "command_id_reused" => detail.clone(),
        other => panic!("expected command_id_reused, got {other:?}"),
    };
    let detail = refusal(&refused);
    assert!(
        detail.contains("PlaceOrder") && detail.contains(&order_id().to_string()),
        "{detail}"
    );
    // Later, after the first answer is committed: the same again.
    assert_eq!(
        refusal(&submit_and_wait(log.as_ref(), &other_content).await),
        detail
    );
    let mut retry = first.clone();
    retry.issued_at = start() + chrono::Duration::minutes(5);
    let repeated = submit_and_wait(log.as_ref(), &retry).await;
    assert_eq!(
        serde_json::to_vec(&repeated).unwrap(),
        serde_json::to_vec(&accepted).unwrap()
    );
    // Another type under the id on the same order: refused too.
    let cancel = CancelOrder {
        order_id: order_id(),
        reason: CancelReason::CustomerRequest,
        note: String::new(),
    };
    let mut cancel = envelope(OrderCommand::from(cancel), 700, service());
    cancel.command_id = first.command_id;
    assert!(refusal(&submit_and_wait(log.as_ref(), &cancel).await).contains("differs in its type"));
    // The id on another order is that order's command, and its stock gets reserved.
    let second = place("W-2002", "cust-42");
    let second_order = second.command.target();
    assert!(submit_and_wait(log.as_ref(), &second).await.is_accepted());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let events = all_events(log.as_ref()).await;
        let confirmed = |aggregate: &str| {
            events.iter().any(|e| {
                e.aggregate_id == aggregate && e.event.type_name() == "StockReservationConfirmed"
            })
        };
        if confirmed(&order_id().to_string()) && confirmed(&second_order.id) {
            let ids: std::collections::HashSet<Uuid> = events.iter().map(|e| e.event_id).collect();
            assert_eq!(
                ids.len(),
                events.len(),
                "every event id is unique in the log"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second order's stock was not reserved: {:?}",
            events
                .iter()
                .map(|e| (&e.aggregate_id, e.event.type_name(), e.command_id))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = running.stop().await;
    assert_eq!(
        stats.rejected_by_rule.get("command_id_reused"),
        Some(&3),
        "{stats:?}"
    );
    assert_eq!(stats.duplicates, 1, "{stats:?}");
}

/// Only a stock item's own refusal makes an order short: 100 stock receipts of new SKUs and
/// then 100 orders for them, published back to back, all get their stock although the
/// process plans while receipts on other partitions wait to be decided — with a warehouse
/// table (a configured shop), and without one once the warehouse holds any stock.
/// The shortage scenarios: a warehouse table or the process's own knowledge, one warehouse
/// or stock split over two.
const SHORTAGE_CASES: &[(&str, bool, &[&str])] = &[
    ("short-table", true, &[WAREHOUSE]),
    ("short-view", false, &[WAREHOUSE]),
    ("short-table-2", true, &["BER-1", "HAM-1"]),
    ("short-view-2", false, &["BER-1", "HAM-1"]),
];

/// Every order needs every unit received for its SKU, two per warehouse, and the warehouses
/// (a table's, or without one those the process knows) each hold part of it.
async fn orders_published_after_their_stock_are_never_short(
    log: Arc<dyn Log>,
    with_table: bool,
    warehouses: &[&str],
) {
    let clock = Arc::new(ManualClock::new(start()));
    let mut config = HandlerConfig {
        batch_size_max: 16,
        rules: rules(),
        ..HandlerConfig::default()
    };
    if with_table {
        config.rules.warehouses = (0..)
            .zip(warehouses)
            .map(
                |(priority, warehouse)| order_events::process::WarehouseRule {
                    warehouse: WarehouseId::from(*warehouse),
                    countries: Vec::new(),
                    priority,
                },
            )
            .collect();
    }
    let receive = |sku: &str, warehouse: &str, id: u128| {
        envelope(
            StockCommand::from(ReceiveStock {
                item: StockKey::new(sku, warehouse),
                quantity: 1,
                reference: format!("PO-{id}"),
            }),
            id,
            service(),
        )
    };
    if !with_table {
        // The warehouses hold some stock already: the process knows to ask them.
        let running = Running::with_config(log.clone(), clock.clone(), config.clone());
        for (n, warehouse) in (0..).zip(warehouses) {
            let seed = receive("SEED-0", warehouse, 3000 + n);
            assert!(submit_and_wait(log.as_ref(), &seed).await.is_accepted());
        }
        running.stop().await;
    }
    // Everything is published before the handler runs, so it polls the commands partition by
    // partition: orders are planned while receipts on other partitions wait to be decided.
    let skus: Vec<String> = (0..40).map(|n| format!("LOAD-{n:03}")).collect();
    let mut id = 3100;
    for round in 0..2 {
        for sku in &skus {
            // The first round in reverse warehouse order, so views catch the later ones first.
            let mut order: Vec<&str> = warehouses.to_vec();
            if round == 0 {
                order.reverse();
            }
            for warehouse in order {
                id += 1;
                publish(log.as_ref(), &receive(sku, warehouse, id))
                    .await
                    .unwrap();
            }
        }
    }
    let mut orders = Vec::new();
    for (n, sku) in skus.iter().enumerate() {
        let mut command = samples::place_order();
        command.external_reference = format!("LOAD-{n}");
        command.lines = vec![LineItem {
            sku: Sku::from(sku.as_str()),
            quantity: 2 * warehouses.len() as u32,
            unit_price: amount("9.99"),
        }];
        let envelope = envelope(OrderCommand::from(command), 3800 + n as u128, service());
        orders.push(publish(log.as_ref(), &envelope).await.unwrap());
    }
    let running = Running::with_config(log.clone(), clock, config);
    for order in &orders {
        assert!(wait(log.as_ref(), order).await.is_accepted());
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let events = all_events(log.as_ref()).await;
        let count = |name: &str| {
            events
                .iter()
                .filter(|e| e.event.type_name() == name)
                .count()
        };
        assert_eq!(
            count("StockShortRecorded"),
            0,
            "an order was made short by the view"
        );
        if count("StockReservationConfirmed") == orders.len() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} confirmed",
            count("StockReservationConfirmed"),
            orders.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.stop().await;
}

/// Finance's commands from an actor the policy does not name are refused by the handler,
/// whichever way they arrive (here straight on the commands topic, no HTTP in front).
async fn finance_commands_need_a_finance_actor(log: Arc<dyn Log>) {
    let clock = Arc::new(ManualClock::new(start()));
    let mut config = HandlerConfig::default();
    config.policy.finance_actors = vec!["staff:fin-ann".to_owned()];
    let running = Running::with_config(log.clone(), clock, config);
    let settlement = |id, actor| {
        envelope(
            order_events::testkit::samples::record_psp_settlement(),
            id,
            actor,
        )
    };
    let by_bob = submit_and_wait(
        log.as_ref(),
        &settlement(950, Actor::new(ActorKind::Staff, "fin-bob")),
    )
    .await;
    match &by_bob.outcome {
        Outcome::Rejected { rule, detail } => {
            assert_eq!(rule, "actor_not_permitted");
            assert!(detail.contains("staff:fin-bob"), "{detail}");
        }
        other => panic!("a settlement by staff:fin-bob was {other:?}"),
    }
    let by_service = submit_and_wait(log.as_ref(), &settlement(951, service())).await;
    assert!(
        matches!(by_service.outcome, Outcome::Rejected { .. }),
        "{by_service:?}"
    );
    let by_ann = submit_and_wait(
        log.as_ref(),
        &settlement(952, Actor::new(ActorKind::Staff, "fin-ann")),
    )
    .await;
    assert!(
        matches!(by_ann.outcome, Outcome::Accepted { .. }),
        "{by_ann:?}"
    );
    running.stop().await;
    assert_eq!(all_events(log.as_ref()).await.len(), 1);
}

async fn an_undecodable_record_is_dead_lettered_and_the_next_command_decided(log: Arc<dyn Log>) {
    let clock = Arc::new(ManualClock::new(start()));
    let running = Running::start(log.clone(), clock);
    let commands = log.topics().name(Topic::Commands);
    let garbage = OutgoingRecord::new(
        &commands,
        item(MUG).to_string(),
        Headers::for_message(CONTENT_TYPE_JSON, "ReceiveStock", 1),
        b"{\"command_id\": 42".to_vec(),
    );
    log.publish(vec![garbage]).await.unwrap();
    let receive = envelope(
        StockCommand::from(ReceiveStock {
            item: item(MUG),
            quantity: 5,
            reference: "PO-9".into(),
        }),
        901,
        service(),
    );
    let result = submit_and_wait(log.as_ref(), &receive).await;
    assert!(result.is_accepted());
    let stats = running.stop().await;
    assert_eq!(stats.dead_lettered, 1);
    let dead_letters = log.topics().name(Topic::DeadLetter);
    let mut found = Vec::new();
    for partition in 0..log.partitions(Topic::DeadLetter) {
        found.extend(
            log.read(&TopicPartition::new(&dead_letters, partition), 0, 10)
                .await
                .unwrap(),
        );
    }
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].payload, b"{\"command_id\": 42");
    assert_eq!(
        found[0].headers.get(HEADER_REASON_CODE),
        Some(&b"invalid_json"[..])
    );
}

/// A second handler instance joins mid-load: every command is decided exactly once.
async fn a_second_instance_joining_mid_load_decides_nothing_twice(log: Arc<dyn Log>) {
    let clock = Arc::new(ManualClock::new(start()));
    let first = Running::start_named(log.clone(), clock.clone(), "a");
    let commands: Vec<CommandEnvelope> = (0..160u128)
        .map(|i| {
            let sku = format!("SKU-{}", i % 32);
            envelope(
                StockCommand::from(ReceiveStock {
                    item: item(&sku),
                    quantity: 1,
                    reference: format!("PO-{i}"),
                }),
                5000 + i,
                service(),
            )
        })
        .collect();
    let mut submitted = Vec::new();
    let mut second = None;
    for (i, command) in commands.iter().enumerate() {
        submitted.push(publish(log.as_ref(), command).await.unwrap());
        if second.is_some() {
            // Paced, so the load is still running while the second instance joins.
            wait(log.as_ref(), &submitted[i]).await;
        }
        if i == 60 {
            // Mid-load: the first instance is deciding; the second joins the group.
            wait(log.as_ref(), &submitted[30]).await;
            second = Some(Running::start_named(log.clone(), clock.clone(), "b"));
        }
    }
    let second = second.expect("started mid-load");
    for s in &submitted {
        assert!(wait(log.as_ref(), s).await.is_accepted());
    }
    let (a, b) = (first.stop().await, second.stop().await);
    println!("first instance: {a:?}\nsecond instance: {b:?}");
    // One result per command, and each item's five events in one unbroken chain.
    let results_topic = log.topics().name(Topic::CommandResults);
    let mut results = std::collections::BTreeMap::<Uuid, usize>::new();
    for partition in 0..log.partitions(Topic::CommandResults) {
        for record in log
            .read(&TopicPartition::new(&results_topic, partition), 0, 10_000)
            .await
            .unwrap()
        {
            let result = CommandResult::from_record(&record).unwrap();
            *results.entry(result.command_id).or_default() += 1;
        }
    }
    assert_eq!(results.len(), 160);
    assert!(
        results.values().all(|&n| n == 1),
        "a command was decided twice"
    );
    let mut replay = MemoryLedger::new(Policy::default());
    let events = all_events(log.as_ref()).await;
    assert_eq!(events.len(), 160);
    for event in &events {
        replay.replay(event).unwrap();
    }
    for i in 0..32 {
        assert_eq!(
            replay
                .stock_item(&item(&format!("SKU-{i}")))
                .unwrap()
                .on_hand,
            5
        );
    }
}

/// With a small cache and a lasting state store: memory holds a bounded working set however
/// many aggregates there are, a restart reads only the log's tail after the snapshots, and a
/// lost store is rebuilt from the log with the same outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_cache_and_snapshots_keep_memory_flat_and_restarts_short() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir, "bounded");
    let clock = Arc::new(ManualClock::new(start()));
    let config = |state: &std::path::Path| HandlerConfig {
        batch_size_max: 16,
        cache_aggregates_max: 16,
        state_dir: Some(state.to_path_buf()),
        ..HandlerConfig::default()
    };
    let run = |state: std::path::PathBuf| {
        Running::with_config(log.clone(), clock.clone(), config(&state))
    };
    let state = dir.path().join("state");
    let running = run(state.clone());
    let skus = 40;
    let mut id = 7000u128;
    let mut next = || {
        id += 1;
        id
    };
    let mut receipts = Vec::new();
    for sku in 0..skus {
        let receive = ReceiveStock {
            item: item(&format!("SKU-{sku}")),
            quantity: 5,
            reference: "PO".into(),
        };
        let receive = envelope(receive, next(), service());
        let result = submit_and_wait(log.as_ref(), &receive).await;
        receipts.push((receive, result));
    }
    let orders: Vec<OrderId> = (0..120)
        .map(|n| OrderId::for_external_reference("web", &format!("B-{n}")))
        .collect();
    for n in 0..120 {
        let mut place = samples::place_order();
        place.external_reference = format!("B-{n}");
        place.lines.truncate(1);
        place.lines[0].sku = Sku::from(format!("SKU-{}", n % skus).as_str());
        place.lines[0].quantity = 1;
        publish(log.as_ref(), &envelope(place, next(), service()))
            .await
            .unwrap();
    }
    let settled = || async {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut ledger = MemoryLedger::new(Policy::default());
            for event in all_events(log.as_ref()).await {
                ledger.replay(&event).unwrap();
            }
            if orders
                .iter()
                .all(|o| ledger.order(o).map(|o| o.status) == Some(OrderStatus::AwaitingPayment))
            {
                return ledger;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the orders did not settle"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let reference = settled().await;
    let first = running.stop().await;
    // 160 aggregates went through a working set of 16 (plus at most one chunk's worth).
    assert!(first.cached_aggregates_max <= 32, "{first:?}");
    let events_total = all_events(log.as_ref()).await.len() as u64;
    assert!(events_total > 400, "{events_total}");

    // Restart on the same store: nothing to fold; the next order is decided on restored state.
    let running = run(state.clone());
    let mut place = samples::place_order();
    place.external_reference = "B-late".to_owned();
    place.lines.truncate(1);
    place.lines[0].sku = Sku::from("SKU-0");
    place.lines[0].quantity = 2;
    let late = OrderId::for_external_reference("web", "B-late");
    assert!(
        submit_and_wait(log.as_ref(), &envelope(place, next(), service()))
            .await
            .is_accepted()
    );
    let second = loop {
        let mut ledger = MemoryLedger::new(Policy::default());
        for event in all_events(log.as_ref()).await {
            ledger.replay(&event).unwrap();
        }
        // SKU-0 had 5 units, 3 orders took one each: 2 left for the late order.
        if ledger.order(&late).map(|o| o.status) == Some(OrderStatus::AwaitingPayment) {
            let stats = running.stop().await;
            assert_eq!(ledger.stock_item(&item("SKU-0")).unwrap().available(), 0);
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(second.catch_up_events, 0, "{second:?}");
    // A repeat after the restart is answered from the store's record of the first decision.
    let running = run(state.clone());
    let (first_receipt, first_result) = &receipts[3];
    assert_eq!(
        &submit_and_wait(log.as_ref(), first_receipt).await,
        first_result
    );
    let third = running.stop().await;
    assert_eq!((third.duplicates, third.accepted), (1, 0), "{third:?}");

    // A lost store: rebuilt from the log, the same state.
    let before = all_events(log.as_ref()).await.len() as u64;
    let running = run(dir.path().join("fresh-state"));
    let receive = ReceiveStock {
        item: item("SKU-0"),
        quantity: 1,
        reference: "PO-late".into(),
    };
    assert!(
        submit_and_wait(log.as_ref(), &envelope(receive, next(), service()))
            .await
            .is_accepted()
    );
    let rebuilt = running.stop().await;
    assert_eq!(rebuilt.catch_up_events, before);
    for order in &orders {
        assert_eq!(
            reference.order(order).map(|o| o.status),
            Some(OrderStatus::AwaitingPayment)
        );
    }
}

/// A backordered order tries again on the handler's timer and gets its stock once it arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backordered_order_is_reserved_by_a_timer_once_stock_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir, "backorder");
    let clock = Arc::new(ManualClock::new(start()));
    let config = HandlerConfig {
        rules: ProcessRules {
            short_resolution: ShortResolution::Backorder,
            ..ProcessRules::default()
        },
        poll_wait: Duration::from_millis(20),
        ..HandlerConfig::default()
    };
    let running = Running::with_config(log.clone(), clock.clone(), config);
    let status = || async {
        let mut ledger = MemoryLedger::new(Policy::default());
        for event in all_events(log.as_ref()).await {
            ledger.replay(&event).unwrap();
        }
        ledger.order(&order_id()).map(|o| o.status)
    };
    let until = |want: OrderStatus| {
        let status = &status;
        async move {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while status().await != Some(want) {
                assert!(tokio::time::Instant::now() < deadline, "never {want}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let receive = |sku: &str, quantity: u32| ReceiveStock {
        item: item(sku),
        quantity,
        reference: "PO".into(),
    };
    submit_and_wait(log.as_ref(), &envelope(receive(TSHIRT, 1), 9001, service())).await;
    submit_and_wait(log.as_ref(), &envelope(receive(MUG, 1), 9002, service())).await;
    submit_and_wait(
        log.as_ref(),
        &envelope(samples::place_order(), 9003, service()),
    )
    .await;
    until(OrderStatus::Backordered).await;
    submit_and_wait(log.as_ref(), &envelope(receive(TSHIRT, 1), 9004, service())).await;
    // Nothing happens before the retry is due: after two more commands decided at fourteen
    // minutes, every turn of the handler that saw that time has looked at its timers, and no
    // command to the order was issued. At fifteen minutes the order is reserved.
    let issued = commands_to(log.as_ref(), &order_id().to_string()).await;
    clock.set(start() + chrono::Duration::minutes(14));
    submit_and_wait(
        log.as_ref(),
        &envelope(receive("OTHER", 1), 9005, service()),
    )
    .await;
    submit_and_wait(
        log.as_ref(),
        &envelope(receive("OTHER", 1), 9006, service()),
    )
    .await;
    assert_eq!(
        commands_to(log.as_ref(), &order_id().to_string()).await,
        issued,
        "a command to the order before its retry was due"
    );
    assert_eq!(status().await, Some(OrderStatus::Backordered));
    clock.set(start() + chrono::Duration::minutes(15));
    until(OrderStatus::AwaitingPayment).await;
    let stats = running.stop().await;
    assert!(stats.timers_fired >= 1, "{stats:?}");
}

/// With a linger, commands trickling in one by one are decided together in one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linger_gathers_trickling_commands_into_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir, "linger");
    let clock = Arc::new(ManualClock::new(start()));
    let config = HandlerConfig {
        batch_size_max: 20,
        linger: Duration::from_secs(5),
        ..HandlerConfig::default()
    };
    let running = Running::with_config(log.clone(), clock, config);
    let mut submitted = Vec::new();
    for n in 0..20u128 {
        let receive = ReceiveStock {
            item: item(&format!("SKU-{n}")),
            quantity: 1,
            reference: "PO".into(),
        };
        submitted.push(
            publish(log.as_ref(), &envelope(receive, 8000 + n, service()))
                .await
                .unwrap(),
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for s in &submitted {
        assert!(wait(log.as_ref(), s).await.is_accepted());
    }
    let stats = running.stop().await;
    // The first command waits for the other nineteen (the batch fills long before 5 s).
    assert_eq!(stats.transactions, 1, "{stats:?}");
    assert_eq!(stats.batch_size_max, 20, "{stats:?}");
}

/// Commands the front door hands to the handler of its own process are recorded on the
/// commands topic and decided in the same transaction, deduplicated like published ones; with
/// the handler gone they are published and decided once a handler runs again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_handed_over_are_recorded_and_decided_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let log = embedded(&dir, "inbox");
    let clock = Arc::new(ManualClock::new(start()));
    let (inbox, mailbox) = command_handler::inbox::inbox();
    let results = command_handler::client::Results::follow(log.clone())
        .await
        .unwrap()
        .with_inbox(inbox);
    let (stop, stopped) = oneshot::channel::<()>();
    let handler =
        Handler::new(log.clone(), HandlerConfig::default(), clock.clone()).with_inbox(mailbox);
    let task = tokio::spawn(handler.run(async {
        let _ = stopped.await;
    }));
    let receive = |n: u128| {
        envelope(
            StockCommand::from(ReceiveStock {
                item: item(MUG),
                quantity: 5,
                reference: format!("PO-{n}"),
            }),
            9100 + n,
            service(),
        )
    };
    let submit = |envelope: CommandEnvelope| {
        let results = &results;
        async move {
            let line = codec::json::encode_command_json(&envelope);
            results
                .submit_json(line.as_bytes(), &envelope, PATIENCE)
                .await
                .unwrap()
                .expect("a result in time")
        }
    };
    // Handed over before the handler has its partitions, a command is published instead.
    assert!(submit(receive(0)).await.is_accepted());
    let first = submit(receive(1)).await;
    assert!(first.is_accepted(), "{first:?}");
    assert_eq!(
        submit(receive(1)).await,
        first,
        "a retry gets the first answer"
    );
    let _ = stop.send(());
    let stats = task.await.unwrap().unwrap();
    assert!(stats.submitted >= 2, "{stats:?}");
    assert_eq!((stats.accepted, stats.duplicates), (2, 1), "{stats:?}");
    assert!(
        stats.decided_in_place >= 2,
        "decided where recorded: {stats:?}"
    );
    let commands = log.topics().name(Topic::Commands);
    let key = receive(0).command.target().id;
    let partition = event_log::partition_for(key.as_bytes(), log.partitions(Topic::Commands));
    let tp = TopicPartition::new(&commands, partition);
    assert_eq!(
        log.read(&tp, 0, 10).await.unwrap().len(),
        3,
        "all on the topic"
    );
    let committed = log
        .committed_offsets(&HandlerConfig::default().group, Topic::Commands)
        .await
        .unwrap();
    assert_eq!(committed[partition as usize], 3, "and consumed");

    // The handler is gone: the next command is published, and decided by the next handler.
    let late = tokio::spawn({
        let results = Arc::new(results);
        async move {
            let envelope = receive(2);
            let line = codec::json::encode_command_json(&envelope);
            results
                .submit_json(line.as_bytes(), &envelope, PATIENCE)
                .await
        }
    });
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while log.read(&tp, 3, 1).await.unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command was not published"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let running = Running::start(log.clone(), clock);
    let answer = late.await.unwrap().unwrap().expect("a result in time");
    assert!(answer.is_accepted(), "{answer:?}");
    let stats = running.stop().await;
    assert_eq!((stats.accepted, stats.submitted), (1, 0), "{stats:?}");
}

fn embedded(dir: &tempfile::TempDir, prefix: &str) -> Arc<dyn Log> {
    Arc::new(EmbeddedLog::open(&dir.path().join(prefix), Topics::new(prefix, 4).unwrap()).unwrap())
}

async fn kafka(broker: &TestBroker, prefix: &str) -> Arc<dyn Log> {
    Arc::new(
        KafkaLog::connect(broker.settings(), Topics::new(prefix, 4).unwrap())
            .await
            .unwrap(),
    )
}

mod on_embedded {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn order_journey() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = unique_prefix("journey");
        let log = embedded(&dir, &prefix);
        the_order_journey_produces_exactly_the_expected_events(log, || embedded(&dir, &prefix))
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn duplicates() {
        let dir = tempfile::tempdir().unwrap();
        a_command_published_three_times_has_one_effect_and_three_identical_results(embedded(
            &dir, "dup",
        ))
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn command_ids() {
        let dir = tempfile::tempdir().unwrap();
        a_command_id_names_one_command_on_its_aggregate(embedded(&dir, "ids")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shortages_are_the_stock_items() {
        let dir = tempfile::tempdir().unwrap();
        for (name, with_table, warehouses) in SHORTAGE_CASES {
            orders_published_after_their_stock_are_never_short(
                embedded(&dir, name),
                *with_table,
                warehouses,
            )
            .await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rebalance() {
        let dir = tempfile::tempdir().unwrap();
        a_second_instance_joining_mid_load_decides_nothing_twice(embedded(&dir, "rebalance")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_letters() {
        let dir = tempfile::tempdir().unwrap();
        an_undecodable_record_is_dead_lettered_and_the_next_command_decided(embedded(&dir, "dead"))
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finance_actors() {
        let dir = tempfile::tempdir().unwrap();
        finance_commands_need_a_finance_actor(embedded(&dir, "fin")).await;
    }
}

mod on_kafka {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn order_journey() {
        let broker = TestBroker::start();
        let prefix = unique_prefix("journey");
        let log = kafka(&broker, &prefix).await;
        let settings = broker.settings();
        let topics = Topics::new(&prefix, 4).unwrap();
        let runtime = tokio::runtime::Handle::current();
        the_order_journey_produces_exactly_the_expected_events(log, move || {
            let settings = settings.clone();
            let topics = topics.clone();
            let log = tokio::task::block_in_place(|| {
                runtime.block_on(KafkaLog::connect(settings, topics))
            })
            .unwrap();
            Arc::new(log) as Arc<dyn Log>
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn duplicates() {
        let broker = TestBroker::start();
        a_command_published_three_times_has_one_effect_and_three_identical_results(
            kafka(&broker, &unique_prefix("dup")).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn command_ids() {
        let broker = TestBroker::start();
        a_command_id_names_one_command_on_its_aggregate(
            kafka(&broker, &unique_prefix("ids")).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shortages_are_the_stock_items() {
        let broker = TestBroker::start();
        for (name, with_table, warehouses) in SHORTAGE_CASES {
            orders_published_after_their_stock_are_never_short(
                kafka(&broker, &unique_prefix(name)).await,
                *with_table,
                warehouses,
            )
            .await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rebalance() {
        let broker = TestBroker::start();
        a_second_instance_joining_mid_load_decides_nothing_twice(
            kafka(&broker, &unique_prefix("rebalance")).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dead_letters() {
        let broker = TestBroker::start();
        an_undecodable_record_is_dead_lettered_and_the_next_command_decided(
            kafka(&broker, &unique_prefix("dead")).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finance_actors() {
        let broker = TestBroker::start();
        finance_commands_need_a_finance_actor(kafka(&broker, &unique_prefix("fin")).await).await;
    }
}
