//! `ledger reconcile`: a payment provider's settlement report against the ledger's captures
//! and refunds, read from the event log (`finance` does the matching).

use std::io::Write;

use anyhow::{Context as _, Result};
use event_log::Log;
use finance::ledger::Collector;
use finance::psp::{self, ColumnMap};
use finance::reconcile::{self, Options, Report};
use order_events::codec;

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

/// Reads the ledger's money events from `log` and reconciles `report` (a CSV file's bytes,
/// read through `map`) against them.
pub async fn run(
    log: &dyn Log,
    report: &[u8],
    map: &ColumnMap,
    options: &Options,
) -> Result<Report> {
    let (lines, errors) = psp::read(report, map).context("reading the provider's report")?;
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
                csv.write_record([
                    b.kind.code().to_owned(),
                    b.line.map(|l| l.to_string()).unwrap_or_default(),
                    b.psp_reference.clone(),
                    b.currency.map(|c| c.to_string()).unwrap_or_default(),
                    b.provider_amount.map(|a| a.to_string()).unwrap_or_default(),
                    b.ledger_amount.map(|a| a.to_string()).unwrap_or_default(),
                    b.ledger_event.map(|e| e.to_string()).unwrap_or_default(),
                    b.order_id.clone().unwrap_or_default(),
                    b.detail.clone(),
                ])?;
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
