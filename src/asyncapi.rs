//! The AsyncAPI 3.0 document of the four topics, published as `contracts/asyncapi.json`: for
//! every message its key, headers and payload schema (the files of `schemas/`), and how a
//! producer must partition commands. Generated from the same constants and rules the ledger
//! runs on, like the OpenAPI document.

use serde_json::{json, Map, Value};

use command_handler::{HEADER_REASON, HEADER_REASON_CODE, HEADER_SOURCE};
use event_log::{
    CONTENT_TYPE_JSON, HEADER_CONTENT_TYPE, HEADER_MESSAGE_TYPE, HEADER_SCHEMA_VERSION,
};
use order_events::result::{RESULT_MESSAGE_TYPE, RESULT_SCHEMA_VERSION};
use order_events::{Command, Event};

/// Where `contracts/asyncapi.json` finds the message schemas.
const SCHEMAS: &str = "../schemas";

const PARTITIONING: &str = "Every topic is partitioned by record key with Kafka's default (Java client) partitioner: partition = toPositive(murmur2(key bytes)) % partitions, murmur2 seeded 0x9747b28c. librdkafka's default partitioner (`consistent_random`, CRC32) places keys elsewhere: set `partitioner=murmur2_random` in librdkafka-based clients (confluent-kafka-python, node-rdkafka, Go's confluent-kafka-go). A command on another partition than its key's is not decided: it is dead-lettered as `wrong_partition`, and gets no command result.";

/// The headers of a message of `type_name` at `version` in `content_type`.
fn headers(content_type: &str, type_name: &str, version: u16) -> Value {
    json!({
        "type": "object",
        "required": [HEADER_CONTENT_TYPE, HEADER_MESSAGE_TYPE, HEADER_SCHEMA_VERSION],
        "properties": {
            HEADER_CONTENT_TYPE: {"const": content_type},
            HEADER_MESSAGE_TYPE: {"const": type_name},
            HEADER_SCHEMA_VERSION: {"type": "string", "pattern": "^[0-9]+$", "description": format!("The payload's schema version as decimal text (current: {version}); older versions a reader still takes are listed in the payload schema.")},
        },
    })
}

fn kafka_key(description: String) -> Value {
    json!({"kafka": {"key": {"type": "string", "description": description}, "bindingVersion": "0.5.0"}})
}

fn command_message(name: &str, version: u16) -> Value {
    let rule = Command::key_rule(name).unwrap_or("the aggregate id");
    json!({
        "name": name,
        "title": name,
        "contentType": CONTENT_TYPE_JSON,
        "summary": format!("The {name} command, as JSON (UTF-8)."),
        "headers": headers(CONTENT_TYPE_JSON, name, version),
        "payload": {"$ref": format!("{SCHEMAS}/commands/{name}.json")},
        "bindings": kafka_key(format!("The id of the aggregate it addresses: {rule}. The partition follows from the key (see the channel).")),
    })
}

fn event_message(name: &str, version: u16) -> Value {
    json!({
        "name": name,
        "title": name,
        "contentType": CONTENT_TYPE_JSON,
        "summary": format!("The {name} event as a JSON event record (`[log] event_format = \"json\"`)."),
        "description": EVENT_RECORDS,
        "headers": headers(CONTENT_TYPE_JSON, name, version),
        "payload": {"$ref": format!("{SCHEMAS}/events/{name}.json")},
        "bindings": kafka_key("The id of the aggregate it belongs to (the key of the command that recorded it).".to_owned()),
    })
}

/// What an event record is, in either format, and how its hash is checked.
const EVENT_RECORDS: &str = "A JSON event record is the event's object in canonical form: keys sorted, no whitespace, only the escapes JSON requires, integers in decimal (what Python's `json.dumps(event, sort_keys=True, separators=(\",\", \":\"), ensure_ascii=False)` writes). Its `hash` is the lower-case hex SHA-256 of the bytes `order-ledger/event-json/v1` and a NUL byte, followed by the canonical form of the object without `hash`. Per aggregate (`aggregate_kind`, `aggregate_id`), `sequence` counts from 1 and `prev_hash` is the hash of the event before (64 zeros for the first). A deployment on the default `[log] event_format = \"bincode\"` writes binary records instead (`content-type: application/x-bincode`; format tag 0x01, then bincode 2.0.1), which only the ledger's codec reads; their JSON form is what `ledger replay export` writes. Readers take both, so a topic may hold both after a deployment switched.";

fn result_message() -> Value {
    json!({
        "name": RESULT_MESSAGE_TYPE,
        "title": RESULT_MESSAGE_TYPE,
        "contentType": CONTENT_TYPE_JSON,
        "summary": "The answer to one command: accepted with its events' positions, or rejected with the rule it breaks. Written on the command's own partition number.",
        "headers": headers(CONTENT_TYPE_JSON, RESULT_MESSAGE_TYPE, RESULT_SCHEMA_VERSION),
        "payload": {"$ref": format!("{SCHEMAS}/results/CommandResult.json")},
        "bindings": kafka_key("The command id (lower-case UUID with hyphens).".to_owned()),
    })
}

fn dead_letter_message() -> Value {
    json!({
        "name": "DeadLetter",
        "title": "DeadLetter",
        "summary": "A record of the commands topic the ledger could not take as a command, byte for byte: its key, headers and payload unchanged, plus why and where from.",
        "headers": {
            "type": "object",
            "required": [HEADER_REASON_CODE, HEADER_REASON, HEADER_SOURCE],
            "properties": {
                HEADER_REASON_CODE: {"type": "string", "description": "Why, as a stable code: the decoder's error code, `invalid_headers` or `wrong_partition`."},
                HEADER_REASON: {"type": "string", "description": "Why, in a sentence."},
                HEADER_SOURCE: {"type": "string", "pattern": "^.+/[0-9]+/[0-9]+$", "description": "`topic/partition/offset` of the original record."},
            },
            "additionalProperties": {"description": "The original record's headers, unchanged."},
        },
        "payload": {"description": "The original record's payload, unchanged (not necessarily JSON or even UTF-8)."},
        "bindings": kafka_key("The original record's key.".to_owned()),
    })
}

fn checkpoint_message() -> Value {
    json!({
        "name": "Checkpoint",
        "title": "Checkpoint",
        "contentType": CONTENT_TYPE_JSON,
        "summary": "The log's Merkle tree heads at one moment, signed with the deployment's Ed25519 key: what an auditor keeps, checks proofs against, and proves later logs extend (docs/verifiable-history.md). No headers.",
        "payload": crate::openapi::checkpoint_schema(),
        "bindings": kafka_key("`checkpoint`.".to_owned()),
    })
}

fn notification_message() -> Value {
    json!({
        "name": "Notification",
        "title": "Notification",
        "contentType": CONTENT_TYPE_JSON,
        "summary": "What a customer is told about their order (order confirmed, a shortage and its choices, shipped, a delivery exception, delivered, receipt confirmed automatically, return approved, refund issued), derived from one event. At least once: deduplicate by `notification_id`. No headers.",
        "payload": {"$ref": format!("{SCHEMAS}/notifications/Notification.json")},
        "bindings": kafka_key("The notification's id.".to_owned()),
    })
}

/// A channel of topic `<prefix>.<suffix>` carrying `messages` (component names).
fn channel(suffix: &str, description: &str, messages: &[String]) -> Value {
    let refs: Map<String, Value> = messages
        .iter()
        .map(|name| {
            (
                name.clone(),
                json!({"$ref": format!("#/components/messages/{name}")}),
            )
        })
        .collect();
    json!({
        "address": format!("{{prefix}}.{suffix}"),
        "description": format!("{description}\n\n{PARTITIONING}"),
        "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
        "messages": refs,
    })
}

fn operation(action: &str, channel: &str, summary: &str, messages: &[String]) -> Value {
    let refs: Vec<Value> = messages
        .iter()
        .map(|name| json!({"$ref": format!("#/channels/{channel}/messages/{name}")}))
        .collect();
    json!({"action": action, "channel": {"$ref": format!("#/channels/{channel}")}, "summary": summary, "messages": refs})
}

/// The whole document.
pub fn document() -> Value {
    let mut messages = Map::new();
    let commands: Vec<String> = Command::types().map(|(name, _)| name.to_owned()).collect();
    for (name, version) in Command::types() {
        messages.insert(name.to_owned(), command_message(name, version));
    }
    let events: Vec<String> = Event::types()
        .map(|(name, _)| format!("{name}Event"))
        .collect();
    for (name, version) in Event::types() {
        messages.insert(format!("{name}Event"), event_message(name, version));
    }
    messages.insert(RESULT_MESSAGE_TYPE.to_owned(), result_message());
    messages.insert("DeadLetter".to_owned(), dead_letter_message());
    messages.insert("Checkpoint".to_owned(), checkpoint_message());
    messages.insert("Notification".to_owned(), notification_message());
    let notifications = vec!["Notification".to_owned()];
    let mut notifications_channel = channel("notifications", "", &notifications);
    notifications_channel["description"] = "The notifications outbox, published by the `ledger serve` that delivers notifications (`[notifications] state_dir` set on Kafka): one partition, written outside transactions, in the order the read models folded the events they come from; a restart may publish a notification again.".into();
    let checkpoints = vec!["Checkpoint".to_owned()];
    let mut checkpoints_channel = channel("checkpoints", "", &checkpoints);
    checkpoints_channel["description"] = "The signed checkpoints a `ledger serve` publishes, on a schedule (`[checkpoints] interval_secs`) and on request (`POST /v1/checkpoints`), in order: one partition, created by the serve when missing, written outside transactions.".into();
    let results = vec![RESULT_MESSAGE_TYPE.to_owned()];
    let dead = vec!["DeadLetter".to_owned()];
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "order-ledger topics",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Commands in, hash-chained events and command results out. Topics are `<prefix>.commands`, `.events`, `.command-results` and `.dead-letter` (prefix `orders` unless configured); `ledger topics` creates them. Every record carries the `content-type`, `message-type` and `schema-version` headers. Read events and results with isolation.level=read_committed: the ledger writes a batch's events, results and offsets in one transaction.",
        },
        "defaultContentType": CONTENT_TYPE_JSON,
        "servers": {"kafka": {"host": "localhost:9092", "protocol": "kafka", "description": "Your Kafka cluster (`LEDGER_KAFKA_BOOTSTRAP`, `--kafka`)."}},
        "channels": {
            "commands": channel("commands", "Commands for the ledger to decide, one JSON object per record, keyed by the id of the aggregate each addresses (the message's key binding says how each type's is formed).", &commands),
            "events": channel("events", "What the ledger decided, per aggregate in order, each event chained to the one before by SHA-256.", &events),
            "commandResults": channel("command-results", "One result per command, on the command's partition number, keyed by command id.", &results),
            "deadLetter": channel("dead-letter", "Records of the commands topic that are not commands the ledger can decide.", &dead),
            "checkpoints": checkpoints_channel,
            "notifications": notifications_channel,
        },
        "operations": {
            "submitCommand": operation("send", "commands", "Publish a command (any service, any language).", &commands),
            "readEvents": operation("receive", "events", "Read the history (projections, auditors).", &events),
            "readResults": operation("receive", "commandResults", "Learn what became of a command.", &results),
            "readDeadLetters": operation("receive", "deadLetter", "Find records that were not commands.", &dead),
            "readCheckpoints": operation("receive", "checkpoints", "Keep the log's signed checkpoints (auditors, witnesses).", &checkpoints),
            "readNotifications": operation("receive", "notifications", "Tell customers what happens to their orders (mail, SMS, push).", &notifications),
        },
        "components": {
            "messages": messages,
            "parameters": {"prefix": {"default": "orders", "description": "The deployment's topic prefix (`--prefix`, `[log] prefix`)."}},
        },
    })
}

/// The API documents published under `contracts/`, by path, as their files hold them.
pub fn published() -> Vec<(&'static str, String)> {
    let pretty = |document: Value| {
        let mut text = serde_json::to_string_pretty(&document).expect("documents serialize");
        text.push('\n');
        text
    };
    vec![
        ("contracts/asyncapi.json", pretty(document())),
        ("contracts/openapi.json", pretty(crate::openapi::document())),
    ]
}
