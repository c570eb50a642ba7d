//! Answers as people and spreadsheets read them: a read API answer (JSON) as rows and
//! columns — a padded table, or CSV — for `ledger query --table/--csv` and for HTTP clients
//! that ask for `text/csv`.

use std::io::Write;

use replay_tool::spreadsheet_safe;
use serde_json::Value;

/// How to print an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Table,
    Csv,
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
    "sequence",
    "wave_id",
    "order_id",
    "sku",
    "warehouse",
    "bin",
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
        Output::Csv => write_csv(value, out)?,
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

/// `value` as CSV: its rows under a header of its columns, cells a spreadsheet cannot take for
/// a formula.
pub fn write_csv(value: &Value, out: &mut impl Write) -> anyhow::Result<()> {
    let tabular = tabular(value);
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(&tabular.columns)?;
    for row in &tabular.rows {
        writer.write_record(row.iter().map(|cell| spreadsheet_safe(cell).into_owned()))?;
    }
    writer.flush()?;
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
