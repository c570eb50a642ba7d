//! `ledger submit`: publish JSON command lines and print what happened to each.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use command_handler::client::Results;
use command_handler::{Handler, HandlerConfig, SystemClock};
use event_log::{Log, LogError, Topic, TopicPartition};
use order_events::codec::json;
use serde_json::json;

use crate::background::Background;

/// Totals over the submitted lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitSummary {
    pub accepted: usize,
    pub rejected: usize,
    pub invalid: usize,
    /// Commands published whose result did not arrive in time.
    pub unanswered: usize,
}

/// Waits until the handler group has decided every command on the commands topic, including
/// the order process's reactions to them (those are appended in the same transaction that
/// commits the offsets, so an unchanged end after a caught-up commit means nothing is left).
/// Timers are not waited for. Returns false when `limit` passed first.
///
/// On Kafka a partition can sit behind its end with nothing readable for two reasons: only a
/// transaction's commit markers are left (caught up), or a transaction is still open and its
/// records are not readable yet, while its offsets may already show as committed (a broker
/// materialises the offsets and the markers of other partitions one after the other). The two
/// look alike for a moment, so such a state counts only once it has held unchanged for
/// [`SETTLED_FOR`]; an open transaction commits or aborts well within that.
pub async fn settle(
    log: &dyn event_log::LogReader,
    group: &str,
    limit: Duration,
) -> Result<bool, LogError> {
    let deadline = tokio::time::Instant::now() + limit;
    let topic = log.topics().name(Topic::Commands);
    // The last caught-up state that relied on a partition with nothing readable before its
    // end, and since when it has been seen.
    let mut unsure: Option<(Vec<u64>, Vec<u64>, tokio::time::Instant)> = None;
    loop {
        let ends = log.end_offsets(Topic::Commands).await?;
        let committed = log.committed_offsets(group, Topic::Commands).await?;
        let mut caught_up = true;
        let mut behind_end = false;
        for (partition, (&next, &end)) in committed.iter().zip(&ends).enumerate() {
            if next < end {
                let tp = TopicPartition::new(&topic, partition as u32);
                if !log.read(&tp, next, 1).await?.is_empty() {
                    caught_up = false;
                    break;
                }
                behind_end = true;
            }
        }
        if caught_up && log.end_offsets(Topic::Commands).await? == ends {
            if !behind_end {
                return Ok(true);
            }
            let now = tokio::time::Instant::now();
            match &unsure {
                Some((seen_ends, seen_committed, since))
                    if *seen_ends == ends && *seen_committed == committed =>
                {
                    if now.duration_since(*since) >= SETTLED_FOR {
                        return Ok(true);
                    }
                }
                _ => unsure = Some((ends, committed, now)),
            }
        } else {
            unsure = None;
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long a caught-up state with unreadable offsets before a partition's end must hold.
const SETTLED_FOR: Duration = Duration::from_millis(100);

/// Publishes each non-blank line of `input` as a command and prints one JSON object per line:
/// the command's result, or why the line is not a command. After each result it lets the
/// order process settle (see [`settle`]), so the next line sees what the process did — a
/// script can capture a payment right after placing the order. With `process_locally`, runs
/// a handler in this process while submitting (an embedded log that no `ledger serve` owns).
pub async fn submit(
    log: Arc<dyn Log>,
    handler_config: HandlerConfig,
    input: &str,
    process_locally: bool,
    wait: Duration,
    out: &mut impl Write,
) -> anyhow::Result<SubmitSummary> {
    let group = handler_config.group.clone();
    let local = process_locally.then(|| {
        let handler = Handler::new(log.clone(), handler_config, Arc::new(SystemClock));
        Background::spawn(|stopped| handler.run(stopped.wait()))
    });
    let results = Results::follow(log.clone()).await?;
    let mut summary = SubmitSummary::default();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let envelope = match json::decode_command_json(line.as_bytes()) {
            Ok(envelope) => envelope,
            Err(error) => {
                summary.invalid += 1;
                writeln!(out, "{}", invalid_answer(&error, Some(number)))?;
                continue;
            }
        };
        match results
            .submit_json(line.as_bytes(), &envelope, wait)
            .await?
        {
            Some(result) => {
                if result.is_accepted() {
                    summary.accepted += 1;
                } else {
                    summary.rejected += 1;
                }
                let mut value = serde_json::to_value(&result)?;
                value["line"] = number.into();
                writeln!(out, "{value}")?;
                if !settle(log.as_ref(), &group, wait).await? {
                    tracing::warn!(
                        line = number,
                        "the order process did not settle within the wait"
                    );
                }
            }
            None => {
                summary.unanswered += 1;
                writeln!(
                    out,
                    "{}",
                    json!({"line": number, "outcome": "unanswered", "command_id": envelope.command_id, "reason": format!("no result within {} s; is a `ledger serve` running?", wait.as_secs())})
                )?;
            }
        }
    }
    if let Some(handler) = local {
        handler.stop().await??;
    }
    Ok(summary)
}

/// [`submit`] through the `ledger serve` that owns the data directory, reached at `serve`:
/// each line is posted to its `POST /v1/commands` and the answer printed the same way.
pub async fn submit_via_serve(
    serve: &crate::running::Endpoint,
    input: &str,
    wait: Duration,
    out: &mut impl Write,
) -> anyhow::Result<SubmitSummary> {
    let base = serve.url.as_str();
    let mut summary = SubmitSummary::default();
    let agent = serve.client(wait);
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let (agent, base, line) = (agent.clone(), base.to_owned(), line.to_owned());
        let mut value =
            tokio::task::spawn_blocking(move || crate::running::post_line(&agent, &base, &line))
                .await??;
        match value["outcome"].as_str() {
            Some("accepted") => summary.accepted += 1,
            Some("rejected") => summary.rejected += 1,
            Some("invalid") => summary.invalid += 1,
            _ => summary.unanswered += 1,
        }
        value["line"] = number.into();
        writeln!(out, "{value}")?;
    }
    Ok(summary)
}

/// The answer to a command that could not be decoded: the error's code, the reason, the JSON
/// path of the field at fault when there is one, and the line of the input.
pub fn invalid_answer(
    error: &order_events::codec::DecodeError,
    line: Option<usize>,
) -> serde_json::Value {
    let mut answer =
        json!({"outcome": "invalid", "error": error.code(), "reason": error.to_string()});
    if let Some(field) = error.field() {
        answer["field"] = json!(field);
    }
    if let Some(line) = line {
        answer["line"] = json!(line);
    }
    answer
}
