//! Fuzzing the provider-report reader with proptest: arbitrary bytes, and a valid report with
//! rows mutated. The reader must answer with lines and per-row errors (or a typed error for a
//! file it cannot read at all), never panic; every row is accounted for — read, or reported
//! with its line number — so nothing is silently dropped.
//!
//! Long run: `PROPTEST_CASES=200000 cargo test --release -p finance --test fuzz`.

use finance::psp::{self, ColumnMap};
use proptest::prelude::*;

const HEADER: &str = "psp_reference,type,gross,fee,net,currency,date";

/// A field of a row: mostly plausible, sometimes hostile.
fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("psp-1".to_owned()),
        Just("capture".to_owned()),
        Just("refund".to_owned()),
        Just("12.30".to_owned()),
        Just("-0.01".to_owned()),
        Just("1e400".to_owned()),
        Just("99999999999999999999999999999999".to_owned()),
        Just("EUR".to_owned()),
        Just("XXX".to_owned()),
        Just("2026-11-31".to_owned()),
        Just("2026-11-22".to_owned()),
        Just("\"quoted, with comma\"".to_owned()),
        Just("\"unterminated".to_owned()),
        Just(String::new()),
        "[ -~]{0,12}",
        "\\PC{0,8}",
    ]
}

/// A row without quotes, so one line of text is one record.
fn row() -> impl Strategy<Value = String> {
    prop::collection::vec(field(), 0..10).prop_map(|fields| fields.join(",").replace('"', ""))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn arbitrary_bytes_never_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        let _ = psp::read(bytes.as_slice(), &ColumnMap::default());
    }

    #[test]
    fn every_row_is_read_or_reported_with_its_line(rows in prop::collection::vec(row(), 0..40)) {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        let (lines, errors) = psp::read(text.as_bytes(), &ColumnMap::default())
            .expect("a report with its header reads");
        // The CSV reader skips empty lines; every other row is a line or an error with the
        // number of its line in the file.
        let rows_with_content = rows.iter().filter(|r| !r.is_empty()).count();
        prop_assert_eq!(lines.len() + errors.len(), rows_with_content);
        for error in &errors {
            prop_assert!(error.line >= 2 && error.line <= rows.len() as u64 + 1, "{:?}", error);
            prop_assert!(!rows[error.line as usize - 2].is_empty());
        }
    }

    #[test]
    fn quoted_and_hostile_fields_never_panic_the_reader(
        rows in prop::collection::vec(prop::collection::vec(field(), 0..10), 0..20)
    ) {
        let rows: Vec<String> = rows.into_iter().map(|fields| fields.join(",")).collect();
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        let _ = psp::read(text.as_bytes(), &ColumnMap::default());
    }
}
