//! `ledger serve` killed with SIGKILL in the middle of a load, and restarted: every command gets
//! one answer, and every accepted command's events are in the log exactly once.
//!
//! - On Kafka (tansu): a load published on the commands topic; CI kills it twice in 150
//!   commands. What is checked is the committed path: the events each result names, at the
//!   positions it names, form every aggregate's unbroken chain, with no event twice. (tansu
//!   does not hide aborted records from `read_committed` readers, so a killed transaction's
//!   records stay visible there; against a real Kafka, `LEDGER_KAFKA_BOOTSTRAP=...`, the whole
//!   events topic is also checked for duplicates and `ledger replay verify` must pass.)
//! - Embedded: a load of stock receipts and orders posted over HTTP, retried after each kill
//!   with the same command id; CI kills it 5 times in 400 commands. At the end `ledger replay
//!   verify` finds the log intact, every stored result is the answer its client got, no event
//!   is there twice or outside a result, and the read models show every unit received and
//!   every order's unit reserved by the order process.
//!
//! The crash soak sets `LEDGER_KILL_CYCLES` and `LEDGER_KILL_COMMANDS` (figures of long runs
//! in RELIABILITY.md); `LEDGER_KILL_SEED` repeats a run's kill moments.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::Duration;

use command_handler::client::{await_result, publish};
use command_handler::{CommandResult, Outcome, ResultRecord};
use event_log::kafka::KafkaLog;
use event_log::testing::{unique_prefix, TestBroker};
use event_log::{Log, LogReader, Topic, TopicPartition, Topics};
use order_events::codec;
use order_events::ids::StockKey;
use order_events::ledger::MemoryLedger;
use order_events::stock::ReceiveStock;
use order_events::{Actor, ActorKind, CommandEnvelope, Policy};
use order_ledger::api::Route;
use order_ledger::query::CliQuery;
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

/// A run's load and kill moments.
struct Plan {
    seed: u64,
    cycles: u64,
    /// Commands in the load.
    total: u64,
    /// After which command each kill comes: one somewhere in each of `cycles` slices of the
    /// load after the first.
    kill_at: Vec<u64>,
    /// The seed's generator, for more random moments.
    rng: order_events::simulation::SplitMix64,
}

impl Plan {
    /// `LEDGER_KILL_CYCLES` kills in `LEDGER_KILL_COMMANDS` commands, or the CI defaults.
    fn new(cycles: u64, commands: u64) -> Plan {
        let seed = seed();
        let cycles = setting("LEDGER_KILL_CYCLES", cycles).max(1);
        let total = setting("LEDGER_KILL_COMMANDS", commands);
        let slice = (total / (cycles + 1)).max(1);
        let mut rng = order_events::simulation::SplitMix64::new(seed);
        let kill_at: Vec<u64> = (1..=cycles).map(|k| k * slice + rng.below(slice)).collect();
        println!("{cycles} kills in {total} commands, after commands {kill_at:?}");
        Plan {
            seed,
            cycles,
            total,
            kill_at,
            rng,
        }
    }
}

/// The seed of this run's kill moments: `LEDGER_KILL_SEED`, or a fresh one, printed.
fn seed() -> u64 {
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
    seed
}

/// A figure of the soak from the environment, or its CI default.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[allow(unsafe_code)]
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
    let Plan {
        seed,
        cycles,
        total,
        kill_at,
        ..
    } = Plan::new(2, 150);

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
        // And the auditor's tool finds the whole history intact.
        let verified = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args([
                "replay",
                "--kafka",
                broker.bootstrap(),
                "--prefix",
                &prefix,
                "verify",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&verified.stdout);
        assert!(
            verified.status.success() && text.contains("0 breaks: intact"),
            "seed {seed}: {verified:?}"
        );
    }
}

/// An embedded `ledger serve` on `data`, with the order process.
fn serve_embedded(data: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", "--data", data.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the ledger binary runs")
}

/// Units each of the first 15 commands receives (one per item), ahead of any order.
const OPENING_STOCK: u64 = 500;

/// Whether the `i`-th command of the embedded load places an order.
fn is_order(i: u64) -> bool {
    i >= 15 && i % 4 == 3
}

/// The `i`-th command of the embedded load, as the JSON line a client posts: opening stock
/// for 15 items, then more stock, and every fourth command an order for one of them (the
/// order process then reserves its stock with commands of its own, across partitions).
fn load_line(i: u64, issued_at: &str) -> String {
    let sku = format!("SKU-{}", i % 15);
    let command_id = Uuid::from_u128(0x4b12_0000 + u128::from(i));
    let quantity = if i < 15 { OPENING_STOCK } else { 10 };
    let body = if is_order(i) {
        serde_json::json!({
            "type": "PlaceOrder",
            "actor": {"kind": "service", "id": "checkout"},
            "payload": {
                "channel": "web", "external_reference": format!("KILL-{i}"),
                "customer_id": format!("cust-{}", i % 7), "merchant_id": "merchant-7",
                "currency": "EUR",
                "lines": [{"sku": sku, "quantity": 1, "unit_price": "10.00"}],
                "shipping_fee": "0.00", "discounts": [],
                "shipping_address": {
                    "recipient": "Ada Lovelace", "phone": "+49 40 555 0101",
                    "street": "Jungfernstieg 7", "city": "Hamburg", "postal_code": "20354",
                    "country": "DE"
                }
            }
        })
    } else {
        serde_json::json!({
            "type": "ReceiveStock",
            "actor": {"kind": "service", "id": "wms"},
            "payload": {"item": {"sku": sku, "warehouse": "BER-1"}, "quantity": quantity,
                        "reference": format!("PO-{i}")}
        })
    };
    let mut body = body;
    body["command_id"] = command_id.to_string().into();
    body["issued_at"] = issued_at.into();
    body.to_string()
}

/// Posts `line` to whichever serve owns `data` until one answers it with a result: a killed
/// serve refuses the connection or drops it mid-request, and its successor answers the retry
/// (the same command id) once. The answer, and how many attempts it took.
fn post_until_answered(data: &std::path::Path, line: &str) -> (serde_json::Value, u32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut attempts = 0;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no serve answered {line} in 120 s"
        );
        let Some(endpoint) = order_ledger::running::Endpoint::of(data) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        attempts += 1;
        let agent = endpoint.client(Duration::from_secs(10));
        let answer = agent
            .post(&format!("{}/v1/commands", endpoint.url))
            .header("content-type", "application/json")
            .send(line);
        match answer {
            Ok(mut response) if response.status() == 200 => {
                return (response.body_mut().read_json().unwrap(), attempts);
            }
            // Not decided in time (504), or a token of the serve before (401): again.
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn embedded_serve_killed_mid_load_loses_and_doubles_nothing_and_verifies() {
    let Plan {
        seed,
        total,
        kill_at,
        mut rng,
        ..
    } = Plan::new(5, 400);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = serve_embedded(&data);
    // The serve runs on the machine's clock: orders issued now stay inside their payment
    // window (no expiry releases their stock during the test).
    let issued_at = chrono::DateTime::<chrono::Utc>::from(std::time::SystemTime::now())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

    // The load, from another thread, while this one kills: the kills land wherever the serve
    // is — mid-request, mid-transaction, mid-projection.
    let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let load = {
        let (data, answered, issued_at) = (data.clone(), answered.clone(), issued_at.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            let mut retries = 0;
            for i in 0..total {
                let (answer, attempts) = post_until_answered(&data, &load_line(i, &issued_at));
                retries += attempts - 1;
                answers.push(answer);
                answered.store(i + 1, std::sync::atomic::Ordering::SeqCst);
            }
            (answers, retries)
        })
    };
    for &at in &kill_at {
        while answered.load(std::sync::atomic::Ordering::SeqCst) < at && !load.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(rng.below(20)));
        kill(&mut server);
        println!("killed the serve near command {at}");
        server = serve_embedded(&data);
    }
    let (answers, retries) = load.join().unwrap();
    println!("{retries} commands posted again after a kill");
    // Let the order process finish reacting, then kill once more: what is on disk is what a
    // crash leaves, with the dead serve's address file still there.
    let orders: Vec<u64> = (0..total).filter(|&i| is_order(i)).collect();
    let expected = |sku: u64| {
        let of_sku = |&i: &u64| i % 15 == sku;
        let received: u64 = (0..total)
            .filter(of_sku)
            .filter(|&i| !is_order(i))
            .map(|i| if i < 15 { OPENING_STOCK } else { 10 })
            .sum();
        (received, orders.iter().filter(|i| of_sku(i)).count() as u64)
    };
    let all_reserved = orders.len() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reserved = order_ledger::running::Endpoint::of(&data).and_then(|endpoint| {
            let mut response = endpoint
                .client(Duration::from_secs(10))
                .get(&format!("{}/v1/inventory?limit=100", endpoint.url))
                .call()
                .ok()?;
            let page: serde_json::Value = response.body_mut().read_json().ok()?;
            Some(
                page["items"]
                    .as_array()?
                    .iter()
                    .filter_map(|row| row["reserved"].as_u64())
                    .sum::<u64>(),
            )
        });
        if reserved == Some(all_reserved) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "seed {seed}: {reserved:?} of {all_reserved} units reserved after 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(&mut server);
    assert!(
        data.join("serve.addr").exists(),
        "a killed serve leaves its address file"
    );

    // The command line works on the directory itself (the address left behind is stale).
    let ledger = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "ledger {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let data_arg = data.to_str().unwrap();
    let verified = ledger(&["replay", "--data", data_arg, "verify"]);
    assert!(
        verified.contains("0 breaks: intact"),
        "seed {seed}: {verified}"
    );

    // Every command answered, and its stored result is the answer its client got, once.
    let log =
        event_log::embedded::EmbeddedLog::open(&data, Topics::new("orders", 8).unwrap()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (results, events) = runtime.block_on(async {
        let mut results: BTreeMap<Uuid, Vec<CommandResult>> = BTreeMap::new();
        let mut events = Vec::new();
        for (topic, sink) in [(Topic::CommandResults, true), (Topic::Events, false)] {
            let name = log.topics().name(topic);
            for partition in 0..log.partitions(topic) {
                for record in log
                    .read(&TopicPartition::new(&name, partition), 0, 1_000_000)
                    .await
                    .unwrap()
                {
                    if sink {
                        let result = CommandResult::from_record(&record).unwrap();
                        results.entry(result.command_id).or_default().push(result);
                    } else {
                        events.push(codec::decode_event(&record.payload).unwrap());
                    }
                }
            }
        }
        (results, events)
    });
    drop(log);
    for (i, answer) in answers.iter().enumerate() {
        let id = Uuid::from_u128(0x4b12_0000 + i as u128);
        let stored = results
            .get(&id)
            .unwrap_or_else(|| panic!("seed {seed}: no result stored for command {i}"));
        // A command posted again after a kill is answered again, with its first answer.
        assert!(
            stored.iter().all(|result| result == &stored[0]),
            "seed {seed}: command {i} answered differently: {stored:?}"
        );
        assert!(stored[0].is_accepted(), "seed {seed}: {:?}", stored[0]);
        assert_eq!(
            &serde_json::to_value(&stored[0]).unwrap(),
            answer,
            "seed {seed}: command {i} was answered otherwise than stored"
        );
    }
    let mut ids = HashSet::new();
    for event in &events {
        assert!(ids.insert(event.event_id), "seed {seed}: an event twice");
    }
    // No event outside a committed result: the results of the load and of the order
    // process's own commands (each counted once) name every event there is.
    let named: usize = results
        .values()
        .map(|answers| match &answers[0].outcome {
            Outcome::Accepted { events } => events.len(),
            Outcome::Rejected { .. } => 0,
        })
        .sum();
    assert_eq!(named, events.len(), "seed {seed}: events no result names");

    // The read models, caught up from what the crashes left: every unit received is on hand
    // and every order's unit is reserved.
    let inventory: serde_json::Value = serde_json::from_str(&ledger(&[
        "query",
        "--data",
        data_arg,
        "inventory",
        "--limit",
        "100",
    ]))
    .unwrap();
    for sku in 0..15u64 {
        let (received, ordered) = expected(sku);
        let name = format!("SKU-{sku}");
        let row = inventory["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["sku"] == name.as_str())
            .unwrap_or_else(|| panic!("seed {seed}: no {name} in {inventory}"));
        assert_eq!(row["on_hand"], received, "seed {seed}: {row}");
        assert_eq!(row["reserved"], ordered, "seed {seed}: {row}");
    }
}

/// The analyst token the shared-read-models test reads with.
const ANALYST_TOKEN: &str = "shared-read-analyst";

/// A `ledger serve` on Kafka whose read models live in PostgreSQL at `store`: instance
/// `instance`, listening on [`instance_address`]; killed when dropped, so no serve outlives a
/// failed test.
struct SharedServe(Child);

impl SharedServe {
    /// Its log goes to `log` (appended: a restarted serve continues the file).
    fn start(
        bootstrap: &str,
        prefix: &str,
        store: &str,
        instance: &str,
        log: &Path,
    ) -> SharedServe {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let tokens = format!(
            "analyst:{}:analyst",
            order_ledger::auth::sha256_hex(ANALYST_TOKEN)
        );
        let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["serve", "--kafka", bootstrap, "--prefix", prefix])
            .args([
                "--partitions",
                "4",
                "--kafka-config",
                "session.timeout.ms=6000",
            ])
            .args([
                "--instance-id",
                instance,
                "--listen",
                &instance_address(instance),
            ])
            .env("LEDGER_PROJECTIONS_STORE", store)
            .env("LEDGER_AUTH_TOKENS", tokens)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the ledger binary runs");
        SharedServe(child)
    }
}

impl Drop for SharedServe {
    fn drop(&mut self) {
        kill(&mut self.0);
    }
}

/// Where instance `instance` ("a" or "b") of the shared-read-models test listens: a port of
/// its own per test process, the same after a restart.
fn instance_address(instance: &str) -> String {
    static PORTS: std::sync::OnceLock<[u16; 2]> = std::sync::OnceLock::new();
    let ports = PORTS.get_or_init(|| {
        let free = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        [free(), free()]
    });
    let port = if instance == "a" { ports[0] } else { ports[1] };
    format!("127.0.0.1:{port}")
}

/// A read route's JSON from the serve at `address`; `None` while it does not answer 200.
fn get_json(address: &str, path: &str) -> Option<serde_json::Value> {
    let agent =
        order_ledger::running::client(Duration::from_secs(10), Some(ANALYST_TOKEN.to_owned()));
    let mut response = agent.get(&format!("http://{address}{path}")).call().ok()?;
    (response.status() == 200).then(|| response.body_mut().read_json().ok())?
}

/// Events the serve at `address` has folded since it started (0 while it does not answer).
fn folded(address: &str) -> u64 {
    get_json(address, "/v1/projections/status")
        .and_then(|status| status["events_applied"].as_u64())
        .unwrap_or(0)
}

/// How the serve at `address` answers `path` otherwise than `expected`, if it does.
fn difference(address: &str, path: &str, expected: &serde_json::Value) -> Option<String> {
    match get_json(address, path) {
        Some(answer) if &answer == expected => None,
        Some(answer) => Some(format!("{address}{path}: {answer} instead of {expected}")),
        None => Some(format!("{address}{path}: no answer")),
    }
}

/// The read routes whose answers do not depend on the time they are asked at, with their
/// parameters: every listing, the books, the reports — and then each order and its settlement.
fn read_routes(orders: &[String]) -> Vec<CliQuery> {
    let query = |route, path: &[&String], params: &[(&str, &str)]| CliQuery {
        route,
        path: path.iter().map(|p| p.to_string()).collect(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let all = [("limit", "1000")];
    let mut routes = vec![
        query(Route::Orders, &[], &all),
        query(Route::Inventory, &[], &all),
        query(Route::Balances, &[], &[]),
        query(Route::MerchantBalances, &[], &[]),
        query(Route::TrialBalance, &[], &[]),
        query(Route::Reports, &[], &[]),
        query(Route::Reconciliations, &[], &[]),
    ];
    for id in orders {
        routes.push(query(Route::Order, &[id], &[]));
        routes.push(query(Route::OrderSettlement, &[id], &[]));
    }
    routes
}

/// What a sled store folding the whole log from its start answers to each of `routes`, through
/// the read API's own code: the reference the instances are held to.
async fn sled_answers(log: Arc<dyn Log>, routes: &[CliQuery]) -> Vec<serde_json::Value> {
    let config = order_ledger::config::LedgerConfig::default();
    let read_side = order_ledger::serve::ReadSide {
        store_dir: None,
        postgres: None,
        group: "reference".to_owned(),
        settlement: config.settlement.clone(),
        slas: projections::model::Slas {
            statuses: config.projections.sla_hours.clone(),
            claim_hours: config.projections.claim_sla_hours,
        },
        policy: config.policy.clone(),
        bins: Default::default(),
    };
    let context = order_ledger::query::caught_up_context(log, read_side)
        .await
        .unwrap();
    let mut answers = Vec::new();
    for query in routes {
        let answer =
            order_ledger::api::run(&context, query.route, &query.path, query.params.clone());
        answers.push(answer.await.unwrap());
    }
    answers
}

/// The HTTP path and query of a read route.
fn url(query: &CliQuery) -> String {
    let pairs: Vec<String> = query
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    match pairs.is_empty() {
        true => query.route.url_path(&query.path),
        false => format!("{}?{}", query.route.url_path(&query.path), pairs.join("&")),
    }
}

/// Two `ledger serve` instances on one Kafka log share read models in one PostgreSQL: their
/// projection workers form one group, each folding its partitions. One is killed with SIGKILL
/// while it folds the load and started again. Then both answer every read route — and every
/// order and its settlement — as a sled store folding the same log from its start does: no
/// event lost or folded twice across the kill and the rebalances.
#[test]
fn two_serves_sharing_read_models_in_postgres_answer_as_sled_after_a_kill_mid_fold() {
    let broker = TestBroker::start();
    let prefix = unique_prefix("shared-read");
    let postgres = projections::testing::TestPostgres::start();
    let store = postgres.new_database("shared_read");
    let (first, second) = (instance_address("a"), instance_address("b"));
    let dir = tempfile::tempdir().unwrap();
    let (first_log, second_log) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let killed = SharedServe::start(broker.bootstrap(), &prefix, &store, "a", &first_log);
    let mut other = SharedServe::start(broker.bootstrap(), &prefix, &store, "b", &second_log);
    let logs = || {
        for log in [&first_log, &second_log] {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("{}:\n{}", log.display(), tail.join("\n"));
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let log: Arc<dyn Log> = runtime.block_on(async {
        let topics = Topics::new(&prefix, 4).unwrap();
        Arc::new(KafkaLog::connect(broker.settings(), topics).await.unwrap())
    });
    // The load on the commands topic, as services publish it; the first instance killed half
    // way through, once its worker is folding (and more is coming), then started again.
    let mut killed = Some(killed);
    let mut restarted = None;
    let mut submitted = Vec::new();
    for i in 0..200 {
        let line = load_line(i, "2026-12-04T10:00:00Z");
        let envelope = order_events::codec::json::decode_command_json(line.as_bytes()).unwrap();
        submitted.push(runtime.block_on(publish(log.as_ref(), &envelope)).unwrap());
        if i == 100 {
            let deadline = std::time::Instant::now() + Duration::from_secs(90);
            while folded(&first) < 30 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "instance a folds nothing"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!(
                "killing instance a after command {i}, {} events folded",
                folded(&first)
            );
            drop(killed.take());
            restarted = Some(SharedServe::start(
                broker.bootstrap(),
                &prefix,
                &store,
                "a",
                &first_log,
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = std::time::Instant::now();
    for s in &submitted {
        let result = runtime
            .block_on(await_result(log.as_ref(), s, Duration::from_secs(120)))
            .unwrap();
        assert!(result.is_some(), "no result for {}", s.command_id);
    }
    eprintln!(
        "every command answered {:?} after the last",
        started.elapsed()
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let listed = runtime.block_on(sled_answers(log.clone(), &read_routes(&[])));
        let orders: Vec<String> = listed[0]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|order| order["order_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(orders.len(), (0..200).filter(|&i| is_order(i)).count());
        let routes = read_routes(&orders);
        let expected = runtime.block_on(sled_answers(log.clone(), &routes));
        let differences: Vec<String> = routes
            .iter()
            .zip(&expected)
            .flat_map(|(query, expected)| {
                let url = url(query);
                [&first, &second]
                    .into_iter()
                    .filter_map(move |address| difference(address, &url, expected))
            })
            .collect();
        eprintln!(
            "{:?} after the load: {} of {} answers differ",
            started.elapsed(),
            differences.len(),
            2 * routes.len()
        );
        if differences.is_empty() {
            break;
        }
        let restarted = restarted.as_mut().expect("instance a was restarted");
        for serve in [restarted, &mut other] {
            if let Some(status) = serve.0.try_wait().unwrap() {
                logs();
                panic!("a serve stopped ({status}): {differences:?}");
            }
        }
        if std::time::Instant::now() >= deadline {
            logs();
            panic!("the instances answer otherwise than a sled fold of the log: {differences:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop((restarted, other));
}
