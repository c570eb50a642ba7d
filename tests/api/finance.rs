//! The finance team's routes: reconciliations and payouts, with the books balanced.

use super::*;

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
    assert_answers_its_schema("post", "/v1/reconciliations", 200, &answer);
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
