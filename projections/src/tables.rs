//! The read models as tables for people (issue 22's "schema for people"), beside the rows the
//! fold and the queries use: in PostgreSQL, every fold step also writes `orders`, `inventory`
//! and `account_balances` in the same transaction — typed columns (`numeric` money,
//! `timestamptz` times, `uuid` ids) decoded from the very rows it writes, so they say what the
//! read API says. `docs/read-models-sql.md` documents them, with example SQL.

use crate::keys;
use crate::model::{
    AccountBalance, AccountView, InventoryView, OrderRow, OrderSummary, OrderView, StockRow,
};
use crate::StoreError;

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
         CREATE TABLE IF NOT EXISTS {schema}.account_balances (
             currency char(3) NOT NULL, account text NOT NULL, debits numeric NOT NULL,
             credits numeric NOT NULL, balance numeric NOT NULL,
             PRIMARY KEY (currency, account));"
    )
}

/// The tables, for views and grants.
pub const TABLES: [&str; 3] = ["orders", "inventory", "account_balances"];

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

fn text(value: impl ToString) -> Option<String> {
    Some(value.to_string())
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
        text(summary.total.0),
        text(summary.captured.0),
        text(summary.refunded.0),
        text(summary.placed_at.to_rfc3339()),
        text(summary.updated_at.to_rfc3339()),
    ]
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

fn account_columns(view: &AccountView) -> Vec<Option<String>> {
    vec![
        text(view.currency),
        text(&view.account),
        text(view.debits.0),
        text(view.credits.0),
        text(view.balance.0),
    ]
}

/// What a step's `writes` do to the tables of `schema`.
pub fn statements(
    schema: &str,
    writes: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<Vec<Statement>, StoreError> {
    let mut orders = Changes::new(12, 1);
    let mut inventory = Changes::new(8, 2);
    let mut accounts = Changes::new(5, 2);
    for (key, value) in writes {
        match (key.first().copied(), value) {
            (Some(keys::ORDER), Some(value)) => {
                let row: OrderRow = decode(key, "order row", value)?;
                if let Some(view) = OrderView::of(&row) {
                    orders.upsert(order_columns(&OrderSummary::from(&view)));
                }
            }
            (Some(keys::ORDER), None) => {
                let id = uuid::Uuid::from_slice(&key[1..]).map_err(|e| corrupt(key, e))?;
                orders.remove(vec![text(id)]);
            }
            (Some(keys::STOCK), Some(value)) => {
                let row: StockRow = decode(key, "stock row", value)?;
                inventory.upsert(inventory_columns(&InventoryView::from(&row)));
            }
            (Some(keys::ACCOUNT), Some(value)) => {
                let balance: AccountBalance = decode(key, "account", value)?;
                let (currency, account) = crate::query::currency_and_name(key)?;
                accounts.upsert(account_columns(&AccountView {
                    currency,
                    account,
                    debits: balance.debits,
                    credits: balance.credits,
                    balance: balance.balance(),
                }));
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
        "account_balances",
        &[
            "currency",
            "account",
            "debits::numeric",
            "credits::numeric",
            "balance::numeric",
        ],
        2,
        accounts,
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
