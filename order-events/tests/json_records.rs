//! JSON event records: sealed in the canonical JSON form, read back by every reader of the
//! codec, their hashes checked over that form.

use order_events::codec::{self, json, EventFormat, FORMAT_JSON_V1};
use order_events::envelope::ChainHead;
use order_events::order::OrderCommand;
use order_events::testkit::{at, samples};
use order_events::Command;
use serde_json::Value;

fn sealed_order_events(format: EventFormat) -> Vec<codec::SealedEvent> {
    let order_events: Vec<_> = order_events::testkit::every::one_of_each_event()
        .into_iter()
        .filter(|e| matches!(e, order_events::Event::Order(_)))
        .collect();
    let command = samples::envelope(
        Command::Order(OrderCommand::from(samples::place_order())),
        7,
    );
    codec::seal_as(format, &command, ChainHead::GENESIS, order_events, at(0))
}

#[test]
fn json_records_read_back_as_the_events_sealed_and_chain_like_binary_ones() {
    let json = sealed_order_events(EventFormat::Json);
    let binary = sealed_order_events(EventFormat::Bincode);
    assert!(json.len() > 10);
    for (index, (sealed, twin)) in json.iter().zip(&binary).enumerate() {
        assert_eq!(sealed.record[0], FORMAT_JSON_V1);
        assert_eq!(
            codec::decode_event(&sealed.record).unwrap(),
            sealed.envelope
        );
        let raw = codec::decode_raw_event(&sealed.record).unwrap();
        assert_eq!(raw.hash, sealed.envelope.hash);
        assert_eq!(raw.decode().unwrap(), sealed.envelope);
        // The record is the event's JSON, as exports and the schemas have it.
        let document: Value = serde_json::from_slice(&sealed.record).unwrap();
        assert_eq!(document, json::encode_event(&sealed.envelope));
        assert_eq!(
            json::decode_event_verified(&sealed.record).unwrap(),
            sealed.envelope
        );
        // Same events, same chain shape; the hashes are the format's own.
        assert_eq!(sealed.envelope.event, twin.envelope.event);
        assert_ne!(sealed.envelope.hash, twin.envelope.hash);
        if index > 0 {
            assert_eq!(sealed.envelope.prev_hash, json[index - 1].envelope.hash);
        }
    }
}

#[test]
fn the_hash_covers_every_byte_of_content_in_canonical_form() {
    let sealed = &sealed_order_events(EventFormat::Json)[0];
    let text = String::from_utf8(sealed.record.clone()).unwrap();
    // The record is already canonical: compact, keys sorted.
    assert!(!text.contains(": ") && !text.contains(", "), "{text}");
    let changed = text.replacen("\"sequence\":1", "\"sequence\":2", 1);
    assert_ne!(changed, text);
    assert!(matches!(
        codec::decode_event(changed.as_bytes()),
        Err(codec::DecodeError::HashMismatch { .. })
    ));
    // Whitespace and key order are not content: the canonical form is what is hashed.
    let document: Value = serde_json::from_slice(&sealed.record).unwrap();
    let pretty = serde_json::to_vec_pretty(&document).unwrap();
    assert_eq!(
        codec::decode_event(&pretty)
            .unwrap_or_else(|e| panic!("{e}"))
            .hash,
        sealed.envelope.hash
    );
    // An export's place fields do not belong in a record.
    let mut placed = document.clone();
    placed["partition"] = 0.into();
    let placed = serde_json::to_vec(&placed).unwrap();
    assert!(codec::decode_event(&placed).is_err());
    assert_eq!(
        json::decode_event_verified(&placed).unwrap(),
        sealed.envelope
    );
}

/// Amounts in new events carry their currency's minor units, whatever digits the command gave
/// and whatever the decision computed.
#[test]
fn new_events_write_amounts_with_their_currencys_minor_units() {
    use order_events::ledger::MemoryLedger;
    use order_events::order::{CancelOrder, CancelReason};
    let mut ledger = MemoryLedger::new(order_events::Policy::default()).writing(EventFormat::Json);
    let mut place = samples::place_order();
    place.lines[0].unit_price = samples::amount("20");
    place.shipping_fee = samples::amount("0");
    let placed = ledger
        .submit(&samples::envelope(Command::Order(place.into()), 1), at(0))
        .unwrap();
    let document: Value = serde_json::from_slice(&placed[0].record).unwrap();
    assert_eq!(document["payload"]["lines"][0]["unit_price"], "20.00");
    assert_eq!(document["payload"]["lines"][1]["unit_price"], "9.50");
    assert_eq!(document["payload"]["shipping_fee"], "0.00");
    let cancel = CancelOrder {
        order_id: samples::order_id(),
        reason: CancelReason::CustomerRequest,
        note: String::new(),
    };
    let cancelled = ledger
        .submit(&samples::envelope(Command::Order(cancel.into()), 2), at(1))
        .unwrap();
    let document: Value = serde_json::from_slice(&cancelled[0].record).unwrap();
    assert_eq!(document["type"], "OrderCancelled");
    assert_eq!(document["payload"]["refund_due"], "0.00");
}
