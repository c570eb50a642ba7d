//! Hostile input over HTTP and on the commands topic: a typed answer, nothing stored changed.

use super::*;

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
    use command_handler::{CommandResult, Outcome, ResultRecord, HEADER_REASON_CODE};
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
