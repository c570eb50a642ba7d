//! Every read route, pagination, filters, read-your-writes, and bad parameters.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_route_answers_and_bad_parameters_get_a_clear_4xx() {
    let (running, last) = start_after_the_journey().await;
    every_read_route(running, last).await;
}

/// The same, every answer and the rebuild, with the read models in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_route_answers_the_same_from_postgres() {
    let server = tokio::task::block_in_place(projections::testing::TestPostgres::start);
    let (running, last) = start_on_postgres_after_the_journey(server.url()).await;
    every_read_route(running, last).await;
}

async fn every_read_route(running: Running, last: Value) {
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
    assert_eq!(order["review"]["rating"], 5, "{order}");
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
    // The journey's customer was told: confirmed, shipped twice, delivered twice, the return,
    // the refund — read two at a time, each once.
    let mut told = Vec::new();
    let mut after = String::new();
    loop {
        let page = get(format!("/v1/notifications?limit=2&after={after}"));
        let items = page["items"].as_array().unwrap().clone();
        after = page["next"].as_str().unwrap().to_owned();
        told.extend(items.iter().map(|n| n["kind"].as_str().unwrap().to_owned()));
        if items.len() < 2 {
            break;
        }
    }
    told.sort();
    assert_eq!(
        told,
        [
            "delivered",
            "delivered",
            "order_confirmed",
            "refund_issued",
            "return_approved",
            "shipped",
            "shipped"
        ],
        "{told:?}"
    );
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
        ("/v1/orders/not-a-uuid", 400, "bad_order_id"),
        (
            "/v1/orders/00000000-0000-4000-8000-000000000000",
            404,
            "not_found",
        ),
        ("/v1/inventory/NOPE/BER-1", 404, "not_found"),
        ("/v1/balances?currency=XXX", 400, "bad_parameter"),
        ("/v1/reports?from=2026-13-01", 400, "bad_parameter"),
        ("/v1/orders?at_least=3", 400, "bad_parameter"),
        ("/v1/orders?wait_ms=99999999", 400, "bad_parameter"),
        (
            "/v1/orders?at_least=0:999999&wait_ms=50",
            409,
            "position_not_written",
        ),
        ("/v1/orders?at_least=4096:0", 409, "position_not_written"),
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
    // A range that ends before it starts holds nothing (it is not malformed).
    let inverted = get("/v1/orders?from=2027-01-01T00:00:00Z&to=2026-01-01T00:00:00Z".into());
    assert_eq!(inverted["items"], json!([]), "{inverted}");
    let inverted = get("/v1/reports?from=2026-12-01&to=2026-11-01".into());
    assert_eq!(inverted["orders"], 0, "{inverted}");
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
