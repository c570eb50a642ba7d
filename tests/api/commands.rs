//! Commands over HTTP: command ids, and what an undecodable command is told.

use super::*;

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
