//! The OpenAPI 3.1 document of the HTTP API, served at `/v1/openapi.json`. Response schemas
//! come from the read models' own types (schemars), so the document cannot drift from what
//! the routes return.

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use projections::model::{
    AccountView, ExceptionView, InventoryView, MerchantBalanceView, OrderBalanceView, OrderSummary,
    OrderView, ReconciliationView, ReportView, TrialBalanceView,
};
use projections::query::Page;
use projections::worker::ProjectionStatus;

/// A query parameter: name, description, JSON Schema type.
type Param = (&'static str, &'static str, &'static str);

const READ_YOUR_WRITES: [Param; 2] = [
    ("at_least", "Events-topic positions `partition:offset,...` (from a command result) the answer must include; the query waits for them.", "string"),
    ("wait_ms", "How long to wait for `at_least`, in milliseconds (default 5000, at most 60000); 504 when not reached.", "integer"),
];

const PAGE: [Param; 2] = [
    ("limit", "Page size, 1 to 1000 (default 100).", "integer"),
    ("after", "The `next` cursor of the previous page.", "string"),
];

fn parameter((name, description, kind): Param, location: &str) -> Value {
    json!({
        "name": name,
        "in": location,
        "required": location == "path",
        "description": description,
        "schema": {"type": kind},
    })
}

fn operation<T: JsonSchema>(
    generator: &mut SchemaGenerator,
    summary: &str,
    path_params: &[Param],
    query_params: &[Param],
) -> Value {
    let mut parameters: Vec<Value> = path_params.iter().map(|p| parameter(*p, "path")).collect();
    parameters.extend(query_params.iter().map(|p| parameter(*p, "query")));
    parameters.extend(READ_YOUR_WRITES.iter().map(|p| parameter(*p, "query")));
    let schema = generator.subschema_for::<T>();
    json!({"get": {
        "summary": summary,
        "parameters": parameters,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "504": {"$ref": "#/components/responses/NotReached"},
        }
    }})
}

/// The whole document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let id = [("id", "Order id (UUID).", "string")];
    let mut paths = Map::new();
    let mut add = |path: &str, item: Value| {
        paths.insert(path.to_owned(), item);
    };
    let order_filters: Vec<Param> = [
        (
            "status",
            "Order status (placed, paid, shipped, ...).",
            "string",
        ),
        ("merchant", "Merchant id.", "string"),
        ("customer", "Customer id.", "string"),
        ("channel", "Sales channel.", "string"),
        ("from", "Placed at or after (RFC 3339).", "string"),
        ("to", "Placed before (RFC 3339).", "string"),
    ]
    .into_iter()
    .chain(PAGE)
    .collect();
    add(
        "/v1/orders",
        operation::<Page<OrderSummary>>(
            &mut generator,
            "Orders by placement time, filtered, paged.",
            &[],
            &order_filters,
        ),
    );
    add(
        "/v1/orders/{id}",
        operation::<OrderView>(
            &mut generator,
            "One order: status, timeline, lines, totals, payments, shipments, returns.",
            &id,
            &[],
        ),
    );
    add(
        "/v1/orders/{id}/settlement",
        operation::<OrderBalanceView>(
            &mut generator,
            "One order's journal entries and their effect per account.",
            &id,
            &[],
        ),
    );
    add(
        "/v1/exceptions",
        operation::<Vec<ExceptionView>>(
            &mut generator,
            "Orders on hold, and orders longer in their status than its SLA.",
            &[],
            &[PAGE[0]],
        ),
    );
    let inventory: Vec<Param> = [
        ("sku", "Only this SKU.", "string"),
        (
            "low",
            "Only items whose available stock is below the safety stock.",
            "boolean",
        ),
    ]
    .into_iter()
    .chain(PAGE)
    .collect();
    add(
        "/v1/inventory",
        operation::<Page<InventoryView>>(
            &mut generator,
            "Stock per SKU and warehouse.",
            &[],
            &inventory,
        ),
    );
    add(
        "/v1/inventory/{sku}/{warehouse}",
        operation::<InventoryView>(
            &mut generator,
            "One stock item, with its active reservations.",
            &[
                ("sku", "SKU.", "string"),
                ("warehouse", "Warehouse code.", "string"),
            ],
            &[],
        ),
    );
    let currency = [("currency", "ISO 4217 code.", "string")];
    add(
        "/v1/balances",
        operation::<Vec<AccountView>>(
            &mut generator,
            "Every account of the settlement ledger, per currency.",
            &[],
            &currency,
        ),
    );
    add(
        "/v1/balances/merchants",
        operation::<Vec<MerchantBalanceView>>(
            &mut generator,
            "What is payable to each merchant, what a payout holds back now for return windows still open (`[policy] payout_holdback_percent`), and what is available to pay out.",
            &[],
            &[currency[0], ("merchant", "Merchant id.", "string")],
        ),
    );
    add(
        "/v1/trial-balance",
        operation::<TrialBalanceView>(
            &mut generator,
            "Sum of all accounts per currency: zero when the books balance.",
            &[],
            &[],
        ),
    );
    add("/v1/reports", operation::<ReportView>(&mut generator, "Orders, GMV, average order value, processing time, cancellation, return and defect rates.", &[], &[("from", "First day (YYYY-MM-DD, UTC).", "string"), ("to", "Last day.", "string"), ("channel", "Sales channel.", "string")]));
    add(
        "/v1/projections/status",
        operation::<ProjectionStatus>(
            &mut generator,
            "Lag per partition, gaps and undecodable records, apply rate.",
            &[],
            &[],
        ),
    );
    add(
        "/v1/commands",
        json!({"post": {
            "summary": "Submit one command (the same JSON as on the commands topic); answers with its result. `?settle=true` also waits for the order process.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
            "responses": {
                "200": {"description": "The command's result (accepted with event positions, or rejected with the rule)."},
                "400": {"description": "Not a command: the reason."},
                "504": {"description": "No result in time."},
            }
        }}),
    );
    let mut runs = operation::<Vec<ReconciliationView>>(
        &mut generator,
        "Recorded reconciliation runs, oldest first: run id, who recorded it and when, the provider, the report's SHA-256, the period, matched lines, breaks by kind and per-currency nets.",
        &[],
        &[],
    );
    runs["post"] = json!({
            "summary": "Reconcile a payment provider's settlement report against the ledger's captures and refunds (see `ledger reconcile` in the README for the columns and break kinds), and record the run as an event.",
            "parameters": [
                parameter(("from", "First day of the period (YYYY-MM-DD) [default: the report's first date].", "string"), "query"),
                parameter(("to", "Last day of the period [default: the report's last date].", "string"), "query"),
                parameter(("window_days", "Days apart a line and a ledger event may be for a match by amount alone [default: 3].", "integer"), "query"),
                parameter(("map", "FIELD=COLUMN for another provider's layout, or date_format=%d.%m.%Y (repeatable).", "string"), "query"),
                parameter(("provider", "The payment provider, recorded with the run [default: psp].", "string"), "query"),
                parameter(("run_id", "The run's id, 1-64 of A-Z a-z 0-9 . _ - [default: <provider>-<time>].", "string"), "query"),
                parameter(("actor", "Who reconciles, KIND:ID [default: staff:finance].", "string"), "query"),
                parameter(("record", "false: reconcile without recording the run [default: true].", "boolean"), "query"),
            ],
            "requestBody": {"required": true, "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}},
            }},
            "responses": {
                "200": {"description": "The report: period, per-currency totals with expected and reported net and variance, auto-match rate, breaks with their kind and line, `unexplained`, `clean`, and under `recorded` the recording command's result."},
                "400": {"$ref": "#/components/responses/BadRequest"},
                "413": {"description": "The report is larger than 64 MiB."},
                "409": {"description": "Reconciled, but the run id was already recorded: the report, with the refusal under `recorded`."},
                "503": {"description": "The log could not be read."},
            }
    });
    add("/v1/reconciliations", runs);
    let error = json!({"description": "Error", "content": {"application/json": {"schema": {
        "type": "object",
        "properties": {"error": {"type": "string"}, "reason": {"type": "string"}},
        "required": ["error", "reason"],
    }}}});
    let schemas: Map<String, Value> = generator.take_definitions(true).into_iter().collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "order-ledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Commands in, read models out. Errors are JSON {error, reason}; no route answers 500 for bad input.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "BadRequest": error,
                "NotFound": error,
                "NotReached": error,
                "Conflict": error,
            }
        }
    })
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
    }
}
