//! Talking to a running `ledger serve` from a tool: finding the one that owns a data
//! directory (`replay_tool::running`, shared with the replay tool, which cannot depend on this
//! crate) and posting commands to it. `ledger submit`, `query`, `rebuild`, `bench` and
//! `reconcile` go through here when a serve holds their directory.

use std::time::Duration;

use axum::http::StatusCode;
pub use replay_tool::running::{
    address_file_text, Endpoint, ADDRESS_FILE, CERTIFICATE_FILE, LOCK_FILE, TOKEN_ENV, TOKEN_FILE,
};

use crate::log_admin::LogOptions;

/// The serve that owns an embedded data directory, if one runs (then its log and read models
/// are reached through it); `None` on Kafka, where no serve owns anything.
pub fn endpoint_of(options: &LogOptions) -> Option<Endpoint> {
    match options.kafka {
        None => Endpoint::of(&options.data),
        Some(_) => None,
    }
}

/// The HTTP client `ledger submit` posts to a running serve with: one per submission, so its
/// connection is reused from line to line. Every request bears `token`, if given.
pub fn client(wait: Duration, token: Option<String>) -> ureq::Agent {
    replay_tool::running::client(wait + Duration::from_secs(5), token)
}

/// How long a 429 says to wait: the body's `retry_after_ms`, else `Retry-After` seconds;
/// between a millisecond and ten seconds.
fn retry_after(response: &mut ureq::http::Response<ureq::Body>) -> Duration {
    let seconds = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let body: Option<serde_json::Value> = response.body_mut().read_json().ok();
    let millis = body
        .as_ref()
        .and_then(|body| body["retry_after_ms"].as_u64())
        .or(seconds.map(|s| s.saturating_mul(1000)))
        .unwrap_or(1000);
    Duration::from_millis(millis.clamp(1, 10_000))
}

/// `ledger submit` through a running serve: posts one JSON command line and returns the JSON
/// answer (a result, or why the line is not a command), once the order process has reacted.
pub fn post_line(agent: &ureq::Agent, base: &str, line: &str) -> anyhow::Result<serde_json::Value> {
    post_command_line(agent, base, line, true)
}

/// Posts one JSON command line to a running serve (at base URL `base`) and returns the JSON answer; with `settle`,
/// the answer comes once the order process has reacted to the command.
pub fn post_command_line(
    agent: &ureq::Agent,
    base: &str,
    line: &str,
    settle: bool,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{base}/v1/commands?settle={settle}");
    // Over the token's request rate the serve answers 429: wait as long as it says, and post
    // again (for at most a minute), rather than report a line refused for its pace.
    let patience = std::time::Instant::now() + Duration::from_secs(60);
    let mut response = loop {
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(line)
            .map_err(|e| anyhow::anyhow!("posting to the serve at {base}: {e}"))?;
        if response.status() != StatusCode::TOO_MANY_REQUESTS
            || std::time::Instant::now() >= patience
        {
            break response;
        }
        std::thread::sleep(retry_after(&mut response));
    };
    let value: serde_json::Value = response
        .body_mut()
        .read_json()
        .map_err(|e| anyhow::anyhow!("reading the serve's answer: {e}"))?;
    Ok(value)
}
