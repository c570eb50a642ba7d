//! The HTTP API of `ledger serve` over a real socket: every read route, pagination, filters,
//! read-your-writes, and bad parameters (a clear 4xx with a JSON reason, never a 500).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use command_handler::{HandlerConfig, ManualClock};
use event_log::embedded::EmbeddedLog;
use event_log::{Log, Topics};
use order_ledger::auth::{Auth, Role};
use order_ledger::config::LedgerConfig;
use order_ledger::running;
use order_ledger::serve::{self, ReadSide, ServeOptions};
use serde_json::{json, Value};

/// The token the tests' serve knows, with the admin role.
const ADMIN_TOKEN: &str = "test-admin-token";

struct Running {
    address: String,
    /// The serve's log, to publish on its commands topic directly (as a Kafka producer would).
    log: Arc<dyn Log>,
    clock: Arc<ManualClock>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<command_handler::HandlerStats>>,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

async fn start() -> Running {
    start_with(Auth::closed().with_token(ADMIN_TOKEN, "test-admin", &[Role::Admin])).await
}

async fn start_with(auth: Auth) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Log> = Arc::new(
        EmbeddedLog::open(&dir.path().join("log"), Topics::new("api", 4).unwrap()).unwrap(),
    );
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let defaults = LedgerConfig::default();
    let options = ServeOptions {
        handler: HandlerConfig {
            state_dir: Some(dir.path().join("state")),
            ..HandlerConfig::default()
        },
        listener,
        data: None,
        metrics: None,
        wait: Duration::from_secs(30),
        read_side: ReadSide {
            store_dir: Some(dir.path().join("read-models")),
            group: "api-projections".into(),
            settlement: defaults.settlement,
            sla_hours: defaults.projections.sla_hours,
            policy: defaults.policy,
        },
        auth,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve::serve(log.clone(), clock.clone(), options, async {
        let _ = stopped.await;
    }));
    let agent = running::client(Duration::from_secs(30), Some(ADMIN_TOKEN.to_owned()));
    Running {
        address,
        log,
        clock,
        stop,
        task,
        agent,
        _dir: dir,
    }
}

/// The example order journey's command lines.
fn example_journey() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/order-journey.jsonl"),
    )
    .unwrap()
}

/// A serve that has taken the example order journey (every command accepted), and the last
/// command's result.
async fn start_after_the_journey() -> (Running, Value) {
    let running = start().await;
    let journey = example_journey();
    let mut last = Value::Null;
    for result in running.post_all(&journey).await {
        assert_eq!(result["outcome"], "accepted", "{result}");
        last = result;
    }
    (running, last)
}

impl Running {
    fn get(&self, path: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .get(&format!("http://{}{path}", self.address))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_json().unwrap())
    }

    fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    fn post(&self, line: &str) -> Value {
        running::post_line(&self.agent, &self.address, line).unwrap()
    }

    /// Posts every command line of `text`, in order; their results.
    async fn post_all(&self, text: &str) -> Vec<Value> {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let address = self.address.clone();
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || {
            lines
                .iter()
                .map(|line| running::post_line(&agent, &address, line).unwrap())
                .collect()
        })
        .await
        .unwrap()
    }

    /// Posts `body` with `content_type` to `path`; the status and the JSON answer.
    fn post_body(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .post(&format!("http://{}{path}", self.address))
            .header("content-type", content_type)
            .send(body)
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_json().unwrap())
    }
}

/// `/v1/balances` as account → balance.
fn by_account(balances: &Value) -> BTreeMap<String, String> {
    balances
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().to_owned(),
                a["balance"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const ORDER: &str = "a9e4826c-e1fa-5275-b07b-412038fc6c3a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_route_answers_and_bad_parameters_get_a_clear_4xx() {
    let (running, last) = start_after_the_journey().await;
    // Read-your-writes: the positions of the last command's events.
    let positions: Vec<String> = last["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["partition"], e["offset"]))
        .collect();
    let at_least = positions.join(",");
    let get = |path: String| {
        let running = &running;
        let path = path.clone();
        tokio::task::block_in_place(|| running.ok(&path))
    };
    let order = get(format!(
        "/v1/orders/{ORDER}?at_least={at_least}&wait_ms=10000"
    ));
    assert_eq!(order["feedback"]["rating"], 5, "{order}");
    assert_eq!(order["captured"], "93.80");
    assert_eq!(order["shipments"].as_array().unwrap().len(), 2);

    let settlement = get(format!("/v1/orders/{ORDER}/settlement"));
    assert_eq!(
        settlement["accounts"]["merchant_payable:merchant-7"],
        "-71.37"
    );

    let orders = get("/v1/orders?limit=1".into());
    assert_eq!(orders["items"].as_array().unwrap().len(), 1);
    assert!(orders["next"].is_null());
    let filtered = get("/v1/orders?merchant=merchant-7&status=partially_returned&channel=web&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z".into());
    assert_eq!(filtered["items"][0]["order_id"], ORDER);
    let none = get("/v1/orders?merchant=nobody".into());
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    let inventory = get("/v1/inventory?limit=1".into());
    assert_eq!(inventory["items"].as_array().unwrap().len(), 1);
    let next = inventory["next"]
        .as_str()
        .expect("two stock items: a second page")
        .to_owned();
    let second = get(format!("/v1/inventory?limit=1&after={next}"));
    assert_ne!(second["items"][0]["sku"], inventory["items"][0]["sku"]);
    let cap = get("/v1/inventory/CAP-BLK/BER-1".into());
    // 40 received, 2 shipped, 1 returned to stock.
    assert_eq!(cap["on_hand"], 39, "{cap}");
    let low = get("/v1/inventory?low=true".into());
    assert!(low["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["low_stock"] == true));

    let balances = get("/v1/balances?currency=EUR".into());
    let accounts = by_account(&balances);
    assert_eq!(accounts["customer_payments_clearing"], "79.30");
    let merchants = get("/v1/balances/merchants?merchant=merchant-7".into());
    assert_eq!(merchants[0]["payable"], "71.37");
    let trial = get("/v1/trial-balance".into());
    assert_eq!(trial["balanced"], true);
    assert_eq!(trial["currencies"][0]["difference"], "0.00");
    let reports = get("/v1/reports?from=2026-11-22&to=2026-11-22&channel=web".into());
    assert_eq!(reports["orders"], 1);
    assert_eq!(reports["by_currency"][0]["gross_gmv"], "93.80");
    assert_eq!(reports["by_currency"][0]["net_sales"], "79.30");
    let exceptions = get("/v1/exceptions".into());
    assert!(exceptions.as_array().unwrap().is_empty(), "{exceptions}");
    let status = get("/v1/projections/status".into());
    assert_eq!(status["healthy"], true);
    assert_eq!(status["lag_total"], 0, "{status}");
    let openapi = get("/v1/openapi.json".into());
    assert_eq!(openapi["openapi"], "3.1.0");
    for path in [
        "/v1/orders",
        "/v1/orders/{id}",
        "/v1/inventory",
        "/v1/balances",
        "/v1/trial-balance",
        "/v1/reports",
        "/v1/exceptions",
        "/v1/projections/status",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} undocumented");
    }

    // Bad input: a 4xx naming the problem, never a 500.
    let bad = [
        ("/v1/orders?limit=0", 400, "bad_limit"),
        ("/v1/orders?limit=abc", 400, "bad_parameter"),
        ("/v1/orders?status=flying", 400, "bad_parameter"),
        ("/v1/orders?from=yesterday", 400, "bad_parameter"),
        ("/v1/orders?after=zz", 400, "bad_cursor"),
        ("/v1/orders?colour=red", 400, "unknown_parameter"),
        ("/v1/orders?limit=1&limit=2", 400, "duplicate_parameter"),
        (
            "/v1/orders?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "bad_range",
        ),
        ("/v1/orders/not-a-uuid", 400, "bad_order_id"),
        (
            "/v1/orders/00000000-0000-4000-8000-000000000000",
            404,
            "not_found",
        ),
        ("/v1/inventory/NOPE/BER-1", 404, "not_found"),
        ("/v1/balances?currency=XXX", 400, "bad_parameter"),
        ("/v1/reports?from=2026-13-01", 400, "bad_parameter"),
        (
            "/v1/reports?from=2026-12-01&to=2026-11-01",
            400,
            "bad_range",
        ),
        ("/v1/orders?at_least=3", 400, "bad_parameter"),
        ("/v1/orders?wait_ms=99999999", 400, "bad_parameter"),
        (
            "/v1/orders?at_least=0:999999&wait_ms=50",
            504,
            "not_reached",
        ),
    ];
    for (path, status, code) in bad {
        let (got, body) = tokio::task::block_in_place(|| running.get(path));
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "GET {path}: {body}"
        );
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()));
    }
    // Rebuild beside the live read models: queries keep answering, and afterwards the new
    // generation answers the same and keeps folding.
    let before = get(format!("/v1/orders/{ORDER}"));
    let trial_before = get("/v1/trial-balance".into());
    let started: Value = tokio::task::block_in_place(|| {
        let mut response = running
            .agent
            .post(&format!(
                "http://{}/v1/projections/rebuild",
                running.address
            ))
            .send_empty()
            .unwrap();
        assert_eq!(response.status().as_u16(), 202);
        response.body_mut().read_json().unwrap()
    });
    assert_eq!(started["rebuild"], "started");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert_eq!(
            get(format!("/v1/orders/{ORDER}")),
            before,
            "a query during the rebuild"
        );
        let status = get("/v1/projections/status".into());
        if status["rebuild"]["state"] == "done" {
            assert_eq!(status["generation"], 2, "{status}");
            assert!(
                status["rebuild"]["events_folded"].as_u64().unwrap() > 20,
                "{status}"
            );
            break;
        }
        assert_ne!(status["rebuild"]["state"], "failed", "{status}");
        assert!(
            std::time::Instant::now() < deadline,
            "the rebuild never finished: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(format!("/v1/orders/{ORDER}")), before);
    assert_eq!(get("/v1/trial-balance".into()), trial_before);
    let restock = r#"{"command_id":"00000000-0000-4000-a000-0000000000a1","type":"ReceiveStock","actor":{"kind":"service","id":"wms"},"issued_at":"2026-11-22T11:00:00Z","payload":{"item":{"sku":"CAP-BLK","warehouse":"BER-1"},"quantity":10,"reference":"PO-2026-0199"}}"#;
    let result = tokio::task::block_in_place(|| running.post(restock));
    let event = &result["events"][0];
    let cap = get(format!(
        "/v1/inventory/CAP-BLK/BER-1?at_least={}:{}",
        event["partition"], event["offset"]
    ));
    assert_eq!(
        cap["on_hand"], 49,
        "the new generation keeps folding: {cap}"
    );

    let invalid = tokio::task::block_in_place(|| running.post("{}"));
    assert_eq!(invalid["outcome"], "invalid", "{invalid}");
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliations_take_a_csv_body_or_a_multipart_file_and_answer_with_the_report() {
    let (running, _) = start_after_the_journey().await;
    // The journey's two captures and its refund, as the provider reports them, plus a
    // chargeback the ledger knows nothing of.
    let report = "psp_reference,type,gross,fee,net,currency,date\n\
        gc-1201,capture,25.00,0.00,25.00,EUR,2026-11-22\n\
        psp-55120,capture,68.80,1.21,67.59,EUR,2026-11-22\n\
        psp-55120-r1,refund,14.50,0.00,14.50,EUR,2026-11-23\n";
    let post = |path: &str, content_type: &str, body: &str| {
        tokio::task::block_in_place(|| running.post_body(path, content_type, body))
    };
    let recorded = "/v1/reconciliations?provider=adyen&run_id=nov-22&actor=staff:fin-ann";
    let (status, answer) = post(recorded, "text/csv", report);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["clean"], true, "{answer}");
    assert_eq!(answer["recorded"]["outcome"], "accepted", "{answer}");
    assert_eq!(answer["recorded"]["aggregate_id"], "nov-22");
    let event = &answer["recorded"]["events"][0];
    let runs = tokio::task::block_in_place(|| {
        running.ok(&format!(
            "/v1/reconciliations?at_least={}:{}&wait_ms=10000",
            event["partition"], event["offset"]
        ))
    });
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let run = &runs[0];
    assert_eq!(
        (
            &run["run_id"],
            &run["outcome"]["provider"],
            &run["actor"]["id"]
        ),
        (&json!("nov-22"), &json!("adyen"), &json!("fin-ann")),
        "{run}"
    );
    assert_eq!(run["outcome"]["transaction_lines"], 3);
    assert_eq!(run["recorded_at"], "2026-11-22T10:00:00Z");
    assert_eq!(run["outcome"]["report_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(answer["transaction_lines"], 3);
    assert_eq!(answer["auto_match_rate"], 1.0);
    assert_eq!(answer["currencies"][0]["ledger_captures"], "93.80");
    assert_eq!(answer["currencies"][0]["fees"], "1.21");
    assert_eq!(answer["currencies"][0]["variance"], "0.00");

    let disputed = format!("{report}psp-55120,chargeback,68.80,15.00,83.80,EUR,2026-11-23\n");
    let form = format!(
        "--XB\r\nContent-Disposition: form-data; name=\"file\"; filename=\"psp.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{disputed}\r\n--XB--\r\n"
    );
    let (status, answer) = post(
        "/v1/reconciliations?from=2026-11-01&to=2026-11-30&record=false",
        "multipart/form-data; boundary=XB",
        &form,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["clean"], false, "{answer}");
    assert_eq!(answer["unexplained"], 1);
    assert_eq!(answer["breaks"][0]["kind"], "chargeback_not_in_ledger");
    assert_eq!(answer["breaks"][0]["line"], 5);
    assert_eq!(answer["from"], "2026-11-01");
    assert!(answer.get("recorded").is_none(), "{answer}");
    // A run id is recorded once: the report still comes back, with the refusal.
    let (status, answer) = post(recorded, "text/csv", report);
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["recorded"]["rule"],
        "reconciliation_already_recorded"
    );
    assert_eq!(answer["transaction_lines"], 3);

    // The provider pays the day's batch out: clearing empties into the bank, less its fees,
    // and the books still balance. A batch is recorded once and must add up.
    let settlement = |id: u32, net: &str| {
        format!(
            r#"{{"command_id":"00000000-0000-4000-a000-0000000005{id:02}","type":"RecordPspSettlement","actor":{{"kind":"staff","id":"fin-ann"}},"issued_at":"2026-11-23T09:00:00Z","payload":{{"provider":"adyen","currency":"EUR","bank_reference":"SEPA-1123-01","gross":"79.30","fees":"1.21","net":"{net}","settled_on":"2026-11-23"}}}}"#
        )
    };
    let result = tokio::task::block_in_place(|| running.post(&settlement(1, "78.09")));
    assert_eq!(result["outcome"], "accepted", "{result}");
    assert_eq!(result["aggregate_id"], "psp:adyen:EUR");
    let event = &result["events"][0];
    let balances = tokio::task::block_in_place(|| {
        running.ok(&format!(
            "/v1/balances?currency=EUR&at_least={}:{}&wait_ms=10000",
            event["partition"], event["offset"]
        ))
    });
    let balance = |account: &str| {
        balances
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["account"] == account)
            .map(|a| a["balance"].clone())
    };
    assert_eq!(
        balance("customer_payments_clearing"),
        Some(json!("0.00")),
        "{balances}"
    );
    assert_eq!(balance("bank"), Some(json!("78.09")), "{balances}");
    assert_eq!(
        balance("psp_fee_expense"),
        Some(json!("1.21")),
        "{balances}"
    );
    let trial = tokio::task::block_in_place(|| running.ok("/v1/trial-balance"));
    assert_eq!(trial["balanced"], true, "{trial}");
    let again = tokio::task::block_in_place(|| running.post(&settlement(2, "78.09")));
    assert_eq!(again["rule"], "settlement_already_recorded", "{again}");
    let off = tokio::task::block_in_place(|| running.post(&settlement(3, "78.10")));
    assert_eq!(off["rule"], "settlement_does_not_add_up", "{off}");

    // What it cannot read gets a 400 with a reason, never a 500.
    for (path, content_type, body, code) in [
        (
            "/v1/reconciliations?window=3",
            "text/csv",
            report,
            "bad_parameter",
        ),
        (
            "/v1/reconciliations?from=yesterday",
            "text/csv",
            report,
            "bad_parameter",
        ),
        (
            "/v1/reconciliations?map=grossAmount",
            "text/csv",
            report,
            "bad_parameter",
        ),
        (
            "/v1/reconciliations?actor=fin-ann",
            "text/csv",
            report,
            "bad_parameter",
        ),
        (
            "/v1/reconciliations?record=maybe",
            "text/csv",
            report,
            "bad_parameter",
        ),
        (
            "/v1/reconciliations?run_id=a%20b",
            "text/csv",
            report,
            "bad_parameter",
        ),
        ("/v1/reconciliations", "text/csv", "", "bad_report"),
        (
            "/v1/reconciliations",
            "text/csv",
            "reference,amount\nx,1\n",
            "bad_report",
        ),
        (
            "/v1/reconciliations",
            "multipart/form-data; boundary=XB",
            "--XB--\r\n",
            "bad_body",
        ),
    ] {
        let (status, answer) = post(path, content_type, body);
        assert_eq!(
            (status, answer["error"].as_str()),
            (400, Some(code)),
            "{path}: {answer}"
        );
        assert!(!answer["reason"].as_str().unwrap().is_empty());
    }
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

/// A command line of the finance team's.
fn finance_command(id: u32, type_name: &str, payload: Value) -> String {
    json!({
        "command_id": format!("00000000-0000-4000-a000-0000000007{id:02}"),
        "type": type_name,
        "actor": {"kind": "staff", "id": "fin-ann"},
        "issued_at": "2026-11-22T10:00:00Z",
        "payload": payload,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_beyond_the_available_balance_are_rejected_and_the_books_balance_throughout() {
    let (running, _) = start_after_the_journey().await;
    let post = |line: String| {
        let result = tokio::task::block_in_place(|| running.post(&line));
        assert!(result["outcome"].is_string(), "{result}");
        result
    };
    // After each accepted command: its events folded, the books balanced; the balances.
    let balanced_after = |result: &Value| -> BTreeMap<String, String> {
        let at_least: Vec<String> = result["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}:{}", e["partition"], e["offset"]))
            .collect();
        let balances = tokio::task::block_in_place(|| {
            running.ok(&format!(
                "/v1/balances?currency=EUR&at_least={}&wait_ms=10000",
                at_least.join(",")
            ))
        });
        let trial = tokio::task::block_in_place(|| running.ok("/v1/trial-balance"));
        assert_eq!(trial["balanced"], true, "{trial}");
        assert_eq!(trial["currencies"][0]["difference"], "0.00", "{trial}");
        by_account(&balances)
    };
    let payout = |id: u32, amount: &str, reference: &str| {
        finance_command(
            id,
            "PayoutMerchant",
            json!({"merchant_id": "merchant-7", "currency": "EUR", "amount": amount,
                   "payout_reference": reference}),
        )
    };

    // The journey's order was delivered today: its return window is open, so its earnings
    // (93.80 captured − 9.38 commission − 14.50 refunded + 1.45 given back = 71.37) are held.
    let early = post(payout(1, "0.01", "PO-1122"));
    assert_eq!(early["rule"], "payout_exceeds_available", "{early}");
    assert!(
        early["detail"]
            .as_str()
            .unwrap()
            .contains("earned 71.37, held back 71.37"),
        "{early}"
    );
    let merchant =
        || tokio::task::block_in_place(|| running.ok("/v1/balances/merchants?merchant=merchant-7"));
    let shown = merchant();
    assert_eq!(
        (&shown[0]["held_back"], &shown[0]["available"]),
        (&json!("71.37"), &json!("0.00")),
        "{shown}"
    );
    running.clock.advance(chrono::Duration::days(14));
    let shown = merchant();
    assert_eq!(
        (&shown[0]["held_back"], &shown[0]["available"]),
        (&json!("0.00"), &json!("71.37")),
        "{shown}"
    );
    let beyond = post(payout(2, "71.38", "PO-1206"));
    assert_eq!(beyond["rule"], "payout_exceeds_available", "{beyond}");
    let paid = post(payout(3, "71.37", "PO-1206"));
    assert_eq!(paid["outcome"], "accepted", "{paid}");
    assert_eq!(paid["aggregate_id"], "merchant:merchant-7:EUR");
    let books = balanced_after(&paid);
    assert_eq!(books["merchant_payable:merchant-7"], "0.00", "{books:?}");
    assert_eq!(books["bank"], "-71.37", "{books:?}");
    let merchants = merchant();
    assert_eq!(merchants[0]["payouts"], "71.37", "{merchants}");
    assert_eq!(merchants[0]["payable"], "0.00", "{merchants}");
    assert_eq!(merchants[0]["available"], "0.00", "{merchants}");
    // A retry of the payout changes nothing; its reference with another amount is refused;
    // nothing more is available.
    let retry = post(payout(4, "71.37", "PO-1206"));
    assert_eq!(retry["outcome"], "accepted", "{retry}");
    assert_eq!(retry["events"].as_array().unwrap().len(), 0, "{retry}");
    let reused = post(payout(5, "1.00", "PO-1206"));
    assert_eq!(reused["rule"], "transfer_reference_reused", "{reused}");
    let more = post(payout(6, "0.01", "PO-1207"));
    assert_eq!(more["rule"], "payout_exceeds_available", "{more}");

    // DHL invoices the two parcels (4.10 + 3.20 charged) at 7.55: 0.25 over, posted to the
    // freight variance account. Then it is paid in two parts, never beyond the invoice.
    let invoice = finance_command(
        7,
        "RecordCarrierInvoice",
        json!({"carrier": "dhl", "currency": "EUR", "invoice_reference": "DHL-2026-11",
               "issued_on": "2026-12-01", "lines": [
                   {"tracking_number": "JJD000390101", "freight": "4.10"},
                   {"tracking_number": "JJD000390102", "freight": "3.45"}]}),
    );
    let recorded = post(invoice.clone());
    assert_eq!(recorded["outcome"], "accepted", "{recorded}");
    let books = balanced_after(&recorded);
    assert_eq!(books["freight_variance"], "0.25", "{books:?}");
    assert_eq!(books["carrier_payable:dhl"], "-7.55", "{books:?}");
    let again = post(invoice.replace("000000000707", "000000000708"));
    assert_eq!(again["rule"], "carrier_invoice_already_recorded", "{again}");
    let pay = |id: u32, amount: &str, reference: &str| {
        finance_command(
            id,
            "PayCarrier",
            json!({"carrier": "dhl", "currency": "EUR", "invoice_reference": "DHL-2026-11",
                   "amount": amount, "payment_reference": reference}),
        )
    };
    let first = post(pay(9, "5.00", "SEPA-DHL-1"));
    assert_eq!(first["outcome"], "accepted", "{first}");
    balanced_after(&first);
    let over = post(pay(10, "2.56", "SEPA-DHL-2"));
    assert_eq!(over["rule"], "carrier_payment_exceeds_invoice", "{over}");
    let rest = post(pay(11, "2.55", "SEPA-DHL-2"));
    let books = balanced_after(&rest);
    assert_eq!(books["carrier_payable:dhl"], "0.00", "{books:?}");
    assert_eq!(books["bank"], "-78.92", "{books:?}");
    // Only the order process accrues earnings.
    let forged = post(finance_command(
        12,
        "AccrueMerchantEarnings",
        json!({"merchant_id": "merchant-7", "currency": "EUR",
               "order_id": ORDER, "payment_id": "forged", "captured": "1000.00",
               "commission": "0.00"}),
    ));
    assert_eq!(forged["rule"], "actor_not_permitted", "{forged}");

    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

/// The token of each role in the access test: the role's name.
fn token_of(role: Role) -> String {
    format!("token-of-{role:?}")
}

/// One request of the route × role matrix and the roles it admits (admin always).
struct Probe {
    method: &'static str,
    path: String,
    body: Option<(&'static str, String)>,
    admits: &'static [Role],
}

fn command_line(id: u32, actor: &str, type_name: &str, payload: Value) -> String {
    let (kind, name) = actor.split_once(':').unwrap();
    json!({
        "command_id": format!("00000000-0000-4000-a000-0000000009{id:02}"),
        "type": type_name,
        "actor": {"kind": kind, "id": name},
        "issued_at": "2026-11-22T10:00:00Z",
        "payload": payload,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_admits_exactly_its_roles_and_refuses_the_rest() {
    use Role::*;
    let mut auth = Auth::closed();
    for role in Role::ALL {
        auth = auth.with_token(&token_of(role), &format!("{role:?}"), &[role]);
    }
    let running = start_with(auth).await;
    const READ: &[Role] = &[Analyst, Auditor, Finance];
    let mut probes: Vec<Probe> = [
        "/v1/orders",
        &format!("/v1/orders/{ORDER}"),
        &format!("/v1/orders/{ORDER}/settlement"),
        "/v1/exceptions",
        "/v1/inventory",
        "/v1/inventory/CAP-BLK/BER-1",
        "/v1/balances",
        "/v1/balances/merchants",
        "/v1/trial-balance",
        "/v1/reconciliations",
        "/v1/reports",
        "/v1/projections/status",
    ]
    .into_iter()
    .map(|path| Probe {
        method: "GET",
        path: path.to_owned(),
        body: None,
        admits: READ,
    })
    .collect();
    let receive = json!({"item": {"sku": "CAP-BLK", "warehouse": "BER-1"}, "quantity": 5,
                         "reference": "PO-9"});
    let payout = json!({"merchant_id": "merchant-7", "currency": "EUR", "amount": "1.00",
                        "payout_reference": "PO-X"});
    let csv = "psp_reference,type,gross,fee,net,currency,date\n".to_owned();
    probes.extend([
        Probe {
            method: "GET",
            path: "/v1/openapi.json".into(),
            body: None,
            admits: &[Service, Analyst, Auditor, Finance],
        },
        Probe {
            method: "GET",
            path: "/metrics".into(),
            body: None,
            admits: &[Analyst],
        },
        Probe {
            method: "GET",
            path: "/v1/log/layout".into(),
            body: None,
            admits: &[Auditor],
        },
        Probe {
            method: "GET",
            path: "/v1/log/events/0".into(),
            body: None,
            admits: &[Auditor],
        },
        Probe {
            method: "POST",
            path: "/v1/reconciliations?record=false".into(),
            body: Some(("text/csv", csv)),
            admits: &[Finance],
        },
        Probe {
            method: "POST",
            path: "/v1/projections/rebuild".into(),
            body: None,
            admits: &[],
        },
        // Commands: a service's, finance's, and one as the system actor.
        Probe {
            method: "POST",
            path: "/v1/commands".into(),
            body: Some((
                "application/json",
                command_line(1, "service:wms", "ReceiveStock", receive),
            )),
            admits: &[Service],
        },
        Probe {
            method: "POST",
            path: "/v1/commands".into(),
            body: Some((
                "application/json",
                command_line(2, "staff:fin-ann", "PayoutMerchant", payout),
            )),
            admits: &[Finance],
        },
        Probe {
            method: "POST",
            path: "/v1/commands".into(),
            body: Some((
                "application/json",
                command_line(
                    3,
                    "system:ledger",
                    "ExpireOrder",
                    json!({"order_id": ORDER}),
                ),
            )),
            admits: &[],
        },
    ]);
    let address = running.address.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let agent = running::client(Duration::from_secs(30), None);
        let send = |probe: &Probe, authorization: Option<String>| -> (u16, Value) {
            let url = format!("http://{address}{}", probe.path);
            let mut response = match probe.method {
                "GET" => {
                    let mut request = agent.get(&url);
                    if let Some(value) = &authorization {
                        request = request.header("authorization", value);
                    }
                    request.call().unwrap()
                }
                _ => {
                    let mut request = agent.post(&url);
                    if let Some(value) = &authorization {
                        request = request.header("authorization", value);
                    }
                    match &probe.body {
                        Some((content_type, body)) => {
                            request.header("content-type", *content_type).send(body)
                        }
                        None => request.send_empty(),
                    }
                    .unwrap()
                }
            };
            let status = response.status().as_u16();
            let body = response
                .body_mut()
                .read_to_string()
                .ok()
                .and_then(|text| serde_json::from_str(&text).ok())
                .unwrap_or(Value::Null);
            (status, body)
        };
        let mut checked = 0;
        for probe in &probes {
            let what = format!("{} {}", probe.method, probe.path);
            for authorization in [None, Some("Bearer not-a-token".to_owned())] {
                let (status, body) = send(probe, authorization.clone());
                assert_eq!(status, 401, "{what} with {authorization:?}: {body}");
                assert_eq!(body["error"], "unauthorized", "{what}: {body}");
                checked += 1;
            }
            for role in Role::ALL {
                let (status, body) = send(probe, Some(format!("Bearer {}", token_of(role))));
                if role == Admin || probe.admits.contains(&role) {
                    assert!(
                        status != 401 && status != 403,
                        "{what} as {role:?}: {status} {body}"
                    );
                } else {
                    assert_eq!(status, 403, "{what} as {role:?}: {body}");
                }
                checked += 1;
            }
        }
        // Health is for probes: no token needed.
        let (status, _) = send(
            &Probe {
                method: "GET",
                path: "/v1/health".into(),
                body: None,
                admits: &[],
            },
            None,
        );
        assert_eq!(status, 200);
        checked
    })
    .await
    .unwrap();
    // 21 requests, each without a token, with an unknown one and as each of the 5 roles.
    assert_eq!(checked, 21 * 7);
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_request_rate_gets_429_and_then_its_budget_back() {
    let token = "rate-limited-analyst";
    let running = start_with(
        Auth::closed()
            .with_token(token, "dashboard", &[Role::Analyst])
            .with_rate_limit(5),
    )
    .await;
    let address = running.address.clone();
    tokio::task::spawn_blocking(move || {
        let agent = running::client(Duration::from_secs(30), Some(token.to_owned()));
        let url = format!("http://{address}/v1/trial-balance");
        let mut statuses = Vec::new();
        let mut refused = None;
        for _ in 0..12 {
            let mut response = agent.get(&url).call().unwrap();
            let status = response.status().as_u16();
            if status == 429 && refused.is_none() {
                let retry = response.headers().get("retry-after").cloned();
                let body: Value = response.body_mut().read_json().unwrap();
                refused = Some((retry, body));
            }
            statuses.push(status);
        }
        // A burst of a second's worth goes through, then the budget is spent.
        assert!(statuses[..5].iter().all(|&s| s == 200), "{statuses:?}");
        assert!(statuses[5..].contains(&429), "{statuses:?}");
        let (retry, body) = refused.unwrap();
        assert_eq!(body["error"], "rate_limited", "{body}");
        // The wait is computed from the budget: at 5 a second, a request's worth refills
        // within 200 ms; the header, in whole seconds, rounds up.
        let wait = body["retry_after_ms"].as_u64().expect("retry_after_ms");
        assert!((1..=200).contains(&wait), "{body}");
        assert_eq!(retry.unwrap(), "1");
        // That waiting so long is enough is the bucket's unit test, on a clock moved by hand.
    })
    .await
    .unwrap();
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

/// One hostile input of `tests/hostile/commands.jsonl` (made by its `generate.py`).
struct Hostile {
    name: String,
    /// The typed answer: a decoding error code (dead letter / 400) or a rule (rejection).
    expect: String,
    /// Over HTTP, when it differs (the HTTP front door reads JSON only).
    expect_http: Option<String>,
    bytes: Vec<u8>,
    binary: bool,
}

const DECODE_CODES: &[&str] = &[
    "empty",
    "invalid_json",
    "too_large",
    "unknown_type",
    "unsupported_version",
    "truncated",
    "unknown_format",
    "trailing_bytes",
    "malformed",
];

fn hostile_corpus() -> Vec<Hostile> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/commands.jsonl");
    let valid = order_events::codec::json::decode_command_json(
        br#"{"command_id":"00000000-0000-4000-b000-000000000fff","type":"ReceiveStock","actor":{"kind":"service","id":"wms"},"issued_at":"2026-11-22T10:00:00Z","payload":{"item":{"sku":"CAP-BLK","warehouse":"BER-1"},"quantity":5,"reference":"PO-B"}}"#,
    )
    .unwrap();
    let binary = order_events::codec::encode_command_bincode(&valid);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).unwrap();
            let text = |key: &str| entry[key].as_str().map(str::to_owned);
            let (bytes, is_binary) = if let Some(input) = text("input") {
                (input.into_bytes(), false)
            } else if let Some(hex) = text("input_hex") {
                (hex::decode(hex).unwrap(), false)
            } else if let Some(generate) = text("generate") {
                let bytes = match generate.as_str() {
                    "nested-arrays" => format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
                    "nested-objects" => {
                        format!("{}1{}", r#"{"a":"#.repeat(50_000), "}".repeat(50_000))
                    }
                    "oversized" => format!(
                        r#"{{"command_id":"00000000-0000-4000-b000-000000000ffe","type":"ReceiveStock","actor":{{"kind":"service","id":"h"}},"issued_at":"2026-11-22T10:00:00Z","payload":{{"item":{{"sku":"CAP-BLK","warehouse":"BER-1"}},"quantity":5,"reference":"{}"}}}}"#,
                        "X".repeat(1_100_000)
                    ),
                    other => panic!("unknown generator {other}"),
                };
                (bytes.into_bytes(), false)
            } else {
                let mut bytes = binary.clone();
                match text("transform").unwrap().as_str() {
                    "truncate-half" => bytes.truncate(bytes.len() / 2),
                    "tag-ff" => bytes[0] = 0xff,
                    "append-garbage" => bytes.extend_from_slice(b"garbage"),
                    other => panic!("unknown transform {other}"),
                }
                (bytes, true)
            };
            Hostile {
                name: text("name").unwrap(),
                expect: text("expect").unwrap(),
                expect_http: text("expect_http"),
                bytes,
                binary: is_binary,
            }
        })
        .collect()
}

/// Every event record of the log, per partition.
async fn event_records(log: &dyn Log) -> Vec<Vec<u8>> {
    let topic = log.topics().name(event_log::Topic::Events);
    let mut all = Vec::new();
    for partition in 0..log.partitions(event_log::Topic::Events) {
        let tp = event_log::TopicPartition::new(&topic, partition);
        let mut offset = 0;
        loop {
            let records = log.read(&tp, offset, 500).await.unwrap();
            let Some(last) = records.last() else { break };
            offset = last.next_offset();
            all.extend(records.into_iter().map(|r| r.payload));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_over_http_get_a_typed_answer_and_change_nothing_stored() {
    let corpus = hostile_corpus();
    assert!(corpus.len() >= 50, "{} inputs", corpus.len());
    let (running, _) = start_after_the_journey().await;
    let stored = event_records(running.log.as_ref()).await;
    let address = running.address.clone();
    let answers = tokio::task::spawn_blocking(move || {
        let agent = running::client(Duration::from_secs(30), Some(ADMIN_TOKEN.to_owned()));
        corpus
            .into_iter()
            .map(|hostile| {
                let mut response = agent
                    .post(&format!("http://{address}/v1/commands"))
                    .header("content-type", "application/json")
                    .send(&hostile.bytes[..])
                    .unwrap();
                let status = response.status().as_u16();
                let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
                (hostile, status, body)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (hostile, status, body) in &answers {
        let expect = hostile.expect_http.as_ref().unwrap_or(&hostile.expect);
        if DECODE_CODES.contains(&expect.as_str()) {
            assert_eq!(
                (*status, &body["outcome"], &body["error"]),
                (400, &json!("invalid"), &json!(expect)),
                "{}: {body}",
                hostile.name
            );
        } else {
            assert_eq!(
                (*status, &body["outcome"], &body["rule"]),
                (200, &json!("rejected"), &json!(expect)),
                "{}: {body}",
                hostile.name
            );
        }
    }
    // The serve still serves, and nothing stored changed.
    let health = tokio::task::block_in_place(|| {
        running
            .agent
            .get(&format!("http://{}/v1/health", running.address))
            .call()
            .unwrap()
            .status()
    });
    assert_eq!(health.as_u16(), 200);
    assert_eq!(event_records(running.log.as_ref()).await, stored);
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_records_on_the_commands_topic_are_dead_lettered_or_rejected_and_change_nothing() {
    use command_handler::{CommandResult, Outcome, HEADER_REASON_CODE};
    use event_log::{Headers, OutgoingRecord, Topic, TopicPartition, CONTENT_TYPE_BINCODE};
    let corpus = hostile_corpus();
    let (running, _) = start_after_the_journey().await;
    let log = running.log.clone();
    let stored = event_records(log.as_ref()).await;
    let commands = log.topics().name(Topic::Commands);
    let mut refused_at_the_door = 0;
    for (index, hostile) in corpus.iter().enumerate() {
        let content_type = if hostile.binary {
            CONTENT_TYPE_BINCODE
        } else {
            event_log::CONTENT_TYPE_JSON
        };
        // A command that decodes goes out keyed and labelled as a producer following the
        // README would send it; anything else as raw bytes.
        let record = match order_events::codec::json::decode_command_json(&hostile.bytes) {
            Ok(envelope) if !hostile.binary => {
                command_handler::client::json_record(log.as_ref(), &hostile.bytes, &envelope)
            }
            _ => OutgoingRecord::new(
                &commands,
                format!("hostile-{index}"),
                Headers::for_message(content_type, "Hostile", 1),
                hostile.bytes.clone(),
            ),
        };
        if let Err(error) = log.publish(vec![record]).await {
            // The log itself refuses a record beyond its size limit, with a reason.
            assert_eq!(hostile.expect, "too_large", "{}: {error}", hostile.name);
            refused_at_the_door += 1;
        }
    }
    // Every input is answered: a dead letter with its code, or a result with its rule.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut dead = Vec::new();
        let dead_topic = log.topics().name(Topic::DeadLetter);
        for partition in 0..log.partitions(Topic::DeadLetter) {
            dead.extend(
                log.read(&TopicPartition::new(&dead_topic, partition), 0, 1000)
                    .await
                    .unwrap(),
            );
        }
        let mut results = std::collections::HashMap::new();
        let results_topic = log.topics().name(Topic::CommandResults);
        for partition in 0..log.partitions(Topic::CommandResults) {
            for record in log
                .read(&TopicPartition::new(&results_topic, partition), 0, 1000)
                .await
                .unwrap()
            {
                if let Some(result) = CommandResult::from_record(&record) {
                    results.insert(result.command_id, result);
                }
            }
        }
        let mut unanswered = Vec::new();
        for hostile in &corpus {
            let answered = if DECODE_CODES.contains(&hostile.expect.as_str()) {
                hostile.expect == "too_large" && refused_at_the_door > 0
                    || dead.iter().any(|record| {
                        record.payload == hostile.bytes
                            && record.headers.get(HEADER_REASON_CODE)
                                == Some(hostile.expect.as_bytes())
                    })
            } else {
                let id: Value = serde_json::from_slice(&hostile.bytes).unwrap();
                let id: uuid::Uuid = id["command_id"].as_str().unwrap().parse().unwrap();
                results.get(&id).is_some_and(|result| {
                    matches!(&result.outcome, Outcome::Rejected { rule, .. } if *rule == hostile.expect)
                })
            };
            if !answered {
                unanswered.push(hostile.name.clone());
            }
        }
        if unanswered.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no typed answer for {unanswered:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        event_records(log.as_ref()).await,
        stored,
        "nothing stored changed"
    );
    // And the handler goes on deciding.
    let after = running.post(&command_line(
        99,
        "service:wms",
        "ReceiveStock",
        json!({"item": {"sku": "CAP-BLK", "warehouse": "BER-1"}, "quantity": 1, "reference": "PO-after"}),
    ));
    assert_eq!(after["outcome"], "accepted", "{after}");
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_beyond_the_limit_is_refused_unread_with_a_reason() {
    let running = start().await;
    let (status, body) = tokio::task::block_in_place(|| {
        running.post_body("/v1/commands", "application/json", &"x".repeat(3 << 20))
    });
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"], "too_large", "{body}");
    assert!(
        body["reason"].as_str().unwrap().contains("1048576 bytes"),
        "{body}"
    );
    // Just over a record's limit: read, and refused by the decoder.
    let (status, body) = tokio::task::block_in_place(|| {
        running.post_body(
            "/v1/commands",
            "application/json",
            &"x".repeat((1 << 20) + 1),
        )
    });
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("too_large")),
        "{body}"
    );
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

/// A command id over HTTP: a retry (the same bytes, or rebuilt with a new `issued_at`) gets
/// the first answer; another command under the id on the same order is `command_id_reused`;
/// on another order it is that order's command, whose stock the order process reserves; no
/// two events share an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_id_names_one_command_over_http() {
    let running = start().await;
    let journey = example_journey();
    let lines: Vec<&str> = journey.lines().take(3).collect();
    let place: Value = serde_json::from_str(lines[2]).unwrap();
    assert_eq!(place["type"], "PlaceOrder");
    let answers = running.post_all(&lines.join("\n")).await;
    let first = answers[2].clone();
    assert_eq!(first["outcome"], "accepted", "{first}");
    let with = |change: &dyn Fn(&mut Value)| {
        let mut command = place.clone();
        change(&mut command);
        command.to_string()
    };
    let answers = running
        .post_all(
            &[
                lines[2].to_owned(),
                with(&|c| c["issued_at"] = json!("2026-11-22T10:05:00Z")),
                with(&|c| c["payload"]["customer_id"] = json!("cust-78")),
                with(&|c| c["payload"]["external_reference"] = json!("J-2002")),
                lines[2].to_owned(),
            ]
            .join("\n"),
        )
        .await;
    assert_eq!(
        answers[0].to_string(),
        first.to_string(),
        "the same bytes: the first answer"
    );
    assert_eq!(
        answers[1].to_string(),
        first.to_string(),
        "a new issued_at: the first answer"
    );
    assert_eq!(answers[2]["outcome"], "rejected", "{}", answers[2]);
    assert_eq!(answers[2]["rule"], "command_id_reused", "{}", answers[2]);
    let detail = answers[2]["detail"].as_str().unwrap();
    assert!(
        detail.contains("PlaceOrder") && detail.contains(first["aggregate_id"].as_str().unwrap()),
        "{detail}"
    );
    assert_eq!(
        answers[3]["outcome"], "accepted",
        "another order: {}",
        answers[3]
    );
    assert_ne!(answers[3]["aggregate_id"], first["aggregate_id"]);
    assert_eq!(
        answers[4].to_string(),
        first.to_string(),
        "the refusal claimed nothing"
    );
    // Both orders had their stock reserved by the process (the posts waited for it to settle).
    for order in [&first, &answers[3]] {
        let id = order["aggregate_id"].as_str().unwrap();
        let at_least = format!(
            "{}:{}",
            order["events"][0]["partition"], order["events"][0]["offset"]
        );
        let status = tokio::task::block_in_place(|| {
            running.ok(&format!("/v1/orders/{id}?at_least={at_least}"))
        });
        assert_eq!(status["status"], "awaiting_payment", "{status}");
    }
    let records = event_records(running.log.as_ref()).await;
    let ids: std::collections::HashSet<uuid::Uuid> = records
        .iter()
        .map(|payload| order_events::codec::decode_event(payload).unwrap().event_id)
        .collect();
    assert_eq!(ids.len(), records.len(), "every event id is unique");
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}

/// A command that does not decode gets a 400 naming the field by its JSON path and what was
/// expected; a body of the wrong JSON type says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_commands_get_the_field_and_what_was_expected() {
    let running = start().await;
    let journey = example_journey();
    let receive: Value = serde_json::from_str(journey.lines().next().unwrap()).unwrap();
    let with = |pointer: &str, value: Value| {
        let mut command = receive.clone();
        *command.pointer_mut(pointer).unwrap() = value;
        command.to_string()
    };
    let cases = [
        (format!("[{receive}]"), None, "found an array"),
        (
            with("/issued_at", json!("yesterday noon")),
            Some("issued_at"),
            "expected an RFC 3339 time",
        ),
        (
            with("/payload/quantity", json!("25")),
            Some("payload.quantity"),
            "expected u32",
        ),
        (
            with("/payload/item/sku", json!(7)),
            Some("payload.item.sku"),
            "expected",
        ),
    ];
    for (body, field, words) in cases {
        let (status, answer) = tokio::task::block_in_place(|| {
            running.post_body("/v1/commands", "application/json", &body)
        });
        assert_eq!(
            (status, &answer["error"]),
            (400, &json!("invalid_json")),
            "{answer}"
        );
        assert_eq!(answer["field"].as_str(), field, "{answer}");
        assert!(
            answer["reason"].as_str().unwrap().contains(words),
            "{answer}"
        );
    }
    let _ = running.stop.send(());
    running.task.await.unwrap().unwrap();
}
