//! `export`: one line per event, JSON Lines or CSV, streaming.

use std::io::Write;

use chrono::{DateTime, Utc};
use event_log::{LogReader, StoredRecord};
use order_events::codec::{self, json};
use order_events::envelope::EventEnvelope;
use serde::Serialize;

use crate::scan::{scan_from, Start};
use crate::ReplayError;

/// Output format of [`export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// Which events [`export`] writes: by the time the ledger recorded them.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
}

impl TimeRange {
    fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| at >= from) && self.to.is_none_or(|to| at < to)
    }
}

const CSV_COLUMNS: [&str; 18] = [
    "partition",
    "offset",
    "event_id",
    "aggregate_kind",
    "aggregate_id",
    "sequence",
    "type",
    "schema_version",
    "recorded_at",
    "command_id",
    "correlation_id",
    "causation_id",
    "actor.kind",
    "actor.id",
    "prev_hash",
    "hash",
    "payload",
    "error",
];

/// What [`export`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub events: u64,
    /// Records that are no readable event: written with their error, so nothing is skipped
    /// silently.
    pub undecodable: u64,
}

/// Where export lines go.
enum Sink<'a, W: Write> {
    Jsonl(&'a mut W),
    Csv(Box<csv::Writer<&'a mut W>>),
}

/// A CSV cell a spreadsheet shows as text: a cell starting with `=`, `+`, `-`, `@`, a tab or
/// a carriage return is a formula to Excel, LibreOffice and Google Sheets (OWASP's "CSV
/// injection"), so it gets a leading `'` — unless it is a plain number (`-12.50`), which a
/// spreadsheet reads as the number it is.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = {
        let digits = cell.strip_prefix('-').unwrap_or(cell);
        let (integer, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
        !integer.is_empty()
            && !fraction.is_empty()
            && integer
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit())
    };
    if risky && !number {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn csv_row(record: &StoredRecord, line: Result<&EventEnvelope, &str>) -> Vec<String> {
    let mut row = vec![record.partition.to_string(), record.offset.to_string()];
    match line {
        Ok(envelope) => {
            let value = json::encode_event(envelope);
            let actor_kind = serde_json::to_value(envelope.actor.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            row.extend([
                envelope.event_id.to_string(),
                envelope.aggregate_kind.to_string(),
                envelope.aggregate_id.clone(),
                envelope.sequence.to_string(),
                envelope.event.type_name().to_owned(),
                envelope.event.schema_version().to_string(),
                envelope
                    .recorded_at
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                envelope.command_id.to_string(),
                envelope.correlation_id.to_string(),
                envelope
                    .causation_id
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                actor_kind,
                envelope.actor.id.clone(),
                envelope.prev_hash.to_hex(),
                envelope.hash.to_hex(),
                value["payload"].to_string(),
                String::new(),
            ]);
        }
        Err(error) => {
            row.extend(std::iter::repeat_n(String::new(), CSV_COLUMNS.len() - 3));
            row.push(error.to_owned());
        }
    }
    row
}

/// Writes every event from `start` in `range`, one line each, in log order (partition by partition),
/// streaming: memory stays at one chunk of records whatever the log's length.
pub async fn export<W: Write>(
    log: &dyn LogReader,
    format: ExportFormat,
    start: Start,
    range: TimeRange,
    out: &mut W,
) -> Result<ExportSummary, ReplayError> {
    let mut summary = ExportSummary::default();
    let mut sink = match format {
        ExportFormat::Csv => {
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(CSV_COLUMNS)?;
            Sink::Csv(Box::new(writer))
        }
        ExportFormat::Jsonl => Sink::Jsonl(out),
    };
    scan_from(log, start, |record| {
        let decoded = codec::decode_raw_event(&record.payload)
            .and_then(|raw| Ok((raw.clone().decode()?, raw)));
        let line = match decoded {
            Ok((envelope, _)) if !range.contains(envelope.recorded_at) => return Ok(()),
            Ok(decoded) => {
                summary.events += 1;
                Ok(decoded)
            }
            Err(error) => {
                summary.undecodable += 1;
                Err(error.to_string())
            }
        };
        match &mut sink {
            Sink::Jsonl(out) => {
                let value = match &line {
                    Ok((envelope, raw)) => {
                        let mut value = json::encode_event_as_stored(raw, envelope);
                        value["partition"] = record.partition.into();
                        value["offset"] = record.offset.into();
                        value
                    }
                    Err(error) => serde_json::json!({
                        "partition": record.partition,
                        "offset": record.offset,
                        "error": error,
                    }),
                };
                writeln!(out, "{value}")?;
            }
            Sink::Csv(writer) => {
                let line = line.as_ref().map(|(envelope, _)| envelope);
                let row = csv_row(record, line.map_err(String::as_str));
                writer.write_record(row.iter().map(|cell| spreadsheet_safe(cell).into_owned()))?;
            }
        }
        Ok(())
    })
    .await?;
    match sink {
        Sink::Jsonl(out) => out.flush()?,
        Sink::Csv(mut writer) => writer.flush()?,
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_become_text_and_numbers_stay_numbers() {
        for (cell, shown) in [
            ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
            ("+1+1", "'+1+1"),
            ("-1+1", "'-1+1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("-12.50", "-12.50"),
            ("-7", "-7"),
            ("12.50", "12.50"),
            ("cust-42", "cust-42"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell), shown, "{cell}");
        }
    }
}
