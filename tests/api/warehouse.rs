//! The warehouse over HTTP: the planner's next wave submitted as a `PlanWave`, the wave and its
//! pick list (JSON and CSV), picks reaching the order, a mis-pack refused, a weight mismatch
//! in the exception queue, a packed parcel shipped at the carrier table's rate, a cycle count
//! refused while picking and posted after, and replenishment — each answer valid against the
//! OpenAPI document.

use super::*;

const CONFIG: &str = r#"
[catalog."MUG-01"]
weight_grams = 400
fragile = true
[catalog."TEA-100"]
weight_grams = 250
[warehouses."HAM-1".bins]
"TEA-100" = "B-02-01"
[[process.carriers]]
carrier = "dhl"
weight_grams_max = 31500
handling = ["fragile", "liquid"]
rates = [
    { currency = "EUR", weight_grams_max = 2000, price = "4.90" },
    { currency = "EUR", price = "7.90" },
]
"#;

const WAVE: &str = "W-HAM-1-0001";

fn order_id() -> String {
    order_events::ids::OrderId::for_external_reference("web", "WH-1").to_string()
}

fn item(sku: &str) -> Value {
    json!({"sku": sku, "warehouse": "HAM-1"})
}

impl Running {
    /// Posts a command as `actor`, numbered `id`, at its type's current schema version; its
    /// result.
    fn command(&self, id: u32, actor: &str, type_name: &str, payload: Value) -> Value {
        let mut line: Value =
            serde_json::from_str(&command_line(id, actor, type_name, payload)).unwrap();
        if let "PlaceOrder" | "Ship" = type_name {
            line["schema_version"] = 3.into();
        }
        tokio::task::block_in_place(|| self.post(&line.to_string()))
    }

    fn accept(&self, id: u32, actor: &str, type_name: &str, payload: Value) -> Value {
        let result = self.command(id, actor, type_name, payload);
        assert_eq!(result["outcome"], "accepted", "{type_name}: {result}");
        result
    }

    /// `path`'s answer once `ready` holds of it (the read models fold after the command's
    /// result), validated against the OpenAPI schema of `route`.
    fn read_when(&self, route: &str, path: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let answer = tokio::task::block_in_place(|| self.ok(path));
            if ready(&answer) {
                assert_answers_its_schema("get", route, 200, &answer);
                return answer;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "GET {path} never became ready: {answer}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn csv(&self, path: &str) -> String {
        tokio::task::block_in_place(|| {
            let mut response = self
                .agent
                .get(&format!("http://{}{path}", self.address))
                .header("accept", "text/csv")
                .call()
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let content_type = response.headers()["content-type"].to_str().unwrap();
            assert!(content_type.starts_with("text/csv"), "{content_type}");
            response.body_mut().read_to_string().unwrap()
        })
    }
}

/// Stock, bins, and a paid express order of 2 mugs and 1 tea at HAM-1.
fn paid_order(running: &Running) {
    for (id, sku) in [(1, "MUG-01"), (2, "TEA-100")] {
        let receive = json!({"item": item(sku), "quantity": 20, "reference": "PO-1"});
        running.accept(id, "service:wms", "ReceiveStock", receive);
    }
    let bin = json!({"item": item("MUG-01"), "bin": "A-01-03"});
    running.accept(3, "service:wms", "SetBinLocation", bin);
    let place = json!({
        "channel": "web", "external_reference": "WH-1", "customer_id": "cust-1",
        "merchant_id": "merchant-1", "currency": "EUR", "shipping_fee": "4.90",
        "service_level": "express",
        "lines": [
            {"sku": "MUG-01", "quantity": 2, "unit_price": "9.50"},
            {"sku": "TEA-100", "quantity": 1, "unit_price": "6.00"},
        ],
        "shipping_address": {"recipient": "Erika Mustermann", "phone": "+49 30 1234567",
            "street": "Unter den Linden 1", "city": "Berlin", "postal_code": "10117",
            "country": "DE"},
    });
    running.accept(4, "service:checkout", "PlaceOrder", place);
    let capture = json!({"order_id": order_id(), "payment_id": "p-1", "method": "card",
        "amount": "29.90", "currency": "EUR", "psp_reference": "psp-1"});
    running.accept(5, "service:psp", "CapturePayment", capture);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_is_planned_picked_packed_weighed_shipped_and_counted_over_http() {
    let config: LedgerConfig = toml::from_str(CONFIG).unwrap();
    let auth = Auth::closed().with_token(ADMIN_TOKEN, "test-admin", &[Role::Admin]);
    let running = start_configured(auth, None, &config).await;
    paid_order(&running);
    let order_path = format!("/v1/orders/{}", order_id());

    // The planner proposes the paid order with its bins: the item's own, else the config's.
    let proposal_path = format!("/v1/warehouses/HAM-1/next-wave?wave_id={WAVE}&orders_max=10");
    let proposal = running.read_when(
        "/v1/warehouses/{warehouse}/next-wave",
        &proposal_path,
        |p| p["orders"].as_array().is_some_and(|o| !o.is_empty()),
    );
    let order = &proposal["orders"][0];
    assert_eq!(order["order_id"], order_id());
    assert_eq!(order["service_level"], "express");
    let bins: Vec<(&str, &str)> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["sku"].as_str().unwrap(), l["bin"].as_str().unwrap()))
        .collect();
    assert_eq!(bins, [("MUG-01", "A-01-03"), ("TEA-100", "B-02-01")]);
    running.accept(6, "service:wms", "PlanWave", proposal.clone());

    let wave = running.read_when("/v1/waves/{id}", &format!("/v1/waves/{WAVE}"), |w| {
        w["status"] == "picking"
    });
    assert_eq!(wave["pick_list"][0]["bin"], "A-01-03", "{wave}");
    assert_eq!(wave["units"], 3);
    let open = running.read_when("/v1/waves", "/v1/waves?open=true&warehouse=HAM-1", |w| {
        w.as_array().is_some_and(|w| w.len() == 1)
    });
    assert_eq!(open[0]["wave_id"], WAVE);
    let csv = running.csv(&format!("/v1/waves/{WAVE}/pick-list"));
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("sequence,order_id,sku,bin,picked_quantity,quantity,service_level")
    );
    assert_eq!(
        rows.next(),
        Some(format!("1,{},MUG-01,A-01-03,,2,express", order_id()).as_str())
    );

    // No count while the wave picks the item.
    let count = json!({"item": item("MUG-01"), "counted_quantity": 17, "reason": "cycle count"});
    let refused = running.command(7, "staff:counter", "CountStock", count.clone());
    assert_eq!(refused["rule"], "picks_in_progress", "{refused}");

    for (id, sku, picked) in [(8, "MUG-01", 2), (9, "TEA-100", 1)] {
        let pick = json!({"wave_id": WAVE, "order_id": order_id(), "sku": sku,
            "picked_quantity": picked});
        running.accept(id, "staff:picker", "RecordPick", pick);
    }
    running.read_when("/v1/orders/{id}", &order_path, |o| {
        o["picked"].as_array().is_some_and(|p| p.len() == 2)
    });

    // A wrong SKU at the pack station is refused; the right goods, weighed heavy, are packed
    // and listed as a weight mismatch (expected 1050 g).
    let wrong = json!({"order_id": order_id(), "parcel_id": "P1", "weight_grams": 1050,
        "lines": [{"sku": "CAP-BLK", "quantity": 1}]});
    let refused = running.command(10, "staff:packer", "PackParcel", wrong);
    assert_eq!(refused["rule"], "pack_sku_not_picked", "{refused}");
    let pack = json!({"order_id": order_id(), "parcel_id": "P1", "weight_grams": 1500,
        "lines": [{"sku": "MUG-01", "quantity": 2}, {"sku": "TEA-100", "quantity": 1}]});
    running.accept(11, "staff:packer", "PackParcel", pack);
    let exceptions = running.read_when("/v1/exceptions", "/v1/exceptions", |e| {
        e.as_array().is_some_and(|e| !e.is_empty())
    });
    assert_eq!(exceptions[0]["kind"], "weight_mismatch", "{exceptions}");
    assert_eq!(exceptions[0]["parcel"]["expected_weight_grams"], 1050);
    assert_eq!(exceptions[0]["parcel"]["handling"], json!(["fragile"]));

    // Shipped as packed: the carrier table picks dhl and prices 1.5 kg at 4.90.
    let ship = json!({"order_id": order_id(), "shipment_id": "P1", "tracking_number": "TRK-1"});
    running.accept(12, "service:wms", "Ship", ship);
    let shipped = running.read_when("/v1/orders/{id}", &order_path, |o| o["status"] == "shipped");
    assert_eq!(shipped["shipments"][0]["carrier"], "dhl", "{shipped}");
    assert_eq!(shipped["shipments"][0]["freight_cost"], "4.90");
    running.read_when("/v1/exceptions", "/v1/exceptions", |e| {
        e.as_array().is_some_and(|e| e.is_empty())
    });

    // Counted after picking: one mug short of the book (20 − 2 shipped = 18).
    running.accept(13, "staff:counter", "CountStock", count);
    let mug = running.read_when(
        "/v1/inventory/{sku}/{warehouse}",
        "/v1/inventory/MUG-01/HAM-1",
        |i| !i["last_count"].is_null(),
    );
    assert_eq!(mug["last_count"]["book_quantity"], 18, "{mug}");
    assert_eq!(mug["last_count"]["difference"], -1, "{mug}");
    assert_eq!(mug["bin"], "A-01-03");
    assert_eq!(mug["on_hand"], 17);

    // 2 mugs sold in the 7 days to 2026-11-22: reorder point ⌈2 × 7 / 7⌉ + 18 safety = 20;
    // 17 available, so order ⌈2 × 21 / 7⌉ + 18 − 17 = 7.
    let safety = json!({"item": item("MUG-01"), "quantity": 18});
    running.accept(14, "staff:planner", "SetSafetyStock", safety);
    let path = "/v1/inventory/replenishment?sku=MUG-01&window_days=7&as_of=2026-11-22&reorder=true";
    let replenishment = running.read_when("/v1/inventory/replenishment", path, |r| {
        r["items"].as_array().is_some_and(|i| !i.is_empty())
    });
    let mug = &replenishment["items"][0];
    assert_eq!(
        (
            &mug["units_sold"],
            &mug["reorder_point"],
            &mug["suggested_order_quantity"]
        ),
        (&json!(2), &json!(20), &json!(7)),
        "{mug}"
    );
    let csv = running.csv(path);
    assert!(csv.starts_with("sku,warehouse,"), "{csv}");
    assert!(csv.contains("suggested_order_quantity"), "{csv}");

    // Bad input gets a clear 4xx.
    for (path, status, code) in [
        ("/v1/warehouses/HAM-1/next-wave", 400, "missing_parameter"),
        (
            "/v1/warehouses/HAM-1/next-wave?wave_id=a%20b",
            400,
            "bad_parameter",
        ),
        (
            "/v1/warehouses/HAM-1/next-wave?wave_id=W-2&orders_max=0",
            400,
            "bad_limit",
        ),
        (
            "/v1/warehouses/BER-9/next-wave?wave_id=W-2",
            404,
            "not_found",
        ),
        (
            "/v1/inventory/replenishment?window_days=0",
            400,
            "bad_parameter",
        ),
        (
            "/v1/inventory/replenishment?lead_time_days=400",
            400,
            "bad_parameter",
        ),
        ("/v1/waves/NOPE", 404, "not_found"),
        ("/v1/waves?limit=0", 400, "bad_limit"),
        ("/v1/waves?open=maybe", 400, "bad_parameter"),
    ] {
        let (got, body) = tokio::task::block_in_place(|| running.get(path));
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
}
