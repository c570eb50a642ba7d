//! The checked-in JSON Schemas are current, and they describe what the codec really reads and
//! writes. Regenerate with `cargo run -- schemas --out schemas` (or `LEDGER_BLESS=1 cargo test`).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use order_events::codec::json;
use order_events::envelope::ChainHead;
use order_events::order::OrderCommand;
use order_events::stock::{ReceiveStock, StockCommand};
use order_events::testkit::{at, samples, warehouse};
use order_events::{codec, schema, Command};
use serde_json::Value;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn files_under(dir: &Path, prefix: &str, found: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), &format!("{name}/"), found);
        } else if name.ends_with(".json") {
            found.insert(name);
        }
    }
}

#[test]
fn checked_in_schemas_are_current() {
    let dir = schemas_dir();
    let generated = schema::all();
    if std::env::var_os("LEDGER_BLESS").is_some() {
        for (path, contents) in &generated {
            let file = dir.join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, contents).unwrap();
        }
    }
    for (path, contents) in &generated {
        let stored = fs::read_to_string(dir.join(path)).unwrap_or_default();
        assert!(
            stored == *contents,
            "schemas/{path} is stale or missing: run `cargo run -- schemas --out schemas`"
        );
    }
    let mut present = BTreeSet::new();
    files_under(&dir, "", &mut present);
    let expected: BTreeSet<String> = generated.keys().cloned().collect();
    assert_eq!(
        present, expected,
        "schema files without a type, or the reverse"
    );
}

fn validator(path: &str) -> jsonschema::Validator {
    let text = fs::read_to_string(schemas_dir().join(path)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{path} is not a valid schema: {e}"))
}

fn assert_valid(path: &str, instance: &Value) {
    let validator = validator(path);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{path} refuses {instance}: {errors:?}");
}

fn all_commands() -> Vec<Command> {
    let stock = StockCommand::from(ReceiveStock {
        item: samples::stock_key(),
        quantity: 5,
        reference: "PO-1".to_owned(),
    });
    order_events::testkit::every::one_of_each_order_command()
        .into_iter()
        .map(Command::Order)
        .chain([
            Command::Stock(stock),
            Command::from(samples::record_reconciliation()),
            Command::from(samples::record_psp_settlement()),
        ])
        .chain(warehouse::commands())
        .collect()
}

#[test]
fn what_the_codec_writes_validates_against_the_schemas() {
    for (seed, command) in all_commands().into_iter().enumerate() {
        let name = command.type_name();
        let envelope = samples::envelope(command, seed as u128);
        let text = json::encode_command_json(&envelope);
        assert_valid(
            &format!("commands/{name}.json"),
            &serde_json::from_str(&text).unwrap(),
        );
    }
    for (index, event) in order_events::testkit::every::one_of_each_event()
        .into_iter()
        .enumerate()
    {
        let name = event.type_name();
        // Any command of the event's aggregate kind will do as the sealing context.
        let command = match event {
            order_events::Event::Order(_) => {
                Command::Order(OrderCommand::from(samples::place_order()))
            }
            order_events::Event::Stock(_) => Command::Stock(StockCommand::from(ReceiveStock {
                item: samples::stock_key(),
                quantity: 5,
                reference: "PO-1".to_owned(),
            })),
            order_events::Event::Reconciliation(_) => {
                Command::from(samples::record_reconciliation())
            }
            order_events::Event::Account(_) => Command::from(samples::record_psp_settlement()),
            order_events::Event::Wave(_) => Command::from(warehouse::plan_wave()),
        };
        let envelope = samples::envelope(command, index as u128);
        let sealed = codec::seal(&envelope, ChainHead::GENESIS, vec![event], at(0));
        let exported = json::encode_event(&sealed[0].envelope);
        assert_valid(&format!("events/{name}.json"), &exported);
    }
}

#[test]
fn the_schemas_refuse_what_the_codec_refuses() {
    let envelope = samples::envelope(OrderCommand::from(samples::place_order()), 1);
    let valid: Value = serde_json::from_str(&json::encode_command_json(&envelope)).unwrap();
    let validator = validator("commands/PlaceOrder.json");
    type Mutation = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "amount as a number",
            Box::new(|v| v["payload"]["shipping_fee"] = 4.9.into()),
        ),
        (
            "unknown field",
            Box::new(|v| v["payload"]["surprise"] = true.into()),
        ),
        (
            "unknown currency",
            Box::new(|v| v["payload"]["currency"] = "XXX".into()),
        ),
        ("wrong type name", Box::new(|v| v["type"] = "Refund".into())),
        (
            "missing actor",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("actor");
            }),
        ),
        (
            "negative quantity",
            Box::new(|v| v["payload"]["lines"][0]["quantity"] = (-1).into()),
        ),
        ("bad uuid", Box::new(|v| v["command_id"] = "nope".into())),
    ];
    for (what, mutate) in mutations {
        let mut instance = valid.clone();
        mutate(&mut instance);
        assert!(!validator.is_valid(&instance), "schema accepts {what}");
        let text = serde_json::to_vec(&instance).unwrap();
        assert!(
            json::decode_command_json(&text).is_err(),
            "codec accepts {what}"
        );
    }
}

#[test]
fn command_results_validate_against_their_schema() {
    use order_events::result::{CommandResult, EventRef, Outcome};
    let accepted = CommandResult {
        command_id: uuid::Uuid::from_u128(1),
        command_type: "PlaceOrder".to_owned(),
        aggregate_kind: "order".to_owned(),
        aggregate_id: samples::order_id().to_string(),
        outcome: Outcome::Accepted {
            events: vec![EventRef {
                event_id: uuid::Uuid::from_u128(2),
                event_type: "OrderPlaced".to_owned(),
                sequence: 1,
                partition: 3,
                offset: u64::MAX,
            }],
        },
        decided_at: at(0),
        command_digest: Some("0f".repeat(32)),
    };
    let rejected = CommandResult {
        outcome: Outcome::Rejected {
            rule: "refund_exceeds_captured".to_owned(),
            detail: "too much".to_owned(),
        },
        command_digest: None,
        ..accepted.clone()
    };
    for result in [&accepted, &rejected] {
        assert_valid(
            "results/CommandResult.json",
            &serde_json::to_value(result).unwrap(),
        );
    }
    let validator = validator("results/CommandResult.json");
    let mut unknown_outcome = serde_json::to_value(&accepted).unwrap();
    unknown_outcome["outcome"] = "maybe".into();
    let mut digest_upper = serde_json::to_value(&accepted).unwrap();
    digest_upper["command_digest"] = "0F".repeat(32).into();
    for instance in [unknown_outcome, digest_upper] {
        assert!(!validator.is_valid(&instance), "schema accepts {instance}");
    }
}

/// The key rules the AsyncAPI document publishes, applied to the JSON of a command of every
/// type, give the id the ledger keys and partitions that command by.
#[test]
fn every_command_types_key_rule_gives_its_aggregate_id() {
    for (seed, command) in order_events::testkit::every::one_of_each_command()
        .into_iter()
        .enumerate()
    {
        let name = command.type_name();
        let rule = Command::key_rule(name).unwrap_or_else(|| panic!("{name} has no key rule"));
        let target = command.target().id;
        let envelope = samples::envelope(command, seed as u128);
        let json: Value = serde_json::from_str(&json::encode_command_json(&envelope)).unwrap();
        if name == "PlaceOrder" {
            assert!(rule.contains(&order_events::ids::ORDER_ID_NAMESPACE.to_string()));
            continue;
        }
        let mut key = rule.to_owned();
        while let Some(start) = key.find('<') {
            let end = start + key[start..].find('>').unwrap();
            let pointer = format!("/{}", key[start + 1..end].replace('.', "/"));
            let value = json
                .pointer(&pointer)
                .unwrap_or_else(|| panic!("{name}: no {pointer}"));
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            key.replace_range(start..=end, &text);
        }
        assert_eq!(key, target, "{name}: {rule}");
    }
}
