//! JSON Schemas of every command and event, as published in `schemas/`.
//!
//! Each file describes a whole message — envelope and payload — so a service in any language
//! can validate what it publishes against one file. The files are generated from the Rust types
//! (`ledger schemas --out schemas`); a test fails when the checked-in copies are stale.

use std::collections::BTreeMap;

use schemars::generate::SchemaSettings;
use schemars::SchemaGenerator;
use serde_json::{json, Value};

use crate::context::Actor;
use crate::envelope::{AggregateKind, Command, Event, EventHash};

pub use crate::message::SchemaMaker;

const UUID: fn() -> Value = || json!({"type": "string", "format": "uuid"});
const OPTIONAL_UUID: fn() -> Value = || json!({"type": ["string", "null"], "format": "uuid"});
const TIME: fn() -> Value = || json!({"type": "string", "format": "date-time"});

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

fn finish(mut generator: SchemaGenerator, mut document: Value) -> String {
    document["$defs"] = Value::Object(generator.take_definitions(true));
    let mut text = serde_json::to_string_pretty(&document).expect("schemas serialize");
    text.push('\n');
    text
}

fn command_schema(type_name: &str, version: u16, payload: SchemaMaker) -> String {
    let mut generator = generator();
    let payload = payload(&mut generator);
    let actor = generator.subschema_for::<Actor>();
    let document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": type_name,
        "description": format!("The {type_name} command (schema version {version}) as JSON on the commands topic."),
        "type": "object",
        "additionalProperties": false,
        "required": ["command_id", "type", "actor", "issued_at", "payload"],
        "properties": {
            "command_id": described(UUID(), COMMAND_ID_SCOPE),
            "type": {"const": type_name},
            "schema_version": {"const": version},
            "correlation_id": OPTIONAL_UUID(),
            "causation_id": OPTIONAL_UUID(),
            "actor": actor,
            "issued_at": TIME(),
            "payload": payload,
        },
    });
    finish(generator, document)
}

/// What a command id means, as the schemas say it.
const COMMAND_ID_SCOPE: &str = "The idempotency key, scoped to the aggregate the command addresses: the same command again (same type, payload and actor; issued_at may differ) gets its original result; another command under this id for the same aggregate is rejected as command_id_reused. The same id for another aggregate is another command. Use a fresh UUID for every new command.";

/// What an event id means, as the schemas say it.
const EVENT_ID_SCOPE: &str = "Unique in the whole log: derived from the aggregate, the command id and the event's index within the command's result (ids of older events are kept as stored).";

fn described(mut schema: serde_json::Value, description: &str) -> serde_json::Value {
    schema["description"] = json!(description);
    schema
}

fn event_schema(
    type_name: &str,
    version: u16,
    kind: AggregateKind,
    payload: SchemaMaker,
) -> String {
    let mut generator = generator();
    let payload = payload(&mut generator);
    let actor = generator.subschema_for::<Actor>();
    let hash = generator.subschema_for::<EventHash>();
    let document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": type_name,
        "description": format!("The {type_name} event (schema version {version}) as exported in JSON."),
        "type": "object",
        "additionalProperties": false,
        "required": [
            "event_id", "aggregate_kind", "aggregate_id", "sequence", "command_id",
            "correlation_id", "causation_id", "actor", "recorded_at", "type", "schema_version",
            "payload", "prev_hash", "hash"
        ],
        "properties": {
            "event_id": described(UUID(), EVENT_ID_SCOPE),
            "aggregate_kind": {"const": kind.code()},
            "aggregate_id": {"type": "string"},
            "sequence": {"type": "integer", "minimum": 1},
            "command_id": UUID(),
            "correlation_id": UUID(),
            "causation_id": OPTIONAL_UUID(),
            "actor": actor,
            "recorded_at": TIME(),
            "type": {"const": type_name},
            "schema_version": {"const": version},
            "payload": payload,
            "prev_hash": hash,
            "hash": hash,
        },
    });
    finish(generator, document)
}

/// Every schema file by its path under `schemas/`, with its contents.
pub fn all() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut index = Vec::new();
    for (name, version, _, payload) in Command::payload_schemas() {
        files.insert(
            format!("commands/{name}.json"),
            command_schema(name, version, payload),
        );
        index.push(json!({"kind": "command", "type": name, "schema_version": version, "file": format!("commands/{name}.json")}));
    }
    for (name, version, kind, payload) in Event::payload_schemas() {
        files.insert(
            format!("events/{name}.json"),
            event_schema(name, version, kind, payload),
        );
        index.push(json!({"kind": "event", "type": name, "schema_version": version, "aggregate_kind": kind.code(), "file": format!("events/{name}.json")}));
    }
    let mut text = serde_json::to_string_pretty(&index).expect("the index serializes");
    text.push('\n');
    files.insert("index.json".to_owned(), text);
    files
}
