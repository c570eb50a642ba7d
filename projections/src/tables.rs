//! The read models as tables for people (issue 22's "schema for people"), beside the rows the
//! fold and the queries use: in PostgreSQL, every fold step also writes `orders`,
//! `order_lines`, `order_timeline`, `inventory`, `account_balances`, `daily_reports`,
//! `journal_entries`, `merchant_balances` and `reconciliations` in the same transaction — typed columns (`numeric` money,
//! `timestamptz` times, `uuid` ids) decoded from the very rows it writes, so they say what the
//! read API says. `docs/read-models-sql.md` documents them, with example SQL.
//!
//! `account_balances`, `daily_reports` and `merchant_balances` are views adding up the rows'
//! [parts](crate::keys#parts), one per events partition, which the steps write to
//! `account_balance_parts`, `daily_report_parts` and `merchant_balance_parts`: so workers
//! folding different partitions never update the same row of a table either.

use crate::keys;
use crate::model::{
    AccountBalance, AccountView, DayRow, EventRef, InventoryView, MerchantTotals, OrderBalanceView,
    OrderRow, OrderSummary, OrderView, ReconciliationView, StockRow,
};
use crate::StoreError;
use order_events::money::{Amount, Currency};

/// The version of the tables' layout: bump it with any change to [`create`] or to what
/// [`statements`] writes. A store whose tables are of another version makes them anew and is
/// folded again from the log.
pub const VERSION: i32 = 6;

/// One statement of a step: SQL over text arrays (`$1::text[]`, …), one array per column.
pub struct Statement {
    pub sql: String,
    pub columns: Vec<Vec<Option<String>>>,
}

/// The tables' definitions in `schema`.
pub fn create(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {schema}.orders (
             order_id uuid PRIMARY KEY, status text NOT NULL, status_since timestamptz NOT NULL,
             channel text NOT NULL, merchant_id text NOT NULL, customer_id text NOT NULL,
             currency char(3) NOT NULL, total numeric NOT NULL, captured numeric NOT NULL,
             refunded numeric NOT NULL, placed_at timestamptz NOT NULL,
             updated_at timestamptz NOT NULL);
         CREATE INDEX IF NOT EXISTS orders_placed_at ON {schema}.orders (placed_at);
         CREATE TABLE IF NOT EXISTS {schema}.inventory (
             sku text NOT NULL, warehouse text NOT NULL, on_hand bigint NOT NULL,
             reserved bigint NOT NULL, available bigint NOT NULL, safety_stock bigint NOT NULL,
             low_stock boolean NOT NULL, updated_at timestamptz NOT NULL,
             PRIMARY KEY (sku, warehouse));
         CREATE TABLE IF NOT EXISTS {schema}.account_balance_parts (
             currency char(3) NOT NULL, account text NOT NULL, part integer NOT NULL,
             debits numeric NOT NULL, credits numeric NOT NULL, balance numeric NOT NULL,
             PRIMARY KEY (currency, account, part));
         CREATE OR REPLACE VIEW {schema}.account_balances AS
             SELECT currency, account, sum(debits) AS debits, sum(credits) AS credits,
                    sum(balance) AS balance
             FROM {schema}.account_balance_parts GROUP BY currency, account;
         CREATE TABLE IF NOT EXISTS {schema}.order_lines (
             order_id uuid NOT NULL, line integer NOT NULL, sku text NOT NULL,
             quantity integer NOT NULL, unit_price numeric NOT NULL, warehouse text,
             shipped integer NOT NULL, returned integer NOT NULL,
             PRIMARY KEY (order_id, line));
         CREATE TABLE IF NOT EXISTS {schema}.order_events (
             order_id uuid NOT NULL, sequence bigint NOT NULL, event_type text NOT NULL,
             event_id uuid NOT NULL, recorded_at timestamptz NOT NULL, actor_kind text NOT NULL,
             actor_id text NOT NULL, log_partition integer NOT NULL, log_offset bigint NOT NULL,
             hash char(64) NOT NULL, PRIMARY KEY (order_id, sequence));
         CREATE TABLE IF NOT EXISTS {schema}.order_timeline (
             order_id uuid NOT NULL, step integer NOT NULL, status text NOT NULL,
             at timestamptz NOT NULL, PRIMARY KEY (order_id, step));
         CREATE TABLE IF NOT EXISTS {schema}.daily_report_parts (
             day date NOT NULL, channel text NOT NULL, currency char(3) NOT NULL,
             part integer NOT NULL, orders bigint NOT NULL, gross_gmv numeric NOT NULL,
             net_sales numeric NOT NULL, cancelled bigint NOT NULL, expired bigint NOT NULL,
             returned bigint NOT NULL, defective bigint NOT NULL,
             negative_reviews bigint NOT NULL, claims bigint NOT NULL,
             defective_returns bigint NOT NULL, cash_on_delivery bigint NOT NULL,
             refused bigint NOT NULL, PRIMARY KEY (day, channel, currency, part));
         CREATE OR REPLACE VIEW {schema}.daily_reports AS
             SELECT day, channel, currency, sum(orders)::bigint AS orders,
                    sum(gross_gmv) AS gross_gmv, sum(net_sales) AS net_sales,
                    sum(cancelled)::bigint AS cancelled, sum(expired)::bigint AS expired,
                    sum(returned)::bigint AS returned, sum(defective)::bigint AS defective,
                    sum(negative_reviews)::bigint AS negative_reviews,
                    sum(claims)::bigint AS claims,
                    sum(defective_returns)::bigint AS defective_returns,
                    sum(cash_on_delivery)::bigint AS cash_on_delivery,
                    sum(refused)::bigint AS refused
             FROM {schema}.daily_report_parts GROUP BY day, channel, currency;
         CREATE TABLE IF NOT EXISTS {schema}.journal_entries (
             order_id uuid NOT NULL, entry integer NOT NULL, posting integer NOT NULL,
             kind text NOT NULL, event_id uuid NOT NULL, currency char(3) NOT NULL,
             at timestamptz NOT NULL, account text NOT NULL, debit numeric NOT NULL,
             credit numeric NOT NULL, PRIMARY KEY (order_id, entry, posting));
         CREATE INDEX IF NOT EXISTS journal_entries_at ON {schema}.journal_entries (at);
         CREATE TABLE IF NOT EXISTS {schema}.merchant_balance_parts (
             currency char(3) NOT NULL, merchant_id text NOT NULL, part integer NOT NULL,
             captures numeric NOT NULL, commission numeric NOT NULL, refunds numeric NOT NULL,
             commission_reversals numeric NOT NULL, payouts numeric NOT NULL,
             freight_charges numeric NOT NULL,
             payable numeric NOT NULL, PRIMARY KEY (currency, merchant_id, part));
         CREATE OR REPLACE VIEW {schema}.merchant_balances AS
             SELECT currency, merchant_id, sum(captures) AS captures,
                    sum(commission) AS commission, sum(refunds) AS refunds,
                    sum(commission_reversals) AS commission_reversals,
                    sum(payouts) AS payouts, sum(freight_charges) AS freight_charges,
                    sum(payable) AS payable
             FROM {schema}.merchant_balance_parts GROUP BY currency, merchant_id;
         CREATE TABLE IF NOT EXISTS {schema}.reconciliations (
             run_id text PRIMARY KEY, recorded_at timestamptz NOT NULL, actor_kind text NOT NULL,
             actor_id text NOT NULL, provider text NOT NULL, report_sha256 text NOT NULL,
             period_from date, period_to date, transaction_lines bigint NOT NULL,
             auto_matched bigint NOT NULL, unexplained bigint NOT NULL, breaks jsonb NOT NULL,
             currencies jsonb NOT NULL);"
    )
}

/// The tables for people (three of them views of [`STORED`] ones), for views and grants.
pub const TABLES: [&str; 10] = [
    "orders",
    "order_lines",
    "order_timeline",
    "order_events",
    "inventory",
    "account_balances",
    "daily_reports",
    "journal_entries",
    "merchant_balances",
    "reconciliations",
];

/// The tables the steps write.
pub const STORED: [&str; 10] = [
    "orders",
    "order_lines",
    "order_timeline",
    "order_events",
    "inventory",
    "account_balance_parts",
    "daily_report_parts",
    "journal_entries",
    "merchant_balance_parts",
    "reconciliations",
];

/// Rows of one table changed by a step: the upserted rows' columns, and the removed keys.
struct Changes {
    upserted: Vec<Vec<Option<String>>>,
    removed: Vec<Vec<Option<String>>>,
}

impl Changes {
    fn new(columns: usize, key_columns: usize) -> Changes {
        Changes {
            upserted: vec![Vec::new(); columns],
            removed: vec![Vec::new(); key_columns],
        }
    }

    fn upsert(&mut self, row: Vec<Option<String>>) {
        for (column, value) in self.upserted.iter_mut().zip(row) {
            column.push(value);
        }
    }

    fn remove(&mut self, key: Vec<Option<String>>) {
        for (column, value) in self.removed.iter_mut().zip(key) {
            column.push(value);
        }
    }
}

/// Rows of a table of an order's parts (lines, timeline, events): every changed order's rows
/// are replaced, or (events, which only grow) the new ones added.
struct Children {
    orders: Vec<Option<String>>,
    rows: Vec<Vec<Option<String>>>,
}

impl Children {
    fn new(columns: usize) -> Children {
        Children {
            orders: Vec::new(),
            rows: vec![Vec::new(); columns],
        }
    }

    fn replace(&mut self, order: &Option<String>, rows: Vec<Vec<Option<String>>>) {
        self.orders.push(order.clone());
        self.append(rows);
    }

    /// Adds an order's rows that are not there yet (its rows only ever grow, and the ones
    /// there stay as they are): no delete, and an insert that skips the rows already there.
    fn append(&mut self, rows: Vec<Vec<Option<String>>>) {
        for row in rows {
            for (column, value) in self.rows.iter_mut().zip(row) {
                column.push(value);
            }
        }
    }

    /// The delete of the replaced orders' rows and the insert of their new ones.
    fn statements(self, schema: &str, table: &str, columns: &[&str]) -> Vec<Statement> {
        let mut statements = Vec::new();
        let names: Vec<&str> = columns
            .iter()
            .map(|c| c.split("::").next().unwrap_or(c))
            .collect();
        let arrays: Vec<String> = (1..=columns.len())
            .map(|i| format!("${i}::text[]"))
            .collect();
        if !self.orders.is_empty() {
            statements.push(Statement {
                sql: format!(
                    "DELETE FROM {schema}.{table} WHERE order_id = ANY($1::text[]::uuid[])"
                ),
                columns: vec![self.orders],
            });
        }
        if self.rows.first().is_some_and(|column| !column.is_empty()) {
            statements.push(Statement {
                sql: format!(
                    "INSERT INTO {schema}.{table} ({}) SELECT {} FROM unnest({}) AS t({})
                     ON CONFLICT DO NOTHING",
                    names.join(", "),
                    columns.join(", "),
                    arrays.join(", "),
                    names.join(", ")
                ),
                columns: self.rows,
            });
        }
        statements
    }
}

/// An amount as the read API shows it: with exactly its currency's minor units (`0.00`).
fn money(amount: Amount, currency: Currency) -> Option<String> {
    text(amount.in_minor_units(currency).0)
}

fn optional(value: Option<impl ToString>) -> Option<String> {
    value.map(|v| v.to_string())
}

fn text(value: impl ToString) -> Option<String> {
    Some(value.to_string())
}

/// The part at the end of a [part](keys#parts)'s key.
fn part_of(key: &[u8]) -> Result<u32, StoreError> {
    keys::part(key).ok_or_else(|| corrupt(key, "a part's key without its part"))
}

/// The date, channel and currency of a day's part.
fn read_day(key: &[u8]) -> Result<(chrono::NaiveDate, &str, &[u8]), StoreError> {
    keys::whole(key)
        .and_then(keys::read_day)
        .ok_or_else(|| corrupt(key, "a day key without a date"))
}

fn corrupt(key: &[u8], reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        key: format!("{key:?}"),
        reason: reason.to_string(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(
    key: &[u8],
    what: &str,
    value: &[u8],
) -> Result<T, StoreError> {
    order_events::codec::decode_cache_value(what, value).map_err(|e| corrupt(key, e))
}

fn order_columns(summary: &OrderSummary) -> Vec<Option<String>> {
    vec![
        text(summary.order_id.0),
        text(summary.status),
        text(summary.status_since.to_rfc3339()),
        text(&summary.channel),
        text(&summary.merchant_id),
        text(&summary.customer_id),
        text(summary.currency),
        money(summary.total, summary.currency),
        money(summary.captured, summary.currency),
        money(summary.refunded, summary.currency),
        text(summary.placed_at.to_rfc3339()),
        text(summary.updated_at.to_rfc3339()),
    ]
}

fn line_rows(order: &Option<String>, view: &OrderView) -> Vec<Vec<Option<String>>> {
    view.lines
        .iter()
        .enumerate()
        .map(|(line, l)| {
            vec![
                order.clone(),
                text(line + 1),
                text(&l.sku),
                text(l.quantity),
                money(l.unit_price, view.currency),
                optional(l.warehouse.as_ref()),
                text(l.shipped),
                text(l.returned),
            ]
        })
        .collect()
}

fn timeline_rows(order: &Option<String>, view: &OrderView) -> Vec<Vec<Option<String>>> {
    view.timeline
        .iter()
        .enumerate()
        .map(|(step, change)| {
            vec![
                order.clone(),
                text(step + 1),
                text(change.status),
                text(change.at.to_rfc3339()),
            ]
        })
        .collect()
}

fn event_rows(order: &Option<String>, refs: &[EventRef]) -> Vec<Vec<Option<String>>> {
    refs.iter()
        .map(|e| {
            let actor_kind = serde_json::to_value(e.actor.kind).ok();
            vec![
                order.clone(),
                text(e.sequence),
                text(&e.event_type),
                text(e.event_id),
                text(e.recorded_at.to_rfc3339()),
                actor_kind
                    .as_ref()
                    .and_then(|k| k.as_str())
                    .map(str::to_owned),
                text(&e.actor.id),
                text(e.partition),
                text(e.offset),
                text(&e.hash),
            ]
        })
        .collect()
}

fn inventory_columns(view: &InventoryView) -> Vec<Option<String>> {
    vec![
        text(&view.sku),
        text(&view.warehouse),
        text(view.on_hand),
        text(view.reserved),
        text(view.available),
        text(view.safety_stock),
        text(view.low_stock),
        text(view.updated_at.to_rfc3339()),
    ]
}

/// An order's journal entries, a row per posting.
fn journal_rows(order: &Option<String>, view: &OrderBalanceView) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
    for (entry_number, entry) in view.entries.iter().enumerate() {
        let kind = serde_json::to_value(entry.kind).ok();
        let kind = kind.as_ref().and_then(|k| k.as_str()).map(str::to_owned);
        for (posting_number, posting) in entry.postings.iter().enumerate() {
            rows.push(vec![
                order.clone(),
                text(entry_number + 1),
                text(posting_number + 1),
                kind.clone(),
                text(entry.event_id),
                text(entry.currency),
                text(entry.at.to_rfc3339()),
                text(&posting.account),
                money(posting.debit, entry.currency),
                money(posting.credit, entry.currency),
            ]);
        }
    }
    rows
}

fn merchant_columns(
    key: &[u8],
    totals: &MerchantTotals,
) -> Result<Vec<Option<String>>, StoreError> {
    let (currency, merchant) = keys::currency_and_name(key)?;
    Ok(vec![
        text(currency),
        text(merchant),
        text(part_of(key)?),
        money(totals.captures, currency),
        money(totals.commission, currency),
        money(totals.refunds, currency),
        money(totals.commission_reversals, currency),
        money(totals.payouts, currency),
        money(totals.freight_charges, currency),
        money(totals.payable(), currency),
    ])
}

fn reconciliation_columns(view: &ReconciliationView) -> Vec<Option<String>> {
    let json = |value: serde_json::Result<serde_json::Value>| value.ok().map(|v| v.to_string());
    let actor_kind = serde_json::to_value(view.actor.kind).ok();
    let outcome = &view.outcome;
    vec![
        text(&view.run_id),
        text(view.recorded_at.to_rfc3339()),
        actor_kind
            .as_ref()
            .and_then(|k| k.as_str())
            .map(str::to_owned),
        text(&view.actor.id),
        text(&outcome.provider),
        text(&outcome.report_sha256),
        optional(outcome.period_from),
        optional(outcome.period_to),
        text(outcome.transaction_lines),
        text(outcome.auto_matched),
        text(outcome.unexplained),
        json(serde_json::to_value(&outcome.breaks)),
        json(serde_json::to_value(&outcome.currencies)),
    ]
}

fn account_columns(view: &AccountView, part: u32) -> Vec<Option<String>> {
    vec![
        text(view.currency),
        text(&view.account),
        text(part),
        money(view.debits, view.currency),
        money(view.credits, view.currency),
        money(view.balance, view.currency),
    ]
}

/// What a step's `writes` do to the tables of `schema`.
pub fn statements(
    schema: &str,
    writes: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<Vec<Statement>, StoreError> {
    let mut orders = Changes::new(12, 1);
    let mut inventory = Changes::new(8, 2);
    let mut accounts = Changes::new(6, 3);
    let mut days = Changes::new(16, 4);
    let mut lines = Children::new(8);
    let mut timeline = Children::new(4);
    let mut journal = Children::new(10);
    let mut events = Children::new(10);
    let mut merchants = Changes::new(10, 3);
    let mut reconciliations = Changes::new(13, 1);
    for (key, value) in writes {
        match (key.first().copied(), value) {
            (Some(keys::ORDER_BALANCE), value) => {
                let id = uuid::Uuid::from_slice(&key[1..]).map_err(|e| corrupt(key, e))?;
                let rows = match value {
                    Some(value) => {
                        let view: OrderBalanceView = decode(key, "order balance", value)?;
                        journal_rows(&text(id), &view)
                    }
                    None => Vec::new(),
                };
                journal.replace(&text(id), rows);
            }
            (Some(keys::ORDER_EVENTS), value) => {
                let id = uuid::Uuid::from_slice(&key[1..]).map_err(|e| corrupt(key, e))?;
                match value {
                    Some(value) => {
                        let refs: Vec<EventRef> = decode(key, "order events", value)?;
                        events.append(event_rows(&text(id), &refs));
                    }
                    None => events.replace(&text(id), Vec::new()),
                }
            }
            (Some(keys::MERCHANT), Some(value)) => {
                let totals: MerchantTotals = decode(key, "merchant totals", value)?;
                merchants.upsert(merchant_columns(key, &totals)?);
            }
            (Some(keys::MERCHANT), None) => {
                let (currency, merchant) = keys::currency_and_name(key)?;
                merchants.remove(vec![text(currency), text(merchant), text(part_of(key)?)]);
            }
            (Some(keys::RECONCILIATION), Some(value)) => {
                let view: ReconciliationView = decode(key, "reconciliation", value)?;
                reconciliations.upsert(reconciliation_columns(&view));
            }
            (Some(keys::ORDER), Some(value)) => {
                let row: OrderRow = decode(key, "order row", value)?;
                if let Some(view) = OrderView::of(&row) {
                    let id = text(view.order_id.0);
                    orders.upsert(order_columns(&OrderSummary::from(&view)));
                    lines.replace(&id, line_rows(&id, &view));
                    timeline.replace(&id, timeline_rows(&id, &view));
                }
            }
            (Some(keys::ORDER), None) => {
                let id = uuid::Uuid::from_slice(&key[1..]).map_err(|e| corrupt(key, e))?;
                orders.remove(vec![text(id)]);
                lines.replace(&text(id), Vec::new());
                timeline.replace(&text(id), Vec::new());
            }
            (Some(keys::DAY), Some(value)) => {
                let row: DayRow = decode(key, "day report", value)?;
                let (date, channel, rest) = read_day(key)?;
                let currency: Currency = std::str::from_utf8(rest)
                    .map_err(|e| corrupt(key, e))?
                    .parse()
                    .map_err(|e| corrupt(key, e))?;
                days.upsert(vec![
                    text(date),
                    text(channel),
                    text(currency),
                    text(part_of(key)?),
                    text(row.orders),
                    money(row.gmv, currency),
                    money(row.net_sales, currency),
                    text(row.cancelled),
                    text(row.expired),
                    text(row.returned),
                    text(row.defects.defective),
                    text(row.defects.negative_reviews),
                    text(row.defects.claims),
                    text(row.defects.defective_returns),
                    text(row.cash_on_delivery),
                    text(row.refused),
                ]);
            }
            (Some(keys::STOCK), Some(value)) => {
                let row: StockRow = decode(key, "stock row", value)?;
                inventory.upsert(inventory_columns(&InventoryView::from(&row)));
            }
            (Some(keys::ACCOUNT), Some(value)) => {
                let balance: AccountBalance = decode(key, "account", value)?;
                let (currency, account) = keys::currency_and_name(key)?;
                let view = AccountView {
                    currency,
                    account,
                    debits: balance.debits,
                    credits: balance.credits,
                    balance: balance.balance(),
                };
                accounts.upsert(account_columns(&view, part_of(key)?));
            }
            (Some(keys::DAY), None) => {
                let (date, channel, rest) = read_day(key)?;
                let currency = std::str::from_utf8(rest).map_err(|e| corrupt(key, e))?;
                days.remove(vec![
                    text(date),
                    text(channel),
                    text(currency),
                    text(part_of(key)?),
                ]);
            }
            (Some(keys::STOCK), None) => {
                let (sku, rest) =
                    keys::read_str(&key[1..]).ok_or_else(|| corrupt(key, "no SKU"))?;
                let (warehouse, _) =
                    keys::read_str(rest).ok_or_else(|| corrupt(key, "no warehouse"))?;
                inventory.remove(vec![text(sku), text(warehouse)]);
            }
            (Some(keys::ACCOUNT), None) => {
                let (currency, account) = keys::currency_and_name(key)?;
                accounts.remove(vec![text(currency), text(account), text(part_of(key)?)]);
            }
            _ => {}
        }
    }
    let mut statements = Vec::new();
    push(
        &mut statements,
        schema,
        "orders",
        &[
            "order_id::uuid",
            "status",
            "status_since::timestamptz",
            "channel",
            "merchant_id",
            "customer_id",
            "currency",
            "total::numeric",
            "captured::numeric",
            "refunded::numeric",
            "placed_at::timestamptz",
            "updated_at::timestamptz",
        ],
        1,
        orders,
    );
    push(
        &mut statements,
        schema,
        "inventory",
        &[
            "sku",
            "warehouse",
            "on_hand::bigint",
            "reserved::bigint",
            "available::bigint",
            "safety_stock::bigint",
            "low_stock::boolean",
            "updated_at::timestamptz",
        ],
        2,
        inventory,
    );
    push(
        &mut statements,
        schema,
        "account_balance_parts",
        &[
            "currency",
            "account",
            "part::integer",
            "debits::numeric",
            "credits::numeric",
            "balance::numeric",
        ],
        3,
        accounts,
    );
    let day_columns = [
        "day::date",
        "channel",
        "currency",
        "part::integer",
        "orders::bigint",
        "gross_gmv::numeric",
        "net_sales::numeric",
        "cancelled::bigint",
        "expired::bigint",
        "returned::bigint",
        "defective::bigint",
        "negative_reviews::bigint",
        "claims::bigint",
        "defective_returns::bigint",
        "cash_on_delivery::bigint",
        "refused::bigint",
    ];
    push(
        &mut statements,
        schema,
        "daily_report_parts",
        &day_columns,
        4,
        days,
    );
    let line_columns = [
        "order_id::uuid",
        "line::integer",
        "sku",
        "quantity::integer",
        "unit_price::numeric",
        "warehouse",
        "shipped::integer",
        "returned::integer",
    ];
    statements.extend(lines.statements(schema, "order_lines", &line_columns));
    let timeline_columns = [
        "order_id::uuid",
        "step::integer",
        "status",
        "at::timestamptz",
    ];
    statements.extend(timeline.statements(schema, "order_timeline", &timeline_columns));
    let event_columns = [
        "order_id::uuid",
        "sequence::bigint",
        "event_type",
        "event_id::uuid",
        "recorded_at::timestamptz",
        "actor_kind",
        "actor_id",
        "log_partition::integer",
        "log_offset::bigint",
        "hash",
    ];
    statements.extend(events.statements(schema, "order_events", &event_columns));
    let journal_columns = [
        "order_id::uuid",
        "entry::integer",
        "posting::integer",
        "kind",
        "event_id::uuid",
        "currency",
        "at::timestamptz",
        "account",
        "debit::numeric",
        "credit::numeric",
    ];
    statements.extend(journal.statements(schema, "journal_entries", &journal_columns));
    let merchant_columns = [
        "currency",
        "merchant_id",
        "part::integer",
        "captures::numeric",
        "commission::numeric",
        "refunds::numeric",
        "commission_reversals::numeric",
        "payouts::numeric",
        "freight_charges::numeric",
        "payable::numeric",
    ];
    push(
        &mut statements,
        schema,
        "merchant_balance_parts",
        &merchant_columns,
        3,
        merchants,
    );
    let reconciliation_columns = [
        "run_id",
        "recorded_at::timestamptz",
        "actor_kind",
        "actor_id",
        "provider",
        "report_sha256",
        "period_from::date",
        "period_to::date",
        "transaction_lines::bigint",
        "auto_matched::bigint",
        "unexplained::bigint",
        "breaks::jsonb",
        "currencies::jsonb",
    ];
    push(
        &mut statements,
        schema,
        "reconciliations",
        &reconciliation_columns,
        1,
        reconciliations,
    );
    Ok(statements)
}

/// The upsert and the delete of one table's changes (none when it did not change). `columns`
/// are `name` or `name::type`; the first `key_columns` are the primary key.
fn push(
    statements: &mut Vec<Statement>,
    schema: &str,
    table: &str,
    columns: &[&str],
    key_columns: usize,
    changes: Changes,
) {
    let name = |column: &str| column.split("::").next().unwrap_or(column).to_owned();
    let names: Vec<String> = columns.iter().map(|c| name(c)).collect();

    if !changes.upserted[0].is_empty() {
        let arrays: Vec<String> = (1..=columns.len())
            .map(|i| format!("${i}::text[]"))
            .collect();
        // `name::type` casts the text column of that name; a plain name stays text.
        let selected: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let key = names[..key_columns].join(", ");
        let updates: Vec<String> = names[key_columns..]
            .iter()
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        statements.push(Statement {
            sql: format!(
                "INSERT INTO {schema}.{table} ({}) SELECT {} FROM unnest({}) AS t({})
                 ON CONFLICT ({key}) DO UPDATE SET {}",
                names.join(", "),
                selected.join(", "),
                arrays.join(", "),
                names.join(", "),
                updates.join(", ")
            ),
            columns: changes.upserted,
        });
    }
    if !changes.removed[0].is_empty() {
        let key: Vec<String> = columns[..key_columns]
            .iter()
            .map(|c| c.to_string())
            .collect();
        let matches: Vec<String> = (1..=key_columns).map(|i| format!("${i}::text[]")).collect();
        statements.push(Statement {
            sql: format!(
                "DELETE FROM {schema}.{table} WHERE ({}) IN (SELECT {} FROM unnest({}) AS t({}))",
                names[..key_columns].join(", "),
                key.join(", "),
                matches.join(", "),
                names[..key_columns].join(", ")
            ),
            columns: changes.removed,
        });
    }
}
