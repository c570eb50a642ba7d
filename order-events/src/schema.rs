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
    bound_integers(&mut document);
    let mut text = serde_json::to_string_pretty(&document).expect("schemas serialize");
    text.push('\n');
    text
}

/// Gives every integer of a fixed width its range (`format` alone, which validators need not
/// check, says `uint32` but lets 2^32 through; the decoder refuses it).
pub fn bound_integers(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let range = match map.get("format").and_then(Value::as_str) {
                Some("uint8") => Some((json!(0), json!(u8::MAX))),
                Some("uint16") => Some((json!(0), json!(u16::MAX))),
                Some("uint32") => Some((json!(0), json!(u32::MAX))),
                Some("uint64") => Some((json!(0), json!(u64::MAX))),
                Some("int32") => Some((json!(i32::MIN), json!(i32::MAX))),
                Some("int64") => Some((json!(i64::MIN), json!(i64::MAX))),
                _ => None,
            };
            if let Some((minimum, maximum)) = range {
                map.insert("minimum".into(), minimum);
                map.insert("maximum".into(), maximum);
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// What `schema_version` and `payload` may be: the current shape at `version` (which must be
/// stated), or a shape an older build wrote (`legacy`; a command without `schema_version` is
/// read at version 1).
fn versions(
    generator: &mut SchemaGenerator,
    version: u16,
    current: Value,
    legacy: &[(u16, SchemaMaker)],
) -> (Value, Value, Option<Value>) {
    if legacy.is_empty() {
        return (json!({"const": version}), current, None);
    }
    let mut shapes = vec![json!({
        "required": ["schema_version"],
        "properties": {"schema_version": {"const": version}, "payload": current},
    })];
    for (old, maker) in legacy {
        let mut shape = json!({
            "properties": {"schema_version": {"const": old}, "payload": maker(generator)},
        });
        // A command without `schema_version` is read at version 1, so only version 1's shape
        // may leave it out.
        if *old != 1 {
            shape["required"] = json!(["schema_version"]);
        }
        shapes.push(shape);
    }
    let all: Vec<u16> = legacy
        .iter()
        .map(|(old, _)| *old)
        .chain([version])
        .collect();
    (
        json!({"enum": all}),
        json!({"type": "object"}),
        Some(json!(shapes)),
    )
}

fn command_schema(
    type_name: &str,
    version: u16,
    payload: SchemaMaker,
    legacy: &[(u16, SchemaMaker)],
) -> String {
    let mut generator = generator();
    let document = command_document(&mut generator, type_name, version, payload, legacy);
    finish(generator, document)
}

/// A command's schema, its definitions left in `generator`.
fn command_document(
    generator: &mut SchemaGenerator,
    type_name: &str,
    version: u16,
    payload: SchemaMaker,
    legacy: &[(u16, SchemaMaker)],
) -> Value {
    let current = serde_json::to_value(payload(generator)).expect("schemas serialize");
    let (schema_version, payload, one_of) = versions(generator, version, current, legacy);
    let actor = generator.subschema_for::<Actor>();
    let mut document = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": type_name,
        "description": format!("The {type_name} command (schema version {version}) as JSON on the commands topic."),
        "type": "object",
        "additionalProperties": false,
        "required": ["command_id", "type", "actor", "issued_at", "payload"],
        "properties": {
            "command_id": described(UUID(), COMMAND_ID_SCOPE),
            "type": {"const": type_name},
            "schema_version": schema_version,
            "correlation_id": OPTIONAL_UUID(),
            "causation_id": OPTIONAL_UUID(),
            "actor": actor,
            "issued_at": TIME(),
            "payload": payload,
        },
    });
    if let Some(one_of) = one_of {
        document["oneOf"] = one_of;
    }
    document
}

/// A command type's name and current version, its payload's schema and its older shapes.
type CommandType = (&'static str, u16, SchemaMaker, Vec<(u16, SchemaMaker)>);

/// Every command type.
fn command_types() -> Vec<CommandType> {
    let legacy = crate::upcast::legacy_command_schemas();
    Command::payload_schemas()
        .into_iter()
        .map(|(name, version, _, payload)| {
            let older = legacy
                .iter()
                .filter(|(legacy_name, ..)| *legacy_name == name)
                .map(|&(_, old, maker)| (old, maker))
                .collect();
            (name, version, payload, older)
        })
        .collect()
}

/// Every command's schema by type name, built in one `generator` so that they share its
/// definitions (the OpenAPI document's request body). Integers are not yet bounded: run
/// [`bound_integers`] over the document they end up in.
pub fn command_documents(generator: &mut SchemaGenerator) -> Vec<(&'static str, Value)> {
    command_types()
        .into_iter()
        .map(|(name, version, payload, older)| {
            let mut document = command_document(generator, name, version, payload, &older);
            if let Some(map) = document.as_object_mut() {
                map.remove("$schema");
            }
            (name, document)
        })
        .collect()
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
            "partition": described(
                json!({"type": "integer", "format": "uint32"}),
                TOPIC_PLACE,
            ),
            "offset": described(json!({"type": "integer", "format": "uint64"}), TOPIC_PLACE),
        },
    });
    finish(generator, document)
}

/// The schema of a command result, as the results topic carries it and `POST /v1/commands`
/// answers it.
pub fn command_result_schema() -> String {
    let mut generator = generator();
    let root = generator.root_schema_for::<crate::result::CommandResult>();
    let document = root.to_value();
    finish(generator, document)
}

/// The schema of a notification, as `<prefix>.notifications` carries it, webhooks receive it
/// and `GET /v1/notifications` lists it.
pub fn notification_schema() -> String {
    let mut generator = generator();
    let root = generator.root_schema_for::<crate::notification::Notification>();
    finish(generator, root.to_value())
}

/// What an exported event's `partition` and `offset` are.
const TOPIC_PLACE: &str = "Where the event is in the events topic, as `replay export` writes it; not part of the event or its hash, and absent elsewhere.";

/// Every schema file by its path under `schemas/`, with its contents.
pub fn all() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut index = Vec::new();
    for (name, version, payload, older) in command_types() {
        files.insert(
            format!("commands/{name}.json"),
            command_schema(name, version, payload, &older),
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
    files.insert(
        "results/CommandResult.json".to_owned(),
        command_result_schema(),
    );
    index.push(json!({"kind": "result", "type": crate::result::RESULT_MESSAGE_TYPE, "schema_version": crate::result::RESULT_SCHEMA_VERSION, "file": "results/CommandResult.json"}));
    files.insert(
        "notifications/Notification.json".to_owned(),
        notification_schema(),
    );
    index.push(json!({"kind": "notification", "type": "Notification", "schema_version": 1, "file": "notifications/Notification.json"}));
    let mut text = serde_json::to_string_pretty(&index).expect("the index serializes");
    text.push('\n');
    files.insert("index.json".to_owned(), text);
    files
}
