//! Queries over the read models. Listings page by an opaque cursor over the index they scan,
//! so a page boundary never shifts when orders are added elsewhere in the order.

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, NaiveDate, Utc};
use order_events::account::merchant::{held_back, OpenOrder};
use order_events::ids::OrderId;
use order_events::money::{Amount, Currency};
use order_events::order::OrderStatus;
use order_events::Policy;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::keys::{self, OrderIndex};
use crate::model::{
    add_counts, AccountBalance, AccountView, CurrencyTotals, CurrencyTrialBalance, DateSummary,
    DayReport, DayRow, Defects, ExceptionKind, ExceptionView, GapAlarm, InventoryView,
    MerchantBalanceView, MerchantDay, MerchantDefects, MerchantTotals, OrderBalanceView, OrderRow,
    OrderSummary, OrderView, Part, ReconciliationView, ReportView, Slas, StockRow,
    TrialBalanceView, UndecodableAlarm,
};
use crate::store::ProjectionStore;
use crate::StoreError;

/// Largest page a listing returns.
pub const PAGE_LIMIT_MAX: usize = 1000;
/// Page size when the query names none.
pub const PAGE_LIMIT_DEFAULT: usize = 100;

/// Why a query cannot be answered as asked.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("cursor '{0}' is not a cursor (the hex digits of a page's `next`)")]
    BadCursor(String),
    #[error("limit {0} is out of range (1 to {PAGE_LIMIT_MAX})")]
    BadLimit(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which orders to list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub merchant: Option<String>,
    pub customer: Option<String>,
    pub channel: Option<String>,
    /// Placed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Placed before.
    pub to: Option<DateTime<Utc>>,
}

impl OrderFilter {
    /// Whether `view` passes every part of the filter (a listing reads one index and checks
    /// the rest on each order).
    fn matches(&self, view: &OrderView) -> bool {
        self.status.is_none_or(|s| view.status == s)
            && self
                .merchant
                .as_ref()
                .is_none_or(|m| view.merchant_id.as_str() == m)
            && self
                .customer
                .as_ref()
                .is_none_or(|c| view.customer_id.as_str() == c)
            && self
                .channel
                .as_ref()
                .is_none_or(|c| view.channel.as_str() == c)
            && self.from.is_none_or(|from| view.placed_at >= from)
            && self.to.is_none_or(|to| view.placed_at < to)
    }
}

/// Up to `size` entries of an order index (`prefix_len` bytes of prefix, then placement time
/// and order id): each entry's suffix (a page cursor) and its order's id.
fn index_batch(
    entries: &mut dyn Iterator<Item = crate::row::Entry>,
    prefix_len: usize,
    size: usize,
) -> Result<Vec<(Vec<u8>, OrderId)>, StoreError> {
    let mut batch = Vec::with_capacity(size);
    for entry in entries.take(size) {
        let (key, _) = entry?;
        let suffix = key[prefix_len..].to_vec();
        let id = suffix
            .get(8..)
            .and_then(|id| uuid::Uuid::from_slice(id).ok())
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("{key:?}"),
                reason: "index entry without an order id".into(),
            })?;
        batch.push((suffix, OrderId(id)));
    }
    Ok(batch)
}

/// One page of a listing, and where the next starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` for the next page; `null` on the last one.
    pub next: Option<String>,
}

fn check_limit(limit: usize) -> Result<(), QueryError> {
    if limit == 0 || limit > PAGE_LIMIT_MAX {
        return Err(QueryError::BadLimit(limit));
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The hold rows a payout at `now` may hold back of a merchant's earnings: the orders
/// delivered within the return window, or not yet (a range, `[start, end)`).
fn open_holds(
    currency: Currency,
    merchant: &str,
    now: DateTime<Utc>,
    policy: &Policy,
) -> (Vec<u8>, Vec<u8>) {
    let prefix = keys::hold_prefix(currency, merchant);
    let window_began_after = keys::hold(
        currency,
        merchant,
        Some(now - policy.return_window()),
        uuid::Uuid::max(),
    );
    // A hold prefix ends in a name's bytes, never all 0xff: it has a successor.
    let end = keys::successor(&prefix).unwrap_or_default();
    (window_began_after, end)
}

/// Rows kept in [parts](keys#parts), in key order, added up: each whole row's key and sum.
fn wholes<T: Part>(parts: Vec<(Vec<u8>, T)>) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
    let mut wholes: Vec<(Vec<u8>, T)> = Vec::new();
    for (key, part) in parts {
        let whole = keys::whole(&key).ok_or_else(|| StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "a part's key without its part".into(),
        })?;
        match wholes.last_mut() {
            Some((last, sum)) if last.as_slice() == whole => sum.add(&part),
            _ => wholes.push((whole.to_vec(), part)),
        }
    }
    Ok(wholes)
}

/// A stored value decoded (`None` when absent); a value that does not decode is corrupt.
pub(crate) fn decoded<T: serde::de::DeserializeOwned>(
    key: &[u8],
    value: Option<Vec<u8>>,
    what: &str,
) -> Result<Option<T>, StoreError> {
    value
        .map(|value| {
            order_events::codec::decode_cache_value(what, &value).map_err(|e| StoreError::Corrupt {
                key: format!("{key:?}"),
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// The average order value of `orders` orders totalling `gmv`.
/// Each merchant's orders and defects over a report's range, worst order defect rate first.
fn merchant_defects(
    by_merchant: BTreeMap<order_events::ids::MerchantId, MerchantDay>,
) -> Vec<MerchantDefects> {
    let mut merchants: Vec<MerchantDefects> = by_merchant
        .into_iter()
        .map(|(merchant_id, day)| MerchantDefects {
            merchant_id,
            orders: day.orders,
            defects: day.defects,
            order_defect_rate: if day.orders == 0 {
                0.0
            } else {
                day.defects.defective as f64 / day.orders as f64
            },
        })
        .collect();
    merchants.sort_by(|a, b| {
        b.order_defect_rate
            .total_cmp(&a.order_defect_rate)
            .then_with(|| a.merchant_id.cmp(&b.merchant_id))
    });
    merchants
}

fn average(currency: Currency, gmv: Amount, orders: u64) -> Amount {
    if orders == 0 {
        Amount::ZERO
    } else {
        round_to(currency, gmv.0 / Decimal::from(orders))
    }
}

fn round_to(currency: Currency, value: Decimal) -> Amount {
    Amount(value.round_dp_with_strategy(
        currency.minor_units(),
        RoundingStrategy::MidpointNearestEven,
    ))
}

impl ProjectionStore {
    /// The orders of `ids`, in their order (`None` for an unknown id), read in one request.
    fn orders_by_id(&self, ids: &[OrderId]) -> Result<Vec<Option<OrderView>>, StoreError> {
        let keys: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| keys::order(keys::ORDER, id.0))
            .collect();
        let values = self.backend().get_many(keys.clone())?;
        keys.iter()
            .zip(values)
            .map(|(key, value)| {
                let Some(value) = value else { return Ok(None) };
                let row: OrderRow = order_events::codec::decode_cache_value("order row", &value)
                    .map_err(|e| StoreError::Corrupt {
                        key: format!("{key:?}"),
                        reason: e.to_string(),
                    })?;
                Ok(OrderView::of(&row))
            })
            .collect()
    }

    /// An order, with its events.
    pub fn order(&self, id: OrderId) -> Result<Option<OrderView>, StoreError> {
        // Both rows in one request (one round trip on PostgreSQL).
        let (row_key, events_key) = (
            keys::order(keys::ORDER, id.0),
            keys::order(keys::ORDER_EVENTS, id.0),
        );
        let mut values = self
            .backend()
            .get_many(vec![row_key.clone(), events_key.clone()])?
            .into_iter();
        let row: Option<OrderRow> = decoded(&row_key, values.next().flatten(), "order row")?;
        let Some(mut view) = row.as_ref().and_then(OrderView::of) else {
            return Ok(None);
        };
        view.events =
            decoded(&events_key, values.next().flatten(), "order events")?.unwrap_or_default();
        Ok(Some(view))
    }

    /// The domain's folded state of an order (what the shop simulation looks at).
    pub fn order_state(
        &self,
        id: OrderId,
    ) -> Result<Option<order_events::order::Order>, StoreError> {
        let row: Option<OrderRow> = self.read(&keys::order(keys::ORDER, id.0), "order row")?;
        Ok(row.map(|row| row.state))
    }

    /// Orders matching `filter`, by placement time then id, `limit` at a time after `after`.
    pub fn orders(
        &self,
        filter: &OrderFilter,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<OrderSummary>, QueryError> {
        check_limit(limit)?;
        if filter
            .from
            .zip(filter.to)
            .is_some_and(|(from, to)| from > to)
        {
            // A range that ends before it starts holds nothing.
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let status = filter.status.map(keys::status_code);
        let (index, value) = if let Some(m) = &filter.merchant {
            (OrderIndex::Merchant, Some(m.as_str()))
        } else if let Some(c) = &filter.customer {
            (OrderIndex::Customer, Some(c.as_str()))
        } else if let Some(c) = &filter.channel {
            (OrderIndex::Channel, Some(c.as_str()))
        } else if let Some(s) = &status {
            (OrderIndex::Status, Some(s.as_str()))
        } else {
            (OrderIndex::Time, None)
        };
        let prefix = keys::index_prefix(index, value);
        let start = match after {
            Some(cursor) => {
                let suffix = unhex(cursor)
                    .filter(|s| s.len() == 24)
                    .ok_or_else(|| QueryError::BadCursor(cursor.to_owned()))?;
                let mut key = prefix.clone();
                key.extend_from_slice(&suffix);
                Bound::Excluded(key)
            }
            None => {
                let mut key = prefix.clone();
                if let Some(from) = filter.from {
                    key.extend_from_slice(&keys::time(from));
                }
                Bound::Included(key)
            }
        };
        let mut end = prefix.clone();
        match filter.to {
            Some(to) => end.extend_from_slice(&keys::time(to)),
            None => end.extend_from_slice(&[0xff; 25]),
        }
        let mut items = Vec::new();
        let mut last_suffix = None;
        let mut more = false;
        let mut entries = self.backend().range(start, Bound::Excluded(end));
        'pages: loop {
            // The orders of a batch of index entries in one read (a round trip on PostgreSQL).
            let batch = index_batch(&mut entries, prefix.len(), (limit + 1).clamp(16, 256))?;
            if batch.is_empty() {
                break;
            }
            let ids: Vec<OrderId> = batch.iter().map(|(_, id)| *id).collect();
            for ((suffix, _), view) in batch.into_iter().zip(self.orders_by_id(&ids)?) {
                let Some(view) = view else { continue };
                if !filter.matches(&view) {
                    continue;
                }
                if items.len() == limit {
                    more = true;
                    break 'pages;
                }
                items.push(OrderSummary::from(&view));
                last_suffix = Some(suffix);
            }
        }
        Ok(Page {
            items,
            next: if more {
                last_suffix.map(|s| hex(&s))
            } else {
                None
            },
        })
    }

    /// Orders on hold, orders longer in their status than its SLA, orders with a claim open
    /// longer than the claims' SLA (`slas`), and cancelled orders with a refund still owed;
    /// longest waiting first, at most `limit`.
    pub fn exceptions(
        &self,
        now: DateTime<Utc>,
        slas: &Slas,
        limit: usize,
    ) -> Result<Vec<ExceptionView>, QueryError> {
        check_limit(limit)?;
        let mut found = Vec::new();
        let mut statuses: Vec<(OrderStatus, Option<u32>)> = vec![(OrderStatus::OnHold, None)];
        statuses.extend(
            slas.statuses
                .iter()
                .filter(|(s, _)| **s != OrderStatus::OnHold)
                .map(|(s, h)| (*s, Some(*h))),
        );
        for (status, sla) in statuses {
            let code = keys::status_code(status);
            let due = sla.map(|hours| now - chrono::Duration::hours(hours.into()));
            for view in self.indexed_before(OrderIndex::InStatus, Some(&code), due, limit)? {
                found.push(ExceptionView {
                    kind: if status == OrderStatus::OnHold {
                        ExceptionKind::OnHold
                    } else {
                        ExceptionKind::SlaBreached
                    },
                    hold: view.hold,
                    hours_in_status: hours_since(now, view.status_since),
                    sla_hours: sla,
                    claim: None,
                    claim_hours_open: None,
                    parcel: None,
                    order: OrderSummary::from(&view),
                });
            }
        }
        let due = now - chrono::Duration::hours(slas.claim_hours.into());
        for view in self.indexed_before(OrderIndex::OpenClaim, None, Some(due), limit)? {
            let claim = view
                .claims
                .iter()
                .find(|c| c.claim_id.is_some() && c.resolution.is_none());
            found.push(ExceptionView {
                kind: ExceptionKind::ClaimOpen,
                hold: view.hold,
                hours_in_status: hours_since(now, view.status_since),
                sla_hours: Some(slas.claim_hours),
                claim_hours_open: claim
                    .and_then(|c| c.opened_at)
                    .map(|at| hours_since(now, at)),
                claim: claim.cloned(),
                parcel: None,
                order: OrderSummary::from(&view),
            });
        }
        let listed = [
            (OrderIndex::RefundOwed, ExceptionKind::RefundDue),
            (OrderIndex::WeightMismatch, ExceptionKind::WeightMismatch),
            (OrderIndex::Overweight, ExceptionKind::Overweight),
        ];
        for (index, kind) in listed {
            for view in self.indexed_before(index, None, None, limit)? {
                let parcel = view
                    .parcels
                    .iter()
                    .find(|p| match kind {
                        ExceptionKind::WeightMismatch => p.weight_mismatch,
                        ExceptionKind::Overweight => p.overweight,
                        _ => false,
                    })
                    .cloned();
                found.push(ExceptionView {
                    kind,
                    hold: view.hold,
                    hours_in_status: hours_since(now, view.status_since),
                    sla_hours: None,
                    claim: None,
                    claim_hours_open: None,
                    parcel,
                    order: OrderSummary::from(&view),
                });
            }
        }
        found.sort_by_key(|e| {
            let since = e.claim.as_ref().and_then(|c| c.opened_at);
            (since.unwrap_or(e.order.status_since), e.order.order_id)
        });
        found.truncate(limit);
        Ok(found)
    }

    /// The first `limit` orders of an index under `value` whose time is before `due` (all of
    /// them when `None`), read in one request.
    fn indexed_before(
        &self,
        index: OrderIndex,
        value: Option<&str>,
        due: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<OrderView>, QueryError> {
        let prefix = keys::index_prefix(index, value);
        let mut end = prefix.clone();
        match due {
            Some(due) => end.extend_from_slice(&keys::time(due)),
            None => end.extend_from_slice(&[0xff; 25]),
        }
        let mut entries = self
            .backend()
            .range(Bound::Included(prefix.clone()), Bound::Excluded(end));
        let batch = index_batch(&mut entries, prefix.len(), limit)?;
        let ids: Vec<OrderId> = batch.iter().map(|(_, id)| *id).collect();
        Ok(self.orders_by_id(&ids)?.into_iter().flatten().collect())
    }

    pub fn stock_item(
        &self,
        sku: &str,
        warehouse: &str,
    ) -> Result<Option<InventoryView>, StoreError> {
        let row: Option<StockRow> = self.read(&keys::stock(sku, warehouse), "stock row")?;
        Ok(row.as_ref().map(InventoryView::from))
    }

    /// A stock item's state as the domain folds it (what the simulated shop decides from).
    pub fn stock_state(
        &self,
        key: &order_events::ids::StockKey,
    ) -> Result<Option<order_events::stock::StockItem>, StoreError> {
        let row: Option<StockRow> = self.read(
            &keys::stock(key.sku.as_str(), key.warehouse.as_str()),
            "stock row",
        )?;
        Ok(row.map(|row| row.state))
    }

    /// Stock items by SKU then warehouse; `low_only` keeps those below their safety stock.
    pub fn inventory(
        &self,
        sku: Option<&str>,
        low_only: bool,
        limit: usize,
        after: Option<&str>,
    ) -> Result<Page<InventoryView>, QueryError> {
        check_limit(limit)?;
        let prefix = match sku {
            Some(sku) => keys::with_str(keys::STOCK, sku),
            None => vec![keys::STOCK],
        };
        let start = match after {
            Some(cursor) => {
                // Any key is a place to go on from: one before this listing starts it from
                // the top, one past its end gives an empty page.
                let key = unhex(cursor)
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| QueryError::BadCursor(cursor.to_owned()))?;
                if key < prefix {
                    Bound::Included(prefix.clone())
                } else {
                    Bound::Excluded(key)
                }
            }
            None => Bound::Included(prefix.clone()),
        };
        let mut end = prefix.clone();
        end.push(0xff);
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for entry in self.backend().range(start, Bound::Excluded(end)) {
            let (key, value) = entry?;
            if !key.starts_with(&prefix) {
                break;
            }
            let row: StockRow = order_events::codec::decode_cache_value("stock row", &value)
                .map_err(|e| StoreError::Corrupt {
                    key: format!("{key:?}"),
                    reason: e.to_string(),
                })?;
            let view = InventoryView::from(&row);
            if low_only && !view.low_stock {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(view);
            last = Some(key.to_vec());
        }
        Ok(Page {
            items,
            next: if more { last.map(|k| hex(&k)) } else { None },
        })
    }

    pub(crate) fn read<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        decoded(key, self.backend().get(key)?, what)
    }

    pub(crate) fn scan<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &[u8],
        what: &str,
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        self.backend()
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry?;
                let decoded =
                    order_events::codec::decode_cache_value(what, &value).map_err(|e| {
                        StoreError::Corrupt {
                            key: format!("{key:?}"),
                            reason: e.to_string(),
                        }
                    })?;
                Ok((key.to_vec(), decoded))
            })
            .collect()
    }

    /// Every account's balance, by currency then account.
    pub fn balances(&self, currency: Option<Currency>) -> Result<Vec<AccountView>, StoreError> {
        let prefix = match currency {
            Some(c) => keys::currency_prefix(keys::ACCOUNT, c),
            None => vec![keys::ACCOUNT],
        };
        let mut views = Vec::new();
        for (key, balance) in wholes(self.scan::<AccountBalance>(&prefix, "account")?)? {
            let (currency, account) = keys::currency_and_name(&key)?;
            views.push(AccountView {
                currency,
                account,
                debits: balance.debits,
                credits: balance.credits,
                balance: balance.balance(),
            });
        }
        Ok(views)
    }

    /// What is payable to each merchant, by currency then merchant, and how much of it a payout
    /// may take at `now` under `policy` (the holdback for open return windows).
    pub fn merchant_balances(
        &self,
        currency: Option<Currency>,
        merchant: Option<&str>,
        now: DateTime<Utc>,
        policy: &Policy,
    ) -> Result<Vec<MerchantBalanceView>, StoreError> {
        let prefix = match currency {
            Some(c) => keys::currency_prefix(keys::MERCHANT, c),
            None => vec![keys::MERCHANT],
        };
        let mut merchants = Vec::new();
        for (key, totals) in wholes(self.scan::<MerchantTotals>(&prefix, "merchant totals")?)? {
            let (currency, merchant_id) = keys::currency_and_name(&key)?;
            if merchant.is_none_or(|m| m == merchant_id) {
                merchants.push((currency, merchant_id, totals));
            }
        }
        let ranges = merchants
            .iter()
            .map(|(currency, merchant, _)| open_holds(*currency, merchant, now, policy))
            .collect();
        let holds = self.backend().ranges(ranges)?;
        merchants
            .into_iter()
            .zip(holds)
            .map(|((currency, merchant_id, totals), rows)| {
                let mut open = Vec::new();
                for (key, value) in rows {
                    let hold: OpenOrder = order_events::codec::decode_cache_value("hold", &value)
                        .map_err(|e| StoreError::Corrupt {
                        key: format!("{key:?}"),
                        reason: e.to_string(),
                    })?;
                    if hold.window_open(now, policy) {
                        open.push(hold);
                    }
                }
                let held_back = held_back(&open, policy, currency);
                Ok(MerchantBalanceView {
                    currency,
                    payable: totals.payable(),
                    held_back,
                    available: totals.payable() - held_back,
                    merchant_id: order_events::ids::MerchantId::new(merchant_id),
                    totals,
                })
            })
            .collect()
    }

    pub fn order_balance(&self, id: OrderId) -> Result<Option<OrderBalanceView>, StoreError> {
        self.read(&keys::order(keys::ORDER_BALANCE, id.0), "order balance")
    }

    /// The sum of every account per currency: zero when the books balance.
    pub fn trial_balance(&self) -> Result<TrialBalanceView, StoreError> {
        let mut by_currency: BTreeMap<Currency, Vec<AccountView>> = BTreeMap::new();
        for view in self.balances(None)? {
            by_currency.entry(view.currency).or_default().push(view);
        }
        let currencies: Vec<CurrencyTrialBalance> = by_currency
            .into_iter()
            .map(|(currency, accounts)| {
                let debits: Amount = accounts.iter().map(|a| a.debits).sum();
                let credits: Amount = accounts.iter().map(|a| a.credits).sum();
                CurrencyTrialBalance {
                    currency,
                    debits,
                    credits,
                    difference: debits - credits,
                    accounts,
                }
            })
            .collect();
        Ok(TrialBalanceView {
            balanced: currencies.iter().all(|c| c.difference.0.is_zero()),
            currencies,
        })
    }

    /// Orders placed from `from` to `to` (both inclusive, UTC days), optionally of one channel.
    pub fn report(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<&str>,
    ) -> Result<ReportView, QueryError> {
        let days = self.day_reports(from, to, channel)?;
        let by_date = self.processing_minutes(from, to, channel)?;
        let mut processing: BTreeMap<u32, u64> = BTreeMap::new();
        for histogram in by_date.values() {
            add_counts(&mut processing, histogram);
        }
        let mut by_status = BTreeMap::new();
        let mut dates: BTreeMap<NaiveDate, u64> = BTreeMap::new();
        let (mut defects, mut by_merchant) = (Defects::default(), BTreeMap::new());
        for day in &days {
            add_counts(&mut by_status, &day.by_status);
            *dates.entry(day.date).or_default() += day.orders;
            defects += day.defects;
            for (merchant, of_day) in &day.by_merchant {
                let total: &mut MerchantDay = by_merchant.entry(merchant.clone()).or_default();
                total.orders += of_day.orders;
                total.defects += of_day.defects;
            }
        }
        let hours = |histogram: &BTreeMap<u32, u64>, q| {
            quantile_minutes(histogram, q).map(|m| m as f64 / 60.0)
        };
        let empty = BTreeMap::new();
        let dates = dates
            .into_iter()
            .map(|(date, orders)| {
                let histogram = by_date.get(&date).unwrap_or(&empty);
                DateSummary {
                    date,
                    orders,
                    processing_hours_p50: hours(histogram, 0.50),
                    processing_hours_p95: hours(histogram, 0.95),
                }
            })
            .collect();
        let mut totals: BTreeMap<Currency, (u64, Amount, Amount)> = BTreeMap::new();
        for day in &days {
            let total = totals
                .entry(day.currency)
                .or_insert((0, Amount::ZERO, Amount::ZERO));
            total.0 += day.orders;
            total.1 += day.gross_gmv;
            total.2 += day.net_sales;
        }
        let orders: u64 = days.iter().map(|d| d.orders).sum();
        let rate = |count: fn(&DayReport) -> u64| {
            if orders == 0 {
                0.0
            } else {
                days.iter().map(count).sum::<u64>() as f64 / orders as f64
            }
        };
        Ok(ReportView {
            from,
            to,
            channel: channel.map(Into::into),
            orders,
            cancellation_rate: rate(|d| d.cancelled),
            return_rate: rate(|d| d.returned),
            cash_on_delivery: days.iter().map(|d| d.cash_on_delivery).sum(),
            refused: days.iter().map(|d| d.refused).sum(),
            refusal_rate: rate(|d| d.refused),
            order_defect_rate: rate(|d| d.defects.defective),
            defects,
            by_merchant: merchant_defects(by_merchant),
            by_status,
            by_currency: totals
                .into_iter()
                .map(|(currency, (orders, gmv, net_sales))| CurrencyTotals {
                    currency,
                    orders,
                    gross_gmv: gmv,
                    net_sales,
                    average_order_value: average(currency, gmv, orders),
                })
                .collect(),
            days,
            dates,
            processing_hours_p50: hours(&processing, 0.50),
            processing_hours_p95: hours(&processing, 0.95),
        })
    }

    /// The report of each day, channel and currency from `from` to `to`: its parts added up.
    fn day_reports(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<&str>,
    ) -> Result<Vec<DayReport>, StoreError> {
        let mut rows: Vec<(NaiveDate, String, Vec<u8>, DayRow)> = Vec::new();
        for (date, day_channel, rest, part) in
            self.per_day::<DayRow>(keys::DAY, "day report", from, to, channel)?
        {
            match rows.last_mut() {
                Some((d, c, r, row))
                    if (*d, c.as_str(), r.as_slice()) == (date, &day_channel, &rest) =>
                {
                    row.add(&part)
                }
                _ => rows.push((date, day_channel, rest, part)),
            }
        }
        rows.into_iter()
            .map(|(date, channel, rest, row)| {
                let currency: Currency = std::str::from_utf8(&rest)
                    .ok()
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt {
                        key: format!("{date}/{channel}"),
                        reason: "report key without a currency".into(),
                    })?;
                Ok(DayReport {
                    date,
                    channel: channel.as_str().into(),
                    currency,
                    orders: row.orders,
                    gross_gmv: row.gmv,
                    net_sales: row.net_sales,
                    average_order_value: average(currency, row.gmv, row.orders),
                    cancelled: row.cancelled,
                    expired: row.expired,
                    returned: row.returned,
                    cash_on_delivery: row.cash_on_delivery,
                    refused: row.refused,
                    defects: row.defects,
                    by_status: row.by_status,
                    by_merchant: row.by_merchant,
                })
            })
            .collect()
    }

    /// How many orders placed on each day from `from` to `to` shipped how many minutes after
    /// placement.
    fn processing_minutes(
        &self,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<&str>,
    ) -> Result<BTreeMap<NaiveDate, BTreeMap<u32, u64>>, StoreError> {
        let mut histograms: BTreeMap<NaiveDate, BTreeMap<u32, u64>> = BTreeMap::new();
        for (date, channel, rest, count) in
            self.per_day::<u64>(keys::PROCESSING, "processing time", from, to, channel)?
        {
            let minutes = rest
                .get(3..)
                .and_then(|m| m.try_into().ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| StoreError::Corrupt {
                    key: format!("{date}/{channel}"),
                    reason: "processing-time key without minutes".into(),
                })?;
            *histograms
                .entry(date)
                .or_default()
                .entry(minutes)
                .or_default() += count;
        }
        Ok(histograms)
    }

    /// The [parts](keys#parts) under `prefix` (`DAY` or `PROCESSING`) of the days from `from`
    /// to `to` (none when `to` is before `from`) and of `channel` (any when `None`), in key
    /// order: each with its whole row's date, channel and what follows them in its key.
    #[allow(clippy::type_complexity)]
    fn per_day<T: serde::de::DeserializeOwned>(
        &self,
        prefix: u8,
        what: &str,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        channel: Option<&str>,
    ) -> Result<Vec<(NaiveDate, String, Vec<u8>, T)>, StoreError> {
        let start = from.map_or(vec![prefix], |from| keys::day_prefix(prefix, from));
        let end = match to.and_then(|to| to.succ_opt()) {
            Some(next) => keys::day_prefix(prefix, next),
            None => vec![prefix + 1],
        };
        let end = end.max(start.clone());
        let mut parts = Vec::new();
        // All at once: a year has tens of thousands of parts, a page at a time a round trip
        // each on PostgreSQL.
        let rows = self.backend().ranges(vec![(start, end)])?;
        for (key, value) in rows.into_iter().flatten() {
            let corrupt = |reason: String| StoreError::Corrupt {
                key: format!("{key:?}"),
                reason,
            };
            let (date, day_channel, rest) = keys::whole(&key)
                .and_then(keys::read_day)
                .ok_or_else(|| corrupt("a per-day key without a date and a channel".into()))?;
            if channel.is_some_and(|c| c != day_channel) {
                continue;
            }
            let part: T = order_events::codec::decode_cache_value(what, &value)
                .map_err(|e| corrupt(e.to_string()))?;
            parts.push((date, day_channel.to_owned(), rest.to_vec(), part));
        }
        Ok(parts)
    }

    /// Aggregates whose events arrived with a sequence gap.
    pub fn gaps(&self) -> Result<Vec<GapAlarm>, StoreError> {
        Ok(self
            .scan::<GapAlarm>(&[keys::GAP], "gap alarm")?
            .into_iter()
            .map(|(_, alarm)| alarm)
            .collect())
    }

    /// Recorded reconciliation runs, oldest first.
    pub fn reconciliations(&self) -> Result<Vec<ReconciliationView>, StoreError> {
        Ok(self
            .scan::<ReconciliationView>(&[keys::RECONCILIATION], "reconciliation")?
            .into_iter()
            .map(|(_, run)| run)
            .collect())
    }

    /// Events-topic records that were not events.
    pub fn undecodable(&self) -> Result<Vec<UndecodableAlarm>, StoreError> {
        Ok(self
            .scan::<UndecodableAlarm>(&[keys::UNDECODABLE], "undecodable alarm")?
            .into_iter()
            .map(|(_, alarm)| alarm)
            .collect())
    }
}

/// The smallest value at or below which a share `q` of the histogram's counts lie.
pub fn quantile_minutes(histogram: &BTreeMap<u32, u64>, q: f64) -> Option<u32> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (&value, &count) in histogram {
        seen += count;
        if seen >= rank {
            return Some(value);
        }
    }
    histogram.keys().next_back().copied()
}

/// Whole hours from `at` to `now`; 0 when `at` is later, as when the log was written by a clock
/// ahead of the reader's (a demo's simulated days run past today): nobody has waited yet.
fn hours_since(now: DateTime<Utc>, at: DateTime<Utc>) -> i64 {
    (now - at).num_hours().max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_a_histogram() {
        let histogram: BTreeMap<u32, u64> = [(10, 1), (20, 1), (30, 1), (40, 1)].into();
        assert_eq!(quantile_minutes(&histogram, 0.5), Some(20));
        assert_eq!(quantile_minutes(&histogram, 0.95), Some(40));
        assert_eq!(quantile_minutes(&BTreeMap::new(), 0.5), None);
    }

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let bytes = vec![0, 1, 0xab, 0xff];
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("é1"), None);
    }
}

/// A page of the notifications outbox and where to read on from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct NotificationPage {
    pub items: Vec<order_events::notification::Notification>,
    /// Pass as `after` to read on: per events partition, the offset of the last notification
    /// read (`partition:offset,...`). New notifications come after it in every partition, so a
    /// reader that keeps passing it misses none.
    pub next: String,
}

/// A notifications cursor: per events partition, the offset of the last notification read.
pub type NotificationCursor = BTreeMap<u32, u64>;

/// An events-topic position as the API writes one: `partition:offset`.
pub fn position(text: &str) -> Option<(u32, u64)> {
    let (partition, offset) = text.split_once(':')?;
    Some((partition.trim().parse().ok()?, offset.trim().parse().ok()?))
}

/// Reads a cursor as `NotificationPage::next` writes it (`""` is the start).
pub fn notification_cursor(text: &str) -> Result<NotificationCursor, QueryError> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(position)
        .collect::<Option<NotificationCursor>>()
        .ok_or_else(|| QueryError::BadCursor(text.to_owned()))
}

/// A cursor as `NotificationPage::next` writes it.
pub fn notification_cursor_text(cursor: &NotificationCursor) -> String {
    let pairs: Vec<String> = cursor.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    pairs.join(",")
}

impl ProjectionStore {
    /// The notifications after `after`, at most `limit`, partition by partition in the order
    /// their events were folded.
    pub fn notifications(
        &self,
        after: &NotificationCursor,
        limit: usize,
    ) -> Result<NotificationPage, QueryError> {
        check_limit(limit)?;
        let mut items = Vec::new();
        let mut next = after.clone();
        let mut partition = Some(0u32);
        while let Some(p) = partition.filter(|_| items.len() < limit) {
            // The first partition at or after `p` that holds a notification.
            let Some(p) = self.next_notification_partition(p)? else {
                break;
            };
            let from = match after.get(&p) {
                Some(&offset) => keys::notification(p, offset.saturating_add(1)),
                None => keys::notification_prefix(p),
            };
            let end = Bound::Excluded(keys::notification(p, u64::MAX));
            for entry in self.backend().range(Bound::Included(from), end) {
                let (key, value) = entry?;
                let offset = notification_offset(&key)?;
                let notification =
                    serde_json::from_slice(&value).map_err(|e| StoreError::Corrupt {
                        key: format!("notification {p}:{offset}"),
                        reason: e.to_string(),
                    })?;
                items.push(notification);
                next.insert(p, offset);
                if items.len() >= limit {
                    break;
                }
            }
            partition = p.checked_add(1);
        }
        Ok(NotificationPage {
            items,
            next: notification_cursor_text(&next),
        })
    }

    fn next_notification_partition(&self, from: u32) -> Result<Option<u32>, StoreError> {
        let start = Bound::Included(keys::notification_prefix(from));
        let end = Bound::Excluded(vec![keys::NOTIFICATION + 1]);
        match self.backend().range(start, end).next() {
            None => Ok(None),
            Some(entry) => {
                let (key, _) = entry?;
                Ok(key
                    .get(1..5)
                    .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))))
            }
        }
    }
}

fn notification_offset(key: &[u8]) -> Result<u64, StoreError> {
    key.get(5..13)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "a notification key without an offset".into(),
        })
}
