//! `ledger query`: the read API from the command line. Through the HTTP API of a serve that
//! owns the data directory, or — when none runs — by catching the read models up with the log
//! in this process and answering locally. Both give the same JSON; `--table` and `--csv` turn
//! it into a readable table or a CSV file for analysts.

use replay_tool::spreadsheet_safe;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::api::{self, ReadContext, Route};
use crate::config::LedgerConfig;
use crate::log_admin::LogOptions;
use crate::running::Endpoint;

/// How to print an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Table,
    Csv,
}

/// A query as the command line gives it: route, path segments, parameters.
pub struct CliQuery {
    pub route: Route,
    pub path: Vec<String>,
    pub params: Vec<(String, String)>,
}

/// The answer to `query`, and with `every_page` the rows of every page after it too (a listing
/// is paged; CSV for a spreadsheet wants all of it): the pages' `items` in one list, `next`
/// cleared.
pub fn all_pages(
    mut ask: impl FnMut(&CliQuery) -> anyhow::Result<Value>,
    query: &CliQuery,
    every_page: bool,
) -> anyhow::Result<Value> {
    let mut answer = ask(query)?;
    if !every_page {
        return Ok(answer);
    }
    while let Some(next) = answer["next"].as_str().map(str::to_owned) {
        let mut params: Vec<(String, String)> = query
            .params
            .iter()
            .filter(|(name, _)| name != "after")
            .cloned()
            .collect();
        params.push(("after".to_owned(), next));
        let page = ask(&CliQuery {
            route: query.route,
            path: query.path.clone(),
            params,
        })?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if let Some(all) = answer["items"].as_array_mut() {
            all.extend(items);
        }
        answer["next"] = page["next"].clone();
    }
    Ok(answer)
}

/// Answers through the serve listening at `address`.
pub fn via_serve(serve: &Endpoint, query: &CliQuery) -> anyhow::Result<Value> {
    let base = &serve.url;
    let agent = serve.client(Duration::from_secs(80));
    let url = format!("{base}{}", query.route.url_path(&query.path));
    let mut request = agent.get(&url);
    for (name, value) in &query.params {
        request = request.query(name, value);
    }
    let mut response = request
        .call()
        .map_err(|e| anyhow::anyhow!("asking the serve at {base}: {e}"))?;
    let status = response.status();
    let value: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| anyhow::anyhow!("reading the serve's answer: {e}"))?;
    if !status.is_success() {
        anyhow::bail!(
            "{} ({status})",
            value["reason"]
                .as_str()
                .unwrap_or("the serve refused the query")
        );
    }
    Ok(value)
}

/// Answers in this process: opens the log and the read models, folds what they miss, asks.
pub async fn locally(
    config: &LedgerConfig,
    options: &LogOptions,
    query: &CliQuery,
) -> anyhow::Result<Value> {
    let log = crate::log_admin::open_existing(options).await?;
    let mut context = caught_up_context(log, config.read_side_for(options, "query")).await?;
    // The webhook deliveries' journal, where a serve of this deployment keeps it.
    let section = &config.notifications;
    let dir = section.state_dir.clone().or_else(|| {
        let embedded = options.kafka.is_none();
        embedded.then(|| options.data.join(crate::notify::STATE_DIR))
    });
    if let (Some(dir), false) = (dir, section.webhooks.is_empty()) {
        context.deliveries = crate::notify::Deliveries::Journal(dir, section.clone());
    }
    api::run(&context, query.route, &query.path, query.params.clone())
        .await
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// The read API's context over the read models `read_side` names, folded up to `log`'s end
/// first: what answers a query with no serve running.
pub async fn caught_up_context(
    log: Arc<dyn event_log::Log>,
    read_side: crate::serve::ReadSide,
) -> anyhow::Result<ReadContext> {
    let read_models = crate::serve::open_read_models(&read_side)?;
    projections::worker::catch_up(log.as_ref(), read_models.store()).await?;
    read_models.store().flush()?;
    let (_, projections) =
        projections::worker::ProjectionWorker::new(log, read_models, read_side.group)?;
    Ok(ReadContext {
        projections,
        clock: Arc::new(command_handler::SystemClock),
        slas: read_side.slas,
        policy: read_side.policy,
        deliveries: crate::notify::Deliveries::None,
    })
}

/// `ledger rebuild` through a serve: starts the rebuild and waits until it is done.
pub fn rebuild_via_serve(serve: &Endpoint) -> anyhow::Result<Value> {
    let base = &serve.url;
    let agent = serve.client(Duration::from_secs(50));
    let mut response = agent
        .post(&format!("{base}/v1/projections/rebuild"))
        .send_empty()
        .map_err(|e| anyhow::anyhow!("asking the serve at {base}: {e}"))?;
    let answer: Value = response.body_mut().read_json()?;
    anyhow::ensure!(
        response.status().is_success(),
        "{}",
        answer["reason"]
            .as_str()
            .unwrap_or("the serve refused the rebuild")
    );
    let status = CliQuery {
        route: Route::Status,
        path: Vec::new(),
        params: Vec::new(),
    };
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = via_serve(serve, &status)?;
        match now["rebuild"]["state"].as_str() {
            Some("running") => continue,
            Some("failed") => anyhow::bail!(
                "the rebuild failed: {}",
                now["rebuild"]["error"]
                    .as_str()
                    .unwrap_or("no reason given")
            ),
            _ => return Ok(now["rebuild"].clone()),
        }
    }
}

/// `ledger rebuild` on a directory no serve runs on.
pub async fn rebuild_locally(config: &LedgerConfig, options: &LogOptions) -> anyhow::Result<Value> {
    let log = crate::log_admin::open_existing(options).await?;
    let read_side = config.read_side_for(options, "rebuild");
    let mut read_models = crate::serve::open_read_models(&read_side)?;
    let started = std::time::Instant::now();
    let stats = read_models.rebuild_offline(log.as_ref()).await?;
    Ok(serde_json::json!({
        "generation": read_models.generation(),
        "state": "done",
        "events_folded": stats.applied,
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

/// The rows of an answer: a page's items, a list, or the one object.
fn rows(value: &Value) -> Vec<&Value> {
    match value {
        Value::Object(map) if map.contains_key("items") && map["items"].is_array() => map["items"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn columns(rows: &[&Value]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(map) = row {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    if columns.is_empty() {
        columns.push("value".into());
    }
    // Identifying columns first, the rest in name order (JSON objects carry no order).
    let rank = |name: &str| {
        LEADING
            .iter()
            .position(|leading| *leading == name)
            .unwrap_or(LEADING.len())
    };
    columns.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    columns
}

/// Columns that identify a row, printed first in this order.
const LEADING: &[&str] = &[
    "order_id",
    "sku",
    "warehouse",
    "currency",
    "account",
    "merchant_id",
    "date",
    "channel",
    "status",
];

fn cells(row: &Value, columns: &[String]) -> Vec<String> {
    match row {
        Value::Object(map) => columns
            .iter()
            .map(|c| map.get(c).map(cell).unwrap_or_default())
            .collect(),
        other => vec![cell(other)],
    }
}

/// A report's per-day columns, in the order a reader compares them: the day and its
/// channel, then the money (gross GMV beside net sales), then the counts.
const REPORT_DAY_COLUMNS: &[&str] = &[
    "date",
    "channel",
    "currency",
    "orders",
    "gross_gmv",
    "net_sales",
    "average_order_value",
    "cancelled",
    "expired",
    "returned",
    "defective",
    "refused",
];

/// Rows to print, with their columns, and lines to print after a table.
struct Tabular {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    notes: Vec<String>,
}

/// `value` as rows and columns: a report as one row per day and channel (then one total row
/// per currency, and its rates as notes), anything else as its rows with identifying columns
/// first (nested values as compact JSON).
fn tabular(value: &Value) -> Tabular {
    if let (Some(days), Some(totals)) = (value["days"].as_array(), value["by_currency"].as_array())
    {
        let columns: Vec<String> = REPORT_DAY_COLUMNS.iter().map(|c| c.to_string()).collect();
        let mut rows: Vec<Vec<String>> = days.iter().map(|day| cells(day, &columns)).collect();
        for total in totals {
            let mut row = cells(total, &columns);
            row[0] = "total".to_owned();
            rows.push(row);
        }
        let mut notes = Vec::new();
        for (name, key) in [
            ("cancellation rate", "cancellation_rate"),
            ("return rate", "return_rate"),
            ("order defect rate", "order_defect_rate"),
            ("refusal rate", "refusal_rate"),
        ] {
            if let Some(rate) = value[key].as_f64() {
                notes.push(format!("{name}: {:.1} %", rate * 100.0));
            }
        }
        for (name, key) in [
            ("p50", "processing_hours_p50"),
            ("p95", "processing_hours_p95"),
        ] {
            if let Some(hours) = value[key].as_f64() {
                notes.push(format!("placed to shipped {name}: {hours:.1} h"));
            }
        }
        return Tabular {
            columns,
            rows,
            notes,
        };
    }
    let rows = rows(value);
    let columns = columns(&rows);
    let notes = value
        .get("next")
        .and_then(Value::as_str)
        .map(|next| vec![format!("(more: --after {next})")])
        .unwrap_or_default();
    Tabular {
        rows: rows.iter().map(|row| cells(row, &columns)).collect(),
        columns,
        notes,
    }
}

/// Whether a cell holds a number (money, a count, a rate): those are right-aligned.
fn is_number(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
}

/// Prints `value` as pretty JSON, a padded table, or CSV.
pub fn print(value: &Value, output: Output, out: &mut impl Write) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, value)?;
            writeln!(out)?;
        }
        Output::Csv => {
            let tabular = tabular(value);
            let mut writer = csv::Writer::from_writer(out);
            writer.write_record(&tabular.columns)?;
            for row in &tabular.rows {
                writer.write_record(row.iter().map(|cell| spreadsheet_safe(cell).into_owned()))?;
            }
            writer.flush()?;
        }
        Output::Table => write_table(&tabular(value), out)?,
    }
    Ok(())
}

/// A padded table: long cells cut, numeric columns right-aligned, notes after it.
fn write_table(tabular: &Tabular, out: &mut impl Write) -> std::io::Result<()> {
    const WIDTH_MAX: usize = 48;
    let cut = |c: &String| {
        if c.chars().count() > WIDTH_MAX {
            let kept: String = c.chars().take(WIDTH_MAX - 1).collect();
            format!("{kept}…")
        } else {
            c.clone()
        }
    };
    let table: Vec<Vec<String>> = tabular
        .rows
        .iter()
        .map(|row| row.iter().map(cut).collect())
        .collect();
    let columns = &tabular.columns;
    let widths: Vec<usize> = (0..columns.len())
        .map(|i| {
            table
                .iter()
                .map(|r| r[i].chars().count())
                .chain([columns[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let numeric: Vec<bool> = (0..columns.len())
        .map(|i| {
            let mut filled = table
                .iter()
                .map(|r| r[i].as_str())
                .filter(|c| !c.is_empty())
                .peekable();
            filled.peek().is_some() && filled.all(|c| is_number(c) || c == "total")
        })
        .collect();
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((c, w), right)| {
                if *right {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    writeln!(out, "{}", line(columns))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    writeln!(out, "{}", rule.join("  "))?;
    for row in &table {
        writeln!(out, "{}", line(row))?;
    }
    for note in &tabular.notes {
        writeln!(out, "{note}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_print_as_rows_in_every_format() {
        let page = json!({"items": [{"order_id": "a", "total": "9.50", "lines": [1, 2]}, {"order_id": "b, c", "total": "1.00", "lines": []}], "next": "ff"});
        let mut csv = Vec::new();
        print(&page, Output::Csv, &mut csv).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "order_id,lines,total\na,\"[1,2]\",9.50\n\"b, c\",[],1.00\n"
        );
        let mut table = Vec::new();
        print(&page, Output::Table, &mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.starts_with("order_id  lines  total\n"), "{table}");
        assert!(
            table.contains("a         [1,2]   9.50\n"),
            "numbers right-aligned: {table}"
        );
        assert!(table.contains("(more: --after ff)"));
        let mut one = Vec::new();
        print(&json!({"balanced": true}), Output::Csv, &mut one).unwrap();
        assert_eq!(String::from_utf8(one).unwrap(), "balanced\ntrue\n");
    }
}
