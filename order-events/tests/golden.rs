//! Golden fixtures: stored history must stay readable.
//!
//! `tests/golden/events/` holds one binary record and one JSON document per event type and
//! schema version — version 1 of every type, and the current version where it is newer. They
//! were written once and are never rewritten: a change to a type, the envelope or the codec
//! that would misread them fails here. Adding an event type or version: run the tests once with
//! `LEDGER_BLESS=1`, which writes fixtures that are missing and leaves existing ones alone.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use order_events::codec::{self, json, RawEvent, StoredEvent};
use order_events::envelope::{AggregateKind, Event, EventEnvelope, Recorded};
use order_events::order::OrderEvent;
use order_events::testkit::{at, samples};
use order_events::upcast::{
    self, OrderCancelledV1, OrderPlacedV1, OrderPlacedV2, ReservationRecordedV1,
    ReservationsPlannedV1,
};
use order_events::{Actor, ActorKind, EventHash};
use uuid::Uuid;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events")
}

fn blessing() -> bool {
    std::env::var_os("LEDGER_BLESS").is_some()
}

/// One fixture: a file stem, the record as the writing build produced it, and what this build
/// must read from it.
struct Fixture {
    stem: String,
    record: Vec<u8>,
    json: serde_json::Value,
    expected: EventEnvelope,
}

/// The header every fixture shares; `index` makes ids distinct per type.
fn raw_header(
    index: u128,
    event_type: &str,
    version: u16,
    kind: AggregateKind,
    payload: Vec<u8>,
) -> RawEvent {
    let command_id = Uuid::from_u128(0x601d_e000_0000_4000_8000_0000_0000_0000 | index);
    let aggregate_id = match kind {
        AggregateKind::Order => samples::order_id().to_string(),
        AggregateKind::StockItem => samples::stock_key().to_string(),
        AggregateKind::Reconciliation => samples::RUN_ID.to_owned(),
        AggregateKind::Account => "psp:adyen:EUR".to_owned(),
        AggregateKind::Wave => order_events::testkit::warehouse::WAVE.to_owned(),
    };
    RawEvent {
        // The derivation these fixtures were written with (command id and index only); ids
        // are stored, never recomputed, so the fixtures keep them.
        event_id: Uuid::new_v5(&command_id, &0u32.to_be_bytes()),
        aggregate_kind: kind,
        aggregate_id,
        sequence: index as u64 + 1,
        command_id,
        correlation_id: command_id,
        causation_id: (index % 2 == 1).then(|| Uuid::from_u128(0xca05e | index)),
        actor: Actor::new(ActorKind::Service, "golden"),
        recorded_at: at(index as i64),
        event: StoredEvent {
            event_type: event_type.to_owned(),
            schema_version: version,
            payload,
        },
        prev_hash: EventHash([index as u8; 32]),
        hash: EventHash::GENESIS,
    }
}

fn envelope_of(raw: &RawEvent, hash: EventHash, event: Event) -> EventEnvelope {
    Recorded {
        hash,
        ..raw.clone()
    }
    .with_event(event)
}

fn fixtures() -> Vec<Fixture> {
    let mut fixtures = Vec::new();
    for (index, event) in order_events::testkit::every::one_of_each_event()
        .into_iter()
        .enumerate()
    {
        let index = index as u128;
        let name = event.type_name();
        let version = event.schema_version();
        let raw = raw_header(
            index,
            name,
            version,
            event.aggregate_kind(),
            codec::encode_event_payload(&event),
        );
        let (record, hash) = codec::encode_raw_event(&raw);
        let expected = envelope_of(&raw, hash, event);
        fixtures.push(Fixture {
            stem: format!("{name}.v{version}"),
            record,
            json: json::encode_event(&expected),
            expected,
        });
        if version > 1 {
            fixtures.push(version_1_fixture(index, name));
        }
        if name == "OrderPlaced" && version > 2 {
            fixtures.push(order_placed_v2_fixture(index));
        }
    }
    fixtures
}

/// The version 1 record of a type that has moved on, as a version 1 build wrote it, and the
/// upcast event this build must read from it. `index` is the type's place among the samples;
/// each arm keeps the header index its version 1 file was written with.
fn version_1_fixture(index: u128, name: &str) -> Fixture {
    let (index, payload, old, upcast) = match name {
        "OrderCancelled" => {
            let old = OrderCancelledV1 {
                reason: "Customer request".to_owned(),
                refund_due: samples::amount("54.38"),
            };
            let upcast = Event::Order(OrderEvent::OrderCancelled(upcast::order_cancelled_v1(
                old.clone(),
            )));
            let payload = upcast::encode_order_cancelled_v1(&old);
            (
                index + 100,
                payload,
                serde_json::to_value(&old).unwrap(),
                upcast,
            )
        }
        "ReservationRecorded" => {
            // Written at its own index while version 1 was current.
            let old = ReservationRecordedV1 {
                sku: order_events::ids::Sku::from(samples::MUG),
                warehouse: order_events::ids::WarehouseId::from(samples::WAREHOUSE),
                quantity: 1,
                reserved: true,
            };
            let upcast = Event::Order(OrderEvent::ReservationRecorded(
                upcast::reservation_recorded_v1(old.clone()),
            ));
            let payload = upcast::encode_reservation_recorded_v1(&old);
            (index, payload, serde_json::to_value(&old).unwrap(), upcast)
        }
        "ReservationsPlanned" => {
            // Written at its own index while version 1 was current.
            let old = ReservationsPlannedV1 {
                reservations: samples::reservations(),
            };
            let upcast = Event::Order(OrderEvent::ReservationsPlanned(
                upcast::reservations_planned_v1(old.clone()),
            ));
            let payload = upcast::encode_reservations_planned_v1(&old);
            (index, payload, serde_json::to_value(&old).unwrap(), upcast)
        }
        "OrderPlaced" => {
            // Written at its own index while version 1 was current.
            let OrderEvent::OrderPlaced(placed) = samples::order_placed() else {
                unreachable!("the sample placement")
            };
            let old = OrderPlacedV1 {
                order_id: placed.order_id,
                channel: placed.channel,
                external_reference: placed.external_reference,
                customer_id: placed.customer_id,
                merchant_id: placed.merchant_id,
                currency: placed.currency,
                lines: placed.lines,
                shipping_fee: placed.shipping_fee,
                discounts: placed.discounts,
                shipping_address: placed.shipping_address,
                placed_at: placed.placed_at,
                payment_due_at: placed.payment_due_at,
            };
            let upcast = Event::Order(OrderEvent::OrderPlaced(upcast::order_placed_v1(
                old.clone(),
            )));
            let payload = upcast::encode_order_placed_v1(&old);
            (index, payload, serde_json::to_value(&old).unwrap(), upcast)
        }
        "PicksFinished" => {
            // Written at its own index while version 1 was current.
            let old = upcast::PicksFinishedV1 {
                wave_id: order_events::ids::WaveId::from(order_events::testkit::warehouse::WAVE),
                quantity: 1,
                picked_quantity: 1,
            };
            let upcast = Event::Stock(order_events::stock::StockEvent::PicksFinished(
                upcast::picks_finished_v1(old.clone()),
            ));
            let payload = upcast::encode_picks_finished_v1(&old);
            (index, payload, serde_json::to_value(&old).unwrap(), upcast)
        }
        other => panic!("{other} is past version 1: add its version 1 sample here"),
    };
    let raw = raw_header(index, name, 1, upcast.aggregate_kind(), payload);
    let (record, hash) = codec::encode_raw_event(&raw);
    let expected = envelope_of(&raw, hash, upcast);
    let mut json = json::encode_event(&expected);
    json["schema_version"] = 1.into();
    json["payload"] = old;
    Fixture {
        stem: format!("{name}.v1"),
        record,
        json,
        expected,
    }
}

/// `OrderPlaced` version 2 (payment terms, no service level), as a version 2 build wrote it at
/// the type's own index.
fn order_placed_v2_fixture(index: u128) -> Fixture {
    let OrderEvent::OrderPlaced(placed) = samples::order_placed() else {
        unreachable!("the sample placement")
    };
    let old = OrderPlacedV2 {
        order_id: placed.order_id,
        channel: placed.channel,
        external_reference: placed.external_reference,
        customer_id: placed.customer_id,
        merchant_id: placed.merchant_id,
        currency: placed.currency,
        lines: placed.lines,
        shipping_fee: placed.shipping_fee,
        discounts: placed.discounts,
        shipping_address: placed.shipping_address,
        placed_at: placed.placed_at,
        payment_due_at: placed.payment_due_at,
        payment_terms: placed.payment_terms,
    };
    let upcast = OrderEvent::OrderPlaced(upcast::order_placed_v2(old.clone()));
    let payload = upcast::encode_order_placed_v2(&old);
    let raw = raw_header(index, "OrderPlaced", 2, AggregateKind::Order, payload);
    let (record, hash) = codec::encode_raw_event(&raw);
    let expected = envelope_of(&raw, hash, Event::Order(upcast));
    let mut json = json::encode_event(&expected);
    json["schema_version"] = 2.into();
    json["payload"] = serde_json::to_value(&old).unwrap();
    Fixture {
        stem: "OrderPlaced.v2".to_owned(),
        record,
        json,
        expected,
    }
}

/// Reads a fixture file, writing it first when blessing and it is missing.
fn read_or_bless(path: &Path, fresh: &[u8]) -> Vec<u8> {
    if !path.exists() {
        assert!(
            blessing(),
            "missing golden fixture {}: run the tests once with LEDGER_BLESS=1 to write it",
            path.display()
        );
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, fresh).unwrap();
    }
    fs::read(path).unwrap()
}

#[test]
fn every_stored_event_version_still_decodes() {
    let dir = golden_dir();
    let mut expected_files = BTreeSet::new();
    for fixture in fixtures() {
        let bin_path = dir.join(format!("{}.bin", fixture.stem));
        let stored = read_or_bless(&bin_path, &fixture.record);
        let decoded = codec::decode_event(&stored)
            .unwrap_or_else(|e| panic!("{} no longer decodes: {e}", bin_path.display()));
        assert_eq!(
            decoded,
            fixture.expected,
            "{} decodes differently",
            bin_path.display()
        );
        if fixture.expected.event.schema_version() == fixture.stem_version() {
            // The current version must also still be written byte for byte as stored.
            assert_eq!(
                stored,
                fixture.record,
                "{} is no longer written identically",
                bin_path.display()
            );
        }

        let json_path = dir.join(format!("{}.json", fixture.stem));
        let mut fresh_json = serde_json::to_vec_pretty(&fixture.json).unwrap();
        fresh_json.push(b'\n');
        let stored_json = read_or_bless(&json_path, &fresh_json);
        let decoded = json::decode_event(&stored_json)
            .unwrap_or_else(|e| panic!("{} no longer decodes: {e}", json_path.display()));
        // Its content hashes to its stored hash, at the version it was written in.
        assert_eq!(
            json::decode_event_verified(&stored_json).map(|e| e.hash),
            Ok(fixture.expected.hash),
            "{} does not hash to its record's hash",
            json_path.display()
        );
        assert_eq!(
            decoded,
            fixture.expected,
            "{} decodes differently",
            json_path.display()
        );

        expected_files.insert(format!("{}.bin", fixture.stem));
        expected_files.insert(format!("{}.json", fixture.stem));
    }
    let present: BTreeSet<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        present, expected_files,
        "golden files without a fixture, or the reverse"
    );
    let types = Event::types().count();
    assert!(
        expected_files.len() >= 2 * types,
        "a fixture per type and format"
    );
}

impl Fixture {
    fn stem_version(&self) -> u16 {
        self.stem.rsplit(".v").next().unwrap().parse().unwrap()
    }
}

#[test]
fn the_version_1_cancellation_is_upcast_in_both_formats() {
    let stored = fs::read(golden_dir().join("OrderCancelled.v1.bin")).expect("fixture present");
    let raw = codec::decode_raw_event(&stored).unwrap();
    assert_eq!(
        raw.event.schema_version, 1,
        "the record really is version 1"
    );
    let decoded = raw.decode().unwrap();
    let Event::Order(OrderEvent::OrderCancelled(cancelled)) = &decoded.event else {
        panic!("decoded {:?}", decoded.event)
    };
    assert_eq!(
        cancelled.reason,
        order_events::order::CancelReason::CustomerRequest
    );
    assert_eq!(cancelled.note, "Customer request");
    assert_eq!(decoded.event.schema_version(), 2);
    // Upcasting reads; it never rewrites: the hash still covers the version 1 bytes.
    assert_eq!(
        EventHash::of_body(&stored[1..stored.len() - 32]),
        decoded.hash
    );

    let stored_json = fs::read(golden_dir().join("OrderCancelled.v1.json")).unwrap();
    assert_eq!(json::decode_event(&stored_json).unwrap(), decoded);
    // The frozen version 1 shape re-encodes to the bytes the hash covers.
    assert_eq!(json::decode_event_verified(&stored_json).unwrap(), decoded);
}

#[test]
fn an_unknown_text_reason_upcasts_to_other_keeping_the_words() {
    let upcast = upcast::order_cancelled_v1(OrderCancelledV1 {
        reason: "warehouse flooded".to_owned(),
        refund_due: samples::amount("0"),
    });
    assert_eq!(upcast.reason, order_events::order::CancelReason::Other);
    assert_eq!(upcast.note, "warehouse flooded");
}
