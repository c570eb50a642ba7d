//! The `ledger` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

fn ledger(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the ledger binary runs")
}

/// Runs `ledger demo` with `orders` and `seed` into a directory in `dir`; its path and output.
fn demo(dir: &tempfile::TempDir, orders: u32, seed: u64) -> (std::path::PathBuf, Output) {
    let data = dir.path().join("demo");
    let (orders, seed) = (orders.to_string(), seed.to_string());
    let args = ["demo", "--orders", &orders, "--seed", &seed, "--data"];
    let output = ledger(&[&args[..], &[data.to_str().unwrap()]].concat());
    assert!(output.status.success(), "{output:?}");
    (data, output)
}

/// Runs a contract check of `scripts/contracts/` with the project's Python (`.venv`, which
/// `scripts/test.sh` sets up) on `input`; fails the test with what the check printed.
fn check_with_python(script: &str, args: &[&str], input: &str) {
    let output = python_contract(script, args, input);
    assert!(
        output.status.success(),
        "{script} found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a script of `scripts/contracts/` with the project's Python on `input`.
fn python_contract(script: &str, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv/bin/python3");
    assert!(
        python.exists(),
        "{} is missing: run bash scripts/test.sh once, which installs the contract checkers",
        python.display()
    );
    let mut child = Command::new(python)
        .arg(root.join("scripts/contracts").join(script))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn validate_runs_the_example_lifecycle_and_reports_each_answer() {
    let output = ledger(&["validate", "examples/order-lifecycle.jsonl"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("18 commands: 16 accepted, 2 rejected, 0 invalid"),
        "{text}"
    );
    assert!(text.contains("capture_exceeds_outstanding"), "{text}");
    assert!(text.contains("refund_exceeds_captured"), "{text}");

    let strict = ledger(&["validate", "--strict", "examples/order-lifecycle.jsonl"]);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn accepted_events_replay_as_history_with_their_chains() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let events = events.to_str().unwrap();
    let first = ledger(&[
        "validate",
        "examples/order-lifecycle.jsonl",
        "--events",
        events,
    ]);
    assert!(first.status.success(), "{first:?}");
    assert_eq!(std::fs::read_to_string(events).unwrap().lines().count(), 16);

    // Against that history the same placement is a duplicate import.
    let place = Path::new(dir.path()).join("place.jsonl");
    let lifecycle = std::fs::read_to_string("examples/order-lifecycle.jsonl").unwrap();
    let place_line = lifecycle
        .lines()
        .find(|l| l.contains("\"PlaceOrder\""))
        .unwrap();
    std::fs::write(&place, place_line.replace("000000000003", "000000000099")).unwrap();
    let again = ledger(&[
        "validate",
        "--history",
        events,
        "--format",
        "json",
        place.to_str().unwrap(),
    ]);
    let answer: serde_json::Value = serde_json::from_str(stdout(&again).trim()).unwrap();
    assert_eq!(answer["outcome"], "rejected");
    assert_eq!(answer["rule"], "order_already_placed");

    // A history with a broken chain is refused with the line and the break.
    let mut tampered: Vec<String> = std::fs::read_to_string(events)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    tampered.remove(3);
    std::fs::write(events, tampered.join("\n")).unwrap();
    let broken = ledger(&["validate", "--history", events, place.to_str().unwrap()]);
    assert_eq!(broken.status.code(), Some(3));
    let message = String::from_utf8_lossy(&broken.stderr);
    assert!(message.contains("expected sequence"), "{message}");
}

#[test]
fn undecodable_input_is_reported_with_its_line_and_exit_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    let lifecycle = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/order-lifecycle.jsonl"),
    )
    .unwrap();
    let first = lifecycle.lines().next().unwrap();
    let bad = format!(
        "{first}\n{}\n{{\"type\": \"PlaceOrder\"\n",
        first.replace("\"quantity\":40", "\"quantity\":\"40\"")
    );
    std::fs::write(&file, bad).unwrap();
    let output = ledger(&["validate", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let text = stdout(&output);
    assert!(text.contains("line    2  INVALID   invalid_json"), "{text}");
    assert!(text.contains("line    3  INVALID   invalid_json"), "{text}");
    assert!(text.contains("1 accepted, 0 rejected, 2 invalid"), "{text}");
}

#[test]
fn rules_lists_every_code_and_transition() {
    let text = stdout(&ledger(&["rules"]));
    for rule in order_events::Rule::ALL {
        assert!(text.contains(rule.code()), "{} missing", rule.code());
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&ledger(&["rules", "--format", "json"]))).unwrap();
    assert_eq!(
        json["rules"].as_array().unwrap().len(),
        order_events::Rule::ALL.len()
    );
    assert_eq!(
        json["transitions"].as_array().unwrap().len(),
        order_events::order::OrderCommand::TYPES.len()
    );
}

#[test]
fn schemas_writes_what_is_checked_in() {
    let dir = tempfile::tempdir().unwrap();
    let output = ledger(&["schemas", "--out", dir.path().to_str().unwrap()]);
    assert!(output.status.success());
    for (path, contents) in order_events::schema::all() {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&path)).unwrap(),
            contents
        );
    }
}

#[test]
fn order_id_matches_the_domain() {
    let text = stdout(&ledger(&[
        "order-id",
        "--channel",
        "web",
        "--reference",
        "W-1001",
    ]));
    assert_eq!(
        text.trim(),
        order_events::ids::OrderId::for_external_reference("web", "W-1001").to_string()
    );
}

#[test]
fn topics_creates_and_describes_an_embedded_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let output = ledger(&["topics", "--data", data, "--partitions", "4"]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    for topic in [
        "orders.commands",
        "orders.events",
        "orders.command-results",
        "orders.dead-letter",
    ] {
        assert!(text.contains(topic), "{text}");
    }
    assert!(text.contains("partitions   4"), "{text}");
    // Existing topics keep their partition count.
    let again = stdout(&ledger(&["topics", "--data", data, "--partitions", "16"]));
    assert!(
        again.contains("partitions   4") && !again.contains("partitions  16"),
        "{again}"
    );
}

#[test]
fn topics_on_kafka_passes_client_properties_through() {
    let broker = event_log::testing::TestBroker::start();
    let prefix = event_log::testing::unique_prefix("cli");
    let dir = tempfile::tempdir().unwrap();
    let properties = dir.path().join("client.properties");
    std::fs::write(
        &properties,
        "# plain TCP to the test broker\nsecurity.protocol=PLAINTEXT\n",
    )
    .unwrap();
    let output = ledger(&[
        "topics",
        "--kafka",
        broker.bootstrap(),
        "--prefix",
        &prefix,
        "--partitions",
        "2",
        "--kafka-config-file",
        properties.to_str().unwrap(),
        "--kafka-config",
        "client.id=ledger-cli-test",
    ]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains(&format!("{prefix}.events")));

    // A property librdkafka does not know is refused by librdkafka, by name.
    let refused = ledger(&[
        "topics",
        "--kafka",
        broker.bootstrap(),
        "--prefix",
        &prefix,
        "--kafka-config",
        "no.such.property=1",
    ]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no.such.property"));
}

fn results_of(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Submits the 14 commands of `journey` to the Kafka deployment of `log_args` (waiting up to a
/// minute for each result), checks every one was accepted, and returns the results.
fn submit_journey_on_kafka(log_args: &[&str], journey: &str) -> Vec<serde_json::Value> {
    let submitted = ledger(&[&["submit"][..], log_args, &["--wait-secs", "60", journey]].concat());
    let results = results_of(&submitted);
    assert!(
        results.len() == 14 && results.iter().all(|r| r["outcome"] == "accepted"),
        "{results:?}"
    );
    results
}

/// Commands reusing the journey's `PlaceOrder` id, in a file in `dir`: the same command with
/// a new `issued_at`, the same order for another customer, and another order.
fn reusing_the_place_order_id(dir: &Path) -> std::path::PathBuf {
    let journey = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/order-journey.jsonl"),
    )
    .unwrap();
    let place: serde_json::Value = journey
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|command| command["type"] == "PlaceOrder")
        .unwrap();
    let with = |field: &str, value: &str| {
        let mut command = place.clone();
        match field {
            "issued_at" => command[field] = value.into(),
            _ => command["payload"][field] = value.into(),
        }
        command.to_string()
    };
    let lines = [
        with("issued_at", "2026-11-22T11:00:00Z"),
        with("customer_id", "cust-other"),
        with("external_reference", "J-9002"),
    ];
    let path = dir.join("reused.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The answers to [`reusing_the_place_order_id`] after the journey whose answers are `journey`.
fn assert_one_command_per_id(journey: &[serde_json::Value], reused: &[serde_json::Value]) {
    let placed = journey.iter().find(|r| r["type"] == "PlaceOrder").unwrap();
    assert_eq!(reused.len(), 3, "{reused:?}");
    let without_line = |result: &serde_json::Value| {
        let mut result = result.clone();
        result.as_object_mut().unwrap().remove("line");
        result
    };
    assert_eq!(
        without_line(&reused[0]),
        without_line(placed),
        "a retry gets the first answer"
    );
    assert_eq!(reused[1]["outcome"], "rejected", "{reused:?}");
    assert_eq!(reused[1]["rule"], "command_id_reused", "{reused:?}");
    assert!(
        reused[1]["detail"].as_str().unwrap().contains("PlaceOrder"),
        "{reused:?}"
    );
    assert_eq!(
        reused[2]["outcome"], "accepted",
        "another order: {reused:?}"
    );
    assert_ne!(reused[2]["aggregate_id"], placed["aggregate_id"]);
}

#[test]
fn submit_processes_the_journey_and_answers_a_resubmission_identically() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let first = ledger(&["submit", "--data", data, "examples/order-journey.jsonl"]);
    assert!(first.status.success(), "{first:?}");
    let first = results_of(&first);
    assert_eq!(first.len(), 14);
    assert!(
        first.iter().all(|r| r["outcome"] == "accepted"),
        "{first:?}"
    );
    let second = results_of(&ledger(&[
        "submit",
        "--data",
        data,
        "examples/order-journey.jsonl",
    ]));
    assert_eq!(
        first, second,
        "a resubmitted command gets its original result"
    );
    let reused = ledger(&[
        "submit",
        "--data",
        data,
        reusing_the_place_order_id(dir.path()).to_str().unwrap(),
    ]);
    assert_eq!(reused.status.code(), Some(1), "one rejected: {reused:?}");
    assert_one_command_per_id(&first, &results_of(&reused));

    let invalid = dir.path().join("invalid.jsonl");
    std::fs::write(&invalid, "{\"type\": \"PlaceOrder\"}\n").unwrap();
    let output = ledger(&["submit", "--data", data, invalid.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(results_of(&output)[0]["outcome"], "invalid");
}

#[test]
fn serve_on_kafka_answers_submit_and_stops_cleanly_on_sigterm() {
    let broker = event_log::testing::TestBroker::start();
    let prefix = event_log::testing::unique_prefix("serve");
    let log_args = [
        "--kafka",
        broker.bootstrap(),
        "--prefix",
        &prefix,
        "--partitions",
        "2",
    ];
    // Its HTTP front door, on a free port, with a service token.
    let token = "kafka-serve-test-token";
    let tokens = format!("checkout:{}:service", order_ledger::auth::sha256_hex(token));
    let serve = Serving::on_kafka(&log_args, Some(&tokens));
    let listen = serve.address.clone();
    let submitted = ledger(
        &[
            &["submit"][..],
            &log_args,
            &["--wait-secs", "60", "examples/order-journey.jsonl"],
        ]
        .concat(),
    );
    let results = results_of(&submitted);
    assert_eq!(results.len(), 14, "{submitted:?}");
    assert!(
        results.iter().all(|r| r["outcome"] == "accepted"),
        "{results:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let reused = reusing_the_place_order_id(dir.path());
    let reused = ledger(
        &[
            &["submit"][..],
            &log_args,
            &["--wait-secs", "60", reused.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_one_command_per_id(&results, &results_of(&reused));
    // The same over HTTP: every reusing command posted to the front door.
    let agent =
        order_ledger::running::client(std::time::Duration::from_secs(60), Some(token.to_owned()));
    let posted: Vec<serde_json::Value> =
        std::fs::read_to_string(reusing_the_place_order_id(dir.path()))
            .unwrap()
            .lines()
            .map(|line| {
                order_ledger::running::post_line(&agent, &format!("http://{listen}"), line).unwrap()
            })
            .collect();
    assert_one_command_per_id(&results, &posted);

    let status = serve.stop();
    assert!(status.success(), "serve exited with {status}");
}

/// A `ledger serve` on an embedded directory, stopped (SIGTERM) when dropped, so a failing
/// test leaves no serve behind holding its output.
struct Serving {
    child: Option<std::process::Child>,
    address: String,
}

impl Serving {
    /// Starts a serve on `data` and waits until it publishes its address.
    fn on(data: &Path) -> Serving {
        Serving::on_with(data, &[])
    }

    /// [`Serving::on`] with more arguments (`--config FILE`).
    fn on_with(data: &Path, args: &[&str]) -> Serving {
        let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(args)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let address = loop {
            if let Ok(text) = std::fs::read_to_string(data.join("serve.addr")) {
                break text.trim().to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "serve published no address"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Serving {
            child: Some(child),
            address,
        }
    }

    /// Starts a serve on Kafka (`log_args`) with its HTTP front door on a free port, admitting
    /// `tokens` (`LEDGER_AUTH_TOKENS`) when given.
    fn on_kafka(log_args: &[&str], tokens: Option<&str>) -> Serving {
        let address = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .to_string();
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
        command
            .arg("serve")
            .args(log_args)
            .args(["--listen", &address])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped());
        if let Some(tokens) = tokens {
            command.env("LEDGER_AUTH_TOKENS", tokens);
        }
        Serving {
            child: Some(command.spawn().unwrap()),
            address,
        }
    }

    /// Stops the serve as an operator would (SIGTERM), and how it exited.
    #[allow(unsafe_code)]
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().ok()
    }

    fn stop(mut self) -> std::process::ExitStatus {
        self.terminate().expect("the serve runs until stopped")
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// `contracts/` holds the documents the ledger generates (regenerate with `LEDGER_BLESS=1`),
/// and the AsyncAPI one passes the AsyncAPI initiative's own parser.
#[test]
fn the_published_api_documents_are_current_and_the_asyncapi_one_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, contents) in order_ledger::asyncapi::published() {
        let file = root.join(path);
        if std::env::var_os("LEDGER_BLESS").is_some() {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &contents).unwrap();
        }
        let stored = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            stored == contents,
            "{path} is stale: LEDGER_BLESS=1 cargo test --test cli published"
        );
    }
    let node_modules = root.join("scripts/contracts/node_modules");
    assert!(
        node_modules.exists(),
        "{} is missing: run bash scripts/test.sh once, which installs the AsyncAPI parser",
        node_modules.display()
    );
    let checked = Command::new("node")
        .arg(root.join("scripts/contracts/check_asyncapi.mjs"))
        .arg(root.join("contracts/asyncapi.json"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn the_openapi_document_is_valid_and_the_serve_keeps_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 20, 11);
    let serve = Serving::on(&data);
    let token = std::fs::read_to_string(data.join("serve.token")).unwrap();
    let base = format!("http://{}", serve.address);
    check_with_python("check_openapi.py", &[&base, token.trim(), "50"], "");
    assert!(serve.stop().success());
}

#[test]
fn submit_goes_through_the_serve_that_owns_the_directory_and_metrics_count_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let serve = Serving::on(&data);
    let address = serve.address.clone();
    let output = ledger(&[
        "submit",
        "--data",
        data.to_str().unwrap(),
        "examples/order-journey.jsonl",
    ]);
    let results = results_of(&output);
    assert_eq!(results.len(), 14, "{output:?}");
    assert!(
        results.iter().all(|r| r["outcome"] == "accepted"),
        "{results:?}"
    );
    // The command line found the serve's own token beside its address; without one, the
    // serve lets nobody in.
    let token = std::fs::read_to_string(data.join("serve.token")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("serve.token"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the token file is its owner's only");
    let refused = ureq::get(&format!("http://{address}/metrics")).call();
    assert!(
        matches!(refused, Err(ureq::Error::StatusCode(401))),
        "{refused:?}"
    );
    let metrics = ureq::get(&format!("http://{address}/metrics"))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    // The journey's 14 commands plus what the order process did by itself, over all types.
    let accepted: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("ledger_commands_total{") && l.contains("outcome=\"accepted\""))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert!(accepted >= 14.0 + 6.0, "{metrics}");
    // As a Prometheus server and a dashboard read it: the official client's parser, a HELP
    // and a type for every family, histograms (not summaries), and the labels to group by.
    check_with_python(
        "check_metrics.py",
        &[
            "ledger_commands_total:type,outcome",
            "ledger_decide_seconds",
            "ledger_batch_size",
            "ledger_http_requests_total:route,method,status",
            "ledger_http_request_duration_seconds:route,method",
            "ledger_projection_lag:partition",
            "ledger_projection_step_seconds",
            "ledger_projection_events_applied_total",
        ],
        &metrics,
    );
    assert!(
        metrics.contains("ledger_process_commands_total"),
        "{metrics}"
    );
    // `ledger query` on the directory goes through the serve (which holds the read models),
    // waiting for the last command's events.
    let last = &results[13]["events"][0];
    let at_least = format!("{}:{}", last["partition"], last["offset"]);
    let data_arg = data.to_str().unwrap();
    let order = ledger(&[
        "query",
        "--data",
        data_arg,
        "--at-least",
        &at_least,
        "order",
        "a9e4826c-e1fa-5275-b07b-412038fc6c3a",
    ]);
    assert!(order.status.success(), "{order:?}");
    let order: serde_json::Value = serde_json::from_str(&stdout(&order)).unwrap();
    assert_eq!(order["review"]["rating"], 5, "{order}");
    let metrics = ureq::get(&format!("http://{address}/metrics"))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("ledger_projection_events_applied_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ledger_projection_lag{partition=\"0\"}"),
        "{metrics}"
    );
    // An auditor verifies the directory the serve holds, through the serve (read-only).
    let served = ledger(&["replay", "--data", data_arg, "verify"]);
    assert!(served.status.success(), "{served:?}");
    let served = stdout(&served);
    assert!(served.contains("0 breaks: intact"), "{served}");
    let rebuilt = ledger(&["rebuild", "--data", data_arg]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&rebuilt)).unwrap()["state"],
        "done"
    );
    let status = serve.stop();
    assert!(status.success(), "serve exited with {status}");
    assert!(
        !data.join("serve.addr").exists() && !data.join("serve.token").exists(),
        "the address or the token outlived the serve"
    );
    // Read directly now: the same log, the same digest.
    let direct = stdout(&ledger(&["replay", "--data", data_arg, "verify"]));
    assert_eq!(direct.lines().last(), served.lines().last(), "{direct}");
}

#[test]
fn the_configuration_file_sets_defaults_that_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ledger.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &config,
        format!(
            "[log]\ndata = {:?}\nprefix = \"shop\"\npartitions = 3\n",
            data.to_str().unwrap()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let from_file = stdout(&ledger(&["--config", config, "topics"]));
    assert!(
        from_file.contains("shop.events") && from_file.contains("partitions   3"),
        "{from_file}"
    );
    let overridden = stdout(&ledger(&[
        "--config", config, "topics", "--prefix", "other",
    ]));
    assert!(overridden.contains("other.events"), "{overridden}");

    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[handler]\nbatch_size = 5\n").unwrap();
    let refused = ledger(&["--config", typo.to_str().unwrap(), "rules"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("batch_size"));
}

#[test]
fn query_answers_on_a_directory_without_a_serve_as_json_table_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let submitted = ledger(&["submit", "--data", data, "examples/order-journey.jsonl"]);
    assert!(submitted.status.success(), "{submitted:?}");
    let order_id = "a9e4826c-e1fa-5275-b07b-412038fc6c3a";

    let order = ledger(&["query", "--data", data, "order", order_id]);
    assert!(order.status.success(), "{order:?}");
    let order: serde_json::Value = serde_json::from_str(&stdout(&order)).unwrap();
    assert_eq!(order["status"], "partially_returned");
    assert_eq!(order["refunded"], "14.50");

    let table = stdout(&ledger(&["query", "--data", data, "orders", "--table"]));
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("order_id ") && header.contains(" merchant_id "),
        "{table}"
    );
    assert!(lines.nth(1).unwrap().contains(order_id), "{table}");

    let csv = stdout(&ledger(&[
        "query",
        "--data",
        data,
        "balances",
        "--merchants",
        "--csv",
    ]));
    assert!(csv.lines().next().unwrap().contains("payable"), "{csv}");
    assert!(csv.contains("merchant-7") && csv.contains("71.37"), "{csv}");
    let trial = stdout(&ledger(&[
        "query",
        "--data",
        data,
        "trial-balance",
        "--csv",
    ]));
    assert!(trial.starts_with("balanced,currencies\ntrue,"), "{trial}");
    for what in [
        &["inventory", "--low"][..],
        &["reports"],
        &["exceptions"],
        &["status"],
        &["settlement", order_id],
    ] {
        let mut args = vec!["query", "--data", data];
        args.extend_from_slice(what);
        let output = ledger(&args);
        assert!(output.status.success(), "{what:?}: {output:?}");
        serde_json::from_str::<serde_json::Value>(&stdout(&output)).unwrap();
    }

    // An offline rebuild makes generation 2 with the same answers, and removes generation 1.
    let before = stdout(&ledger(&["query", "--data", data, "order", order_id]));
    let rebuilt = ledger(&["rebuild", "--data", data]);
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let rebuilt: serde_json::Value = serde_json::from_str(&stdout(&rebuilt)).unwrap();
    assert_eq!(rebuilt["generation"], 2);
    assert_eq!(
        stdout(&ledger(&["query", "--data", data, "order", order_id])),
        before
    );
    let read_models = Path::new(data).join("read-models");
    assert!(read_models.join("gen-2").exists() && !read_models.join("gen-1").exists());

    let bad = ledger(&["query", "--data", data, "orders", "--limit", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("limit 0 is out of range"),
        "{bad:?}"
    );
    let missing = ledger(&[
        "query",
        "--data",
        data,
        "order",
        "00000000-0000-4000-8000-000000000000",
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn the_demo_runs_and_its_read_models_equal_a_fold_of_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (data, output) = demo(&dir, 150, 7);
    let text = stdout(&output);
    for expected in [
        "Orders by status",
        "completed",
        "Exception queue",
        "Low stock",
        "books balanced: yes",
        "Merchant payouts at month end",
        "average order value",
        "Throughput",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }

    // Every read model equals a plain fold of the demo's event log.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use event_log::{LogReader, Topic, TopicPartition};
        let log = event_log::embedded::EmbeddedLog::open(
            &data,
            event_log::Topics::new("orders", 8).unwrap(),
        )
        .unwrap();
        let mut reference = projections::MemoryRows::default();
        let projector = projections::Projector::default();
        let topic = log.topics().name(Topic::Events);
        for (partition, &end) in log
            .end_offsets(Topic::Events)
            .await
            .unwrap()
            .iter()
            .enumerate()
        {
            let tp = TopicPartition::new(topic.clone(), partition as u32);
            let mut offset = 0;
            while offset < end {
                let records = log.read(&tp, offset, 1000).await.unwrap();
                offset = records.last().unwrap().next_offset();
                for record in records {
                    let envelope = order_events::codec::decode_event(&record.payload).unwrap();
                    projector
                        .fold(&mut reference, record.partition, record.offset, &envelope)
                        .unwrap();
                }
            }
        }
        let (_, generation, store) =
            projections::store::ProjectionDir::open(&data.join("read-models"), projector).unwrap();
        assert_eq!(generation, 1);
        let mut rows = store.rows().unwrap();
        rows.retain(|key, _| {
            key[0] != projections::keys::CHECKPOINT && key != projections::keys::FORMAT
        });
        assert!(rows.len() > 1000, "{} rows", rows.len());
        assert_eq!(
            rows, reference.0,
            "the demo's read models differ from a fold of its log"
        );
    });

    // The auditor's verify passes, and its digest is the same for a rerun with the same seed.
    let verify = |dir: &Path| {
        let output = ledger(&["replay", "--data", dir.to_str().unwrap(), "verify"]);
        assert!(output.status.success(), "{output:?}");
        let text = stdout(&output);
        assert!(text.contains("0 breaks: intact"), "{text}");
        text.lines().last().unwrap().to_owned()
    };
    let digest = verify(&data);
    let twin = dir.path().join("twin");
    let output = ledger(&[
        "demo",
        "--orders",
        "150",
        "--seed",
        "7",
        "--data",
        twin.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(verify(&twin), digest, "the same seed gives the same log");

    // A rerun clears its own directory; a directory it did not make is refused.
    let again = ledger(&["demo", "--orders", "20", "--data", data.to_str().unwrap()]);
    assert!(again.status.success(), "{again:?}");
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("precious.txt"), "keep me").unwrap();
    let refused = ledger(&[
        "demo",
        "--orders",
        "20",
        "--data",
        foreign.to_str().unwrap(),
    ]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(foreign.join("precious.txt").exists());
}

#[test]
fn replay_on_a_path_without_a_log_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("mistyped");
    let output = ledger(&["replay", "--data", missing.to_str().unwrap(), "verify"]);
    // 3: the tool could not run (1 would mean breaks found).
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("not found: an embedded log in"), "{error}");
    assert!(!missing.exists(), "the auditor's tool created {missing:?}");
}

#[test]
fn reconcile_matches_a_provider_report_against_the_demo_and_exits_by_its_breaks() {
    let dir = tempfile::tempdir().unwrap();
    // A seed whose 60 orders include cash on delivery, collected and refused.
    let (data, _) = demo(&dir, 60, 14);

    // The provider's report, made from the ledger's own money events.
    let money = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let log = event_log::embedded::EmbeddedLog::open_existing(
                &data,
                event_log::Topics::new("orders", 8).unwrap(),
            )
            .unwrap();
            let mut collector = finance::ledger::Collector::default();
            replay_tool::scan(&log, |record| {
                collector.add(&order_events::codec::decode_event(&record.payload).unwrap());
                Ok(())
            })
            .await
            .unwrap();
            // The provider's money; cash on delivery is the carriers' (`--carrier`).
            collector.finish()
        });
    let (cash, money): (Vec<_>, Vec<_>) = money.into_iter().partition(|m| m.carrier.is_some());
    assert!(money.len() > 40, "{} money events", money.len());
    let mut report = String::from("psp_reference,type,gross,fee,net,currency,date\n");
    for m in &money {
        let kind = match m.kind {
            finance::ledger::MoneyKind::Capture => "capture",
            finance::ledger::MoneyKind::Refund => "refund",
            finance::ledger::MoneyKind::Payout => "payout",
            finance::ledger::MoneyKind::CashOnDelivery => "cod",
        };
        report.push_str(&format!(
            "{},{kind},{},0.00,{},{},{}\n",
            m.psp_reference,
            m.amount,
            m.amount,
            m.currency,
            m.at.date_naive()
        ));
    }
    let clean = dir.path().join("clean.csv");
    std::fs::write(&clean, &report).unwrap();
    let reconcile = |file: &str, more: &[&str]| {
        let args = ["reconcile", "--data", data.to_str().unwrap(), "--psp", file];
        ledger(&[&args[..], more].concat())
    };
    let recorded = [
        "--run-id",
        "rec-clean",
        "--actor",
        "staff:fin-ann",
        "--provider",
        "adyen",
    ];
    let output = reconcile(
        clean.to_str().unwrap(),
        &[&["--format", "json"], &recorded[..]].concat(),
    );
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("recorded as reconciliation run rec-clean"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["auto_match_rate"], 1.0);
    assert_eq!(json["transaction_lines"], money.len() as u64);
    assert_eq!(json["breaks"], serde_json::json!([]));
    assert_eq!(json["currencies"][0]["variance"], "0.00");

    // One line the ledger does not know: exit status 1, and the break on its line.
    report.push_str("psp-stranger,capture,10.00,0.00,10.00,EUR,2026-11-02\n");
    let planted = dir.path().join("planted.csv");
    std::fs::write(&planted, &report).unwrap();
    let output = reconcile(planted.to_str().unwrap(), &["--format", "csv"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with(&format!(
            "missing_in_ledger,{},psp-stranger,EUR,10.00",
            money.len() + 2
        )),
        "{text}"
    );
    let output = reconcile(planted.to_str().unwrap(), &[]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        stdout(&output).contains("1 breaks, 1 unexplained"),
        "{}",
        stdout(&output)
    );

    // The run is an event in the log: who reconciled which file, and what came out.
    let history = ledger(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "history",
        "rec-clean",
    ]);
    assert!(history.status.success(), "{history:?}");
    let text = stdout(&history);
    for expected in [
        "ReconciliationRecorded",
        "fin-ann",
        "adyen",
        "reconciliation:rec-clean",
    ] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    let runs = ledger(&["query", "--data", data.to_str().unwrap(), "reconciliations"]);
    assert!(runs.status.success(), "{runs:?}");
    let runs: serde_json::Value = serde_json::from_str(&stdout(&runs)).unwrap();
    // Listed by recorded_at, which here is the demo's simulated time on some partitions (a
    // partition's events are never stamped before its last one): found by id, not place.
    let clean_run = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["run_id"] == "rec-clean")
        .unwrap_or_else(|| panic!("rec-clean missing from {runs}"));
    assert_eq!(clean_run["actor"]["id"], "fin-ann", "{runs}");
    assert_eq!(clean_run["outcome"]["unexplained"], 0, "{runs}");
    // A run is recorded once: the report still prints, the recording fails loudly.
    let again = reconcile(clean.to_str().unwrap(), &recorded);
    assert_eq!(again.status.code(), Some(3), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("reconciliation_already_recorded"));
    assert!(stdout(&again).contains("0 breaks, 0 unexplained"));
    // The recorded runs verify like every other event; --no-record leaves the log as it was.
    let verify = || {
        let output = ledger(&["replay", "--data", data.to_str().unwrap(), "verify"]);
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
    };
    let before = verify();
    let dry = reconcile(clean.to_str().unwrap(), &["--no-record"]);
    assert!(dry.status.success(), "{dry:?}");
    let after = verify();
    assert_eq!(before, after);

    // A carrier's cash-on-delivery report: its collections (less its 0.50 fee each) and its
    // remittance, against what it collected and remitted; the run is recorded under its name.
    assert!(
        cash.len() > 1,
        "the demo's carriers collected and remitted: {cash:?}"
    );
    let mut carrier = String::from("psp_reference,type,gross,fee,net,currency,date\n");
    for m in &cash {
        let (kind, fee) = match m.kind {
            finance::ledger::MoneyKind::CashOnDelivery => ("cod", "0.50"),
            _ => ("payout", "0.00"),
        };
        let net = m.amount - fee.parse().unwrap();
        let net = if kind == "payout" { m.amount } else { net };
        let (gross, date) = (m.amount, m.at.date_naive());
        carrier.push_str(&format!(
            "{},{kind},{gross},{fee},{net},{},{date}\n",
            m.psp_reference, m.currency
        ));
    }
    let dhl = dir.path().join("dhl.csv");
    std::fs::write(&dhl, &carrier).unwrap();
    let output = reconcile(
        dhl.to_str().unwrap(),
        &[
            "--carrier",
            "dhl",
            "--format",
            "json",
            "--actor",
            "staff:fin-ann",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["breaks"], serde_json::json!([]), "{json}");
    assert_eq!(json["transaction_lines"], cash.len() as u64);
    // The provider's clean report read as the carrier's: every line is a stranger to it.
    let output = reconcile(
        clean.to_str().unwrap(),
        &["--carrier", "dhl", "--no-record"],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");

    // What keeps it from running at all: exit status 3 and a reason.
    let output = reconcile("no-such.csv", &[]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such.csv"));
    let output = reconcile(clean.to_str().unwrap(), &["--map", "amount"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("FIELD=COLUMN"));
    let output = reconcile(clean.to_str().unwrap(), &["--actor", "fin-ann"]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("KIND:ID"));
}

#[test]
fn hostile_lines_given_to_submit_each_get_a_typed_answer_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let journey = ledger(&["submit", "--data", data, "examples/order-journey.jsonl"]);
    assert!(journey.status.success(), "{journey:?}");
    let events_before = stdout(&ledger(&["replay", "--data", data, "verify"]));
    // The corpus's one-line text inputs (binary and generated ones are for the topic and HTTP).
    let corpus = std::fs::read_to_string("tests/hostile/commands.jsonl").unwrap();
    let hostile: Vec<(String, String, String)> = corpus
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter_map(|entry| {
            let input = entry["input"].as_str()?;
            (!input.trim().is_empty() && !input.contains('\n')).then(|| {
                (
                    entry["name"].as_str().unwrap().to_owned(),
                    entry["expect"].as_str().unwrap().to_owned(),
                    input.to_owned(),
                )
            })
        })
        .collect();
    assert!(hostile.len() >= 50, "{}", hostile.len());
    let file = dir.path().join("hostile.jsonl");
    let text: Vec<&str> = hostile.iter().map(|(_, _, input)| input.as_str()).collect();
    std::fs::write(&file, text.join("\n") + "\n").unwrap();
    let output = ledger(&["submit", "--data", data, file.to_str().unwrap()]);
    assert!(
        !output.status.success(),
        "some were refused: a non-zero exit"
    );
    let results = results_of(&output);
    assert_eq!(results.len(), hostile.len(), "{output:?}");
    for ((name, expect, _), result) in hostile.iter().zip(&results) {
        let code = match result["outcome"].as_str() {
            Some("invalid") => &result["error"],
            Some("rejected") => &result["rule"],
            other => panic!("{name}: {other:?} {result}"),
        };
        assert_eq!(code, expect.as_str(), "{name}: {result}");
    }
    // Nothing stored changed: the same chain heads, the same digest.
    let events_after = stdout(&ledger(&["replay", "--data", data, "verify"]));
    assert_eq!(events_before, events_after);
}

#[test]
fn a_data_directory_that_cannot_be_one_stops_with_the_path_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_directory = dir.path().join("data");
    std::fs::write(&not_a_directory, "a file where the log should be").unwrap();
    let path = not_a_directory.to_str().unwrap();
    for args in [
        vec!["serve", "--data", path],
        vec!["submit", "--data", path, "examples/order-journey.jsonl"],
        vec!["query", "--data", path, "trial-balance"],
    ] {
        let output = ledger(&args);
        assert!(!output.status.success(), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(path) && stderr.contains("Not a directory"),
            "{args:?}: {stderr}"
        );
    }
    // Nothing was written in its place.
    assert_eq!(
        std::fs::read_to_string(&not_a_directory).unwrap(),
        "a file where the log should be"
    );
}

/// Every reader pointed at a directory with no log says so, exits 3 and creates nothing; the
/// log flags are taken after the subcommand too.
#[test]
fn readers_never_invent_a_shop() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo");
    let typo = typo.to_str().unwrap();
    let report = dir.path().join("report.csv");
    std::fs::write(&report, "psp_reference,type,gross,fee,net,currency,date\n").unwrap();
    let report = report.to_str().unwrap();
    let history = dir.path().join("missing-history.jsonl");
    let readers: Vec<Vec<&str>> = vec![
        vec!["query", "--data", typo, "orders"],
        vec!["query", "orders", "--data", typo],
        vec![
            "query",
            "--data",
            typo,
            "order",
            "a9e4826c-e1fa-5275-b07b-412038fc6c3a",
        ],
        vec!["rebuild", "--data", typo],
        vec!["replay", "--data", typo, "verify"],
        vec!["replay", "verify", "--data", typo],
        vec!["replay", "export", "--format", "jsonl", "--data", typo],
        vec!["reconcile", "--data", typo, "--psp", report],
        vec![
            "validate",
            "--history",
            history.to_str().unwrap(),
            "examples/order-journey.jsonl",
        ],
    ];
    for args in readers {
        let output = ledger(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(
            stderr.contains("not found") || stderr.contains("No such file"),
            "{args:?} names what is missing: {stderr}"
        );
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed an answer: {output:?}"
        );
        assert!(!Path::new(typo).exists(), "{args:?} created {typo}");
    }
}

/// `validate --history` reads the replay tool's own export as written and recomputes every
/// event's hash: a changed amount is refused naming the event, and the error is printed once.
#[test]
fn validate_reads_an_export_and_refuses_a_changed_event() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    assert!(
        ledger(&["submit", "--data", data, "examples/order-journey.jsonl"])
            .status
            .success()
    );
    let export = ledger(&["replay", "--data", data, "export", "--format", "jsonl"]);
    assert!(export.status.success(), "{export:?}");
    let exported = stdout(&export);
    assert!(
        exported.lines().all(|line| line.contains("\"offset\"")),
        "the export's own layout"
    );
    let history = dir.path().join("history.jsonl");
    std::fs::write(&history, &exported).unwrap();
    let history = history.to_str().unwrap();
    let against = ledger(&[
        "validate",
        "--history",
        history,
        "--format",
        "json",
        "examples/order-journey.jsonl",
    ]);
    assert_eq!(against.status.code(), Some(0), "{against:?}");
    let answers: Vec<serde_json::Value> = stdout(&against)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let placed = answers.iter().find(|a| a["type"] == "PlaceOrder").unwrap();
    assert_eq!(
        placed["rule"], "order_already_placed",
        "the history was loaded: {placed}"
    );

    let capture = exported
        .lines()
        .position(|line| line.contains("\"PaymentCaptured\""))
        .expect("a capture");
    let captured: serde_json::Value =
        serde_json::from_str(exported.lines().nth(capture).unwrap()).unwrap();
    let amount = captured["payload"]["amount"].as_str().unwrap();
    let changed: Vec<String> = exported
        .lines()
        .enumerate()
        .map(|(i, line)| {
            if i == capture {
                line.replacen(amount, "1.00", 1)
            } else {
                line.to_owned()
            }
        })
        .collect();
    let tampered = dir.path().join("tampered.jsonl");
    std::fs::write(&tampered, changed.join("\n")).unwrap();
    let refused = ledger(&[
        "validate",
        "--history",
        tampered.to_str().unwrap(),
        "examples/order-journey.jsonl",
    ]);
    assert_eq!(refused.status.code(), Some(3), "{refused:?}");
    let message = String::from_utf8_lossy(&refused.stderr);
    let event_id = captured["event_id"].as_str().unwrap();
    assert!(
        message.contains(&format!("history line {}", capture + 1))
            && message.contains(event_id)
            && message.contains("was changed"),
        "{message}"
    );
    assert_eq!(
        message.matches("was changed").count(),
        1,
        "printed once: {message}"
    );
}

/// Reports with stated definitions: gross GMV counts every order placed, net sales what was
/// captured less refunded; a return for defective goods is a defect; order lines say where
/// they are reserved and shipped from; the table is one row per day and channel.
#[test]
fn reports_state_gross_gmv_net_sales_and_defects_and_lines_their_warehouses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let journey = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/order-journey.jsonl"),
    )
    .unwrap();
    assert!(journey.contains("\"changed_mind\""));
    let mut lines: Vec<String> = journey
        .lines()
        .map(|line| line.replace("\"changed_mind\"", "\"defective\""))
        .collect();
    let place = lines
        .iter()
        .find(|l| l.contains("\"PlaceOrder\""))
        .unwrap()
        .clone();
    let second = stdout(&ledger(&[
        "order-id",
        "--channel",
        "web",
        "--reference",
        "J-2002",
    ]));
    lines.push(place.replace("\"J-2001\"", "\"J-2002\"").replace(
        "00000000-0000-4000-a000-000000000003",
        "00000000-0000-4000-a000-000000000093",
    ));
    lines.push(format!(
        r#"{{"command_id":"00000000-0000-4000-a000-000000000094","type":"CancelOrder","actor":{{"kind":"service","id":"checkout"}},"issued_at":"2026-11-22T10:05:00Z","payload":{{"order_id":"{}","reason":"customer_request"}}}}"#,
        second.trim()
    ));
    let file = dir.path().join("commands.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let submitted = ledger(&["submit", "--data", data, file.to_str().unwrap()]);
    assert!(submitted.status.success(), "{submitted:?}");

    let report: serde_json::Value =
        serde_json::from_str(&stdout(&ledger(&["query", "--data", data, "reports"]))).unwrap();
    let eur = &report["by_currency"][0];
    assert_eq!(eur["orders"], 2, "{report}");
    assert_eq!(
        eur["gross_gmv"], "187.60",
        "both orders as placed: {report}"
    );
    assert_eq!(
        eur["net_sales"], "79.30",
        "25.00 + 68.80 captured − 14.50 refunded: {report}"
    );
    assert_eq!(
        report["order_defect_rate"], 0.5,
        "the defective return: {report}"
    );
    assert_eq!(report["cancellation_rate"], 0.5, "{report}");

    let order: serde_json::Value = serde_json::from_str(&stdout(&ledger(&[
        "query",
        "--data",
        data,
        "order",
        "a9e4826c-e1fa-5275-b07b-412038fc6c3a",
    ])))
    .unwrap();
    for line in order["lines"].as_array().unwrap() {
        assert_eq!(line["warehouse"], "BER-1", "{line}");
        assert_eq!(line["warehouses"][0]["warehouse"], "BER-1", "{line}");
        assert_eq!(line["warehouses"][0]["shipped"], line["quantity"], "{line}");
    }

    let table = stdout(&ledger(&["query", "--data", data, "reports", "--table"]));
    let mut rows = table.lines();
    let header: Vec<&str> = rows.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header[..6],
        [
            "date",
            "channel",
            "currency",
            "orders",
            "gross_gmv",
            "net_sales"
        ],
        "{table}"
    );
    assert!(
        !table.contains('{') && !table.contains('['),
        "no nested JSON in cells: {table}"
    );
    let day = rows.nth(1).unwrap();
    assert_eq!(
        day.split_whitespace().nth(1),
        Some("web"),
        "one row per day and channel: {table}"
    );
    let money = header.iter().position(|c| *c == "gross_gmv").unwrap();
    let column_end = table.lines().next().unwrap().find("gross_gmv").unwrap() + "gross_gmv".len();
    assert_eq!(
        &day[column_end - 6..column_end],
        "187.60",
        "money right-aligned: {table}"
    );
    assert_eq!(day.split_whitespace().nth(money), Some("187.60"), "{table}");
    assert!(table.contains("order defect rate: 50.0 %"), "{table}");
}

#[test]
fn a_flipped_byte_in_the_journal_is_a_break_with_its_place_and_a_reader_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 20, 3);
    let path = data.to_str().unwrap();
    // A reader leaves every byte of the directory as it was.
    let files = |dir: &Path| {
        let mut found = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(at) = todo.pop() {
            for entry in std::fs::read_dir(&at).unwrap() {
                let entry = entry.unwrap().path();
                if entry.is_dir() {
                    todo.push(entry);
                } else {
                    found.push((entry.clone(), std::fs::read(&entry).unwrap()));
                }
            }
        }
        found.sort();
        found
    };
    let before = files(&data);
    let intact = ledger(&["replay", "--data", path, "verify"]);
    assert!(intact.status.success(), "{intact:?}");
    assert!(
        files(&data) == before,
        "replay verify changed the directory"
    );
    // One flipped byte in the middle of the journal: a break naming the file and position.
    let segment = data.join("journal/00000000000000000000.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();
    let broken = ledger(&["replay", "--data", path, "verify"]);
    assert_eq!(broken.status.code(), Some(1), "{broken:?}");
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(
        stderr.contains("00000000000000000000.seg byte") && stderr.contains("last whole records"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        bytes,
        "the reader cut nothing"
    );
}

#[test]
fn bench_runs_the_peer_workload_through_the_front_door_and_cleans_up() {
    let scratch = tempfile::tempdir().unwrap();
    let output = ledger(&[
        "bench",
        "--orders",
        "24",
        "--clients",
        "1,4",
        "--skus",
        "5",
        "--format",
        "json",
        "--scratch",
        scratch.path().to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(runs.len(), 2);
    for (run, clients) in runs.iter().zip([1, 4]) {
        assert_eq!(run["clients"], clients);
        assert_eq!(run["orders"], 24, "{run}");
        assert_eq!(run["errors"], 0, "{run}");
        // Three commands from the client, the rest from the order process.
        assert!(run["decided_per_order"].as_f64().unwrap() >= 4.0, "{run}");
        assert_eq!(run["place"]["count"], 24);
        assert_eq!(run["ship"]["count"], 24);
        assert!(
            run["serve_cpu_ms_per_order"].as_f64().unwrap() > 0.0,
            "{run}"
        );
        assert!(run["orders_per_s"].as_f64().unwrap() > 0.0, "{run}");
    }
    // Each run's data directory is removed after it.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    // No clients is refused with a reason, not measured as nothing.
    let refused = ledger(&["bench", "--orders", "5", "--clients", "0"]);
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("at least 1"));
}

fn replay_tool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replay-tool"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the replay-tool binary runs")
}

#[test]
fn both_replay_commands_fold_with_the_deployments_commission_rates() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        "[settlement]\ncommission_rate = \"0.07\"\n\
         [settlement.merchant_commission_rates]\n\"merchant-1\" = \"0.25\"\n",
    )
    .unwrap();
    let (config, data) = (config.to_str().unwrap(), dir.path().join("demo"));
    let data = data.to_str().unwrap();
    let demo = ledger(&["--config", config, "demo", "--orders", "80", "--data", data]);
    assert!(demo.status.success(), "{demo:?}");
    let rebuild = |run: fn(&[&str]) -> Output, into: &str, with_config: bool| {
        let into = dir.path().join(into);
        let mut args = vec!["--data", data];
        if with_config {
            args.extend(["--config", config]);
        }
        args.extend(["rebuild", "--into", into.to_str().unwrap()]);
        let output = run(&args);
        let report: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        (output.status.code(), report["differences"].clone())
    };
    let ledger_replay = |args: &[&str]| ledger(&[&["replay"], args].concat());
    let configured = serde_json::json!([]);
    assert_eq!(
        rebuild(ledger_replay, "by-ledger", true),
        (Some(0), configured.clone())
    );
    assert_eq!(
        rebuild(replay_tool, "by-replay-tool", true),
        (Some(0), configured)
    );
    // Folded with the default rates, the settlement read model is not the deployment's.
    let (code, differences) = rebuild(replay_tool, "with-defaults", false);
    assert_eq!(code, Some(1));
    let differences = differences.as_array().unwrap();
    assert!(
        differences.contains(&"settlement".into()),
        "{differences:?}"
    );
}

/// Runs `binary` with `args` as `… | head -1` does: reads one line, then closes the pipe with
/// the rest still to come. Checks the command ended quietly with status 0; returns the line.
fn first_line_then_close(binary: &str, args: &[&str]) -> String {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(binary)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let what = format!("{binary} {args:?}: {:?} {stderr}", output.status);
    assert!(output.status.success(), "{what}");
    assert!(stderr.is_empty(), "{what}");
    first
}

#[test]
fn output_whose_reader_stops_early_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 200, 5);
    let data = data.to_str().unwrap();
    let export = ["--data", data, "export", "--format", "jsonl"];
    let ledger = env!("CARGO_BIN_EXE_ledger");
    for first in [
        first_line_then_close(ledger, &[&["replay"], &export[..]].concat()),
        first_line_then_close(env!("CARGO_BIN_EXE_replay-tool"), &export),
    ] {
        assert!(first.starts_with('{'), "{first}");
    }
    // Any command whose output is cut short, e.g. `ledger validate … | head -1`.
    let lifecycle = std::fs::read_to_string("examples/order-lifecycle.jsonl").unwrap();
    let many = dir.path().join("many.jsonl");
    std::fs::write(&many, lifecycle.repeat(40)).unwrap();
    let validate = ["validate", "--format", "json", many.to_str().unwrap()];
    assert!(first_line_then_close(ledger, &validate).starts_with('{'));
}

#[test]
fn the_command_schemas_accept_exactly_what_the_ledger_decodes() {
    use order_events::testkit::samples;
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.jsonl");
    let lines: Vec<String> = order_events::testkit::every::one_of_each_command()
        .into_iter()
        .enumerate()
        .map(|(i, command)| {
            let envelope = samples::envelope(command, i as u128);
            order_events::codec::json::encode_command_json(&envelope)
        })
        .collect();
    std::fs::write(&seeds, lines.join("\n") + "\n").unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    check_with_python(
        "check_command_schemas.py",
        &[
            env!("CARGO_BIN_EXE_ledger"),
            root.join("schemas").to_str().unwrap(),
            seeds.to_str().unwrap(),
        ],
        "",
    );
}

#[test]
fn the_csv_export_names_and_times_fields_as_the_jsonl_export_does() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 20, 3);
    let export = |format: &str| {
        let output = ledger(&[
            "replay",
            "--data",
            data.to_str().unwrap(),
            "export",
            "--format",
            format,
        ]);
        assert!(output.status.success(), "{output:?}");
        stdout(&output)
    };
    let jsonl = export("jsonl");
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    let csv = export("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    // Every JSON field is a column of the same name (`actor` flattened as pandas'
    // json_normalize does: actor.kind, actor.id); the CSV adds `error` for undecodable records.
    let mut fields: Vec<String> = Vec::new();
    for (key, value) in first.as_object().unwrap() {
        match value.as_object() {
            Some(inner) if key == "actor" => {
                fields.extend(inner.keys().map(|k| format!("{key}.{k}")));
            }
            _ => fields.push(key.clone()),
        }
    }
    let mut columns: Vec<String> = header.iter().filter(|c| *c != "error").cloned().collect();
    fields.sort();
    columns.sort();
    assert_eq!(columns, fields);
    // One timestamp form: RFC 3339 in UTC with `Z`, as in the JSON.
    let at = header.iter().position(|c| c == "recorded_at").unwrap();
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(row[at], first["recorded_at"].as_str().unwrap().to_owned());
    assert!(row[at].ends_with('Z'), "{}", &row[at]);
}

#[test]
fn csv_listings_carry_every_row_or_say_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // More orders than one page (100) holds.
    let (data, _) = demo(&dir, 260, 9);
    let data = data.to_str().unwrap();
    let json = stdout(&ledger(&[
        "query", "--data", data, "orders", "--limit", "1000",
    ]));
    let all: serde_json::Value = serde_json::from_str(&json).unwrap();
    let total = all["items"].as_array().unwrap().len();
    assert!(total > 100, "{total} orders");
    let csv = ledger(&["query", "--data", data, "orders", "--csv"]);
    assert!(csv.status.success(), "{csv:?}");
    assert_eq!(
        stdout(&csv).lines().count(),
        1 + total,
        "a header and every order"
    );
    assert!(
        csv.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    // With a --limit, the page asked for, and where the next one starts on stderr.
    let limited = ledger(&["query", "--data", data, "orders", "--csv", "--limit", "5"]);
    assert!(limited.status.success(), "{limited:?}");
    assert_eq!(stdout(&limited).lines().count(), 1 + 5);
    let said = String::from_utf8_lossy(&limited.stderr);
    assert!(said.contains("--after "), "{said}");
}

#[test]
fn exported_events_are_valid_against_the_published_event_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 200, 4);
    let export = ledger(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "export",
        "--format",
        "jsonl",
    ]);
    assert!(export.status.success(), "{export:?}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    check_with_python(
        "check_exported_events.py",
        &[root.join("schemas").to_str().unwrap()],
        &stdout(&export),
    );
}

/// Every amount in `value` (by field name, or an account's balance in a settlement) has exactly
/// its currency's minor units, the currency being the nearest enclosing `currency` field or
/// `fallback`. Returns how many amounts it saw and how many of them were zero.
fn check_minor_units(value: &serde_json::Value, fallback: Option<&str>, seen: &mut (usize, usize)) {
    const AMOUNTS: [&str; 28] = [
        "total",
        "captured",
        "refunded",
        "subtotal",
        "discount_total",
        "shipping_fee",
        "unit_price",
        "freight_cost",
        "debits",
        "credits",
        "balance",
        "difference",
        "payable",
        "held_back",
        "available",
        "captures",
        "commission",
        "refunds",
        "commission_reversals",
        "payouts",
        "gross_gmv",
        "net_sales",
        "average_order_value",
        "expected_net",
        "reported_net",
        "variance",
        "debit",
        "credit",
    ];
    let digits = |currency: Option<&str>| match currency {
        Some("JPY" | "KRW") => 0,
        Some("KWD") => 3,
        Some(_) => 2,
        None => panic!("an amount without a currency"),
    };
    let check = |name: &str, text: &str, currency: Option<&str>, seen: &mut (usize, usize)| {
        let decimals = text.split_once('.').map_or(0, |(_, d)| d.len());
        assert_eq!(
            decimals,
            digits(currency),
            "{name} = {text:?} in {currency:?}"
        );
        seen.0 += 1;
        seen.1 += usize::from(
            text.trim_start_matches('-')
                .trim_matches(['0', '.'])
                .is_empty(),
        );
    };
    match value {
        serde_json::Value::Object(map) => {
            let currency = map.get("currency").and_then(|c| c.as_str()).or(fallback);
            for (name, field) in map {
                match field {
                    serde_json::Value::String(text) if AMOUNTS.contains(&name.as_str()) => {
                        check(name, text, currency, seen)
                    }
                    serde_json::Value::Object(accounts) if name == "accounts" => {
                        for (account, amount) in accounts {
                            check(account, amount.as_str().unwrap(), currency, seen);
                        }
                    }
                    _ => check_minor_units(field, currency, seen),
                }
            }
        }
        serde_json::Value::Array(items) => items
            .iter()
            .for_each(|item| check_minor_units(item, fallback, seen)),
        _ => {}
    }
}

#[test]
fn every_amount_a_query_answers_carries_its_currencys_minor_units() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 40, 5);
    let data = data.to_str().unwrap();
    let query = |args: &[&str]| -> serde_json::Value {
        let output = ledger(&[&["query", "--data", data][..], args].concat());
        assert!(output.status.success(), "{args:?}: {output:?}");
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let orders = query(&["orders", "--limit", "1000"]);
    let first = orders["items"][0]["order_id"].as_str().unwrap().to_owned();
    let settlement = query(&["settlement", &first]);
    let currency = settlement["entries"][0]["currency"]
        .as_str()
        .map(str::to_owned);
    let mut seen = (0, 0);
    check_minor_units(&settlement, currency.as_deref(), &mut seen);
    for args in [
        &["orders", "--limit", "1000"][..],
        &["order", &first],
        &["balances"],
        &["balances", "--merchants"],
        &["trial-balance"],
        &["reports"],
        &["reconciliations"],
    ] {
        check_minor_units(&query(args), None, &mut seen);
    }
    assert!(
        seen.0 > 200 && seen.1 > 20,
        "amounts seen, of them zero: {seen:?}"
    );
    // CSV carries the same text.
    let csv = stdout(&ledger(&["query", "--data", data, "balances", "--csv"]));
    assert!(csv.contains(",0.00,") || csv.contains(",0.00\n"), "{csv}");
}

/// A config file writing event records as JSON, in `dir`.
fn json_events_config(dir: &Path) -> std::path::PathBuf {
    let config = dir.join("ledger.toml");
    std::fs::write(&config, "[log]\nevent_format = \"json\"\n").unwrap();
    config
}

/// The example journey with text a canonical form must escape alike in every language:
/// quotes, a backslash and characters beyond ASCII.
fn journey_with_awkward_text(dir: &Path) -> std::path::PathBuf {
    let journey = std::fs::read_to_string("examples/order-journey.jsonl").unwrap();
    let awkward = journey.replacen(
        "\"reference\":\"PO-2026-0101\"",
        "\"reference\":\"Lieferung \\\"für\\\" Zoë \\\\ 東京 📦\"",
        1,
    );
    assert_ne!(awkward, journey);
    let path = dir.join("journey.jsonl");
    std::fs::write(&path, awkward).unwrap();
    path
}

#[test]
fn json_event_records_hash_the_canonical_form_python_computes() {
    let dir = tempfile::tempdir().unwrap();
    let config = json_events_config(dir.path());
    let journey = journey_with_awkward_text(dir.path());
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let config = config.to_str().unwrap();
    let submitted = ledger(&[
        "submit",
        "--config",
        config,
        "--data",
        data,
        journey.to_str().unwrap(),
    ]);
    let results = results_of(&submitted);
    assert!(
        results.len() == 14 && results.iter().all(|r| r["outcome"] == "accepted"),
        "{results:?}"
    );
    let verified = stdout(&ledger(&["replay", "--data", data, "verify"]));
    assert!(verified.contains("0 breaks: intact"), "{verified}");
    let export = ledger(&["replay", "--data", data, "export", "--format", "jsonl"]);
    assert!(export.status.success(), "{export:?}");
    let export = stdout(&export);
    assert!(export.contains("Zoë"), "{export}");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schemas = root.join("schemas");
    check_with_python(
        "check_exported_events.py",
        &[schemas.to_str().unwrap(), "--hashes"],
        &export,
    );
    // The exported lines read back through the ledger's own check too.
    let exported = dir.path().join("export.jsonl");
    std::fs::write(&exported, &export).unwrap();
    let nothing = dir.path().join("nothing.jsonl");
    std::fs::write(&nothing, "").unwrap();
    let checked = ledger(&[
        "validate",
        "--history",
        exported.to_str().unwrap(),
        nothing.to_str().unwrap(),
    ]);
    assert!(checked.status.success(), "{checked:?}");
    let changed = export.replacen("Zoë", "Zoe", 1);
    std::fs::write(&exported, &changed).unwrap();
    let refused = ledger(&[
        "validate",
        "--history",
        exported.to_str().unwrap(),
        nothing.to_str().unwrap(),
    ]);
    assert!(!refused.status.success(), "{refused:?}");
}

#[test]
fn json_event_records_on_kafka_are_read_and_checked_by_a_python_consumer() {
    let broker = event_log::testing::TestBroker::start();
    let prefix = event_log::testing::unique_prefix("json-events");
    let dir = tempfile::tempdir().unwrap();
    let config = json_events_config(dir.path());
    let journey = journey_with_awkward_text(dir.path());
    let log_args = [
        "--config",
        config.to_str().unwrap(),
        "--kafka",
        broker.bootstrap(),
        "--prefix",
        &prefix,
        "--partitions",
        "2",
    ];
    // A Kafka deployment decides in its serves; this one writes JSON event records.
    let serve = Serving::on_kafka(&log_args, None);
    submit_journey_on_kafka(&log_args, journey.to_str().unwrap());
    assert!(serve.stop().success());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schemas = root.join("schemas");
    let topic = format!("{prefix}.events");
    check_with_python(
        "read_event_topic.py",
        &[broker.bootstrap(), &topic, schemas.to_str().unwrap()],
        "",
    );
}

#[test]
fn a_deployment_that_switches_to_json_event_records_keeps_one_intact_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = json_events_config(dir.path());
    let journey = std::fs::read_to_string("examples/order-journey.jsonl").unwrap();
    let lines: Vec<&str> = journey.lines().collect();
    let (before, after) = lines.split_at(lines.len() / 2);
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (part, extra) in [(before, None), (after, Some(config.to_str().unwrap()))] {
        let file = dir.path().join("part.jsonl");
        std::fs::write(&file, part.join("\n")).unwrap();
        let mut args = vec!["submit", "--data", data, file.to_str().unwrap()];
        if let Some(config) = extra {
            args.extend(["--config", config]);
        }
        let results = results_of(&ledger(&args));
        assert!(
            results.iter().all(|r| r["outcome"] == "accepted"),
            "{results:?}"
        );
    }
    let verified = stdout(&ledger(&["replay", "--data", data, "verify"]));
    assert!(verified.contains("0 breaks: intact"), "{verified}");
    // Both kinds of record are there, chained across the switch.
    let export = stdout(&ledger(&[
        "replay", "--data", data, "export", "--format", "jsonl",
    ]));
    let log = std::fs::read(Path::new(data).join("journal/00000000000000000000.seg")).unwrap();
    let json_records = log.windows(13).filter(|w| w == b"{\"actor\":{\"id").count();
    assert!(
        json_records > 0 && json_records < export.lines().count(),
        "{json_records}"
    );
}

/// Every record's leaf hash per events partition, read straight from the embedded log.
fn partition_leaves(data: &Path) -> Vec<Vec<order_events::merkle::Digest>> {
    use event_log::LogReader;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let log = event_log::embedded::EmbeddedLog::open_existing(
                data,
                event_log::Topics::new("orders", 8).unwrap(),
            )
            .unwrap();
            let topic = log.topics().name(event_log::Topic::Events);
            let mut all = Vec::new();
            for partition in 0..8 {
                let tp = event_log::TopicPartition::new(topic.clone(), partition);
                let mut leaves = Vec::new();
                loop {
                    let records = log.read(&tp, leaves.len() as u64, 500).await.unwrap();
                    if records.is_empty() {
                        break;
                    }
                    leaves.extend(
                        records
                            .iter()
                            .map(|r| order_events::merkle::leaf_hash(&r.payload)),
                    );
                }
                all.push(leaves);
            }
            all
        })
}

#[test]
fn the_checkpoint_is_the_merkle_roots_of_the_records_and_a_grown_log_extends_it() {
    use order_events::merkle;
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 20, 9);
    let checkpoint = |data: &Path| -> serde_json::Value {
        let output = ledger(&["replay", "--data", data.to_str().unwrap(), "checkpoint"]);
        assert!(output.status.success(), "{output:?}");
        serde_json::from_str(&stdout(&output)).unwrap()
    };
    let before = checkpoint(&data);
    let leaves = partition_leaves(&data);
    for (partition, leaves) in leaves.iter().enumerate() {
        let head = &before["partitions"][partition];
        assert_eq!(head["size"], leaves.len(), "{head}");
        assert_eq!(head["root"], hex::encode(merkle::root(leaves)), "{head}");
        // Any record proves its place against the checkpoint in O(log n) hashes.
        let index = leaves.len() / 2;
        let proof = merkle::inclusion_proof(leaves, index).unwrap();
        assert!(proof.len() <= 64 - (leaves.len() as u64).leading_zeros() as usize);
        let root: merkle::Digest = hex::decode(head["root"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        merkle::verify_inclusion(
            &leaves[index],
            index as u64,
            leaves.len() as u64,
            &proof,
            &root,
        )
        .unwrap();
    }
    // The same log, the same checkpoint; a grown log extends it, partition by partition.
    assert_eq!(checkpoint(&data), before);
    let kept = dir.path().join("before.json");
    std::fs::write(&kept, before.to_string()).unwrap();
    let copy = dir.path().join("copy");
    let copied = Command::new("cp")
        .args(["-r", data.to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(copied.success());
    let submitted = ledger(&[
        "submit",
        "--data",
        data.to_str().unwrap(),
        "examples/order-journey.jsonl",
    ]);
    assert!(submitted.status.success(), "{submitted:?}");
    let after = checkpoint(&data);
    assert_ne!(after["root"], before["root"]);
    let grown = partition_leaves(&data);
    let digest = |value: &serde_json::Value| -> merkle::Digest {
        hex::decode(value.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let mut extended = 0;
    for (partition, leaves) in grown.iter().enumerate() {
        let (old, new) = (
            &before["partitions"][partition],
            &after["partitions"][partition],
        );
        let old_size = old["size"].as_u64().unwrap() as usize;
        if old_size == 0 {
            continue;
        }
        let proof = merkle::consistency_proof(leaves, old_size).unwrap();
        merkle::verify_consistency(
            old_size as u64,
            leaves.len() as u64,
            &digest(&old["root"]),
            &digest(&new["root"]),
            &proof,
        )
        .unwrap();
        extended += usize::from(leaves.len() > old_size);
    }
    assert!(extended > 0, "the journey added to no partition");
    // verify --checkpoint: the grown log extends the kept checkpoint; the log as it was does
    // not extend the grown one (records removed), nor does another shop's log of its own.
    let verify = |data: &Path, kept: &Path| {
        ledger(&[
            "replay",
            "--data",
            data.to_str().unwrap(),
            "verify",
            "--checkpoint",
            kept.to_str().unwrap(),
        ])
    };
    let extends = verify(&data, &kept);
    assert!(extends.status.success(), "{extends:?}");
    let root_line = format!("root {}", after["root"].as_str().unwrap());
    assert!(stdout(&extends).contains(&root_line), "{extends:?}");
    let grown_kept = dir.path().join("after.json");
    std::fs::write(&grown_kept, after.to_string()).unwrap();
    let shrunk = verify(&copy, &grown_kept);
    assert_eq!(shrunk.status.code(), Some(1), "{shrunk:?}");
    assert!(
        stdout(&shrunk).contains("BREAK CheckpointNotExtended")
            && stdout(&shrunk).contains("records were removed"),
        "{shrunk:?}"
    );
    let other_dir = tempfile::tempdir().unwrap();
    let (other, _) = demo(&other_dir, 20, 10);
    let rewritten = verify(&other, &kept);
    assert_eq!(rewritten.status.code(), Some(1), "{rewritten:?}");
    assert!(
        stdout(&rewritten).contains("history was rewritten"),
        "{rewritten:?}"
    );
}

#[test]
fn a_signed_checkpoint_checks_with_its_key_and_is_refused_otherwise() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 10, 3);
    let make_key = |name: &str| -> (std::path::PathBuf, String) {
        let path = dir.path().join(name);
        let public = checkpoint_key(&path);
        (path, public)
    };
    let (key, public) = make_key("ledger.key");
    let (_, stranger) = make_key("other.key");
    // The public key of an existing key file, printed again (never its seed).
    let shown = ledger(&["replay", "checkpoint-key", "--of", key.to_str().unwrap()]);
    assert!(shown.status.success(), "{shown:?}");
    assert!(
        stdout(&shown).contains(&format!("public key {public}")),
        "{shown:?}"
    );
    assert!(!stdout(&shown).contains(std::fs::read_to_string(&key).unwrap().trim()));
    let neither = ledger(&["replay", "checkpoint-key"]);
    assert_eq!(neither.status.code(), Some(2), "{neither:?}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let signed = ledger(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "checkpoint",
        "--signing-key",
        key.to_str().unwrap(),
    ]);
    assert!(signed.status.success(), "{signed:?}");
    let file = dir.path().join("checkpoint.json");
    std::fs::write(&file, stdout(&signed)).unwrap();
    let check = |file: &Path, public: &str| {
        ledger(&[
            "replay",
            "check-checkpoint",
            file.to_str().unwrap(),
            "--public-key",
            public,
        ])
    };
    let valid = check(&file, &public);
    assert!(valid.status.success(), "{valid:?}");
    assert!(stdout(&valid).starts_with("valid: "), "{}", stdout(&valid));
    let wrong_key = check(&file, &stranger);
    assert_eq!(wrong_key.status.code(), Some(1));
    assert!(
        stdout(&wrong_key).contains("not the trusted key"),
        "{}",
        stdout(&wrong_key)
    );
    // A head changed after signing: the signed root is not the heads' root.
    let mut changed: serde_json::Value = serde_json::from_str(&stdout(&signed)).unwrap();
    changed["partitions"][0]["size"] =
        (changed["partitions"][0]["size"].as_u64().unwrap() + 1).into();
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, changed.to_string()).unwrap();
    let refused = check(&forged, &public);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("not the root of the partition heads"),
        "{}",
        stdout(&refused)
    );
    // The root changed after signing.
    let mut changed: serde_json::Value = serde_json::from_str(&stdout(&signed)).unwrap();
    changed["root"] = hex::encode([1u8; 32]).into();
    std::fs::write(&forged, changed.to_string()).unwrap();
    let refused = check(&forged, &public);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("signature does not hold"),
        "{}",
        stdout(&refused)
    );
    // An unsigned checkpoint vouches for nothing.
    let unsigned = ledger(&["replay", "--data", data.to_str().unwrap(), "checkpoint"]);
    std::fs::write(&forged, stdout(&unsigned)).unwrap();
    assert!(stdout(&check(&forged, &public)).contains("not signed"));
}

/// The auditor's round: keep a signed checkpoint, prove an event against it and that today's
/// log extends it — with the ledger's tools and with an independent verifier in Python
/// (`scripts/contracts/verify_history.py`, written from `docs/verifiable-history.md`) — and
/// see each forgery refused by both.
#[test]
fn an_auditor_checks_proofs_against_a_kept_checkpoint_with_our_tools_and_an_independent_one() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 30, 11);
    let data_arg = data.to_str().unwrap();
    let path = |name: &str| dir.path().join(name);
    let file = |name: &str| path(name).to_str().unwrap().to_owned();
    let public = checkpoint_key(&path("ledger.key"));
    let replay = |args: &[&str]| ledger(&[&["replay", "--data", data_arg][..], args].concat());
    let save = |name: &str, output: &Output| {
        assert!(output.status.success(), "{output:?}");
        std::fs::write(path(name), stdout(output)).unwrap();
    };
    save(
        "yesterday.json",
        &replay(&["checkpoint", "--signing-key", &file("ledger.key")]),
    );
    let exported = stdout(&replay(&["export", "--format", "jsonl"]));
    let event: serde_json::Value = serde_json::from_str(exported.lines().nth(40).unwrap()).unwrap();
    let event_id = event["event_id"].as_str().unwrap();
    let submitted = ledger(&["submit", "--data", data_arg, "examples/order-journey.jsonl"]);
    assert!(submitted.status.success(), "{submitted:?}");

    // Proven today against yesterday's checkpoint: a few KB, checked by both.
    let proof = replay(&["proof", event_id, "--checkpoint", &file("yesterday.json")]);
    save("proof.json", &proof);
    assert!(
        stdout(&proof).len() < 4096,
        "{} bytes",
        stdout(&proof).len()
    );
    let trusted = [
        "--checkpoint",
        &file("yesterday.json"),
        "--public-key",
        &public,
    ];
    let check_proof =
        |name: &str| ledger(&[&["replay", "check-proof", &file(name)][..], &trusted].concat());
    let python = |kind: &str, name: &str, extra: &[&str]| {
        python_contract(
            "verify_history.py",
            &[&[kind, &file(name), "--public-key", &public][..], extra].concat(),
            "",
        )
    };
    let checked = check_proof("proof.json");
    assert!(checked.status.success(), "{checked:?}");
    assert!(
        stdout(&checked).contains(event["type"].as_str().unwrap()),
        "{}",
        stdout(&checked)
    );
    let independent = python(
        "proof",
        "proof.json",
        &["--checkpoint", &file("yesterday.json")],
    );
    assert!(independent.status.success(), "{independent:?}");
    let independent = python("checkpoint", "yesterday.json", &[]);
    assert!(independent.status.success(), "{independent:?}");

    // Today extends yesterday: the consistency proof checks with both.
    let step = replay(&[
        "consistency",
        &file("yesterday.json"),
        "--signing-key",
        &file("ledger.key"),
    ]);
    save("step.json", &step);
    let checked = ledger(&[
        "replay",
        "check-consistency",
        &file("step.json"),
        "--old",
        &file("yesterday.json"),
        "--public-key",
        &public,
    ]);
    assert!(checked.status.success(), "{checked:?}");
    let independent = python(
        "consistency",
        "step.json",
        &["--old", &file("yesterday.json")],
    );
    assert!(independent.status.success(), "{independent:?}");

    // Forgeries: a byte of the record, a hash of the path, the new checkpoint's root.
    let forge = |name: &str, from: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut document: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path(from)).unwrap()).unwrap();
        change(&mut document);
        std::fs::write(path(name), document.to_string()).unwrap();
    };
    let flip = |text: &str, at: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        String::from_utf8(bytes).unwrap()
    };
    forge("record.json", "proof.json", &|p| {
        let record = p["record"].as_str().unwrap().to_owned();
        p["record"] = flip(&record, record.len() / 2).into();
    });
    forge("path.json", "proof.json", &|p| {
        let hash = p["path"][0].as_str().unwrap().to_owned();
        p["path"][0] = flip(&hash, 0).into();
    });
    forge("root.json", "step.json", &|p| {
        let root = p["new"]["root"].as_str().unwrap().to_owned();
        p["new"]["root"] = flip(&root, 0).into();
    });
    for name in ["record.json", "path.json"] {
        let refused = check_proof(name);
        assert_eq!(refused.status.code(), Some(1), "{name}: {refused:?}");
        assert!(stdout(&refused).starts_with("INVALID: "), "{refused:?}");
        let independent = python("proof", name, &["--checkpoint", &file("yesterday.json")]);
        assert_eq!(
            independent.status.code(),
            Some(1),
            "{name}: {independent:?}"
        );
    }
    let refused = python(
        "consistency",
        "root.json",
        &["--old", &file("yesterday.json")],
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    // Another key is not the trusted one.
    let stranger = checkpoint_key(&path("other.key"));
    let refused = ledger(&[
        "replay",
        "check-proof",
        &file("proof.json"),
        "--checkpoint",
        &file("yesterday.json"),
        "--public-key",
        &stranger,
    ]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        stdout(&refused).contains("not the trusted key"),
        "{refused:?}"
    );
    let refused = python_contract(
        "verify_history.py",
        &[
            "checkpoint",
            &file("yesterday.json"),
            "--public-key",
            &stranger,
        ],
        "",
    );
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
}

/// Makes a checkpoint signing key at `path` (`replay checkpoint-key`); its public key, which
/// the command printed — and not the seed.
fn checkpoint_key(path: &Path) -> String {
    let made = ledger(&["replay", "checkpoint-key", "--out", path.to_str().unwrap()]);
    assert!(made.status.success(), "{made:?}");
    let text = stdout(&made);
    assert!(
        !text.contains(std::fs::read_to_string(path).unwrap().trim()),
        "the seed was printed"
    );
    text.lines()
        .find_map(|l| l.strip_prefix("public key "))
        .unwrap()
        .trim()
        .to_owned()
}

/// A checkpoint key in `dir` and a ledger.toml publishing checkpoints every second signed with
/// it; the key's public half.
fn checkpointing_config(dir: &Path) -> (std::path::PathBuf, String) {
    let key = dir.join("checkpoint.key");
    let public = checkpoint_key(&key);
    let config = dir.join("ledger.toml");
    let text = format!(
        "[checkpoints]\ninterval_secs = 1\nsigning_key = {:?}\n",
        key.to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    (config, public)
}

/// Waits (up to 30 s) until `ready` holds.
fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `GET /v1/log/proofs/{id}` of the first event of the first order the serve at `address`
/// lists, checked against the order's event list; also that an unknown event is a 404 and a
/// malformed id a 400.
fn served_proof(agent: &ureq::Agent, address: &str) -> serde_json::Value {
    let get = |path: &str| {
        let mut response = agent
            .get(&format!("http://{address}{path}"))
            .call()
            .unwrap();
        let status = response.status().as_u16();
        (
            status,
            response
                .body_mut()
                .read_json::<serde_json::Value>()
                .unwrap(),
        )
    };
    let (_, orders) = get("/v1/orders?limit=1");
    let order_id = orders["items"][0]["order_id"].as_str().unwrap().to_owned();
    let (_, order) = get(&format!("/v1/orders/{order_id}"));
    let event = &order["events"][0];
    let (status, proof) = get(&format!(
        "/v1/log/proofs/{}",
        event["event_id"].as_str().unwrap()
    ));
    assert_eq!(status, 200, "{proof}");
    assert_eq!(proof["format"], "order-ledger/proof/v2");
    assert_eq!(proof["event_id"], event["event_id"]);
    assert_eq!(
        (&proof["partition"], &proof["offset"]),
        (&event["partition"], &event["offset"])
    );
    assert!(proof["signature"].is_object(), "{proof}");
    let (status, unknown) = get(&format!("/v1/log/proofs/{}", uuid::Uuid::nil()));
    assert_eq!(
        (status, unknown["error"].as_str()),
        (404, Some("unknown_event")),
        "{unknown}"
    );
    let (status, malformed) = get("/v1/log/proofs/not-a-uuid");
    assert_eq!(
        (status, malformed["error"].as_str()),
        (400, Some("bad_parameter")),
        "{malformed}"
    );
    proof
}

#[test]
fn an_embedded_serve_publishes_signed_checkpoints_on_a_schedule_and_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 10, 4);
    let (config, public) = checkpointing_config(dir.path());
    let serve = Serving::on_with(&data, &["--config", config.to_str().unwrap()]);
    let published = data.join("checkpoints.jsonl");
    let lines = || {
        std::fs::read_to_string(&published)
            .unwrap_or_default()
            .lines()
            .count()
    };
    eventually("a scheduled checkpoint", || lines() >= 1);
    // On request (an admin's token here; auditors may too), answered and appended.
    let token = std::fs::read_to_string(data.join("serve.token")).unwrap();
    let agent = order_ledger::running::client(
        std::time::Duration::from_secs(30),
        Some(token.trim().to_owned()),
    );
    let mut response = agent
        .post(&format!("http://{}/v1/checkpoints", serve.address))
        .send_empty()
        .unwrap();
    let answered: serde_json::Value = response.body_mut().read_json().unwrap();
    let text = std::fs::read_to_string(&published).unwrap();
    let appended: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(appended.contains(&answered), "{answered} not in {text}");
    let refused = ureq::post(&format!("http://{}/v1/checkpoints", serve.address)).send_empty();
    assert!(
        matches!(refused, Err(ureq::Error::StatusCode(401))),
        "{refused:?}"
    );
    let proof = served_proof(&agent, &serve.address);
    // An event recorded after the last checkpoint is proved against a newer one.
    let stock = r#"{"type":"ReceiveStock","command_id":"6e0c7d4e-1d7a-4f4b-9a57-3c1f00000002","issued_at":"2026-12-04T08:00:00Z","actor":{"kind":"service","id":"wms"},"payload":{"item":{"sku":"SKU-NEW","warehouse":"BER-1"},"quantity":7,"reference":"PO-NEW"}}"#;
    let mut response = agent
        .post(&format!("http://{}/v1/commands?settle=true", serve.address))
        .header("content-type", "application/json")
        .send(stock)
        .unwrap();
    let result: serde_json::Value = response.body_mut().read_json().unwrap();
    let event_id = result["events"][0]["event_id"].as_str().unwrap().to_owned();
    let mut response = agent
        .get(&format!(
            "http://{}/v1/log/proofs/{event_id}",
            serve.address
        ))
        .call()
        .unwrap();
    let later: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(
        later["event_id"].as_str(),
        Some(event_id.as_str()),
        "{later}"
    );
    assert_ne!(later["root"], proof["root"], "{later}");
    assert!(serve.stop().success());

    // Each proof is anchored in a checkpoint the serve published, and holds for the ledger's
    // checker and for an independent one.
    let roots: Vec<String> = std::fs::read_to_string(&published)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["root"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for proof in [&proof, &later] {
        assert!(
            roots.iter().any(|root| proof["root"] == root.as_str()),
            "{proof}"
        );
        let file = dir.path().join("later.json");
        std::fs::write(&file, proof.to_string()).unwrap();
        let holds = ledger(&[
            "replay",
            "check-proof",
            file.to_str().unwrap(),
            "--public-key",
            &public,
        ]);
        assert!(holds.status.success(), "{holds:?}");
    }
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, proof.to_string()).unwrap();
    let proof_file = proof_file.to_str().unwrap();
    let holds = ledger(&["replay", "check-proof", proof_file, "--public-key", &public]);
    assert!(holds.status.success(), "{holds:?}");
    let independent = python_contract(
        "verify_history.py",
        &["proof", proof_file, "--public-key", &public],
        "",
    );
    assert!(independent.status.success(), "{independent:?}");
    let mut forged = proof.clone();
    forged["record"] = format!("{}00", proof["record"].as_str().unwrap()).into();
    std::fs::write(proof_file, forged.to_string()).unwrap();
    let refused = ledger(&["replay", "check-proof", proof_file, "--public-key", &public]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");

    // Each is signed by the deployment's key, and the log extends it.
    let kept = dir.path().join("kept.json");
    std::fs::write(&kept, answered.to_string()).unwrap();
    let checked = ledger(&[
        "replay",
        "check-checkpoint",
        kept.to_str().unwrap(),
        "--public-key",
        &public,
    ]);
    assert!(checked.status.success(), "{checked:?}");
    let extends = ledger(&[
        "replay",
        "--data",
        data.to_str().unwrap(),
        "verify",
        "--checkpoint",
        kept.to_str().unwrap(),
    ]);
    assert!(extends.status.success(), "{extends:?}");
    // The log as it is now is the one the later event's proof was made against.
    assert!(
        stdout(&extends).contains(&format!("root {}", later["root"].as_str().unwrap())),
        "{extends:?}"
    );
    let independent = python_contract(
        "verify_history.py",
        &[
            "checkpoint",
            kept.to_str().unwrap(),
            "--public-key",
            &public,
        ],
        "",
    );
    assert!(independent.status.success(), "{independent:?}");
}

#[test]
fn a_serve_on_kafka_publishes_signed_checkpoints_to_the_checkpoints_topic() {
    let broker = event_log::testing::TestBroker::start();
    let prefix = event_log::testing::unique_prefix("checkpoints");
    let dir = tempfile::tempdir().unwrap();
    let (config, public) = checkpointing_config(dir.path());
    let log_args = [
        "--config",
        config.to_str().unwrap(),
        "--kafka",
        broker.bootstrap(),
        "--prefix",
        &prefix,
        "--partitions",
        "2",
    ];
    let token = "kafka-auditor-token";
    let tokens = format!("auditor:{}:auditor", order_ledger::auth::sha256_hex(token));
    let serve = Serving::on_kafka(&log_args, Some(&tokens));
    let results = submit_journey_on_kafka(&log_args, "examples/order-journey.jsonl");
    let agent =
        order_ledger::running::client(std::time::Duration::from_secs(30), Some(token.to_owned()));
    let checkpoint = || -> serde_json::Value {
        let mut response = agent
            .post(&format!("http://{}/v1/checkpoints", serve.address))
            .send_empty()
            .unwrap();
        response.body_mut().read_json().unwrap()
    };
    // One taken while the order process is still writing its reactions (records committed
    // while the publisher reads must wait for the next checkpoint, not be skipped), and one
    // once the log is quiet, covering all of them.
    let busy = checkpoint();
    let mut answered = checkpoint();
    eventually("two checkpoints a second apart alike", || {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let again = checkpoint();
        let quiet = again["root"] == answered["root"];
        answered = again;
        quiet
    });
    let records: u64 = answered["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .sum();
    assert!(records >= 14, "{answered}");
    assert!(serve.stop().success());

    // Read back by a witness in Python; and the Kafka log (leaves are records, not offsets:
    // transaction markers take offsets) extends the checkpoint by the auditor's own count.
    let topic = format!("{prefix}.checkpoints");
    let read = python_contract(
        "read_checkpoint_topic.py",
        &[broker.bootstrap(), &topic, &public],
        "",
    );
    assert!(read.status.success(), "{read:?}");
    let kept = dir.path().join("kept.json");
    std::fs::write(&kept, answered.to_string()).unwrap();
    let replay = |args: &[&str]| {
        ledger(
            &[
                &["replay", "--kafka", broker.bootstrap(), "--prefix", &prefix][..],
                args,
            ]
            .concat(),
        )
    };
    let extends = replay(&["verify", "--checkpoint", kept.to_str().unwrap()]);
    assert!(extends.status.success(), "{extends:?}");
    let kept_busy = dir.path().join("busy.json");
    std::fs::write(&kept_busy, busy.to_string()).unwrap();
    let extends = replay(&["verify", "--checkpoint", kept_busy.to_str().unwrap()]);
    assert!(extends.status.success(), "{busy}: {extends:?}");
    let event = results[3]["events"][0]["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let proof = replay(&["proof", &event, "--checkpoint", kept.to_str().unwrap()]);
    assert!(proof.status.success(), "{proof:?}");
    let proof_file = dir.path().join("proof.json");
    std::fs::write(&proof_file, stdout(&proof)).unwrap();
    let checked = ledger(&[
        "replay",
        "check-proof",
        proof_file.to_str().unwrap(),
        "--checkpoint",
        kept.to_str().unwrap(),
        "--public-key",
        &public,
    ]);
    assert!(checked.status.success(), "{checked:?}");
}

/// `ledger query` and `ledger rebuild` with the read models in PostgreSQL
/// (`LEDGER_PROJECTIONS_STORE`) answer as they do from the sled store of the same log.
#[test]
fn read_models_in_postgres_answer_every_query_as_the_sled_store_does() {
    let server = projections::testing::TestPostgres::start();
    let url = server.new_database("ledger");
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = demo(&dir, 40, 12);
    // A reconciliation run recorded (a provider's report with no lines: every capture a break).
    let report = dir.path().join("empty-report.csv");
    std::fs::write(&report, "psp_reference,type,gross,fee,net,currency,date\n").unwrap();
    let recorded = ledger(&[
        "reconcile",
        "--data",
        data.to_str().unwrap(),
        "--psp",
        report.to_str().unwrap(),
        "--run-id",
        "rec-empty",
        "--actor",
        "staff:fin-ann",
        "--provider",
        "adyen",
    ]);
    assert!(
        String::from_utf8_lossy(&recorded.stderr).contains("recorded as reconciliation run"),
        "{recorded:?}"
    );
    let data = data.to_str().unwrap();
    let query = |store: Option<&str>, args: &[&str]| -> String {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ledger"));
        command.args([&["query", "--data", data][..], args].concat());
        if let Some(url) = store {
            command.env("LEDGER_PROJECTIONS_STORE", url);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        stdout(&output)
    };
    let questions: [&[&str]; 7] = [
        &["orders", "--limit", "1000"],
        &["inventory", "--limit", "1000"],
        &["balances"],
        &["balances", "--merchants"],
        &["trial-balance"],
        &["reports"],
        &["reconciliations"],
    ];
    for question in questions {
        assert_eq!(
            query(Some(&url), question),
            query(None, question),
            "{question:?}"
        );
    }
    // The tables for people say what the read API says, and analysts may read them only.
    let sql = |role: &str, statement: &str| -> Output {
        Command::new("psql")
            .args([&url, "-At", "-v", "ON_ERROR_STOP=1", "-c", statement])
            .env("PGOPTIONS", format!("-c role={role}"))
            .output()
            .unwrap()
    };
    let orders: serde_json::Value =
        serde_json::from_str(&query(None, &["orders", "--limit", "1000"])).unwrap();
    let mut by_status: std::collections::BTreeMap<String, usize> = Default::default();
    for order in orders["items"].as_array().unwrap() {
        *by_status
            .entry(order["status"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let counted = sql(
        "ledger_analyst",
        "SELECT status || ' ' || count(*) FROM read_models.orders GROUP BY status ORDER BY status",
    );
    assert!(counted.status.success(), "{counted:?}");
    let expected: Vec<String> = by_status.iter().map(|(s, n)| format!("{s} {n}")).collect();
    assert_eq!(stdout(&counted).lines().collect::<Vec<_>>(), expected);
    let unbalanced = sql("ledger_analyst", "SELECT count(*) FROM (SELECT currency FROM read_models.account_balances GROUP BY currency HAVING sum(balance) <> 0) t");
    assert_eq!(stdout(&unbalanced).trim(), "0", "{unbalanced:?}");
    let stock: serde_json::Value =
        serde_json::from_str(&query(None, &["inventory", "--limit", "1000"])).unwrap();
    let available: u64 = stock["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["available"].as_u64().unwrap())
        .sum();
    let summed = sql(
        "ledger_analyst",
        "SELECT sum(available) FROM read_models.inventory",
    );
    assert_eq!(stdout(&summed).trim(), available.to_string(), "{summed:?}");
    // One order's lines and timeline, and the daily reports' order count.
    let first = orders["items"][0]["order_id"].as_str().unwrap().to_owned();
    let order: serde_json::Value = serde_json::from_str(&query(None, &["order", &first])).unwrap();
    let lines_expected: Vec<String> = order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{} {}", l["sku"].as_str().unwrap(), l["quantity"]))
        .collect();
    let lines = sql("ledger_analyst", &format!("SELECT sku || ' ' || quantity FROM read_models.order_lines WHERE order_id = '{first}' ORDER BY line"));
    assert_eq!(
        stdout(&lines).lines().collect::<Vec<_>>(),
        lines_expected,
        "{lines:?}"
    );
    let steps_expected: Vec<String> = order["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| change["status"].as_str().unwrap().to_owned())
        .collect();
    let steps = sql("ledger_analyst", &format!("SELECT status FROM read_models.order_timeline WHERE order_id = '{first}' ORDER BY step"));
    assert_eq!(
        stdout(&steps).lines().collect::<Vec<_>>(),
        steps_expected,
        "{steps:?}"
    );
    let reported = sql(
        "ledger_analyst",
        "SELECT sum(orders) FROM read_models.daily_reports",
    );
    assert_eq!(
        stdout(&reported).trim(),
        orders["items"].as_array().unwrap().len().to_string(),
        "{reported:?}"
    );
    // Merchant payables, the orders' journal and the reconciliation runs say what the read
    // API says.
    let merchants: serde_json::Value =
        serde_json::from_str(&query(None, &["balances", "--merchants"])).unwrap();
    let payables_expected: Vec<String> = merchants
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let field = |name: &str| m[name].as_str().unwrap().to_owned();
            format!(
                "{} {} {}",
                field("merchant_id"),
                field("captures"),
                field("payable")
            )
        })
        .collect();
    let payables = sql(
        "ledger_analyst",
        "SELECT merchant_id || ' ' || captures || ' ' || payable FROM read_models.merchant_balances ORDER BY currency, merchant_id",
    );
    assert_eq!(
        stdout(&payables).lines().collect::<Vec<_>>(),
        payables_expected,
        "{payables:?}"
    );
    let settlement: serde_json::Value =
        serde_json::from_str(&query(None, &["settlement", &first])).unwrap();
    let postings_expected: Vec<String> = settlement["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|entry| {
            let kind = entry["kind"].as_str().unwrap().to_owned();
            entry["postings"].as_array().unwrap().iter().map(move |p| {
                let field = |name: &str| p[name].as_str().unwrap().to_owned();
                format!(
                    "{kind} {} {} {}",
                    field("account"),
                    field("debit"),
                    field("credit")
                )
            })
        })
        .collect();
    assert!(postings_expected.len() >= 4, "{settlement}");
    let postings = sql("ledger_analyst", &format!("SELECT kind || ' ' || account || ' ' || debit || ' ' || credit FROM read_models.journal_entries WHERE order_id = '{first}' ORDER BY entry, posting"));
    assert_eq!(
        stdout(&postings).lines().collect::<Vec<_>>(),
        postings_expected,
        "{postings:?}"
    );
    // The order's events, as its page in the API lists them.
    let order: serde_json::Value = serde_json::from_str(&query(None, &["order", &first])).unwrap();
    let events_expected: Vec<String> = order["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}:{} {}",
                e["sequence"],
                e["event_type"].as_str().unwrap(),
                e["partition"],
                e["offset"],
                e["hash"].as_str().unwrap()
            )
        })
        .collect();
    assert!(events_expected.len() >= 3, "{order}");
    let events = sql("ledger_analyst", &format!("SELECT sequence || ' ' || event_type || ' ' || log_partition || ':' || log_offset || ' ' || hash FROM read_models.order_events WHERE order_id = '{first}' ORDER BY sequence"));
    assert_eq!(
        stdout(&events).lines().collect::<Vec<_>>(),
        events_expected,
        "{events:?}"
    );
    let runs: serde_json::Value = serde_json::from_str(&query(None, &["reconciliations"])).unwrap();
    let run = &runs.as_array().unwrap()[0];
    let runs_expected = format!(
        "rec-empty adyen {} {}",
        run["outcome"]["transaction_lines"], run["outcome"]["unexplained"]
    );
    let recorded_runs = sql(
        "ledger_analyst",
        "SELECT run_id || ' ' || provider || ' ' || transaction_lines || ' ' || unexplained FROM read_models.reconciliations",
    );
    assert_eq!(
        stdout(&recorded_runs).trim(),
        runs_expected,
        "{recorded_runs:?}"
    );
    let denied = sql("ledger_analyst", "SELECT count(*) FROM read_models_g1.rows");
    assert!(
        !denied.status.success(),
        "an analyst read the store's own rows: {denied:?}"
    );

    // Any number of processes hold the read models at once (each folds its partitions in
    // transactions of its own); a rebuild runs in one of them at a time.
    let (holder, _) = projections::postgres::PgGenerations::open(&url, "read_models").unwrap();
    for question in &questions {
        assert_eq!(
            query(Some(&url), question),
            query(None, question),
            "{question:?} while another process holds the read models"
        );
    }
    assert!(holder.lock_rebuild().unwrap());
    let refused = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["rebuild", "--data", data])
        .env("LEDGER_PROJECTIONS_STORE", &url)
        .output()
        .unwrap();
    assert!(!refused.status.success(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("a rebuild of these read models runs in another process"),
        "{refused:?}"
    );
    drop(holder);

    // A rebuild fills generation 2 beside generation 1 and switches; the answers stay.
    let mut rebuild = Command::new(env!("CARGO_BIN_EXE_ledger"));
    let rebuilt = rebuild
        .args(["rebuild", "--data", data])
        .env("LEDGER_PROJECTIONS_STORE", &url)
        .output()
        .unwrap();
    assert!(rebuilt.status.success(), "{rebuilt:?}");
    let live = Command::new("psql")
        .args([
            &url,
            "-At",
            "-c",
            "SELECT live FROM read_models_live.generation",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&live).trim(), "2", "{live:?}");
    for question in questions {
        assert_eq!(
            query(Some(&url), question),
            query(None, question),
            "{question:?} after the rebuild"
        );
    }
    let schemas = Command::new("psql")
        .args([&url, "-At", "-c", "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname LIKE 'read_models%'"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&schemas).trim(),
        "read_models,read_models_g2,read_models_live",
        "the replaced generation is gone"
    );
    let counted_again = sql(
        "ledger_analyst",
        "SELECT status || ' ' || count(*) FROM read_models.orders GROUP BY status ORDER BY status",
    );
    assert_eq!(
        stdout(&counted_again).lines().collect::<Vec<_>>(),
        expected,
        "the views follow the switch"
    );
    // Every example of docs/read-models-sql.md runs as an analyst.
    let doc = std::fs::read_to_string("docs/read-models-sql.md").unwrap();
    let examples: Vec<&str> = doc
        .split("```sql")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .collect();
    assert!(examples.len() >= 6, "{} examples", examples.len());
    for example in examples {
        let ran = sql("ledger_analyst", example);
        assert!(ran.status.success(), "{example}: {ran:?}");
    }
}

/// A `ledger serve` with its read models in PostgreSQL: its projection worker folds what the
/// handler decides into the database, and its read API answers from there.
#[test]
fn a_serve_folds_into_postgres_and_answers_its_read_api_from_there() {
    let server = projections::testing::TestPostgres::start();
    let url = server.new_database("serve");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", "--data", data.to_str().unwrap()])
        .env("LEDGER_PROJECTIONS_STORE", &url)
        .spawn()
        .unwrap();
    let address_file = data.join("serve.addr");
    eventually("the serve's address", || address_file.exists());
    let serve = Serving {
        child: Some(child),
        address: std::fs::read_to_string(&address_file)
            .unwrap()
            .trim()
            .to_owned(),
    };
    let data_arg = data.to_str().unwrap();
    let submitted = ledger(&["submit", "--data", data_arg, "examples/order-journey.jsonl"]);
    assert!(submitted.status.success(), "{submitted:?}");
    // Through the serve: its read API, from PostgreSQL, once the worker has folded the
    // journey's last event (the order ends partially returned).
    let mut orders = serde_json::Value::Null;
    eventually("the journey folded", || {
        let output = ledger(&["query", "--data", data_arg, "orders"]);
        assert!(output.status.success(), "{output:?}");
        orders = serde_json::from_str(&stdout(&output)).unwrap();
        orders["items"][0]["status"] == "partially_returned"
    });
    let listed = orders["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{orders}");
    let tables = Command::new("psql")
        .args([
            &url,
            "-At",
            "-c",
            "SELECT order_id || ' ' || status FROM read_models.orders",
        ])
        .output()
        .unwrap();
    let expected = format!(
        "{} {}",
        listed[0]["order_id"].as_str().unwrap(),
        listed[0]["status"].as_str().unwrap()
    );
    assert_eq!(stdout(&tables).trim(), expected, "{tables:?}");
    assert!(serve.stop().success());
}

#[test]
fn a_serve_on_kafka_publishes_notifications_a_python_consumer_reads_and_checks() {
    let broker = event_log::testing::TestBroker::start();
    let prefix = event_log::testing::unique_prefix("notifications");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ledger.toml");
    let state = dir.path().join("deliveries");
    let text = format!(
        "[notifications]\nstate_dir = {:?}\n",
        state.to_str().unwrap()
    );
    std::fs::write(&config, text).unwrap();
    let log_args = [
        "--config",
        config.to_str().unwrap(),
        "--kafka",
        broker.bootstrap(),
        "--prefix",
        &prefix,
        "--partitions",
        "2",
    ];
    let serve = Serving::on_kafka(&log_args, None);
    submit_journey_on_kafka(&log_args, "examples/order-journey.jsonl");
    let topic = format!("{prefix}.notifications");
    let schema =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/notifications/Notification.json");
    let expected = [
        "delivered",
        "delivered",
        "order_confirmed",
        "refund_issued",
        "return_approved",
        "shipped",
        "shipped",
    ];
    let mut kinds = Vec::new();
    eventually("seven notifications on the topic", || {
        let read = python_contract(
            "read_notification_topic.py",
            &[broker.bootstrap(), &topic, schema.to_str().unwrap()],
            "",
        );
        assert!(read.status.success(), "{read:?}");
        kinds = serde_json::from_slice::<Vec<String>>(&read.stdout).unwrap();
        kinds.len() >= expected.len()
    });
    assert_eq!(kinds, expected);
    assert!(serve.stop().success());
}
