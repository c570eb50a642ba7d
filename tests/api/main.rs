//! The HTTP API of `ledger serve` over a real socket: every read route, pagination, filters,
//! read-your-writes, and bad parameters (a clear 4xx with a JSON reason, never a 500).

mod access;
mod commands;
mod finance;
mod hostile;
mod reads;
mod warehouse;

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

/// Fails unless `answer` is valid against the OpenAPI document's schema of `method` `route`'s
/// answer with `status` (the document's references resolve inside it).
fn assert_answers_its_schema(method: &str, route: &str, status: u16, answer: &Value) {
    // A JSON pointer in a URI fragment: `~` and `/` escaped, and braces percent-encoded.
    let escape = |part: &str| {
        part.replace('~', "~0")
            .replace('/', "~1")
            .replace('{', "%7B")
            .replace('}', "%7D")
    };
    let mut schema = order_ledger::openapi::document();
    schema["$ref"] = json!(format!(
        "#/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        escape(route)
    ));
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(answer)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {route} {status}: {errors:?}\n{answer}"
    );
}

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
    start_with_store(auth, None).await
}

/// [`start_with`], the read models in PostgreSQL at `postgres` when given.
async fn start_with_store(auth: Auth, postgres: Option<String>) -> Running {
    start_configured(auth, postgres, &LedgerConfig::default()).await
}

/// A serve deciding with `config`'s policy and rule tables (catalog, carriers, bins).
async fn start_configured(auth: Auth, postgres: Option<String>, config: &LedgerConfig) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn Log> = Arc::new(
        EmbeddedLog::open(&dir.path().join("log"), Topics::new("api", 4).unwrap()).unwrap(),
    );
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let defaults = config.clone();
    let options = ServeOptions {
        handler: HandlerConfig {
            state_dir: Some(dir.path().join("state")),
            rules: defaults.handler_config().rules,
            policy: defaults.policy.clone(),
            ..HandlerConfig::default()
        },
        listener,
        tls: None,
        data: None,
        metrics: None,
        wait: Duration::from_secs(30),
        read_side: ReadSide {
            store_dir: Some(dir.path().join("read-models")),
            postgres,
            group: "api-projections".into(),
            settlement: defaults.settlement.clone(),
            slas: projections::model::Slas {
                statuses: defaults.projections.sla_hours.clone(),
                claim_hours: defaults.projections.claim_sla_hours,
            },
            policy: defaults.decision_policy(),
            bins: defaults.bins(),
        },
        auth,
        checkpoints: None,
        notifications: None,
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
    journey_on(start().await).await
}

/// A serve whose read models are in PostgreSQL at `url`, after the example journey.
async fn start_on_postgres_after_the_journey(url: &str) -> (Running, Value) {
    let auth = Auth::closed().with_token(ADMIN_TOKEN, "test-admin", &[Role::Admin]);
    journey_on(start_with_store(auth, Some(url.to_owned())).await).await
}

async fn journey_on(running: Running) -> (Running, Value) {
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
        running::post_line(&self.agent, &format!("http://{}", self.address), line).unwrap()
    }

    /// Posts every command line of `text`, in order; their results.
    async fn post_all(&self, text: &str) -> Vec<Value> {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let base = format!("http://{}", self.address);
        let agent = self.agent.clone();
        tokio::task::spawn_blocking(move || {
            lines
                .iter()
                .map(|line| running::post_line(&agent, &base, line).unwrap())
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
