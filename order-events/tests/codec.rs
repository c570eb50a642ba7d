//! Decoding never panics and names what is wrong: hostile bytes, truncation, tampering, and
//! every way a JSON command can be malformed.

use proptest::prelude::*;

use order_events::codec::{self, json, DecodeError, RECORD_BYTES_MAX};
use order_events::envelope::{ChainHead, Command, Event};
use order_events::order::OrderCommand;
use order_events::testkit::{at, samples};

fn sealed_record() -> Vec<u8> {
    let command = samples::envelope(OrderCommand::from(samples::place_order()), 1);
    let events = vec![Event::Order(samples::order_placed())];
    codec::seal(&command, ChainHead::GENESIS, events, at(0))
        .remove(0)
        .record
}

fn command_record() -> Vec<u8> {
    codec::encode_command_bincode(&samples::envelope(
        OrderCommand::from(samples::place_order()),
        1,
    ))
}

#[test]
fn every_prefix_of_a_record_is_refused() {
    for record in [sealed_record(), command_record()] {
        for length in 0..record.len() {
            let prefix = &record[..length];
            assert!(
                codec::decode_event(prefix).is_err(),
                "event prefix {length} accepted"
            );
            assert!(
                codec::decode_command_bincode(prefix).is_err(),
                "command prefix {length} accepted"
            );
        }
    }
    assert_eq!(codec::decode_event(&[]), Err(DecodeError::Empty));
}

#[test]
fn every_flipped_byte_of_an_event_is_caught() {
    let record = sealed_record();
    for position in 0..record.len() {
        let mut tampered = record.clone();
        tampered[position] ^= 0x01;
        let error = codec::decode_event(&tampered).expect_err("tampering accepted");
        let expected = if position == 0 {
            "unknown_format"
        } else {
            "hash_mismatch"
        };
        assert_eq!(error.code(), expected, "byte {position}: {error}");
    }
}

#[test]
fn trailing_bytes_unknown_tags_and_oversized_records_are_named() {
    let mut command = command_record();
    command.push(0);
    assert!(matches!(
        codec::decode_command_bincode(&command),
        Err(DecodeError::TrailingBytes { count: 1, .. })
    ));
    assert_eq!(
        codec::decode_command_bincode(&[0x7b, 0x7d]),
        Err(DecodeError::UnknownFormat { tag: 0x7b })
    );
    assert_eq!(
        codec::decode_command_as("text/plain", &command_record())
            .unwrap_err()
            .code(),
        "unknown_content_type"
    );
    assert!(codec::decode_command_as(codec::CONTENT_TYPE_BINCODE, &command_record()).is_ok());
    let huge = vec![1u8; RECORD_BYTES_MAX + 1];
    assert!(matches!(
        codec::decode_command_bincode(&huge),
        Err(DecodeError::TooLarge { .. })
    ));
    assert!(matches!(
        json::decode_command_json(&huge),
        Err(DecodeError::TooLarge { .. })
    ));
}

#[test]
fn commands_round_trip_in_both_encodings() {
    for (seed, command) in order_events::testkit::every::one_of_each_order_command()
        .into_iter()
        .enumerate()
    {
        let envelope = samples::envelope(command, seed as u128);
        assert_eq!(
            codec::decode_command_bincode(&codec::encode_command_bincode(&envelope)).unwrap(),
            envelope
        );
        let text = json::encode_command_json(&envelope);
        assert_eq!(
            json::decode_command_json(text.as_bytes()).unwrap(),
            envelope
        );
        assert_eq!(
            codec::decode_command_as(codec::CONTENT_TYPE_JSON, text.as_bytes()).unwrap(),
            envelope
        );
    }
}

const VALID: &str = r#"{
  "command_id": "0d3a4f3e-8a7b-4c55-9b1e-2f6a3c5d7e90",
  "type": "CapturePayment",
  "actor": {"kind": "service", "id": "psp-bridge"},
  "issued_at": "2026-11-22T10:00:00Z",
  "payload": {
    "order_id": "5ed9c574-5856-5a8b-b95c-ae9a19f16704",
    "payment_id": "pay-1",
    "method": "card",
    "amount": "54.38",
    "currency": "EUR",
    "psp_reference": "psp-123"
  }
}"#;

fn variant(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from} not in the valid command");
    VALID.replacen(from, to, 1)
}

#[test]
fn a_valid_json_command_decodes_with_defaults() {
    let envelope = json::decode_command_json(VALID.as_bytes()).unwrap();
    assert_eq!(
        envelope.correlation_id, envelope.command_id,
        "correlation defaults to the command id"
    );
    assert_eq!(envelope.command.type_name(), "CapturePayment");
    assert!(matches!(
        envelope.command,
        Command::Order(OrderCommand::CapturePayment(_))
    ));
}

#[test]
fn malformed_json_commands_get_typed_errors() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            variant(r#""amount": "54.38""#, r#""amount": 54.38"#),
            "invalid_json",
            "decimal amount as a string",
        ),
        (
            variant(r#""amount": "54.38""#, r#""amount": "5e3""#),
            "invalid_json",
            "not a decimal amount",
        ),
        (
            variant(r#""currency": "EUR""#, r#""currency": "XXX""#),
            "invalid_json",
            "unknown variant",
        ),
        (
            variant(r#""method": "card""#, r#""method": "card", "extra": 1"#),
            "invalid_json",
            "unknown field",
        ),
        (
            variant(
                r#""method": "card""#,
                r#""method": "card", "method": "wallet""#,
            ),
            "invalid_json",
            "duplicate field",
        ),
        (
            variant(r#""actor""#, r#""unexpected": true, "actor""#),
            "invalid_json",
            "unknown field",
        ),
        (
            variant(r#""2026-11-22T10:00:00Z""#, "1"),
            "invalid_json",
            "RFC 3339",
        ),
        (
            variant(
                r#""type": "CapturePayment""#,
                r#""type": "CapturePayment", "type": "Refund""#,
            ),
            "invalid_json",
            "duplicate field",
        ),
        (
            variant("0d3a4f3e-8a7b", "not-a-uuid-8a7b"),
            "invalid_json",
            "UUID",
        ),
        (
            variant(r#""type": "CapturePayment""#, r#""type": "StealMoney""#),
            "unknown_type",
            "StealMoney",
        ),
        (
            variant(
                r#""type": "CapturePayment""#,
                r#""type": "PaymentCaptured""#,
            ),
            "wrong_kind",
            "event",
        ),
        (
            variant(
                r#""type": "CapturePayment""#,
                r#""type": "CapturePayment", "schema_version": 2"#,
            ),
            "unsupported_version",
            "version 2",
        ),
        (
            variant(
                r#""type": "CapturePayment""#,
                r#""type": "CapturePayment", "schema_version": 0"#,
            ),
            "unsupported_version",
            "version 0",
        ),
        (VALID[..VALID.len() / 2].to_owned(), "invalid_json", "EOF"),
        ("[]".to_owned(), "invalid_json", "expected"),
        ("".to_owned(), "empty", "empty"),
        ("\u{0}".to_owned(), "invalid_json", "expected value"),
        (variant(r#""pay-1""#, r#""pay-\u0000""#), "ok", ""),
    ];
    for (input, code, words) in cases {
        match json::decode_command_json(input.as_bytes()) {
            Ok(_) => assert_eq!(code, "ok", "accepted: {input}"),
            Err(error) => {
                assert_eq!(error.code(), code, "{error} for {input}");
                assert!(
                    error.to_string().contains(words),
                    "'{error}' lacks '{words}'"
                );
            }
        }
    }
}

#[test]
fn json_errors_point_at_the_line() {
    let input = variant(r#""amount": "54.38""#, r#""amount": true"#);
    let Err(DecodeError::Json { line, .. }) = json::decode_command_json(input.as_bytes()) else {
        panic!("expected a JSON error")
    };
    assert_eq!(line, 10);
}

#[test]
fn deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        json::decode_command_json(deep.as_bytes())
            .unwrap_err()
            .code(),
        "invalid_json"
    );
}

#[test]
fn an_event_record_is_not_a_command() {
    // The tag is shared, so the body decoder is what refuses it, by name and never by panic.
    assert!(codec::decode_command_bincode(&sealed_record()).is_err());
    assert!(codec::decode_event(&command_record()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = codec::decode_event(&bytes);
        let _ = codec::decode_raw_event(&bytes);
        let _ = codec::decode_command_bincode(&bytes);
        let _ = json::decode_command_json(&bytes);
        let _ = json::decode_event(&bytes);
    }

    #[test]
    fn mutated_records_never_panic(position in 0usize..400, value in any::<u8>(), cut in 0usize..400) {
        for mut record in [sealed_record(), command_record()] {
            let position = position % record.len();
            record[position] = value;
            record.truncate(cut.max(1).min(record.len()));
            let _ = codec::decode_event(&record);
            let _ = codec::decode_command_bincode(&record);
        }
    }

    #[test]
    fn mutated_json_commands_never_panic(position in 0usize..600, value in any::<char>()) {
        let mut text: Vec<char> = VALID.chars().collect();
        let position = position % text.len();
        text[position] = value;
        let text: String = text.into_iter().collect();
        let _ = json::decode_command_json(text.as_bytes());
    }
}

#[test]
fn a_version_1_shipment_reads_as_version_2_and_version_2_may_leave_the_carrier_out() {
    use order_events::order::{OrderCommand, ServiceLevel};
    let ship = |version: &str, carrier: &str| {
        format!(
            r#"{{"command_id":"00000000-0000-4000-8000-000000000001","type":"Ship"{version},"actor":{{"kind":"service","id":"wms"}},"issued_at":"2026-11-22T10:00:00Z","payload":{{"order_id":"0185fbd6-a099-58df-8b5a-31a9370ebf6c","shipment_id":"S1"{carrier},"tracking_number":"T1","lines":[{{"sku":"MUG-01","quantity":1}}],"freight_cost":"3.20","weight_grams":500}}}}"#
        )
    };
    let decoded = |text: String| match json::decode_command_json(text.as_bytes()) {
        Ok(envelope) => match envelope.command {
            order_events::Command::Order(OrderCommand::Ship(ship)) => Ok(ship),
            other => panic!("decoded as {other:?}"),
        },
        Err(error) => Err(error.code()),
    };
    // No schema_version means version 1, which always named the carrier.
    let v1 = decoded(ship("", r#","carrier":"dhl""#)).unwrap();
    assert_eq!(v1.carrier.as_ref().map(|c| c.as_str()), Some("dhl"));
    assert_eq!(v1.service_level, ServiceLevel::Standard);
    assert_eq!(decoded(ship("", "")), Err("invalid_json"));
    let v2 = decoded(ship(r#","schema_version":2"#, "")).unwrap();
    assert_eq!(v2.carrier, None);
}

/// Every JSON mistake names the field by its JSON path and what was expected; a document of
/// the wrong JSON type says so.
#[test]
fn json_errors_name_the_field_and_what_was_expected() {
    let cases = [
        (
            r#"[{"command_id": "x"}]"#.to_owned(),
            "",
            "expected a command as a JSON object, found an array",
        ),
        (r#""CapturePayment""#.to_owned(), "", "found a string"),
        (
            variant(
                r#""issued_at": "2026-11-22T10:00:00Z""#,
                r#""issued_at": "yesterday noon""#,
            ),
            "issued_at",
            "expected an RFC 3339 time",
        ),
        (
            variant(r#""amount": "54.38""#, r#""amount": true"#),
            "payload.amount",
            "expected",
        ),
        (
            variant(
                r#""command_id": "0d3a4f3e-8a7b-4c55-9b1e-2f6a3c5d7e90""#,
                r#""command_id": "nope""#,
            ),
            "command_id",
            "expected a UUID",
        ),
    ];
    for (input, field, words) in cases {
        let error = json::decode_command_json(input.as_bytes()).unwrap_err();
        assert_eq!(error.field().unwrap_or_default(), field, "{error}");
        let text = error.to_string();
        assert!(text.contains(words), "'{text}' lacks '{words}'");
        if !field.is_empty() {
            assert!(text.contains(&format!("field `{field}`")), "{text}");
        }
        assert_eq!(text.matches(words).count(), 1, "said once: {text}");
    }
}
