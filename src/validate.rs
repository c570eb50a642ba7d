//! `ledger validate`: run a file of JSON commands through the domain, in memory, and say what
//! the ledger would answer to each.
//!
//! The file holds JSON commands one after another (JSON Lines, or pretty-printed documents
//! back to back). Each is decided at its own `issued_at`, against the state left by the ones
//! before it (and by an optional history of exported events), so the answer is the same on
//! every run. Nothing is written anywhere unless `--events` asks for the accepted events.

use std::io::Write;

use order_events::codec::json;
use order_events::ledger::MemoryLedger;
use order_events::{CommandEnvelope, Policy};
use serde_json::{json, value::RawValue, Value};

/// What happened to one command of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Accepted {
        command_type: &'static str,
        aggregate: String,
        /// The accepted events as exported JSON.
        events: Vec<Value>,
    },
    Rejected {
        command_type: &'static str,
        aggregate: String,
        code: &'static str,
        detail: String,
    },
    /// The bytes are not a command; `reason` says why.
    Undecodable { code: &'static str, reason: String },
}

/// One command's outcome and where it sits in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based line of the command's first byte in the input.
    pub line: usize,
    pub outcome: Outcome,
}

/// Totals over a whole file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub accepted: usize,
    pub rejected: usize,
    pub undecodable: usize,
}

/// Why a history file could not be loaded. (The cause is part of the message and not a
/// `source`, so a chain of contexts prints it once.)
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history line {line}: {error}")]
    Decode {
        line: usize,
        error: order_events::codec::DecodeError,
    },
    #[error("history line {line}: event {event_id} ({aggregate} sequence {sequence}) was changed: its content hashes to {computed}, not to the hash stored with it, {stored}")]
    Changed {
        line: usize,
        event_id: String,
        aggregate: String,
        sequence: u64,
        stored: String,
        computed: String,
    },
    #[error("history line {line}: the export could not read the record at partition {partition} offset {offset}: {reason}")]
    Unreadable {
        line: usize,
        partition: u64,
        offset: u64,
        reason: String,
    },
    #[error("history line {line}: {error}")]
    Chain {
        line: usize,
        error: order_events::ledger::ChainError,
    },
}

/// Builds a ledger from exported events (one JSON event per line, as `replay export --format
/// jsonl` writes them), checking every event's hash against its content and every chain; it
/// decides with `policy` and the rule tables of `rules` (the catalog and carrier table).
pub fn load_history(
    text: &str,
    policy: Policy,
    rules: order_events::process::ProcessRules,
) -> Result<MemoryLedger, HistoryError> {
    let mut ledger = MemoryLedger::with_rules(policy, rules);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = index + 1;
        let envelope = json::decode_event_verified(line.as_bytes())
            .map_err(|error| history_error(line_number, line, error))?;
        ledger
            .replay(&envelope)
            .map_err(|error| HistoryError::Chain {
                line: line_number,
                error,
            })?;
    }
    Ok(ledger)
}

/// Names what is wrong with a history line: a changed event by its id and place, a record the
/// export itself could not read, or the decode error.
fn history_error(line: usize, text: &str, error: order_events::codec::DecodeError) -> HistoryError {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    if let order_events::codec::DecodeError::HashMismatch { stored, computed } = &error {
        return HistoryError::Changed {
            line,
            event_id: value["event_id"].as_str().unwrap_or_default().to_owned(),
            aggregate: format!(
                "{}:{}",
                value["aggregate_kind"].as_str().unwrap_or_default(),
                value["aggregate_id"].as_str().unwrap_or_default()
            ),
            sequence: value["sequence"].as_u64().unwrap_or_default(),
            stored: stored.clone(),
            computed: computed.clone(),
        };
    }
    if let (Some(reason), None) = (value["error"].as_str(), value.get("event_id")) {
        return HistoryError::Unreadable {
            line,
            partition: value["partition"].as_u64().unwrap_or_default(),
            offset: value["offset"].as_u64().unwrap_or_default(),
            reason: reason.to_owned(),
        };
    }
    HistoryError::Decode { line, error }
}

/// Decides every command in `input` against `ledger`, in order.
pub fn run(ledger: &mut MemoryLedger, input: &[u8]) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(input).into_iter::<&RawValue>();
    loop {
        let start = skip_whitespace(input, stream.byte_offset());
        let line = line_of(input, start);
        match stream.next() {
            None => break,
            Some(Ok(raw)) => {
                let outcome = match json::decode_command_json(raw.get().as_bytes()) {
                    Ok(command) => decide(ledger, &command),
                    Err(error) => undecodable(&error),
                };
                lines.push(Line { line, outcome });
            }
            Some(Err(error)) => {
                // The stream cannot resynchronise after broken JSON: report it and stop.
                lines.push(Line {
                    line,
                    outcome: undecodable(&error.into()),
                });
                break;
            }
        }
    }
    lines
}

fn undecodable(error: &order_events::codec::DecodeError) -> Outcome {
    Outcome::Undecodable {
        code: error.code(),
        reason: error.to_string(),
    }
}

fn decide(ledger: &mut MemoryLedger, command: &CommandEnvelope) -> Outcome {
    let command_type = command.command.type_name();
    let target = command.command.target();
    let aggregate = format!("{} {}", target.kind, target.id);
    match ledger.submit(command, command.issued_at) {
        Ok(sealed) => Outcome::Accepted {
            command_type,
            aggregate,
            events: sealed
                .iter()
                .map(|event| json::encode_event(&event.envelope))
                .collect(),
        },
        Err(rejection) => Outcome::Rejected {
            command_type,
            aggregate,
            code: rejection.rule.code(),
            detail: rejection.detail,
        },
    }
}

fn skip_whitespace(input: &[u8], offset: usize) -> usize {
    let rest = input.get(offset..).unwrap_or_default();
    offset + rest.iter().take_while(|b| b.is_ascii_whitespace()).count()
}

fn line_of(input: &[u8], offset: usize) -> usize {
    1 + input[..offset.min(input.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

pub fn summarize(lines: &[Line]) -> Summary {
    let mut summary = Summary::default();
    for line in lines {
        match line.outcome {
            Outcome::Accepted { .. } => summary.accepted += 1,
            Outcome::Rejected { .. } => summary.rejected += 1,
            Outcome::Undecodable { .. } => summary.undecodable += 1,
        }
    }
    summary
}

/// Prints one line per command for a person.
pub fn write_text(out: &mut impl Write, lines: &[Line]) -> std::io::Result<()> {
    for line in lines {
        match &line.outcome {
            Outcome::Accepted {
                command_type,
                aggregate,
                events,
            } => {
                let names: Vec<String> = events
                    .iter()
                    .map(|e| format!("{} #{}", e["type"].as_str().unwrap_or("?"), e["sequence"]))
                    .collect();
                let names = if names.is_empty() {
                    "no change (already so)".to_owned()
                } else {
                    names.join(", ")
                };
                writeln!(out, "line {:>4}  accepted  {command_type:<22} {aggregate}\n            -> {names}", line.line)?;
            }
            Outcome::Rejected {
                command_type,
                aggregate,
                code,
                detail,
            } => writeln!(
                out,
                "line {:>4}  REJECTED  {command_type:<22} {aggregate}\n            -> {code}: {detail}",
                line.line
            )?,
            Outcome::Undecodable { code, reason } => {
                writeln!(out, "line {:>4}  INVALID   {code}: {reason}", line.line)?
            }
        }
    }
    let summary = summarize(lines);
    writeln!(
        out,
        "{} commands: {} accepted, {} rejected, {} invalid",
        lines.len(),
        summary.accepted,
        summary.rejected,
        summary.undecodable
    )
}

/// Prints one JSON object per command, for programs.
pub fn write_json(out: &mut impl Write, lines: &[Line]) -> std::io::Result<()> {
    for line in lines {
        let value = match &line.outcome {
            Outcome::Accepted {
                command_type,
                aggregate,
                events,
            } => {
                json!({"line": line.line, "outcome": "accepted", "type": command_type, "aggregate": aggregate, "events": events})
            }
            Outcome::Rejected {
                command_type,
                aggregate,
                code,
                detail,
            } => {
                json!({"line": line.line, "outcome": "rejected", "type": command_type, "aggregate": aggregate, "rule": code, "detail": detail})
            }
            Outcome::Undecodable { code, reason } => {
                json!({"line": line.line, "outcome": "invalid", "error": code, "reason": reason})
            }
        };
        writeln!(out, "{value}")?;
    }
    Ok(())
}

/// Writes the accepted events as JSON Lines, ready to be a `--history` file.
pub fn write_events(out: &mut impl Write, lines: &[Line]) -> std::io::Result<()> {
    for line in lines {
        if let Outcome::Accepted { events, .. } = &line.outcome {
            for event in events {
                writeln!(out, "{event}")?;
            }
        }
    }
    Ok(())
}
