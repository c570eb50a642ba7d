//! Fuzzing the decoders with proptest (cargo fuzz needs a nightly toolchain CI does not have):
//! arbitrary bytes, and valid records mutated — truncated, bit-flipped, spliced — through the
//! command JSON decoder, the binary command decoder and the binary event decoder. Each must
//! answer with a value or a typed error, never panic; a mutated event that still decodes must
//! have kept its hash (the hash covers the bytes, so a changed record cannot pass as stored).
//!
//! The default run is short (CI); a long run: `PROPTEST_CASES=200000 cargo test --release -p
//! order-events --test fuzz` (figures in RELIABILITY.md).

use order_events::codec::{self, json};
use order_events::envelope::{Command, Event};
use order_events::testkit::samples;
use proptest::prelude::*;

/// Every sample command as a JSON line and as a binary record.
fn commands() -> Vec<(String, Vec<u8>)> {
    let commands: Vec<Command> = vec![
        samples::place_order().into(),
        samples::capture("P1", "54.38").into(),
        samples::payout_merchant().into(),
        samples::record_carrier_invoice().into(),
        samples::record_reconciliation().into(),
    ];
    commands
        .into_iter()
        .enumerate()
        .map(|(seed, command)| {
            let envelope = samples::envelope(command, seed as u128 + 1);
            (
                json::encode_command_json(&envelope),
                codec::encode_command_bincode(&envelope),
            )
        })
        .collect()
}

/// Stored records of every event type and version: the golden fixtures.
fn events() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events");
    let mut records: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("the golden fixtures")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "bin"))
        .map(|path| std::fs::read(path).expect("a fixture"))
        .collect();
    records.sort();
    records
}

/// A mutation of `bytes`: cut, flip a bit, overwrite a byte, insert or splice.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    FlipBit(usize, u8),
    Overwrite(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0..8u8).prop_map(|(at, bit)| Mutation::FlipBit(at, bit)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite(at, byte)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        (any::<usize>(), 1..32usize).prop_map(|(at, len)| Mutation::Remove(at, len)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = bytes.len().max(1);
        match mutation {
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::FlipBit(at, bit) => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte ^= 1 << bit;
                }
            }
            Mutation::Overwrite(at, value) => {
                if let Some(byte) = bytes.get_mut(at % len) {
                    *byte = *value;
                }
            }
            Mutation::Insert(at, inserted) => {
                let at = (at % len).min(bytes.len());
                bytes.splice(at..at, inserted.iter().copied());
            }
            Mutation::Remove(at, count) => {
                let start = (at % len).min(bytes.len());
                let end = (start + count).min(bytes.len());
                bytes.drain(start..end);
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = json::decode_command_json(&bytes);
        let _ = codec::decode_command_bincode(&bytes);
        let _ = codec::decode_event(&bytes);
        let _ = json::decode_event(&bytes);
    }

    #[test]
    fn mutated_commands_decode_or_are_refused_with_a_type(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let all = commands();
        let (json_line, binary) = &all[which.index(all.len())];
        let _ = json::decode_command_json(&mutate(json_line.clone().into_bytes(), &mutations));
        let _ = codec::decode_command_bincode(&mutate(binary.clone(), &mutations));
    }

    #[test]
    fn a_mutated_event_never_decodes_as_a_different_stored_event(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let all = events();
        let original = &all[which.index(all.len())];
        let mutated = mutate(original.clone(), &mutations);
        let decoded = codec::decode_event(&mutated);
        if mutated != *original {
            if let (Ok(changed), Ok(stored)) = (decoded, codec::decode_event(original)) {
                // Only bytes outside what the hash covers may change and still decode.
                prop_assert_eq!(changed.hash, stored.hash);
                prop_assert_eq!(changed.event, stored.event);
            }
        }
    }
}

#[test]
fn the_seeds_are_valid_records() {
    for (line, binary) in commands() {
        json::decode_command_json(line.as_bytes()).unwrap();
        codec::decode_command_bincode(&binary).unwrap();
    }
    let records = events();
    assert!(
        records.len() >= Event::types().count(),
        "a fixture per event type"
    );
    for record in &records {
        codec::decode_event(record).unwrap();
    }
}
