//! A payment provider's settlement report.
//!
//! The default layout is a CSV file with a header row and these columns (any order, more
//! columns are ignored):
//!
//! | column | meaning |
//! | --- | --- |
//! | `psp_reference` | the provider's reference of the transaction (the one the ledger stores with the capture or refund); for a payout, the bank transfer's reference |
//! | `type` | `capture`, `refund`, `chargeback`, `fee` or `payout` |
//! | `gross` | the transaction's amount |
//! | `fee` | what the provider charged for it |
//! | `net` | what it moved on the provider's balance: gross − fee for a capture, gross + fee for a refund or chargeback |
//! | `currency` | ISO 4217 code |
//! | `date` | `YYYY-MM-DD` or an RFC 3339 time (its UTC date counts) |
//! | `order_id`, `payment_id` | optional: the ledger's order id and payment (or refund) id, when the provider echoes the merchant's references |
//!
//! Signs do not matter: a refund of 10.00 may be written `10.00` or `-10.00`. Another
//! provider's layout is read through a [`ColumnMap`] (`gross=Amount`, `date=Booking date`,
//! and a date format such as `%d.%m.%Y`).

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, NaiveDate};
use order_events::money::{Amount, Currency};
use serde::{Deserialize, Serialize};

/// What a report line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Capture,
    Refund,
    Chargeback,
    /// A charge of the provider's own (monthly fee, scheme fee) not tied to a transaction.
    Fee,
    /// The provider paying its balance out to the platform's bank account.
    Payout,
    /// Cash a carrier collected on delivery (a carrier's report; the reference is the
    /// parcel's tracking number).
    CashOnDelivery,
}

impl LineKind {
    fn parse(value: &str) -> Option<LineKind> {
        match value.to_ascii_lowercase().as_str() {
            "capture" => Some(LineKind::Capture),
            "refund" => Some(LineKind::Refund),
            "chargeback" => Some(LineKind::Chargeback),
            "fee" => Some(LineKind::Fee),
            "payout" => Some(LineKind::Payout),
            "cod" | "cash_on_delivery" => Some(LineKind::CashOnDelivery),
            _ => None,
        }
    }
}

/// One line of the provider's report; amounts are magnitudes (signs dropped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PspLine {
    /// The line number in the file (the header is line 1).
    pub line: u64,
    pub psp_reference: String,
    pub kind: LineKind,
    pub gross: Amount,
    pub fee: Amount,
    pub net: Amount,
    pub currency: Currency,
    pub date: NaiveDate,
    pub order_id: Option<String>,
    pub payment_id: Option<String>,
}

impl PspLine {
    /// Whether `net` is what `gross` and `fee` make for this kind of line.
    pub fn fee_adds_up(&self) -> bool {
        let expected = match self.kind {
            LineKind::Capture | LineKind::CashOnDelivery => self.gross - self.fee,
            LineKind::Refund | LineKind::Chargeback => self.gross + self.fee,
            LineKind::Fee => self.fee,
            LineKind::Payout => self.gross,
        };
        expected == self.net
    }

    /// What the line moved on the provider's balance, signed: money in is positive.
    pub fn signed_net(&self) -> Amount {
        match self.kind {
            LineKind::Capture | LineKind::CashOnDelivery => self.net,
            LineKind::Refund | LineKind::Chargeback | LineKind::Fee | LineKind::Payout => {
                Amount::ZERO - self.net
            }
        }
    }
}

/// A line that could not be read; the rest of the file is read anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// Why the report could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PspError {
    #[error("the report is empty: it needs a header row naming its columns")]
    NoHeader,
    #[error("the report has no column '{column}' (for {field}); its columns are: {found}")]
    MissingColumn {
        field: &'static str,
        column: String,
        found: String,
    },
    #[error("column mapping '{0}' is not FIELD=COLUMN with FIELD one of: {fields}", fields = FIELDS.join(", "))]
    BadMapping(String),
    #[error("reading the report: {0}")]
    Read(String),
}

/// The report's fields, by the names of the default layout.
pub const FIELDS: [&str; 9] = [
    "psp_reference",
    "type",
    "gross",
    "fee",
    "net",
    "currency",
    "date",
    "order_id",
    "payment_id",
];
/// Fields a layout may leave out.
const OPTIONAL: [&str; 2] = ["order_id", "payment_id"];

/// Which column holds each field, and how dates are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    columns: BTreeMap<&'static str, String>,
    /// A chrono format for the date column; `None` reads `YYYY-MM-DD` or RFC 3339.
    pub date_format: Option<String>,
}

impl Default for ColumnMap {
    fn default() -> ColumnMap {
        ColumnMap {
            columns: FIELDS.iter().map(|f| (*f, (*f).to_owned())).collect(),
            date_format: None,
        }
    }
}

impl ColumnMap {
    /// Applies one `FIELD=COLUMN` mapping (e.g. `gross=Amount`), or `date_format=%d.%m.%Y`.
    pub fn set(&mut self, mapping: &str) -> Result<(), PspError> {
        let bad = || PspError::BadMapping(mapping.to_owned());
        let (field, column) = mapping.split_once('=').ok_or_else(bad)?;
        let (field, column) = (field.trim(), column.trim());
        if column.is_empty() {
            return Err(bad());
        }
        if field == "date_format" {
            self.date_format = Some(column.to_owned());
            return Ok(());
        }
        let field = FIELDS.iter().find(|f| **f == field).ok_or_else(bad)?;
        self.columns.insert(field, column.to_owned());
        Ok(())
    }
}

/// Reads a report: the lines that parse, and the line number and reason of each that does not.
pub fn read(
    mut input: impl Read,
    map: &ColumnMap,
) -> Result<(Vec<PspLine>, Vec<RowError>), PspError> {
    // Held whole, so a row's line number can be counted from its byte offset (the CSV reader's
    // own line is that of the blank lines it skipped before the row).
    let mut text = Vec::new();
    input
        .read_to_end(&mut text)
        .map_err(|e| PspError::Read(e.to_string()))?;
    let line_at = |position: &csv::Position| line_of(&text, position.byte());
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_slice());
    let header = reader
        .headers()
        .map_err(|e| PspError::Read(e.to_string()))?
        .clone();
    if header.is_empty() {
        return Err(PspError::NoHeader);
    }
    let mut index = BTreeMap::new();
    for (field, column) in &map.columns {
        match header.iter().position(|h| h == column) {
            Some(position) => {
                index.insert(*field, position);
            }
            None if OPTIONAL.contains(field) => {}
            None => {
                return Err(PspError::MissingColumn {
                    field,
                    column: column.clone(),
                    found: header.iter().collect::<Vec<_>>().join(", "),
                })
            }
        }
    }
    let mut lines = Vec::new();
    let mut errors = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, line_at);
                match parse_line(&record, line, &index, map) {
                    Ok(parsed) => lines.push(parsed),
                    Err(reason) => errors.push(RowError { line, reason }),
                }
            }
            // Not UTF-8 and the like: that row is lost, the reader carries on after it.
            Err(error) => {
                let line = error.position().map_or(line, line_at);
                errors.push(RowError {
                    line,
                    reason: error.to_string(),
                });
                if !matches!(error.kind(), csv::ErrorKind::Utf8 { .. }) {
                    break;
                }
            }
        }
    }
    Ok((lines, errors))
}

/// The line (from 1) of the first byte at or after `byte` that is not a line break.
fn line_of(text: &[u8], byte: u64) -> u64 {
    let start = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
    let content = text[start..]
        .iter()
        .position(|&b| b != b'\n' && b != b'\r')
        .map_or(text.len(), |skip| start + skip);
    1 + text[..content].iter().filter(|&&b| b == b'\n').count() as u64
}

fn parse_line(
    record: &csv::StringRecord,
    line: u64,
    index: &BTreeMap<&'static str, usize>,
    map: &ColumnMap,
) -> Result<PspLine, String> {
    let field = |name: &'static str| -> Result<&str, String> {
        let position = index[name];
        match record.get(position) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(format!("{name} is empty")),
        }
    };
    let optional = |name: &'static str| {
        index
            .get(name)
            .and_then(|p| record.get(*p))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    if record.iter().all(str::is_empty) {
        return Err("an empty row".into());
    }
    let kind_text = field("type")?;
    let kind = LineKind::parse(kind_text).ok_or_else(|| {
        format!("type '{kind_text}' is not capture, refund, chargeback, fee or payout")
    })?;
    let currency_text = field("currency")?;
    let currency: Currency = currency_text.parse().map_err(|_| {
        format!("currency '{currency_text}' is not an ISO 4217 code the ledger knows")
    })?;
    let amount = |name: &'static str| -> Result<Amount, String> {
        let text = field(name)?;
        let value: Amount = text.parse().map_err(|e| format!("{name}: {e}"))?;
        if value.0.normalize().scale() > currency.minor_units() {
            return Err(format!(
                "{name} {text} has more decimals than {currency} has"
            ));
        }
        if value.0.abs() > Amount::maximum().0 {
            return Err(format!(
                "{name} {text} is beyond any amount the ledger holds"
            ));
        }
        Ok(Amount(value.0.abs()))
    };
    let (gross, fee, net) = (amount("gross")?, amount("fee")?, amount("net")?);
    let date = parse_date(field("date")?, map.date_format.as_deref())?;
    let psp_reference = match kind {
        // Provider-level lines need no transaction reference.
        LineKind::Fee | LineKind::Payout => optional("psp_reference").unwrap_or_default(),
        _ => field("psp_reference")?.to_owned(),
    };
    Ok(PspLine {
        line,
        psp_reference,
        kind,
        gross,
        fee,
        net,
        currency,
        date,
        order_id: optional("order_id"),
        payment_id: optional("payment_id"),
    })
}

fn parse_date(text: &str, format: Option<&str>) -> Result<NaiveDate, String> {
    let parsed = match format {
        Some(format) => NaiveDate::parse_from_str(text, format).ok(),
        None => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .or_else(|| {
                DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.naive_utc().date())
            }),
    };
    parsed.ok_or_else(|| match format {
        Some(format) => format!("date '{text}' does not match the format '{format}'"),
        None => format!("date '{text}' is neither YYYY-MM-DD nor an RFC 3339 time"),
    })
}
