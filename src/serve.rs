//! `ledger serve`: the command handler (with the order process) plus a small HTTP front door.
//!
//! HTTP, on the listener it is given:
//! - `POST /v1/commands` — one JSON command (the same JSON as on the commands topic); answers
//!   with its result (200), why it is not a command (400), or that no result came in time
//!   (504). `?settle=true` also waits until the order process has reacted, which is what
//!   `ledger submit` asks for when it goes through a running serve.
//! - `GET /metrics` — Prometheus text: commands by outcome, rejections by rule, batch sizes,
//!   decide and catch-up latency, process commands, timers fired.
//! - `POST /v1/reconciliations` — a payment provider's settlement report (CSV body or
//!   multipart `file`) reconciled against the log's captures and refunds; the report as JSON.
//! - `GET /v1/health` — `ok` while serving.
//! - the read API of [`crate::api`] (orders, inventory, balances, reports, exception queue,
//!   projection status, `/v1/openapi.json`), answered from the read models a projection worker
//!   keeps beside the handler.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use command_handler::client::Results;
use command_handler::{Clock, Handler, HandlerConfig, HandlerError, HandlerStats};
use event_log::Log;
use metrics_exporter_prometheus::PrometheusHandle;
use order_events::codec::json;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Access, Auth, Caller, Role};
use crate::background::Background;

use crate::running::{ADDRESS_FILE, LOCK_FILE, TOKEN_FILE};

/// Takes `data`'s serve lock for as long as the returned file lives.
fn lock_directory(data: &Path) -> anyhow::Result<std::fs::File> {
    let path = data.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => {
            anyhow::anyhow!("{} is held by another serve", path.display())
        }
        std::fs::TryLockError::Error(e) => anyhow::anyhow!("locking {}: {e}", path.display()),
    })?;
    Ok(file)
}

#[derive(Clone)]
struct AppState {
    log: Arc<dyn Log>,
    /// Follows the results topic for every request waiting on a command.
    results: Arc<Results>,
    group: String,
    metrics: Option<PrometheusHandle>,
    wait: Duration,
    clock: Arc<dyn Clock>,
    fatal: Fatal,
    /// Publishes checkpoints on request, and knows the last one (none when it is off).
    checkpoints: Option<crate::checkpoints::Publisher>,
    /// Delivers notifications to webhooks (none when no webhook is configured).
    notifier: Option<crate::notify::Notifier>,
}

impl AppState {
    /// The error code of a command the log did not take. A log that cannot be written (the
    /// disk full) takes nothing more: the serve stops, and says why.
    fn publish_failed(&self, error: &event_log::LogError) -> &'static str {
        tracing::error!(%error, "publishing a command failed");
        match error {
            event_log::LogError::Storage(reason) => {
                self.fatal.raise(
                    STORAGE_FAILED,
                    format!("the log cannot be written: {reason}"),
                );
                STORAGE_FAILED
            }
            _ => "log_unavailable",
        }
    }
}

/// The error code of a command answered while the serve stops because its log or a store
/// cannot be written.
const STORAGE_FAILED: &str = "storage_failed";

/// Why the serve must stop before it is told to: a part of it that cannot go on (the log or
/// a store that can no longer be written — a full disk —, the handler stopped by an error, or
/// the projection worker ended by one). The first reason wins: the handler stops, commands
/// still waiting for a result are answered 503 with it, and the serve exits with it.
#[derive(Clone)]
struct Fatal(Arc<tokio::sync::watch::Sender<Option<Stop>>>);

/// An error code for the answers, and the reason.
#[derive(Clone)]
struct Stop {
    code: &'static str,
    reason: String,
}

impl Fatal {
    fn new() -> Fatal {
        Fatal(Arc::new(tokio::sync::watch::channel(None).0))
    }

    fn raise(&self, code: &'static str, reason: String) {
        self.0.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            tracing::error!(%reason, "stopping");
            *current = Some(Stop { code, reason });
            true
        });
    }

    fn stop(&self) -> Option<Stop> {
        self.0.borrow().clone()
    }

    /// Completes once a reason is raised, with it.
    async fn raised(&self) -> Stop {
        let mut receiver = self.0.subscribe();
        loop {
            if let Some(stop) = receiver.borrow_and_update().clone() {
                return stop;
            }
            if receiver.changed().await.is_err() {
                // Never: the sender lives in `self`.
                std::future::pending::<()>().await;
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandQuery {
    #[serde(default)]
    settle: bool,
}

async fn post_command(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    query: Result<Query<CommandQuery>, axum::extract::rejection::QueryRejection>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let body = command_body(request).await;
    let query = match query {
        Ok(Query(query)) => query,
        Err(rejection) => {
            let answer = json!({"outcome": "invalid", "error": "bad_parameter", "reason": rejection.body_text()});
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    let body = match body {
        Ok(body) => body,
        Err(why) => {
            let answer = json!({
                "outcome": "invalid",
                "error": "too_large",
                "reason": format!(
                    "a command is at most {} bytes; the body could not be taken: {why}",
                    order_events::codec::RECORD_BYTES_MAX
                ),
            });
            return (StatusCode::PAYLOAD_TOO_LARGE, Json(answer)).into_response();
        }
    };
    let envelope = match json::decode_command_json(&body) {
        Ok(envelope) => envelope,
        Err(error) => {
            let answer = crate::submit::invalid_answer(&error, None);
            return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
        }
    };
    if let Err(reason) = crate::auth::may_submit(&caller, &envelope) {
        let answer = json!({"outcome": "forbidden", "error": "forbidden", "reason": reason});
        return (StatusCode::FORBIDDEN, Json(answer)).into_response();
    }
    let outcome = async {
        let result = state
            .results
            .submit_json(&body, &envelope, state.wait)
            .await?;
        if result.is_some() && query.settle {
            crate::submit::settle(state.log.as_ref(), &state.group, state.wait).await?;
        }
        Ok::<_, event_log::LogError>(result)
    };
    // A serve that stops for a fault answers at once rather than after the whole wait: the
    // command is in the log or not, and is decided (once) after the restart if it is.
    let outcome = tokio::select! {
        outcome = outcome => outcome,
        stop = state.fatal.raised() => {
            let answer = json!({"outcome": "error", "error": stop.code, "command_id": envelope.command_id, "reason": stop.reason});
            return (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response();
        }
    };
    match outcome {
        Ok(Some(result)) => (StatusCode::OK, Json(json!(result))).into_response(),
        Ok(None) => {
            let answer = json!({"outcome": "unanswered", "command_id": envelope.command_id, "reason": format!("no result within {} s", state.wait.as_secs())});
            (StatusCode::GATEWAY_TIMEOUT, Json(answer)).into_response()
        }
        Err(error) => {
            let code = state.publish_failed(&error);
            let answer = json!({"outcome": "error", "error": code, "reason": error.to_string()});
            (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response()
        }
    }
}

/// The most a command body may be: twice a record's limit. A body between the two is still
/// read, and refused by the decoder as too_large with its reason.
const COMMAND_BODY_MAX: usize = 2 * order_events::codec::RECORD_BYTES_MAX;

/// How much of a body declared over [`COMMAND_BODY_MAX`] is read and dropped before the 413,
/// so that a client still writing it reads the answer instead of a reset connection.
const DRAIN_MAX: usize = 64 << 20;

/// A command's body, or why it is not taken. One declared too large is refused without being
/// kept: read and dropped (up to [`DRAIN_MAX`]) so the answer reaches the client.
async fn command_body(request: axum::extract::Request) -> Result<axum::body::Bytes, String> {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    let body = request.into_body();
    if let Some(length) = declared.filter(|&length| length > COMMAND_BODY_MAX) {
        drain(body, DRAIN_MAX).await;
        return Err(format!("its length is {length} bytes"));
    }
    axum::body::to_bytes(body, COMMAND_BODY_MAX)
        .await
        .map_err(|error| error.to_string())
}

/// Reads and drops up to `most` bytes of `body`.
async fn drain(mut body: axum::body::Body, most: usize) {
    use http_body_util::BodyExt;
    let mut read = 0;
    while let Some(Ok(frame)) = body.frame().await {
        read += frame.data_ref().map_or(0, |data| data.len());
        if read > most {
            break;
        }
    }
}

async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    match &state.metrics {
        Some(handle) => {
            handle.run_upkeep();
            (StatusCode::OK, handle.render())
        }
        None => (
            StatusCode::NOT_FOUND,
            "metrics are not recorded in this process\n".to_owned(),
        ),
    }
}

#[derive(Deserialize)]
struct ReadQuery {
    #[serde(default)]
    from: u64,
    #[serde(default = "read_limit_default")]
    limit: usize,
}

fn read_limit_default() -> usize {
    1000
}

/// `GET /v1/log/layout`: what a reader needs to address the events topic.
async fn get_layout(State(state): State<AppState>) -> impl IntoResponse {
    let ends = state.log.end_offsets(event_log::Topic::Events).await;
    match ends {
        Ok(ends) => (
            StatusCode::OK,
            Json(
                json!({"prefix": state.log.topics().prefix(), "partitions": ends.len(), "ends": ends}),
            ),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "unavailable", "reason": error.to_string()})),
        ),
    }
}

/// `POST /v1/checkpoints`: publishes a checkpoint of the log as it is now (signed with the
/// deployment's key) and answers it.
async fn post_checkpoint(State(state): State<AppState>) -> axum::response::Response {
    let unavailable = |code: &str, reason: String| {
        let body = json!({"error": code, "reason": reason});
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    };
    let Some(publisher) = &state.checkpoints else {
        return unavailable(
            "checkpoints_off",
            "this serve publishes no checkpoints".into(),
        );
    };
    match publisher.publish_now().await {
        Ok(checkpoint) => (StatusCode::OK, Json(checkpoint)).into_response(),
        Err(reason) => unavailable("checkpoint_failed", reason),
    }
}

/// The answer of the notification routes on a serve that delivers no webhooks.
fn webhooks_off() -> axum::response::Response {
    let reason = "this serve delivers notifications to no webhook ([[notifications.webhooks]])";
    let body = json!({"error": "webhooks_off", "reason": reason});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// `POST /v1/notifications/{id}/retry`: sends a notification's parked deliveries again.
async fn post_notification_retry(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> axum::response::Response {
    let Some(notifier) = &state.notifier else {
        return webhooks_off();
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        let reason = format!("{id:?} is not a notification id (a UUID)");
        let body = json!({"error": "bad_parameter", "reason": reason});
        return (StatusCode::BAD_REQUEST, Json(body)).into_response();
    };
    match notifier.retry(id) {
        Ok(retried) => (StatusCode::OK, Json(json!({"retried": retried}))).into_response(),
        Err(error @ crate::notify::RetryError::NothingParked(_)) => {
            let body = json!({"error": "nothing_parked", "reason": error.to_string()});
            (StatusCode::NOT_FOUND, Json(body)).into_response()
        }
        Err(error) => {
            let body = json!({"error": "unavailable", "reason": error.to_string()});
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

/// `GET /v1/log/proofs/{event_id}`: the inclusion proof of one event
/// (`docs/verifiable-history.md` §3), anchored in a checkpoint this serve published.
async fn get_proof(
    State(state): State<AppState>,
    axum::extract::Path(event_id): axum::extract::Path<String>,
) -> axum::response::Response {
    use crate::checkpoints::ProveError;
    use replay_tool::proof::ProofError;
    let refused = |status: StatusCode, code: &str, reason: String| {
        (status, Json(json!({"error": code, "reason": reason}))).into_response()
    };
    let Ok(event_id) = uuid::Uuid::parse_str(&event_id) else {
        let reason = format!("{event_id:?} is not an event id (a UUID)");
        return refused(StatusCode::BAD_REQUEST, "bad_parameter", reason);
    };
    let log: &dyn event_log::LogReader = state.log.as_ref();
    match crate::checkpoints::prove(log, state.checkpoints.as_ref(), event_id).await {
        Ok(proof) => (StatusCode::OK, Json(proof)).into_response(),
        Err(error) => {
            let (status, code) = match &error {
                ProveError::Proof(ProofError::NotFound(_)) => {
                    (StatusCode::NOT_FOUND, "unknown_event")
                }
                ProveError::Proof(ProofError::NotExtended { .. }) => {
                    (StatusCode::CONFLICT, "not_extended")
                }
                ProveError::Proof(ProofError::Replay(_)) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
                _ => (StatusCode::SERVICE_UNAVAILABLE, "proof_failed"),
            };
            if status != StatusCode::NOT_FOUND {
                tracing::warn!(%error, %event_id, "no proof");
            }
            refused(status, code, error.to_string())
        }
    }
}

/// `GET /v1/log/events/{partition}?from=O&limit=N`: committed records of the events topic,
/// bytes as stored (hex), for auditors reading a directory this serve holds (read-only).
async fn get_events(
    State(state): State<AppState>,
    axum::extract::Path(partition): axum::extract::Path<u32>,
    Query(query): Query<ReadQuery>,
) -> axum::response::Response {
    if query.limit == 0 || query.limit > 1000 {
        let answer = json!({"error": "bad_limit", "reason": format!("limit {} is out of range (1 to 1000)", query.limit)});
        return (StatusCode::BAD_REQUEST, Json(answer)).into_response();
    }
    let tp = event_log::TopicPartition::new(
        state.log.topics().name(event_log::Topic::Events),
        partition,
    );
    match state.log.read(&tp, query.from, query.limit).await {
        Ok(records) => {
            let records: Vec<serde_json::Value> = records
                .iter()
                .map(|r| {
                    json!({
                        "offset": r.offset,
                        "key": r.key.as_ref().map(hex::encode),
                        "timestamp_ms": r.timestamp_ms,
                        "payload": hex::encode(&r.payload),
                    })
                })
                .collect();
            (StatusCode::OK, Json(json!({"records": records}))).into_response()
        }
        Err(event_log::LogError::UnknownPartition(name)) => {
            let answer =
                json!({"error": "unknown_partition", "reason": format!("no partition {name}")});
            (StatusCode::NOT_FOUND, Json(answer)).into_response()
        }
        Err(error) => {
            let answer = json!({"error": "unavailable", "reason": error.to_string()});
            (StatusCode::SERVICE_UNAVAILABLE, Json(answer)).into_response()
        }
    }
}

/// The largest provider report `POST /v1/reconciliations` takes.
pub const RECONCILIATION_BODY_LIMIT: usize = 64 << 20;

/// `POST /v1/reconciliations?from=D&to=D&window_days=N&map=FIELD=COLUMN...`: the provider's
/// report as the body (CSV), or as the `file` field of a multipart form; answers with the
/// report as JSON (200, `clean` telling whether unexplained breaks remain), or why it could
/// not run (400 for a report or parameter it cannot read, 503 when the log cannot be read).
async fn post_reconciliation(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let bad = |code: &str, reason: String| {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": code, "reason": reason})),
        )
            .into_response()
    };
    let mut map = finance::psp::ColumnMap::default();
    let mut period = finance::reconcile::Options::default();
    let (mut provider, mut run_id, mut actor, mut record) = (
        crate::reconcile::DEFAULT_PROVIDER.to_owned(),
        None,
        crate::reconcile::DEFAULT_ACTOR.to_owned(),
        true,
    );
    for (name, value) in &params {
        let date = || {
            value
                .parse::<chrono::NaiveDate>()
                .map_err(|_| format!("{name} '{value}' is not a date (YYYY-MM-DD)"))
        };
        let parsed = match name.as_str() {
            "from" => date().map(|d| period.from = Some(d)),
            "to" => date().map(|d| period.to = Some(d)),
            "window_days" => value
                .parse()
                .map(|days| period.window_days = days)
                .map_err(|_| format!("window_days '{value}' is not a number of days")),
            "map" => map.set(value).map_err(|e| e.to_string()),
            "provider" => {
                provider = value.clone();
                Ok(())
            }
            "carrier" => {
                period.carrier = Some(value.clone());
                provider = value.clone();
                Ok(())
            }
            "run_id" => {
                run_id = Some(value.clone());
                Ok(())
            }
            "actor" => {
                actor = value.clone();
                Ok(())
            }
            "record" => value
                .parse()
                .map(|r| record = r)
                .map_err(|_| format!("record '{value}' is not true or false")),
            _ => Err(format!(
                "unknown parameter '{name}' (from, to, window_days, map, provider, carrier, run_id, actor, record)"
            )),
        };
        if let Err(reason) = parsed {
            return bad("bad_parameter", reason);
        }
    }
    let multipart = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let body = if multipart {
        use axum::extract::FromRequest;
        let mut form = match axum::extract::Multipart::from_request(request, &()).await {
            Ok(form) => form,
            Err(rejection) => return bad("bad_body", rejection.body_text()),
        };
        let mut file = None;
        loop {
            match form.next_field().await {
                Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                    Ok(bytes) => {
                        file = Some(bytes);
                        break;
                    }
                    Err(error) => return bad("bad_body", error.body_text()),
                },
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(error) => return bad("bad_body", error.body_text()),
            }
        }
        match file {
            Some(bytes) => bytes,
            None => {
                return bad(
                    "bad_body",
                    "the multipart form has no 'file' field with the report".into(),
                )
            }
        }
    } else {
        match axum::body::to_bytes(request.into_body(), RECONCILIATION_BODY_LIMIT).await {
            Ok(bytes) => bytes,
            Err(error) => {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Json(json!({"error": "too_large", "reason": format!("the report is over {} MiB or could not be read: {error}", RECONCILIATION_BODY_LIMIT >> 20)})),
                )
                    .into_response()
            }
        }
    };
    let request = crate::reconcile::Request {
        map,
        period,
        record: record.then_some(crate::reconcile::RecordAs {
            provider,
            run_id,
            actor,
        }),
    };
    let reconciled =
        match crate::reconcile::reconcile(state.log.as_ref(), &body, &request, state.clock.now())
            .await
        {
            Ok(reconciled) => reconciled,
            Err(error) => return reconcile_refused(&error),
        };
    let mut answer = serde_json::to_value(&reconciled.report).unwrap_or_default();
    answer["clean"] = json!(reconciled.report.is_clean());
    let Some((_, command)) = reconciled.recording else {
        return (StatusCode::OK, Json(answer)).into_response();
    };
    let line = json::encode_command_json(&command);
    let recorded = state
        .results
        .submit_json(line.as_bytes(), &command, state.wait)
        .await;
    let status = match &recorded {
        Ok(Some(result)) => {
            answer["recorded"] = json!(result);
            if result.is_accepted() {
                StatusCode::OK
            } else {
                StatusCode::CONFLICT
            }
        }
        Ok(None) => {
            answer["recorded"] = json!({"outcome": "unanswered", "reason": format!("no result within {} s", state.wait.as_secs())});
            StatusCode::GATEWAY_TIMEOUT
        }
        Err(error) => {
            let code = state.publish_failed(error);
            answer["recorded"] =
                json!({"outcome": "error", "error": code, "reason": error.to_string()});
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (status, Json(answer)).into_response()
}

/// Why a reconciliation was refused, as HTTP: what the caller sent is a 400, the log a 503.
fn reconcile_refused(error: &crate::reconcile::ReconcileError) -> axum::response::Response {
    use crate::reconcile::ReconcileError;
    let (status, code) = match error {
        ReconcileError::BadParameter(_) => (StatusCode::BAD_REQUEST, "bad_parameter"),
        ReconcileError::BadReport(_) => (StatusCode::BAD_REQUEST, "bad_report"),
        ReconcileError::Log(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    let reason = match error {
        // The report's own words, as before: what is wrong in the file.
        ReconcileError::BadReport(psp) => psp.to_string(),
        other => other.to_string(),
    };
    (status, Json(json!({"error": code, "reason": reason}))).into_response()
}

/// What a serve says when it starts: where its API and console are (`url`), and — on an
/// address other machines can reach — that it speaks plain HTTP, so tokens and money cross
/// the network unencrypted unless something in front of it speaks TLS.
fn start_up_line(
    url: &str,
    address: std::net::SocketAddr,
    tls: Option<&crate::tls::ServeTls>,
) -> String {
    let mut line = format!("ledger serve: {url}/ (the console; the API under /v1)");
    match tls {
        None if !address.ip().is_loopback() => line.push_str(
            " — plain HTTP on an address other machines can reach: tokens and money cross the \
             network unencrypted; give it a certificate (--tls-cert, --tls-key) or put a \
             TLS-terminating proxy in front of it",
        ),
        Some(tls) => {
            line.push_str(&format!(", HTTPS on {address}"));
            if let Some(why) = tls.unverifiable {
                line.push_str(&format!(
                    " — local tools (ledger query, submit, replay-tool) cannot verify it: {why}"
                ));
            }
        }
        None => {}
    }
    line
}

/// Runs the HTTP front door on `listener` until `stopped`, then lets requests under way end.
fn spawn_http<L>(
    listener: L,
    app: Router,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<std::io::Result<()>>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let server = axum::serve(listener, app).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    tokio::spawn(async move { server.await })
}

/// Tells local tools where the serve is: its address file, and with HTTPS its certificate
/// chain. The files written, to remove when the serve stops.
fn publish_address(
    dir: &Path,
    url: &str,
    address: std::net::SocketAddr,
    tls: Option<&crate::tls::ServeTls>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if let Some(tls) = tls {
        let path = dir.join(crate::running::CERTIFICATE_FILE);
        write_whole(&path, tls.chain_pem.as_ref())?;
        written.push(path);
    }
    let path = dir.join(ADDRESS_FILE);
    let socket = crate::tls::local_socket(address);
    write_whole(
        &path,
        crate::running::address_file_text(url, socket).as_bytes(),
    )?;
    written.push(path);
    Ok(written)
}

/// Writes `bytes` to `path` whole or not at all (beside it, then renamed over it): a client
/// that polls for the address file, as `ledger submit` does, never reads it half written.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// The HTTP routes over a log.
fn router(state: AppState, auth: &Arc<Auth>) -> Router {
    let guard = |access| {
        axum::middleware::from_fn_with_state((auth.clone(), access), crate::auth::authorize)
    };
    Router::new()
        .route(
            "/v1/commands",
            post(post_command).route_layer(guard(Access::COMMANDS)),
        )
        .route(
            "/v1/reconciliations",
            post(post_reconciliation)
                .layer(axum::extract::DefaultBodyLimit::max(
                    RECONCILIATION_BODY_LIMIT,
                ))
                .route_layer(guard(Access::FINANCE)),
        )
        .route(
            "/v1/log/layout",
            get(get_layout).route_layer(guard(Access::LOG)),
        )
        .route(
            "/v1/log/events/{partition}",
            get(get_events).route_layer(guard(Access::LOG)),
        )
        .route(
            "/v1/log/proofs/{event_id}",
            get(get_proof).route_layer(guard(Access::LOG)),
        )
        .route(
            "/v1/checkpoints",
            post(post_checkpoint).route_layer(guard(Access::LOG)),
        )
        .route(
            "/v1/notifications/{id}/retry",
            post(post_notification_retry).route_layer(guard(Access::ADMIN)),
        )
        .route(
            "/v1/whoami",
            get(crate::auth::whoami).route_layer(guard(Access::ANY)),
        )
        .route("/v1/health", get(|| async { "ok\n" }))
        .route(
            "/metrics",
            get(get_metrics).route_layer(guard(Access::METRICS)),
        )
        .with_state(state)
}

/// What a serve needs besides the log.
pub struct ServeOptions {
    pub handler: HandlerConfig,
    /// Where the HTTP front door listens (already bound, so port 0 works).
    pub listener: tokio::net::TcpListener,
    /// HTTPS on that listener; plain HTTP when `None`.
    pub tls: Option<crate::tls::ServeTls>,
    /// The embedded data directory, to publish the address in; `None` on Kafka.
    pub data: Option<PathBuf>,
    /// The process's metrics recorder, for `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// How long `POST /v1/commands` waits for a result.
    pub wait: Duration,
    /// The read side: its store directory, consumer group, and query settings.
    pub read_side: ReadSide,
    /// Who may use the HTTP API. On an embedded data directory the serve adds an admin token
    /// of its own and writes it beside its address.
    pub auth: Auth,
    /// Where and how often the log's signed checkpoints are published; `None`: never.
    pub checkpoints: Option<crate::checkpoints::CheckpointOptions>,
    /// Where notifications go (webhooks, the Kafka topic) and the directory of their
    /// journal; `None`: nowhere.
    pub notifications: Option<crate::notify::Delivering>,
}

/// Where and how `ledger serve` keeps its read models.
pub struct ReadSide {
    /// `None`: a temporary store, rebuilt from the log at every start.
    pub store_dir: Option<PathBuf>,
    /// A PostgreSQL URL: the read models there instead (`store_dir` unused).
    pub postgres: Option<String>,
    /// The projection consumer group: this instance's own (it folds every partition into its
    /// copy), or on PostgreSQL the one all instances share (each folds the partitions it is
    /// assigned).
    pub group: String,
    pub settlement: projections::SettlementRules,
    /// When orders are exceptions: hours per status, hours a claim may stay open.
    pub slas: projections::model::Slas,
    /// The shop's policy: merchant balances show what a payout may take under it; the wave
    /// planner routes orders with its carrier table.
    pub policy: order_events::Policy,
    /// Configured bins by warehouse and SKU, for the wave planner.
    pub bins: std::collections::BTreeMap<
        order_events::ids::WarehouseId,
        std::collections::BTreeMap<order_events::ids::Sku, String>,
    >,
}

/// Opens the read models (the live generation in PostgreSQL or in the store directory, or a
/// temporary store), with a clear error when another process holds them.
pub fn open_read_models(read_side: &ReadSide) -> anyhow::Result<projections::worker::ReadModels> {
    let settlement = read_side.settlement.clone();
    settlement
        .check()
        .map_err(|reason| anyhow::anyhow!("[settlement]: {reason}"))?;
    let projector = projections::Projector::new(settlement);
    Ok(match &read_side.postgres {
        Some(url) => projections::worker::ReadModels::open_postgres(
            url,
            projections::postgres::SCHEMA_BASE,
            projector,
        )?,
        None => projections::worker::ReadModels::open(read_side.store_dir.as_deref(), projector)?,
    })
}

/// Runs the handler and the HTTP front door until `shutdown` completes: then the handler
/// finishes its batch and commits, and the HTTP server stops taking requests.
pub async fn serve(
    log: Arc<dyn Log>,
    clock: Arc<dyn Clock>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<HandlerStats> {
    // Held until this function returns (or the process dies): what makes the address and
    // token files this writes trustworthy to clients.
    let _lock = options.data.as_deref().map(lock_directory).transpose()?;
    // What a killed predecessor left behind points nowhere: gone before this serve's own.
    if let Some(dir) = &options.data {
        let _ = std::fs::remove_file(dir.join(ADDRESS_FILE));
        let _ = std::fs::remove_file(dir.join(TOKEN_FILE));
        let _ = std::fs::remove_file(dir.join(crate::running::CERTIFICATE_FILE));
    }
    let address = options.listener.local_addr()?;
    let fatal = Fatal::new();
    // The front door hands commands to this process's handler, which records and decides
    // them in one transaction, where the log allows it (the embedded log).
    let (inbox, mailbox) = command_handler::inbox::inbox();
    let in_place = log.positions_at_send() && options.handler.decide_in_place;
    let mut results = Results::follow(log.clone()).await?;
    if in_place {
        results = results.with_inbox(inbox);
    }
    let (checkpoints, checkpointer) = match options.checkpoints {
        Some(publishing) => {
            let reader: Arc<dyn event_log::LogReader> = match publishing.reader {
                Some(own) => own,
                None => log.clone(),
            };
            let checkpointer =
                crate::checkpoints::Checkpointer::new(reader, publishing.key, publishing.sink)
                    .await?;
            let (publisher, task) = crate::checkpoints::start(checkpointer, publishing.interval);
            (Some(publisher), Some(task))
        }
        None => (None, None),
    };
    let notifier = match options.notifications {
        Some(how) => Some(crate::notify::Notifier::open(
            &how.dir,
            &how.section,
            how.topic,
        )?),
        None => None,
    };
    let state = AppState {
        checkpoints,
        notifier: notifier.clone(),
        log: log.clone(),
        results: Arc::new(results),
        group: options.handler.group.clone(),
        metrics: options.metrics,
        wait: options.wait,
        clock: clock.clone(),
        fatal: fatal.clone(),
    };
    let read_models = open_read_models(&options.read_side)?;
    let (worker, projections) = projections::worker::ProjectionWorker::new(
        log.clone(),
        read_models,
        options.read_side.group,
    )?;
    let worker = {
        let fatal = fatal.clone();
        Background::spawn(|stopped| async move {
            let folded = worker.run(stopped.wait()).await;
            if let Err(error) = &folded {
                use projections::worker::WorkerError;
                let (code, reason) = match error {
                    WorkerError::Log(event_log::LogError::Storage(reason)) => {
                        (STORAGE_FAILED, format!("the log cannot be used: {reason}"))
                    }
                    WorkerError::Store(projections::StoreError::Storage(reason)) => (
                        STORAGE_FAILED,
                        format!("the read models cannot be written: {reason}"),
                    ),
                    error => (
                        "projection_failed",
                        format!("the projection worker stopped: {error}"),
                    ),
                };
                fatal.raise(code, reason);
            }
            folded
        })
    };
    let deliveries = match &notifier {
        Some(notifier) => crate::notify::Deliveries::Serving(notifier.clone()),
        None => crate::notify::Deliveries::None,
    };
    let delivering = notifier.map(|notifier| {
        let projections = projections.clone();
        Background::spawn(move |stopped| notifier.run(projections, stopped.wait()))
    });
    let read = crate::api::ReadContext {
        projections,
        clock: clock.clone(),
        slas: options.read_side.slas,
        policy: options.read_side.policy,
        bins: Arc::new(options.read_side.bins),
        deliveries,
    };
    let mut auth = options.auth;
    let token_file = match &options.data {
        Some(dir) if auth.required() => {
            let token = crate::auth::new_token()?;
            crate::auth::write_token_file(dir, &token)?;
            auth = auth.with_token(&token, "local-admin", &[Role::Admin]);
            Some(dir.join(TOKEN_FILE))
        }
        _ => None,
    };
    if !auth.required() {
        tracing::warn!("the HTTP API admits every request: [auth] required = false");
    } else if auth.is_empty() {
        tracing::warn!(
            "no tokens configured: the HTTP API admits no one but /v1/health \
             (add [[auth.tokens]], made with `ledger token`)"
        );
    }
    let auth = Arc::new(auth);
    let app = router(state, &auth)
        .merge(crate::api::router(read, &auth))
        .merge(crate::console::routes())
        .fallback(crate::api::no_route)
        .method_not_allowed_fallback(crate::api::wrong_method)
        .layer(axum::middleware::from_fn(crate::api::json_errors))
        .layer(axum::middleware::from_fn(crate::metrics::count_requests));
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let url = crate::tls::base_url(address, options.tls.as_ref());
    let http = match &options.tls {
        None => spawn_http(options.listener, app, http_stopped),
        Some(tls) => spawn_http(
            crate::tls::TlsListener::new(options.listener, tls)?,
            app,
            http_stopped,
        ),
    };
    let published = match &options.data {
        Some(dir) => publish_address(dir, &url, address, options.tls.as_ref())?,
        None => Vec::new(),
    };
    tracing::info!(%address, "serving");
    eprintln!("{}", start_up_line(&url, address, options.tls.as_ref()));
    let state_dir = options.handler.state_dir.clone();
    let mut handler = Handler::new(log, options.handler, clock);
    if in_place {
        handler = handler.with_inbox(mailbox);
    }
    let stats = handler
        .run(async {
            tokio::select! {
                () = shutdown => {}
                _ = fatal.raised() => {}
            }
        })
        .await;
    if let Err(error) = &stats {
        let (code, reason) = match (error, &state_dir) {
            (HandlerError::Log(event_log::LogError::Storage(reason)), _) => (
                STORAGE_FAILED,
                format!("the log cannot be written: {reason}"),
            ),
            (HandlerError::Store(error), Some(dir)) => {
                (STORAGE_FAILED, format!("{error} (in {})", dir.display()))
            }
            (error, _) => (
                "handler_stopped",
                format!("the command handler stopped: {error}"),
            ),
        };
        fatal.raise(code, reason);
    }
    for path in published.iter().chain(&token_file) {
        let _ = std::fs::remove_file(path);
    }
    let _ = stop_http.send(());
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop().await?;
    }
    if let Some(delivering) = delivering {
        delivering.stop().await?;
    }
    let (http, folded) = tokio::join!(http, worker.stop());
    http??;
    let folded = folded?;
    if let Some(stop) = fatal.stop() {
        anyhow::bail!("{}", stop.reason);
    }
    folded?;
    Ok(stats?)
}

#[cfg(test)]
mod tests {
    use super::start_up_line;

    #[test]
    fn the_start_up_line_warns_of_plain_http_only_where_other_machines_can_connect() {
        let line = |address: &str| {
            let address = address.parse().unwrap();
            start_up_line(&crate::tls::base_url(address, None), address, None)
        };
        let local = line("127.0.0.1:8080");
        assert!(
            local.starts_with("ledger serve: http://127.0.0.1:8080/"),
            "{local}"
        );
        assert!(!local.contains("plain HTTP"), "{local}");
        for open in ["0.0.0.0:8080", "10.1.2.3:443", "[::]:8080"] {
            let said = line(open);
            assert!(said.contains("plain HTTP"), "{open}: {said}");
        }
        assert!(!line("[::1]:8080").contains("plain HTTP"));
    }
}
