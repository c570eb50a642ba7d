//! `ledger reconcile`: a payment provider's settlement report against the ledger's captures
//! and refunds, read from the event log (`finance` does the matching).

use std::io::Write;

use anyhow::Result;
use chrono::{DateTime, Utc};
use event_log::LogReader;
use finance::ledger::Collector;
use finance::psp::{self, ColumnMap};
use finance::reconcile::{self, Options, Report};
use order_events::codec;
use order_events::envelope::{Command, CommandEnvelope};
use order_events::reconciliation::{
    valid_run_id, ReconciledCurrency, ReconciliationOutcome, RecordReconciliation,
};
use order_events::{Actor, ActorKind};
use sha2::{Digest, Sha256};

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// The whole report as one JSON document.
    Json,
    /// One CSV line per break.
    Csv,
    /// The header, then a line per break, for people.
    Table,
}

/// Why a reconciliation could not run or be recorded: what the caller gave (a parameter, the
/// provider's report) or the log.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{0}")]
    BadParameter(String),
    #[error("reading the provider's report: {0}")]
    BadReport(#[from] psp::PspError),
    #[error("reading the log: {0}")]
    Log(#[from] replay_tool::ReplayError),
}

/// A reconciliation as asked, from the command line (`ledger reconcile`) or over HTTP
/// (`POST /v1/reconciliations`).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Which columns of the provider's file hold which fields.
    pub map: ColumnMap,
    pub period: Options,
    /// Record the run as this, or not at all (`None`).
    pub record: Option<RecordAs>,
}

/// How a run is to be recorded, as asked: names not given take their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAs {
    pub provider: String,
    pub run_id: Option<String>,
    /// `kind:id`, e.g. `staff:fin-ann`.
    pub actor: String,
}

/// What a reconciliation gives: the report, and the command that records it as a run when
/// that was asked (the caller submits it through its own way in to the handler).
#[derive(Debug)]
pub struct Reconciled {
    pub report: Report,
    pub recording: Option<(Recording, CommandEnvelope)>,
}

/// The one flow of a reconciliation: what the request names is checked before the log is
/// read, then the provider's `file` is reconciled against the ledger's money events in `log`,
/// and the command that records the run is made.
pub async fn reconcile(
    log: &dyn LogReader,
    file: &[u8],
    request: &Request,
    now: DateTime<Utc>,
) -> Result<Reconciled, ReconcileError> {
    let recording = request
        .record
        .as_ref()
        .map(|record| recording(record, now))
        .transpose()?;
    let report = run(log, file, &request.map, &request.period).await?;
    let recording = recording.map(|recording| {
        let command = record_command(&report, file, &recording, now);
        (recording, command)
    });
    Ok(Reconciled { report, recording })
}

/// Reads the ledger's money events from `log` and reconciles `report` (a CSV file's bytes,
/// read through `map`) against them.
async fn run(
    log: &dyn LogReader,
    report: &[u8],
    map: &ColumnMap,
    options: &Options,
) -> Result<Report, ReconcileError> {
    let (lines, errors) = psp::read(report, map)?;
    let mut collector = Collector::default();
    replay_tool::scan(log, |record| {
        let envelope = codec::decode_event(&record.payload).map_err(|error| {
            replay_tool::ReplayError::Output(format!(
                "the events record at partition {} offset {} does not decode ({error}); `ledger replay verify` tells more",
                record.partition, record.offset
            ))
        })?;
        collector.add(&envelope);
        Ok(())
    })
    .await?;
    if collector.without_currency > 0 {
        tracing::warn!(
            count = collector.without_currency,
            "money events of orders whose placement is not in the log were left out"
        );
    }
    Ok(reconcile::reconcile(
        &collector.finish(),
        &lines,
        &errors,
        options,
    ))
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// Prints `report` in `format`.
pub fn write(report: &Report, format: ReportFormat, out: &mut impl Write) -> Result<()> {
    match format {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
        ReportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record([
                "kind",
                "line",
                "psp_reference",
                "currency",
                "provider_amount",
                "ledger_amount",
                "ledger_event",
                "order_id",
                "detail",
            ])?;
            for b in &report.breaks {
                let row = [
                    b.kind.code().to_owned(),
                    b.line.map(|l| l.to_string()).unwrap_or_default(),
                    b.psp_reference.clone(),
                    b.currency.map(|c| c.to_string()).unwrap_or_default(),
                    b.provider_amount.map(|a| a.to_string()).unwrap_or_default(),
                    b.ledger_amount.map(|a| a.to_string()).unwrap_or_default(),
                    b.ledger_event.map(|e| e.to_string()).unwrap_or_default(),
                    b.order_id.clone().unwrap_or_default(),
                    b.detail.clone(),
                ];
                let safe = row.iter().map(|cell| replay_tool::spreadsheet_safe(cell));
                csv.write_record(safe.map(|cell| cell.into_owned()))?;
            }
            csv.flush()?;
        }
        ReportFormat::Table => {
            writeln!(
                out,
                "period {} to {}; {} capture and refund lines, {} matched clean ({}); {} outside the period",
                or_dash(report.from),
                or_dash(report.to),
                report.transaction_lines,
                report.auto_matched,
                report
                    .auto_match_rate
                    .map_or_else(|| "-".to_owned(), |r| format!("{:.1} %", 100.0 * r)),
                report.outside_period,
            )?;
            writeln!(
                out,
                "{:<8} {:>14} {:>14} {:>12} {:>14} {:>14} {:>12}",
                "currency",
                "captures",
                "refunds",
                "fees",
                "expected net",
                "reported net",
                "variance"
            )?;
            for c in &report.currencies {
                writeln!(
                    out,
                    "{:<8} {:>14} {:>14} {:>12} {:>14} {:>14} {:>12}",
                    c.currency.to_string(),
                    c.ledger_captures.to_string(),
                    c.ledger_refunds.to_string(),
                    c.fees.to_string(),
                    c.expected_net.to_string(),
                    c.reported_net.to_string(),
                    c.variance.to_string()
                )?;
            }
            writeln!(
                out,
                "{} breaks, {} unexplained",
                report.breaks.len(),
                report.unexplained
            )?;
            for b in &report.breaks {
                writeln!(
                    out,
                    "{:<24} line {:>6}  {:<28} provider {:>12}  ledger {:>12}  {}",
                    b.kind.code(),
                    or_dash(b.line),
                    b.psp_reference,
                    or_dash(b.provider_amount),
                    or_dash(b.ledger_amount),
                    b.detail
                )?;
            }
        }
    }
    Ok(())
}

/// The provider a run is recorded for unless named (CLI and HTTP alike).
pub const DEFAULT_PROVIDER: &str = "psp";
/// Who records a run unless named.
pub const DEFAULT_ACTOR: &str = "staff:finance";

/// Who records a run, and under which names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub run_id: String,
    /// The payment provider whose report it was.
    pub provider: String,
    pub actor: Actor,
}

/// A run id from the provider's name and the time: `adyen-20261130T091500.123Z`, with anything
/// outside `A-Z a-z 0-9 . _ -` in the name replaced by `-`.
fn default_run_id(provider: &str, now: DateTime<Utc>) -> String {
    let name: String = provider
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{name}-{}", now.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Reads `kind:id` (`staff:fin-ann`) as an actor.
fn parse_actor(text: &str) -> Result<Actor, ReconcileError> {
    let bad = ReconcileError::BadParameter;
    let (kind, id) = text
        .split_once(':')
        .filter(|(_, id)| !id.is_empty())
        .ok_or_else(|| {
            bad(format!(
                "actor '{text}' is not KIND:ID (e.g. staff:fin-ann)"
            ))
        })?;
    let kind = match kind {
        "staff" => ActorKind::Staff,
        "service" => ActorKind::Service,
        "customer" => ActorKind::Customer,
        "system" => ActorKind::System,
        other => {
            return Err(bad(format!(
                "actor kind '{other}' is not staff, service, customer or system"
            )))
        }
    };
    Ok(Actor::new(kind, id))
}

fn check_run_id(run_id: &str) -> Result<(), ReconcileError> {
    if valid_run_id(run_id) {
        Ok(())
    } else {
        Err(ReconcileError::BadParameter(format!(
            "run id '{run_id}' is not 1-64 of A-Z a-z 0-9 . _ -"
        )))
    }
}

/// How a run asked to be recorded as will be: its names, defaults filled in and checked.
fn recording(record: &RecordAs, now: DateTime<Utc>) -> Result<Recording, ReconcileError> {
    let run_id = record
        .run_id
        .clone()
        .unwrap_or_else(|| default_run_id(&record.provider, now));
    check_run_id(&run_id)?;
    Ok(Recording {
        run_id,
        provider: record.provider.clone(),
        actor: parse_actor(&record.actor)?,
    })
}

/// The command that records `report` (of the provider file `file`) as a run (whose names
/// [`recording`] checked).
fn record_command(
    report: &Report,
    file: &[u8],
    recording: &Recording,
    now: DateTime<Utc>,
) -> CommandEnvelope {
    let mut breaks = std::collections::BTreeMap::new();
    for b in &report.breaks {
        *breaks.entry(b.kind.code().to_owned()).or_insert(0u64) += 1;
    }
    let command = RecordReconciliation {
        run_id: recording.run_id.clone(),
        outcome: ReconciliationOutcome {
            provider: recording.provider.clone(),
            report_sha256: hex::encode(Sha256::digest(file)),
            period_from: report.from,
            period_to: report.to,
            transaction_lines: report.transaction_lines,
            auto_matched: report.auto_matched,
            breaks,
            unexplained: report.unexplained,
            currencies: report
                .currencies
                .iter()
                .map(|c| ReconciledCurrency {
                    currency: c.currency,
                    expected_net: c.expected_net,
                    reported_net: c.reported_net,
                    variance: c.variance,
                })
                .collect(),
        },
    };
    // Each recording is a command of its own (run id, time, process and a count within it), so
    // recording a run id twice is refused as such instead of being taken for a retry.
    static RECORDINGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = RECORDINGS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let command_id = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!(
            "order-ledger/reconciliation/{}/{}/{}/{count}",
            recording.run_id,
            now.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            std::process::id(),
        )
        .as_bytes(),
    );
    CommandEnvelope {
        command_id,
        correlation_id: command_id,
        causation_id: None,
        actor: recording.actor.clone(),
        issued_at: now,
        command: Command::from(command),
    }
}
