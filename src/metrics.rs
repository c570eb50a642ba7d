//! The process's metrics as Prometheus text: the recorder `ledger serve` installs (every
//! histogram with buckets, so instances can be summed and quantiles taken over any window),
//! every family described (`# HELP`), and the front door's own families — HTTP requests by
//! route, method and status, and their latency.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "ledger_http_requests_total";
pub const HTTP_SECONDS: &str = "ledger_http_request_duration_seconds";

/// Bucket bounds of every `_seconds` histogram: 250 µs to 10 s.
const SECONDS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Bucket bounds of the commands-per-transaction histogram.
const BATCH: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Installs the Prometheus recorder for this process and describes every family.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
        .set_buckets_for_metric(
            Matcher::Full(command_handler::metrics::BATCH_SIZE.into()),
            BATCH,
        )?
        .install_recorder()?;
    command_handler::metrics::describe();
    projections::metrics::describe();
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route (the matched pattern), method and status"
    );
    metrics::describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "Time from a request's arrival to its answer, by route and method"
    );
    Ok(handle)
}

/// Counts and times every request (middleware on the whole front door). The route is the
/// matched pattern (`/v1/orders/{id}`), so ids do not become labels; a request no route
/// matches counts as `unmatched`.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    let labels = [("route", route), ("method", method)];
    metrics::histogram!(HTTP_SECONDS, &labels).record(seconds);
    let [route, method] = labels;
    metrics::counter!(HTTP_REQUESTS, &[route, method, ("status", status)]).increment(1);
    response
}
