//! `ledger submit`: publish JSON command lines and print what happened to each.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use command_handler::client::{await_result, publish_json};
use command_handler::{Handler, HandlerConfig, SystemClock};
use event_log::Log;
use order_events::codec::json;
use serde_json::json;

/// Totals over the submitted lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubmitSummary {
    pub accepted: usize,
    pub rejected: usize,
    pub invalid: usize,
    /// Commands published whose result did not arrive in time.
    pub unanswered: usize,
}

/// Publishes each non-blank line of `input` as a command and prints one JSON object per line:
/// the command's result, or why the line is not a command. With `process_locally`, runs a
/// handler in this process while submitting (an embedded log that no `ledger serve` owns).
pub async fn submit(
    log: Arc<dyn Log>,
    handler_config: HandlerConfig,
    input: &str,
    process_locally: bool,
    wait: Duration,
    out: &mut impl Write,
) -> anyhow::Result<SubmitSummary> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let local = process_locally.then(|| {
        let handler = Handler::new(log.clone(), handler_config, Arc::new(SystemClock));
        tokio::spawn(handler.run(async {
            let _ = stopped.await;
        }))
    });
    let mut summary = SubmitSummary::default();
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let envelope = match json::decode_command(line.as_bytes()) {
            Ok(envelope) => envelope,
            Err(error) => {
                summary.invalid += 1;
                writeln!(
                    out,
                    "{}",
                    json!({"line": number, "outcome": "invalid", "error": error.code(), "reason": error.to_string()})
                )?;
                continue;
            }
        };
        let submitted = publish_json(log.as_ref(), line.as_bytes(), &envelope).await?;
        match await_result(log.as_ref(), &submitted, wait).await? {
            Some(result) => {
                if result.is_accepted() {
                    summary.accepted += 1;
                } else {
                    summary.rejected += 1;
                }
                let mut value = serde_json::to_value(&result)?;
                value["line"] = number.into();
                writeln!(out, "{value}")?;
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
    if let Some(task) = local {
        let _ = stop.send(());
        task.await??;
    }
    Ok(summary)
}
