//! The read API: one query type ([`ReadQuery`]) answered over HTTP by `ledger serve` and
//! locally by `ledger query`, so both give the same JSON.
//!
//! Every GET route takes `at_least=P:O,P:O` (events-topic positions from a command result) and
//! `wait_ms` (default 5000): the answer waits until the read models have folded those
//! positions — read-your-writes. Unknown or malformed parameters are a 400 naming the
//! parameter; nothing here answers 500.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use command_handler::Clock;
use order_events::ids::{OrderId, Sku, WarehouseId};
use order_events::money::Currency;
use order_events::order::OrderStatus;
use projections::model::InMinorUnits;
use projections::query::{OrderFilter, QueryError, PAGE_LIMIT_DEFAULT};
use projections::worker::Projections;
use serde_json::{json, Value};

/// A question to the read models.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadQuery {
    Orders {
        filter: OrderFilter,
        limit: usize,
        after: Option<String>,
    },
    Order(OrderId),
    OrderSettlement(OrderId),
    Exceptions {
        limit: usize,
    },
    Inventory {
        sku: Option<String>,
        low: bool,
        limit: usize,
        after: Option<String>,
    },
    StockItem {
        sku: String,
        warehouse: String,
    },
    Balances {
        currency: Option<Currency>,
    },
    MerchantBalances {
        currency: Option<Currency>,
        merchant: Option<String>,
    },
    TrialBalance,
    Reconciliations,
    Reports {
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<String>,
    },
    Notifications {
        after: projections::query::NotificationCursor,
        limit: usize,
    },
    FailedNotifications,
    Status,
    Waves {
        warehouse: Option<String>,
        open: bool,
        limit: usize,
    },
    Wave(String),
    PickList(String),
    NextWave(projections::warehouse_queries::WavePlanRequest),
    Replenishment {
        params: projections::warehouse::ReplenishmentParams,
        warehouse: Option<String>,
        sku: Option<String>,
        reorder_only: bool,
    },
}

/// What answering needs besides the query.
#[derive(Clone)]
pub struct ReadContext {
    pub projections: Projections,
    /// The time the exception queue measures against (the serve's clock).
    pub clock: Arc<dyn Clock>,
    /// When orders are exceptions: hours per status, hours a claim may stay open.
    pub slas: projections::model::Slas,
    /// The shop's policy, for what merchant payouts hold back (return window, holdback share),
    /// and its carrier table, which the wave planner routes orders with.
    pub policy: order_events::Policy,
    /// Configured bins by warehouse and SKU, for the wave planner.
    pub bins: Arc<BTreeMap<WarehouseId, BTreeMap<Sku, String>>>,
    /// The webhook deliveries, for the failed ones.
    pub deliveries: crate::notify::Deliveries,
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{reason}")]
    BadRequest { code: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    NotReached(#[from] projections::worker::NotReached),
    #[error("the read models are unavailable: {0}")]
    Unavailable(String),
    #[error("the events topic has no position {} yet: take positions from a command result's events", positions(.0))]
    NotWritten(Vec<(u32, u64)>),
}

/// Positions as `at_least` writes them.
fn positions(list: &[(u32, u64)]) -> String {
    let list: Vec<String> = list.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    list.join(",")
}

impl ApiError {
    fn bad(code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotReached(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotWritten(_) => StatusCode::CONFLICT,
        }
    }

    pub fn body(&self) -> Value {
        let code = match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::NotReached(_) => "not_reached",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotWritten(_) => "position_not_written",
        };
        json!({"error": code, "reason": self.to_string()})
    }
}

impl From<QueryError> for ApiError {
    fn from(error: QueryError) -> ApiError {
        match error {
            QueryError::BadCursor(_) => ApiError::bad("bad_cursor", error.to_string()),
            QueryError::BadLimit(_) => ApiError::bad("bad_limit", error.to_string()),
            QueryError::Store(store) => ApiError::Unavailable(store.to_string()),
        }
    }
}

impl From<projections::StoreError> for ApiError {
    fn from(error: projections::StoreError) -> ApiError {
        ApiError::Unavailable(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.body())).into_response()
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("read models serialize to JSON")
}

/// Answers `query` from the read models, money shown with its currency's minor units.
pub async fn answer(context: &ReadContext, query: &ReadQuery) -> Result<Value, ApiError> {
    let store = context.projections.store();
    Ok(match query {
        ReadQuery::Orders {
            filter,
            limit,
            after,
        } => {
            let mut page = store.orders(filter, *limit, after.as_deref())?;
            page.items = page.items.in_minor_units();
            to_json(&page)
        }
        ReadQuery::Order(id) => match store.order(*id)? {
            Some(view) => to_json(&view.in_minor_units()),
            None => return Err(ApiError::NotFound(format!("no order {id}"))),
        },
        ReadQuery::OrderSettlement(id) => match store.order_balance(*id)? {
            Some(view) => to_json(&view.in_minor_units()),
            None if store.order(*id)?.is_some() => {
                to_json(&projections::model::OrderBalanceView::default())
            }
            None => return Err(ApiError::NotFound(format!("no order {id}"))),
        },
        ReadQuery::Exceptions { limit } => {
            to_json(&store.exceptions(context.clock.now(), &context.slas, *limit)?)
        }
        ReadQuery::Inventory {
            sku,
            low,
            limit,
            after,
        } => to_json(&store.inventory(sku.as_deref(), *low, *limit, after.as_deref())?),
        ReadQuery::StockItem { sku, warehouse } => match store.stock_item(sku, warehouse)? {
            Some(view) => to_json(&view),
            None => {
                return Err(ApiError::NotFound(format!(
                    "no stock item {sku}@{warehouse}"
                )))
            }
        },
        ReadQuery::Balances { currency } => to_json(&store.balances(*currency)?.in_minor_units()),
        ReadQuery::MerchantBalances { currency, merchant } => to_json(
            &store
                .merchant_balances(
                    *currency,
                    merchant.as_deref(),
                    context.clock.now(),
                    &context.policy,
                )?
                .in_minor_units(),
        ),
        ReadQuery::TrialBalance => to_json(&store.trial_balance()?.in_minor_units()),
        ReadQuery::Reconciliations => to_json(&store.reconciliations()?.in_minor_units()),
        ReadQuery::Reports { from, to, channel } => to_json(
            &store
                .report(*from, *to, channel.as_deref())?
                .in_minor_units(),
        ),
        ReadQuery::Notifications { after, limit } => to_json(&store.notifications(after, *limit)?),
        ReadQuery::FailedNotifications => {
            match context.deliveries.failed() {
                Ok(Some(failed)) => to_json(&failed),
                Ok(None) => return Err(ApiError::NotFound(
                    "no webhook is configured ([[notifications.webhooks]]): nothing is delivered"
                        .into(),
                )),
                Err(error) => return Err(ApiError::Unavailable(format!("{error:#}"))),
            }
        }
        ReadQuery::Status => to_json(
            &context
                .projections
                .status()
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?,
        ),
        ReadQuery::Waves {
            warehouse,
            open,
            limit,
        } => to_json(&store.waves(warehouse.as_deref(), *open, *limit)?),
        ReadQuery::Wave(id) => to_json(&wave(&store, id)?),
        ReadQuery::PickList(id) => to_json(&projections::warehouse::PickListView::from(wave(
            &store, id,
        )?)),
        ReadQuery::NextWave(request) => {
            let bins = context
                .bins
                .get(&request.warehouse)
                .cloned()
                .unwrap_or_default();
            match store.propose_wave(request, &context.policy.shipping, &bins)? {
                Some(plan) => to_json(&plan),
                None => {
                    return Err(ApiError::NotFound(format!(
                        "no order is ready for a wave at {}",
                        request.warehouse
                    )))
                }
            }
        }
        ReadQuery::Replenishment {
            params,
            warehouse,
            sku,
            reorder_only,
        } => to_json(&projections::warehouse::ReplenishmentPage {
            items: store.replenishment(
                params,
                warehouse.as_deref(),
                sku.as_deref(),
                *reorder_only,
            )?,
        }),
    })
}

fn wave(
    store: &projections::ProjectionStore,
    id: &str,
) -> Result<projections::warehouse::WaveView, ApiError> {
    store
        .wave(id)?
        .ok_or_else(|| ApiError::NotFound(format!("no wave {id}")))
}

/// Query-string parameters, taken one by one; whatever is left is refused by name.
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Result<Params, ApiError> {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if map.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad(
                    "duplicate_parameter",
                    format!("parameter '{name}' is given more than once"),
                ));
            }
        }
        Ok(Params(map))
    }

    fn take_with<T>(
        &mut self,
        name: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(text) => parse(&text).map(Some).ok_or_else(|| {
                ApiError::bad(
                    "bad_parameter",
                    format!("parameter '{name}' = '{text}' is not {what}"),
                )
            }),
        }
    }

    fn text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        self.take_with(name, "text", |t| Some(t.to_owned()))
    }

    fn number<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, ApiError> {
        self.take_with(name, "a whole number", |t| t.parse().ok())
    }

    fn flag(&mut self, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .take_with(name, "true or false", |t| t.parse::<bool>().ok())?
            .unwrap_or(false))
    }

    fn time(&mut self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.take_with(name, "an RFC 3339 time (2026-11-22T10:00:00Z)", |t| {
            DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
    }

    fn date(&mut self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.take_with(name, "a date (2026-11-22)", |t| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d").ok()
        })
    }

    fn currency(&mut self) -> Result<Option<Currency>, ApiError> {
        self.take_with("currency", "an ISO 4217 code the ledger settles in", |t| {
            t.parse().ok()
        })
    }

    fn status(&mut self) -> Result<Option<OrderStatus>, ApiError> {
        self.take_with("status", "an order status (paid, shipped, ...)", |t| {
            serde_json::from_value(Value::String(t.to_owned())).ok()
        })
    }

    fn limit(&mut self) -> Result<usize, ApiError> {
        Ok(self.number("limit")?.unwrap_or(PAGE_LIMIT_DEFAULT))
    }

    /// `at_least=P:O,P:O` and `wait_ms`.
    fn read_your_writes(&mut self) -> Result<(Vec<(u32, u64)>, Duration), ApiError> {
        let positions = self
            .take_with(
                "at_least",
                "a list of events-topic positions partition:offset,partition:offset",
                |text| {
                    text.split(',')
                        .map(projections::query::position)
                        .collect::<Option<Vec<(u32, u64)>>>()
                },
            )?
            .unwrap_or_default();
        let wait = self.number::<u64>("wait_ms")?.unwrap_or(5000);
        if wait > 60_000 {
            return Err(ApiError::bad(
                "bad_parameter",
                format!("wait_ms {wait} is above the most a query waits (60000)"),
            ));
        }
        Ok((positions, Duration::from_millis(wait)))
    }

    fn finish(self) -> Result<(), ApiError> {
        match self.0.keys().next() {
            None => Ok(()),
            Some(name) => Err(ApiError::bad(
                "unknown_parameter",
                format!("this route takes no parameter '{name}'"),
            )),
        }
    }
}

fn order_id(text: &str) -> Result<OrderId, ApiError> {
    text.parse().map(OrderId).map_err(|_| {
        ApiError::bad(
            "bad_order_id",
            format!("'{text}' is not an order id (a UUID)"),
        )
    })
}

/// Builds the query of a route from its path and parameters.
fn read_query(
    route: Route,
    path: &[String],
    params: &mut Params,
    now: DateTime<Utc>,
) -> Result<ReadQuery, ApiError> {
    Ok(match route {
        Route::Orders => ReadQuery::Orders {
            filter: OrderFilter {
                status: params.status()?,
                merchant: params.text("merchant")?,
                customer: params.text("customer")?,
                channel: params.text("channel")?,
                from: params.time("from")?,
                to: params.time("to")?,
            },
            limit: params.limit()?,
            after: params.text("after")?,
        },
        Route::Order => ReadQuery::Order(order_id(&path[0])?),
        Route::OrderSettlement => ReadQuery::OrderSettlement(order_id(&path[0])?),
        Route::Exceptions => ReadQuery::Exceptions {
            limit: params.limit()?,
        },
        Route::Inventory => ReadQuery::Inventory {
            sku: params.text("sku")?,
            low: params.flag("low")?,
            limit: params.limit()?,
            after: params.text("after")?,
        },
        Route::StockItem => ReadQuery::StockItem {
            sku: path[0].clone(),
            warehouse: path[1].clone(),
        },
        Route::Balances => ReadQuery::Balances {
            currency: params.currency()?,
        },
        Route::MerchantBalances => ReadQuery::MerchantBalances {
            currency: params.currency()?,
            merchant: params.text("merchant")?,
        },
        Route::TrialBalance => ReadQuery::TrialBalance,
        Route::Reconciliations => ReadQuery::Reconciliations,
        Route::Reports => ReadQuery::Reports {
            from: params.date("from")?,
            to: params.date("to")?,
            channel: params.text("channel")?,
        },
        Route::Notifications => ReadQuery::Notifications {
            after: match params.text("after")? {
                Some(text) => projections::query::notification_cursor(&text)?,
                None => Default::default(),
            },
            limit: params.limit()?,
        },
        Route::FailedNotifications => ReadQuery::FailedNotifications,
        Route::Status => ReadQuery::Status,
        Route::Waves => ReadQuery::Waves {
            warehouse: params.text("warehouse")?,
            open: params.flag("open")?,
            limit: params.limit()?,
        },
        Route::Wave => ReadQuery::Wave(path[0].clone()),
        Route::PickList => ReadQuery::PickList(path[0].clone()),
        Route::NextWave => ReadQuery::NextWave(next_wave(&path[0], params)?),
        Route::Replenishment => replenishment(params, now)?,
    })
}

/// The planner's request: `wave_id` (required), `orders_max` (default 50), `carrier`,
/// `service_level`, `cutoff_at`.
fn next_wave(
    warehouse: &str,
    params: &mut Params,
) -> Result<projections::warehouse_queries::WavePlanRequest, ApiError> {
    let wave_id = params.text("wave_id")?.ok_or_else(|| {
        ApiError::bad(
            "missing_parameter",
            "parameter 'wave_id' names the wave to plan",
        )
    })?;
    if !order_events::wave::valid_wave_id(&wave_id) {
        return Err(ApiError::bad(
            "bad_parameter",
            format!("parameter 'wave_id' = '{wave_id}' is not 1-64 of A-Z a-z 0-9 . _ -"),
        ));
    }
    let service_level = params.take_with("service_level", "standard, express or economy", |t| {
        serde_json::from_value(Value::String(t.to_owned())).ok()
    })?;
    Ok(projections::warehouse_queries::WavePlanRequest {
        wave_id: wave_id.as_str().into(),
        warehouse: warehouse.into(),
        orders_max: params.number("orders_max")?.unwrap_or(50),
        carrier: params.text("carrier")?.map(|c| c.as_str().into()),
        service_level,
        cutoff_at: params.time("cutoff_at")?,
    })
}

/// Replenishment's parameters: `window_days`, `lead_time_days`, `cover_days` (each at most
/// 365), `as_of` (the window's last day; default today), `warehouse`, `sku`, `reorder`.
fn replenishment(params: &mut Params, now: DateTime<Utc>) -> Result<ReadQuery, ApiError> {
    use projections::warehouse::ReplenishmentParams as P;
    let mut days = |name: &str, default: u32, least: u32| -> Result<u32, ApiError> {
        let value = params.number::<u32>(name)?.unwrap_or(default);
        if value < least || value > P::DAYS_MAX {
            return Err(ApiError::bad(
                "bad_parameter",
                format!(
                    "parameter '{name}' = {value} is not {least} to {}",
                    P::DAYS_MAX
                ),
            ));
        }
        Ok(value)
    };
    let window_days = days("window_days", P::WINDOW_DAYS_DEFAULT, 1)?;
    let lead_time_days = days("lead_time_days", P::LEAD_TIME_DAYS_DEFAULT, 0)?;
    let cover_days = days("cover_days", P::COVER_DAYS_DEFAULT, 0)?;
    Ok(ReadQuery::Replenishment {
        params: P {
            window_days,
            lead_time_days,
            cover_days,
            as_of: params.date("as_of")?.unwrap_or(now.date_naive()),
        },
        warehouse: params.text("warehouse")?,
        sku: params.text("sku")?,
        reorder_only: params.flag("reorder")?,
    })
}

/// The read routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Orders,
    Order,
    OrderSettlement,
    Exceptions,
    Inventory,
    StockItem,
    Balances,
    MerchantBalances,
    TrialBalance,
    Reconciliations,
    Reports,
    Notifications,
    FailedNotifications,
    Status,
    Waves,
    Wave,
    PickList,
    NextWave,
    Replenishment,
}

/// Answers a route with its path segments and query parameters: what the HTTP handlers and
/// `ledger query` on a directory without a serve both do.
pub async fn run(
    context: &ReadContext,
    route: Route,
    path: &[String],
    pairs: Vec<(String, String)>,
) -> Result<Value, ApiError> {
    let mut params = Params::new(pairs)?;
    let (positions, wait) = params.read_your_writes()?;
    let query = read_query(route, path, &mut params, context.clock.now())?;
    params.finish()?;
    if !positions.is_empty() {
        check_written(context, &positions).await?;
        context.projections.wait_for(&positions, wait).await?;
    }
    answer(context, &query).await
}

/// How long a position the events topic does not show yet gets before it is refused: the
/// log's end is read apart from the result that named the position, so a position written an
/// instant ago is given a moment rather than a 409.
const NOT_WRITTEN_GRACE: Duration = Duration::from_millis(50);

/// Refuses positions the events topic does not have (409): no command result names one, and
/// waiting for them would only run out the wait.
async fn check_written(context: &ReadContext, positions: &[(u32, u64)]) -> Result<(), ApiError> {
    let unwritten = || async {
        context
            .projections
            .unwritten(positions)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    };
    if unwritten().await?.is_empty() {
        return Ok(());
    }
    tokio::time::sleep(NOT_WRITTEN_GRACE).await;
    match unwritten().await? {
        missing if missing.is_empty() => Ok(()),
        missing => Err(ApiError::NotWritten(missing)),
    }
}

impl Route {
    /// The URL path of this route with its segments filled in.
    pub fn url_path(self, path: &[String]) -> String {
        match self {
            Route::Orders => "/v1/orders".into(),
            Route::Order => format!("/v1/orders/{}", path[0]),
            Route::OrderSettlement => format!("/v1/orders/{}/settlement", path[0]),
            Route::Exceptions => "/v1/exceptions".into(),
            Route::Inventory => "/v1/inventory".into(),
            Route::StockItem => format!("/v1/inventory/{}/{}", path[0], path[1]),
            Route::Balances => "/v1/balances".into(),
            Route::MerchantBalances => "/v1/balances/merchants".into(),
            Route::TrialBalance => "/v1/trial-balance".into(),
            Route::Reconciliations => "/v1/reconciliations".into(),
            Route::Reports => "/v1/reports".into(),
            Route::Notifications => "/v1/notifications".into(),
            Route::FailedNotifications => "/v1/notifications/failed".into(),
            Route::Status => "/v1/projections/status".into(),
            Route::Waves => "/v1/waves".into(),
            Route::Wave => format!("/v1/waves/{}", path[0]),
            Route::PickList => format!("/v1/waves/{}/pick-list", path[0]),
            Route::NextWave => format!("/v1/warehouses/{}/next-wave", path[0]),
            Route::Replenishment => "/v1/inventory/replenishment".into(),
        }
    }
}

async fn handle(
    context: ReadContext,
    route: Route,
    path: Vec<String>,
    pairs: Vec<(String, String)>,
) -> Response {
    match run(&context, route, &path, pairs).await {
        Ok(value) => (StatusCode::OK, Json(value)).into_response(),
        Err(error) => error.into_response(),
    }
}

type Pairs = Query<Vec<(String, String)>>;

async fn post_rebuild(State(context): State<ReadContext>) -> Response {
    match context.projections.request_rebuild() {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"rebuild": "started", "status": "/v1/projections/status"})),
        )
            .into_response(),
        Err(error @ projections::worker::RebuildError::AlreadyRunning(_)) => (
            StatusCode::CONFLICT,
            Json(json!({"error": "rebuild_running", "reason": error.to_string()})),
        )
            .into_response(),
        Err(error) => ApiError::Unavailable(error.to_string()).into_response(),
    }
}

/// Answers a request for a path no route serves, like every other error: JSON
/// `{error, reason}` (axum's own 404 has an empty body).
pub async fn no_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let reason = format!(
        "no route {method} {}; the routes are listed at /v1/openapi.json",
        uri.path()
    );
    let body = json!({"error": "not_found", "reason": reason});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Gives every error answer the JSON `{error, reason}` body: axum's own refusals (a path or
/// query it cannot parse, a body of the wrong type) are plain text, which clients of an API
/// whose every other error is JSON would have to special-case.
pub async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 << 10)
        .await
        .unwrap_or_default();
    let code = status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
        .replace([' ', '-'], "_");
    let reason = String::from_utf8_lossy(&text).trim().to_owned();
    let mut answer = (status, Json(json!({"error": code, "reason": reason}))).into_response();
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            answer.headers_mut().append(name, value.clone());
        }
    }
    answer
}

/// Answers a read with CSV instead of JSON when the request asks for `text/csv` (and not for
/// JSON first): the answer's rows under a header of its columns, as `ledger query --csv`
/// prints them. Errors stay JSON.
pub async fn csv_when_asked(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let wants_csv = request
        .headers()
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(prefers_csv);
    let response = next.run(request).await;
    if !wants_csv || response.status() != StatusCode::OK {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 256 << 20)
        .await
        .unwrap_or_default();
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => return ApiError::Unavailable(error.to_string()).into_response(),
    };
    let mut csv = Vec::new();
    if let Err(error) = crate::tabular::write_csv(&value, &mut csv) {
        return ApiError::Unavailable(error.to_string()).into_response();
    }
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        csv,
    )
        .into_response()
}

/// Whether an `Accept` header lists `text/csv` before any JSON type.
fn prefers_csv(accept: &str) -> bool {
    for media in accept.split(',') {
        let media = media.split(';').next().unwrap_or("").trim();
        match media {
            "text/csv" => return true,
            "application/json" | "application/*" | "*/*" => return false,
            _ => {}
        }
    }
    false
}

/// Answers a method a route does not take: 405 with JSON `{error, reason}` (axum adds the
/// `Allow` header with the methods it does take).
pub async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let reason = format!(
        "{} does not take {method}; the Allow header lists the methods it takes",
        uri.path()
    );
    let body = json!({"error": "method_not_allowed", "reason": reason});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// The read routes over `context`, and `/v1/openapi.json`.
pub fn router(context: ReadContext, auth: &std::sync::Arc<crate::auth::Auth>) -> Router {
    use crate::auth::Access;
    fn route0(route: Route) -> axum::routing::MethodRouter<ReadContext> {
        get(move |State(c): State<ReadContext>, Query(q): Pairs| handle(c, route, Vec::new(), q))
    }
    fn route1(route: Route) -> axum::routing::MethodRouter<ReadContext> {
        get(
            move |State(c): State<ReadContext>, Path(id): Path<String>, Query(q): Pairs| {
                handle(c, route, vec![id], q)
            },
        )
    }
    let guard = |access| {
        axum::middleware::from_fn_with_state((auth.clone(), access), crate::auth::authorize)
    };
    let read_routes = Router::new()
        .route("/v1/orders", route0(Route::Orders))
        .route(
            "/v1/orders/{id}",
            get(
                |State(c): State<ReadContext>, Path(id): Path<String>, Query(q): Pairs| {
                    handle(c, Route::Order, vec![id], q)
                },
            ),
        )
        .route(
            "/v1/orders/{id}/settlement",
            get(
                |State(c): State<ReadContext>, Path(id): Path<String>, Query(q): Pairs| {
                    handle(c, Route::OrderSettlement, vec![id], q)
                },
            ),
        )
        .route("/v1/exceptions", route0(Route::Exceptions))
        .route("/v1/inventory", route0(Route::Inventory))
        .route(
            "/v1/inventory/{sku}/{warehouse}",
            get(
                |State(c): State<ReadContext>,
                 Path((sku, warehouse)): Path<(String, String)>,
                 Query(q): Pairs| {
                    handle(c, Route::StockItem, vec![sku, warehouse], q)
                },
            ),
        )
        .route("/v1/balances", route0(Route::Balances))
        .route("/v1/balances/merchants", route0(Route::MerchantBalances))
        .route("/v1/trial-balance", route0(Route::TrialBalance))
        .route("/v1/reconciliations", route0(Route::Reconciliations))
        .route("/v1/reports", route0(Route::Reports))
        .route("/v1/notifications", route0(Route::Notifications))
        .route(
            "/v1/notifications/failed",
            route0(Route::FailedNotifications),
        )
        .route("/v1/projections/status", route0(Route::Status))
        .route("/v1/waves", route0(Route::Waves))
        .route("/v1/waves/{id}", route1(Route::Wave))
        .route("/v1/waves/{id}/pick-list", route1(Route::PickList))
        .route(
            "/v1/warehouses/{warehouse}/next-wave",
            route1(Route::NextWave),
        )
        .route("/v1/inventory/replenishment", route0(Route::Replenishment))
        .route_layer(axum::middleware::from_fn(csv_when_asked))
        .route_layer(guard(Access::READ));
    read_routes
        .route(
            "/v1/projections/rebuild",
            axum::routing::post(post_rebuild).route_layer(guard(Access::ADMIN)),
        )
        .route(
            "/v1/openapi.json",
            get(|| async { Json(crate::openapi::document()) }).route_layer(guard(Access::ANY)),
        )
        .with_state(context)
}
