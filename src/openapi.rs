//! The OpenAPI 3.1 document of the HTTP API, served at `/v1/openapi.json`. Every schema in
//! it comes from the Rust types the routes take and answer with (schemars), so the document
//! cannot drift from the routes: the read models, the command result, and the commands
//! themselves (the same schemas as `schemas/commands/`).

use schemars::generate::{Contract, SchemaSettings};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use order_events::money::Currency;
use order_events::order::OrderStatus;
use order_events::result::CommandResult;
use projections::model::{
    AccountView, ExceptionView, InventoryView, MerchantBalanceView, OrderBalanceView, OrderSummary,
    OrderView, ReconciliationView, ReportView, TrialBalanceView,
};
use projections::query::{Page, PAGE_LIMIT_MAX};
use projections::warehouse::{PickListView, ReplenishmentPage, WaveSummary, WaveView};
use projections::worker::ProjectionStatus;

/// One parameter of an operation.
struct Param {
    name: &'static str,
    location: &'static str,
    description: &'static str,
    schema: Value,
    /// A query parameter the route cannot answer without (path parameters always are).
    required: bool,
}

fn query(name: &'static str, description: &'static str, schema: Value) -> Param {
    Param {
        name,
        location: "query",
        description,
        schema,
        required: false,
    }
}

fn required_query(name: &'static str, description: &'static str, schema: Value) -> Param {
    Param {
        required: true,
        ..query(name, description, schema)
    }
}

fn path(name: &'static str, description: &'static str, schema: Value) -> Param {
    Param {
        location: "path",
        ..query(name, description, schema)
    }
}

impl Param {
    fn to_value(&self) -> Value {
        json!({
            "name": self.name,
            "in": self.location,
            "required": self.required || self.location == "path",
            "description": self.description,
            "schema": self.schema,
        })
    }
}

fn text() -> Value {
    json!({"type": "string"})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

fn whole(minimum: u64, maximum: u64) -> Value {
    json!({"type": "integer", "minimum": minimum, "maximum": maximum})
}

fn hex(minimum: usize, maximum: usize) -> Value {
    json!({"type": "string", "pattern": format!("^([0-9a-f]{{2}}){{{minimum},{maximum}}}$")})
}

/// `at_least` and `wait_ms`, which every read takes.
fn read_your_writes() -> [Param; 2] {
    [
        query("at_least", "Events-topic positions `partition:offset,...` (from a command result's `events`) the answer must include; the query waits for them. A position the log does not have yet is a 409.", json!({"type": "string", "pattern": "^[0-9]{1,9}:[0-9]{1,19}(,[0-9]{1,9}:[0-9]{1,19})*$"})),
        query("wait_ms", "How long to wait for `at_least`, in milliseconds (default 5000); 504 when the read models lag further.", whole(0, 60_000)),
    ]
}

fn limit() -> Param {
    query(
        "limit",
        "Page size (default 100).",
        whole(1, PAGE_LIMIT_MAX as u64),
    )
}

/// An error answer: `{error, reason}` and, for some, more fields.
fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

fn ok_json(schema: Value) -> Value {
    json!({"description": "OK", "content": {"application/json": {"schema": schema}}})
}

/// The answers every guarded route may give besides its own.
fn guarded(mut responses: Map<String, Value>) -> Value {
    for (status, name) in [
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("429", "RateLimited"),
    ] {
        responses.insert(
            status.into(),
            json!({"$ref": format!("#/components/responses/{name}")}),
        );
    }
    Value::Object(responses)
}

/// A read route: GET with its parameters and `at_least`/`wait_ms`, answering `T`.
fn read<T: JsonSchema>(
    generator: &mut SchemaGenerator,
    summary: &str,
    params: Vec<Param>,
) -> Value {
    let parameters: Vec<Value> = params
        .iter()
        .chain(read_your_writes().iter())
        .map(Param::to_value)
        .collect();
    let mut responses = Map::new();
    let mut ok = ok_json(generator.subschema_for::<T>().to_value());
    ok["content"]["text/csv"] = json!({"schema": {"type": "string", "description": "With `Accept: text/csv`: the answer's rows (a listing's items, a list, or the one object) under a header of their columns, nested values as compact JSON."}});
    responses.insert("200".into(), ok);
    responses.insert("400".into(), error("A parameter is malformed, unknown or given twice: `error` names the problem, `reason` the parameter."));
    if params.iter().any(|p| p.location == "path") {
        responses.insert("404".into(), error("Nothing under that id."));
    }
    responses.insert("409".into(), error("`at_least` names a position the events topic does not have yet (`position_not_written`)."));
    responses.insert(
        "504".into(),
        error("The read models did not reach `at_least` within `wait_ms` (`not_reached`)."),
    );
    responses.insert("503".into(), error("The read models are unavailable."));
    json!({"get": {"summary": summary, "parameters": parameters, "responses": guarded(responses)}})
}

fn order_id() -> Param {
    path(
        "id",
        "Order id.",
        json!({"type": "string", "format": "uuid"}),
    )
}

fn read_routes(generator: &mut SchemaGenerator, paths: &mut Map<String, Value>) {
    let status = generator.subschema_for::<OrderStatus>().to_value();
    let currency = generator.subschema_for::<Currency>().to_value();
    let after = |what: &'static str, schema: Value| query("after", what, schema);
    let routes = [
        ("/v1/orders", read::<Page<OrderSummary>>(generator, "Orders by placement time, filtered, paged.", vec![
            query("status", "Order status.", status),
            query("merchant", "Merchant id.", text()),
            query("customer", "Customer id.", text()),
            query("channel", "Sales channel.", text()),
            query("from", "Placed at or after. A range whose end is before its start is empty.", time()),
            query("to", "Placed before.", time()),
            limit(),
            after("The `next` cursor of the previous page.", hex(24, 24)),
        ])),
        ("/v1/orders/{id}", read::<OrderView>(generator, "One order: status, timeline, lines, totals, payments, shipments, returns.", vec![order_id()])),
        ("/v1/orders/{id}/settlement", read::<OrderBalanceView>(generator, "One order's journal entries and their effect per account.", vec![order_id()])),
        ("/v1/exceptions", read::<Vec<ExceptionView>>(generator, "Orders on hold, and orders longer in their status than its SLA.", vec![limit()])),
        ("/v1/inventory", read::<Page<InventoryView>>(generator, "Stock per SKU and warehouse.", vec![
            query("sku", "Only this SKU.", text()),
            query("low", "Only items whose available stock is below the safety stock.", json!({"type": "boolean"})),
            limit(),
            after("The `next` cursor of the previous page.", hex(1, 512)),
        ])),
        ("/v1/inventory/{sku}/{warehouse}", read::<InventoryView>(generator, "One stock item, with its active reservations.", vec![
            path("sku", "SKU.", text()),
            path("warehouse", "Warehouse code.", text()),
        ])),
        ("/v1/balances", read::<Vec<AccountView>>(generator, "Every account of the settlement ledger, per currency.", vec![query("currency", "Only this currency.", currency.clone())])),
        ("/v1/balances/merchants", read::<Vec<MerchantBalanceView>>(generator, "What is payable to each merchant, what a payout holds back now for return windows still open (`[policy] payout_holdback_percent`), and what is available to pay out.", vec![
            query("currency", "Only this currency.", currency),
            query("merchant", "Merchant id.", text()),
        ])),
        ("/v1/trial-balance", read::<TrialBalanceView>(generator, "Sum of all accounts per currency: zero when the books balance.", vec![])),
        ("/v1/reports", read::<ReportView>(generator, "Orders, GMV, average order value, processing time, cancellation, return and defect rates.", vec![
            query("from", "First day (UTC). A range whose end is before its start is empty.", date()),
            query("to", "Last day.", date()),
            query("channel", "Sales channel.", text()),
        ])),
        ("/v1/notifications", read::<projections::query::NotificationPage>(generator, "The notifications outbox: what customers are told (order confirmed, a shortage and its choices, shipped, a delivery exception, delivered, receipt confirmed automatically, return approved, refund issued), derived from the events, each with an id derived from its event's. Read on with `next` as `after`: no notification is missed or read twice.", vec![
            query("after", "The `next` of the previous page (`partition:offset,...`); none: from the start.", json!({"type": "string", "pattern": "^([0-9]{1,9}:[0-9]{1,19}(,[0-9]{1,9}:[0-9]{1,19})*)?$"})),
            query("limit", "Most notifications [default: 100].", whole(1, 1000)),
        ])),
        ("/v1/notifications/failed", {
            let mut item = read::<Vec<crate::notify::FailedDelivery>>(generator, "The webhook deliveries parked after their last attempt failed (`[notifications] max_attempts`), with the last error; `POST /v1/notifications/{id}/retry` sends one again.", vec![]);
            item["get"]["responses"]["404"] = error("No webhook is configured: nothing is delivered (`not_found`).");
            item
        }),
        ("/v1/projections/status", read::<ProjectionStatus>(generator, "Lag per partition, gaps and undecodable records, apply rate.", vec![])),
        ("/v1/waves", read::<Vec<WaveSummary>>(generator, "Pick waves, newest planned first: warehouse, carrier and cut-off, and progress (orders, lines and units, picked, short picks); `/v1/waves/{id}` has the pick list.", vec![
            query("warehouse", "Only this warehouse's.", text()),
            query("open", "Only waves still picking.", json!({"type": "boolean"})),
            limit(),
        ])),
        ("/v1/waves/{id}", read::<WaveView>(generator, "One pick wave, with its pick list in walking order (by bin, unknown bins last; express first within a bin) and each line's pick.", vec![path("id", "Wave id.", text())])),
        ("/v1/waves/{id}/pick-list", read::<PickListView>(generator, "A wave's pick list in walking order: with `Accept: text/csv` the file for a handheld scanner (sequence, order, SKU, bin, quantity, picked).", vec![path("id", "Wave id.", text())])),
        ("/v1/warehouses/{warehouse}/next-wave", {
            let mut item = read::<order_events::wave::PlanWave>(generator, "The wave planner's proposal for a warehouse: its orders that are paid (or cash on delivery, ready to ship) with stock reserved there not yet picked, packed or in an open wave — express first, then longest waiting, up to `orders_max` — each with its lines and their bins (the stock item's, else `[warehouses.<code>.bins]`): the `PlanWave` payload to submit.", vec![
                path("warehouse", "Warehouse code.", text()),
                required_query("wave_id", "The id to give the wave.", json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"})),
                query("orders_max", "Most orders [default: 50].", whole(1, 1000)),
                query("carrier", "Only orders the carrier table routes to this carrier (by their expected weight, destination, service level and handling).", text()),
                query("service_level", "Only orders of this service level.", json!({"type": "string", "enum": ["standard", "express", "economy"]})),
                query("cutoff_at", "The carrier's cut-off the wave is for, recorded with it.", time()),
            ]);
            item["get"]["responses"]["404"] = error("No order is ready for a wave at that warehouse (`not_found`).");
            item
        }),
        ("/v1/inventory/replenishment", read::<ReplenishmentPage>(generator, "Replenishment per stock item: units shipped over the window, velocity per day, days of cover, reorder point = velocity × lead time (rounded up) + safety stock, and the quantity to order (enough for the lead time and `cover_days` after it, plus safety stock, less what is available) when available is at or below it.", vec![
            query("warehouse", "Only this warehouse.", text()),
            query("sku", "Only this SKU.", text()),
            query("window_days", "Days of sales the velocity is measured over, ending today [default: 28].", whole(1, 365)),
            query("lead_time_days", "Days from ordering to stock on the shelf [default: 7].", whole(0, 365)),
            query("cover_days", "Days of sales an order should cover after it arrives [default: 14].", whole(0, 365)),
            query("reorder", "Only items at or below their reorder point.", json!({"type": "boolean"})),
            query("as_of", "The window's last day (UTC) [default: today].", date()),
        ])),
        ("/v1/reconciliations", read::<Vec<ReconciliationView>>(generator, "Recorded reconciliation runs, oldest first: run id, who recorded it and when, the provider, the report's SHA-256, the period, matched lines, breaks by kind and per-currency nets.", vec![])),
    ];
    for (route, item) in routes {
        paths.insert(route.into(), item);
    }
}

/// A reference to the schema under `name` in the document's components.
fn component(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// `POST /v1/commands`: any command type, answered with its result.
fn submit(commands: &[(&'static str, Value)], generator: &mut SchemaGenerator) -> Value {
    let one_of: Vec<Value> = commands
        .iter()
        .map(|(name, _)| component(&format!("command.{name}")))
        .collect();
    let mapping: Map<String, Value> = commands
        .iter()
        .map(|(name, _)| {
            (
                name.to_string(),
                json!(format!("#/components/schemas/command.{name}")),
            )
        })
        .collect();
    let result = generator.subschema_for::<CommandResult>().to_value();
    let refused = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CommandRefused"}}}});
    let mut responses = Map::new();
    responses.insert("200".into(), json!({"description": "The command's result: accepted with the events it recorded (their positions are what a read's `at_least` takes), or rejected with the rule it breaks (`ledger rules`).", "content": {"application/json": {"schema": result}}}));
    responses.insert("400".into(), refused("Not a command (`outcome` `invalid`): `error` is the decoder's code, `field` the offending field when known."));
    responses.insert(
        "413".into(),
        refused("The body is larger than a command may be (`too_large`)."),
    );
    responses.insert("503".into(), refused("The log could not take the command (`outcome` `error`); it was not recorded, or is decided once after a restart."));
    responses.insert("504".into(), refused("No result within the serve's wait (`outcome` `unanswered`); the command may still be decided: submit it again under the same id for its result."));
    let mut item = json!({"post": {
        "summary": "Submit one command (the same JSON as on the commands topic, `schemas/commands/`); answers with its result.",
        "parameters": [query("settle", "Also wait until the order process has issued and decided the commands this one leads to.", json!({"type": "boolean"})).to_value()],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "oneOf": one_of,
            "discriminator": {"propertyName": "type", "mapping": mapping},
        }}}},
        "responses": guarded(responses),
    }});
    item["post"]["responses"]["403"]["description"] = json!("The token lacks the role (`outcome` `forbidden` when the command is finance's or speaks as the system actor).");
    item
}

fn reconcile(generator: &mut SchemaGenerator) -> Value {
    let params = [
        query(
            "from",
            "First day of the period [default: the report's first date].",
            date(),
        ),
        query(
            "to",
            "Last day of the period [default: the report's last date].",
            date(),
        ),
        query(
            "window_days",
            "Days apart a line and a ledger event may be for a match by amount alone [default: 3].",
            whole(0, 3650),
        ),
        query(
            "map",
            "FIELD=COLUMN for another provider's layout, or date_format=%d.%m.%Y (repeatable).",
            json!({"type": "string", "pattern": "^(psp_reference|type|gross|fee|net|currency|date|order_id|payment_id|date_format)=.+$"}),
        ),
        query(
            "provider",
            "The payment provider, recorded with the run [default: psp].",
            text(),
        ),
        query(
            "carrier",
            "The report is this carrier's cash-on-delivery report (cod and payout lines), reconciled against the cash it collected and remitted; recorded under its name.",
            text(),
        ),
        query(
            "run_id",
            "The run's id [default: <provider>-<time>].",
            json!({"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"}),
        ),
        query(
            "actor",
            "Who reconciles, KIND:ID [default: staff:finance].",
            json!({"type": "string", "pattern": "^(staff|service|customer|system):.+$"}),
        ),
        query(
            "record",
            "false: reconcile without recording the run [default: true].",
            json!({"type": "boolean"}),
        ),
    ];
    let report = json!({
        "description": "The report: period, per-currency totals with expected and reported net and variance, auto-match rate, breaks with their kind and line, `unexplained`; `clean` when no break needs attention; under `recorded` what became of the command recording the run (absent with `record=false`).",
        "allOf": [generator.subschema_for::<finance::reconcile::Report>()],
        "required": ["clean"],
        "properties": {
            "clean": {"type": "boolean"},
            "recorded": {"oneOf": [generator.subschema_for::<CommandResult>(), component("CommandRefused")]},
        },
    });
    let with_report = |description: &str| json!({"description": description, "content": {"application/json": {"schema": report}}});
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        with_report("Reconciled (and recorded, unless `record=false`)."),
    );
    responses.insert(
        "400".into(),
        error("The report or a parameter cannot be read."),
    );
    responses.insert(
        "409".into(),
        with_report(
            "Reconciled, but the run id was already recorded: the refusal is under `recorded`.",
        ),
    );
    responses.insert("413".into(), error("The report is larger than 64 MiB."));
    responses.insert("503".into(), json!({"description": "The log could not be read (an error), or the recording could not be written (the report, the error under `recorded`).", "content": {"application/json": {"schema": {"oneOf": [component("Error"), report]}}}}));
    responses.insert("504".into(), with_report("Reconciled, but the recording got no result in time (`recorded.outcome` `unanswered`)."));
    json!({
        "summary": "Reconcile a payment provider's settlement report against the ledger's captures and refunds (see `ledger reconcile` in the README for the columns and break kinds), and record the run as an event.",
        "parameters": params.iter().map(Param::to_value).collect::<Vec<_>>(),
        "requestBody": {"required": true, "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
        }},
        "responses": guarded(responses),
    })
}

/// The log, metrics, health, rebuild and this document.
fn operations(paths: &mut Map<String, Value>) {
    let partitions = json!({"type": "object", "required": ["prefix", "partitions", "ends"], "properties": {
        "prefix": {"type": "string", "description": "The topics' prefix: the events topic is `<prefix>.events`."},
        "partitions": {"type": "integer", "minimum": 1},
        "ends": {"type": "array", "items": whole(0, u64::MAX), "description": "Per partition, the offset the next event will get."},
    }});
    let record = json!({"type": "object", "required": ["offset", "key", "timestamp_ms", "payload"], "properties": {
        "offset": whole(0, u64::MAX),
        "key": {"oneOf": [hex(0, 1 << 20), {"type": "null"}], "description": "The record key's bytes, hex."},
        "timestamp_ms": {"type": "integer"},
        "payload": {"allOf": [hex(0, 1 << 30)], "description": "The record's bytes as stored, hex: see the AsyncAPI document for the layout."},
    }});
    let mut layout = Map::new();
    layout.insert("200".into(), ok_json(partitions));
    layout.insert("503".into(), error("The log could not be read."));
    let mut events = Map::new();
    events.insert("200".into(), ok_json(json!({"type": "object", "required": ["records"], "properties": {"records": {"type": "array", "items": record}}})));
    events.insert(
        "400".into(),
        error("`from`, `limit` or the partition is malformed."),
    );
    events.insert(
        "404".into(),
        error("No such partition (`unknown_partition`)."),
    );
    events.insert("503".into(), error("The log could not be read."));
    let mut metrics = Map::new();
    metrics.insert("200".into(), json!({"description": "Prometheus text exposition format 0.0.4: histograms and counters, each with `# HELP`.", "content": {"text/plain": {"schema": {"type": "string"}}}}));
    metrics.insert("404".into(), error("This process records no metrics."));
    let mut rebuild = Map::new();
    rebuild.insert("202".into(), json!({"description": "A fresh generation is being built beside the live one; follow it at `/v1/projections/status`.", "content": {"application/json": {"schema": {"type": "object", "required": ["rebuild", "status"], "properties": {"rebuild": {"const": "started"}, "status": {"type": "string"}}}}}}));
    rebuild.insert(
        "409".into(),
        error("A rebuild is already running (`rebuild_running`)."),
    );
    rebuild.insert("503".into(), error("The read models are unavailable."));
    let mut checkpoint = Map::new();
    checkpoint.insert("200".into(), ok_json(checkpoint_schema()));
    checkpoint.insert(
        "503".into(),
        error("No checkpoint could be published (`checkpoint_failed`), or this serve publishes none (`checkpoints_off`)."),
    );
    let mut proof = Map::new();
    proof.insert("200".into(), ok_json(proof_schema()));
    proof.insert(
        "400".into(),
        error("The event id is not a UUID (`bad_parameter`)."),
    );
    proof.insert(
        "404".into(),
        error("No such event in the log (`unknown_event`)."),
    );
    proof.insert("409".into(), error("The log does not extend the checkpoint proved against (`not_extended`): run `ledger replay verify --checkpoint`."));
    proof.insert("503".into(), error("The log could not be read (`unavailable`), or no checkpoint could be published (`proof_failed`)."));
    let mut retry = Map::new();
    retry.insert("200".into(), ok_json(json!({"type": "object", "required": ["retried"], "properties": {"retried": {"allOf": [whole(1, u32::MAX as u64)], "description": "How many webhooks' parked deliveries of the notification were queued again."}}})));
    retry.insert(
        "400".into(),
        error("The id is not a UUID (`bad_parameter`)."),
    );
    retry.insert("404".into(), error("No delivery of this notification is parked (`nothing_parked`), or no webhook is configured (`webhooks_off`)."));
    retry.insert(
        "503".into(),
        error("The delivery journal cannot be written (`unavailable`)."),
    );
    let mut whoami = Map::new();
    let flag = json!({"type": "boolean"});
    whoami.insert("200".into(), ok_json(json!({"type": "object", "required": ["token", "roles", "access"], "properties": {
        "token": {"type": "string", "description": "The token's name (`anonymous` when the serve admits every request)."},
        "roles": {"type": "array", "items": {"enum": ["service", "analyst", "auditor", "finance", "admin"]}},
        "access": {"type": "object", "description": "Which kinds of route the token passes: `read` the read API, `finance` reconciliations, `log` the log routes and checkpoints, `commands` POST /v1/commands, `metrics` /metrics, `admin` rebuilds.",
            "required": ["read", "finance", "log", "commands", "metrics", "admin"], "properties": {
            "read": flag, "finance": flag, "log": flag, "commands": flag, "metrics": flag, "admin": flag,
        }, "additionalProperties": false},
    }, "additionalProperties": false})));
    let mut document = Map::new();
    document.insert(
        "200".into(),
        ok_json(json!({"type": "object", "description": "This document."})),
    );
    let items = [
        ("/v1/log/layout", "get", "What a reader needs to address the events topic: prefix, partitions, their ends (auditor).", vec![], layout),
        ("/v1/log/events/{partition}", "get", "Committed records of one events partition, bytes as stored, from an offset (auditor).", vec![
            path("partition", "Partition number.", whole(0, u32::MAX as u64)),
            query("from", "First offset [default: 0].", whole(0, u64::MAX)),
            query("limit", "Most records [default: 1000].", whole(1, 1000)),
        ], events),
        ("/v1/log/proofs/{event_id}", "get", "The inclusion proof of one event (docs/verifiable-history.md §3), against the last checkpoint this serve published, or a new one when the event came after it; checked offline with `ledger replay check-proof`. Reads the whole log (auditor).", vec![
            path("event_id", "The event's id.", json!({"type": "string", "format": "uuid"})),
        ], proof),
        ("/v1/notifications/{id}/retry", "post", "Send a notification's parked webhook deliveries again, with a fresh budget of attempts (admin).", vec![
            path("id", "The notification's id.", json!({"type": "string", "format": "uuid"})),
        ], retry),
        ("/v1/checkpoints", "post", "Publish a checkpoint of the log as it is now — its Merkle tree heads, signed with the deployment's key (docs/verifiable-history.md) — and answer it (auditor).", vec![], checkpoint),
        ("/metrics", "get", "Prometheus metrics of this process (analyst).", vec![], metrics),
        ("/v1/projections/rebuild", "post", "Rebuild the read models from offset 0 beside the live ones, switching when caught up (admin).", vec![], rebuild),
        ("/v1/whoami", "get", "Who the token is: its name, its roles, and which kinds of route it may use (any role) — what a client such as the console shows or hides.", vec![], whoami),
        ("/v1/openapi.json", "get", "This document (any role).", vec![], document),
    ];
    for (route, method, summary, params, responses) in items {
        let parameters: Vec<Value> = params.iter().map(Param::to_value).collect();
        let item = json!({method: {"summary": summary, "parameters": parameters, "responses": guarded(responses)}});
        paths.insert(route.into(), item);
    }
    paths.insert("/v1/health".into(), json!({"get": {
        "summary": "Whether the serve is up. Needs no token.",
        "security": [],
        "responses": {"200": {"description": "Up.", "content": {"text/plain": {"schema": {"const": "ok\n"}}}}},
    }}));
}

/// A checkpoint, as `docs/verifiable-history.md` specifies it (also the AsyncAPI document's
/// checkpoint message).
pub fn checkpoint_schema() -> Value {
    let digest = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    json!({"type": "object", "required": ["format", "partitions", "root"], "properties": {
        "format": {"const": "order-ledger/checkpoint/v1"},
        "partitions": {"type": "array", "items": {"type": "object", "required": ["partition", "size", "root"], "properties": {
            "partition": whole(0, u32::MAX as u64),
            "size": whole(0, u64::MAX),
            "root": digest,
        }}},
        "root": digest,
        "signature": {"type": "object", "required": ["key_id", "signed_at", "signature"], "properties": {
            "key_id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "signed_at": {"type": "string", "format": "date-time"},
            "signature": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
        }},
    }})
}

/// An inclusion proof, as `docs/verifiable-history.md` §3 specifies it.
fn proof_schema() -> Value {
    let digest = json!({"type": "string", "pattern": "^[0-9a-f]{64}$"});
    let path = json!({"type": "array", "items": digest, "description": "RFC 9162 inclusion proof, hex hashes from the leaf up."});
    let mut schema = checkpoint_schema();
    let signature = schema["properties"]["signature"].take();
    let head = schema["properties"]["partitions"]["items"].take();
    json!({"type": "object", "required": ["format", "event_id", "partition", "index", "offset", "record", "path", "head", "partitions", "heads_path", "root"], "properties": {
        "format": {"const": "order-ledger/proof/v2"},
        "event_id": {"type": "string", "format": "uuid"},
        "partition": whole(0, u32::MAX as u64),
        "index": {"allOf": [whole(0, u64::MAX)], "description": "The record's leaf index in its partition's tree."},
        "offset": {"allOf": [whole(0, u64::MAX)], "description": "Where the record is in the log (not proven)."},
        "record": {"type": "string", "pattern": "^([0-9a-f]{2})+$", "description": "The record's bytes as stored, hex."},
        "path": path,
        "head": head,
        "partitions": {"allOf": [whole(1, u64::MAX)], "description": "How many heads the checkpoint has."},
        "heads_path": path,
        "root": digest,
        "signature": signature,
    }})
}

fn components(generator: &mut SchemaGenerator, commands: Vec<(&'static str, Value)>) -> Value {
    let mut schemas: Map<String, Value> = generator.take_definitions(true);
    for (name, document) in commands {
        schemas.insert(format!("command.{name}"), document);
    }
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "Every error: a stable code and a sentence for people.",
            "required": ["error", "reason"],
            "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
        }),
    );
    schemas.insert("CommandRefused".into(), json!({
        "type": "object",
        "description": "A command that got no result: why.",
        "required": ["outcome", "reason"],
        "properties": {
            "outcome": {"enum": ["invalid", "forbidden", "error", "unanswered"]},
            "error": {"type": "string"},
            "reason": {"type": "string"},
            "field": {"type": "string", "description": "The field the decoder refused, when it knows."},
            "command_id": {"type": "string", "format": "uuid"},
        },
    }));
    let retry = json!({"description": "Whole seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}});
    json!({
        "schemas": schemas,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token made with `ledger token` and listed under `[[auth.tokens]]`; its roles decide the routes it may use."}},
        "responses": {
            "Unauthorized": {"description": "No bearer token, or one this serve does not know.", "headers": {"WWW-Authenticate": {"schema": {"const": "Bearer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "Forbidden": error("The token lacks the role this route needs."),
            "RateLimited": {"description": "The token is over its requests per second.", "headers": {"Retry-After": retry}, "content": {"application/json": {"schema": {"allOf": [{"$ref": "#/components/schemas/Error"}], "properties": {"retry_after_ms": {"type": "integer", "minimum": 1}}}}}},
        },
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.contract = Contract::Serialize;
        })
        .into_generator();
    let mut paths = Map::new();
    read_routes(&mut generator, &mut paths);
    let mut inputs = SchemaSettings::draft2020_12()
        .with(|s| s.definitions_path = "/components/schemas".into())
        .into_generator();
    let mut commands = order_events::schema::command_documents(&mut inputs);
    for (_, document) in &mut commands {
        to_input_names(document);
    }
    paths.insert("/v1/commands".into(), submit(&commands, &mut generator));
    let mut runs = paths["/v1/reconciliations"].clone();
    runs["post"] = reconcile(&mut generator);
    paths.insert("/v1/reconciliations".into(), runs);
    operations(&mut paths);
    let mut components = components(&mut generator, commands);
    merge_inputs(&mut components, inputs);
    let mut document = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "order-ledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Commands in, read models out. Every error is JSON {error, reason}; no route answers 500 for bad input.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": components,
    });
    order_events::schema::bound_integers(&mut document);
    document
}

/// Component names of the shapes commands are read in (a deserializing generator's), apart
/// from the shapes answers are written in.
const INPUT: &str = "in.";

/// Points the references of a command's schema at the [`INPUT`] names.
fn to_input_names(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get_mut("$ref") {
                if let Some(name) = target.strip_prefix("#/components/schemas/") {
                    *target = format!("#/components/schemas/{INPUT}{name}");
                }
            }
            map.values_mut().for_each(to_input_names);
        }
        Value::Array(items) => items.iter_mut().for_each(to_input_names),
        _ => {}
    }
}

/// Adds the commands' definitions beside the answers', each under its [`INPUT`] name.
fn merge_inputs(components: &mut Value, mut inputs: SchemaGenerator) {
    let schemas = components["schemas"]
        .as_object_mut()
        .expect("schemas is an object");
    for (name, mut schema) in inputs.take_definitions(true) {
        to_input_names(&mut schema);
        schemas.insert(format!("{INPUT}{name}"), schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let document = document();
        let text = document.to_string();
        let schemas = document["components"]["schemas"].as_object().unwrap();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                schemas.contains_key(name),
                "unresolved schema reference {name}"
            );
        }
        assert!(document["paths"]["/v1/orders/{id}"]["get"].is_object());
        let body = &document["paths"]["/v1/commands"]["post"]["requestBody"];
        let types = body["content"]["application/json"]["schema"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(types.len(), order_events::Command::types().count());
    }
}
