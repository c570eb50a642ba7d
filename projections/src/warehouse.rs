//! The warehouse's read models: pick waves with their pick lists and progress, and each stock
//! item's units shipped per day, with replenishment's figures computed from them (the queries
//! over them are `warehouse_queries.rs`).
//!
//! ```text
//! W <wave id>                          -> WaveRow
//! k <sku><warehouse><date YYYY-MM-DD>  -> units of the item shipped that day (u64)
//! ```
//!
//! Both are rows of one aggregate each (a wave, a stock item), so only its partition writes
//! them.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use order_events::codec::encode_cache_value;
use order_events::envelope::EventEnvelope;
use order_events::ids::{CarrierId, OrderId, Sku, WarehouseId, WaveId};
use order_events::order::ServiceLevel;
use order_events::stock::StockEvent;
use order_events::wave::WaveEvent;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::keys::{self, push_str};
use crate::model::StockRow;
use crate::row::{get, keep, put, take, Rows};
use crate::StoreError;

/// One line of a wave's pick list and how it was picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PickLineView {
    /// The line's place in the walk, from 1.
    pub sequence: u32,
    pub bin: Option<String>,
    pub sku: Sku,
    pub quantity: u32,
    pub order_id: OrderId,
    pub service_level: ServiceLevel,
    /// Units picked; absent until the line is picked.
    pub picked_quantity: Option<u32>,
}

/// A wave in a listing: everything but its pick list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaveSummary {
    pub wave_id: WaveId,
    pub warehouse: WarehouseId,
    pub status: WaveStatus,
    pub carrier: Option<CarrierId>,
    pub service_level: Option<ServiceLevel>,
    pub cutoff_at: Option<DateTime<Utc>>,
    pub planned_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Orders in the wave.
    pub orders: u32,
    pub lines: u32,
    pub lines_picked: u32,
    /// Lines picked with fewer units than asked.
    pub short_lines: u32,
    pub units: u64,
    pub units_picked: u64,
}

/// A wave's pick list on its own: what a handheld scanner loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PickListView {
    pub wave_id: WaveId,
    pub warehouse: WarehouseId,
    /// The lines in walking order.
    pub items: Vec<PickLineView>,
}

impl From<WaveView> for PickListView {
    fn from(wave: WaveView) -> PickListView {
        PickListView {
            wave_id: wave.summary.wave_id,
            warehouse: wave.summary.warehouse,
            items: wave.pick_list,
        }
    }
}

/// Every stock item's replenishment figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplenishmentPage {
    pub items: Vec<ReplenishmentView>,
}

/// Whether a wave's picking is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WaveStatus {
    Picking,
    Completed,
}

/// A pick wave as shown: its summary and its pick list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WaveView {
    #[serde(flatten)]
    pub summary: WaveSummary,
    /// The pick list, in walking order.
    pub pick_list: Vec<PickLineView>,
}

/// A pick wave as stored (bincode has no flattening: the view is made from it when read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaveRow {
    pub summary: WaveSummary,
    pub pick_list: Vec<PickLineView>,
}

impl From<WaveRow> for WaveView {
    fn from(row: WaveRow) -> WaveView {
        WaveView {
            summary: row.summary,
            pick_list: row.pick_list,
        }
    }
}

impl WaveRow {
    fn planned(wave_id: &str, e: &order_events::wave::WavePlanned) -> WaveRow {
        let pick_list: Vec<PickLineView> = e
            .pick_list
            .iter()
            .zip(1..)
            .map(|(line, sequence)| PickLineView {
                sequence,
                bin: line.bin.clone(),
                sku: line.sku.clone(),
                quantity: line.quantity,
                order_id: line.order_id,
                service_level: line.service_level,
                picked_quantity: None,
            })
            .collect();
        let orders: BTreeSet<OrderId> = pick_list.iter().map(|line| line.order_id).collect();
        WaveRow {
            summary: WaveSummary {
                wave_id: WaveId::from(wave_id),
                warehouse: e.warehouse.clone(),
                status: WaveStatus::Picking,
                carrier: e.carrier.clone(),
                service_level: e.service_level,
                cutoff_at: e.cutoff_at,
                planned_at: e.planned_at,
                completed_at: None,
                orders: count(orders.len()),
                lines: count(pick_list.len()),
                lines_picked: 0,
                short_lines: 0,
                units: pick_list.iter().map(|line| u64::from(line.quantity)).sum(),
                units_picked: 0,
            },
            pick_list,
        }
    }

    fn picked(&mut self, order_id: OrderId, sku: &Sku, picked_quantity: u32) {
        let Some(line) = self
            .pick_list
            .iter_mut()
            .find(|line| line.order_id == order_id && &line.sku == sku)
        else {
            return;
        };
        line.picked_quantity = Some(picked_quantity);
        let summary = &mut self.summary;
        summary.lines_picked += 1;
        summary.units_picked += u64::from(picked_quantity);
        if picked_quantity < line.quantity {
            summary.short_lines += 1;
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn wave_key(wave_id: &str) -> Vec<u8> {
    keys::with_str(keys::WAVE, wave_id)
}

/// The prefix of the open waves of `warehouse`, or of every warehouse.
pub(crate) fn open_wave_prefix(warehouse: Option<&str>) -> Vec<u8> {
    match warehouse {
        Some(code) => keys::with_str(keys::OPEN_WAVE, code),
        None => vec![keys::OPEN_WAVE],
    }
}

/// The wave id ends the key as it is, so waves of one warehouse (or planned at one time) are
/// in wave id order.
fn open_wave_key(warehouse: &str, wave_id: &str) -> Vec<u8> {
    let mut key = open_wave_prefix(Some(warehouse));
    key.extend_from_slice(wave_id.as_bytes());
    key
}

/// The time inverted, so that the index reads newest first.
fn wave_time_key(planned_at: DateTime<Utc>, wave_id: &str) -> Vec<u8> {
    let mut key = vec![keys::WAVE_TIME];
    key.extend(keys::time(planned_at).map(|byte| !byte));
    key.extend_from_slice(wave_id.as_bytes());
    key
}

/// The wave id at the end of an [`keys::OPEN_WAVE`] or [`keys::WAVE_TIME`] key.
pub(crate) fn wave_id_of(key: &[u8]) -> Result<&str, StoreError> {
    let id = match key.first() {
        Some(&keys::OPEN_WAVE) => keys::read_str(&key[1..]).map(|(_, id)| id),
        Some(&keys::WAVE_TIME) => key.get(9..),
        _ => None,
    };
    id.and_then(|id| std::str::from_utf8(id).ok())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "not a wave index key".into(),
        })
}

/// The key of an item's units shipped on `date`.
pub(crate) fn sales_key(sku: &str, warehouse: &str, date: NaiveDate) -> Vec<u8> {
    let mut key = sales_prefix(sku, warehouse);
    key.extend_from_slice(date.format("%Y-%m-%d").to_string().as_bytes());
    key
}

fn sales_prefix(sku: &str, warehouse: &str) -> Vec<u8> {
    let mut key = vec![keys::SALES];
    push_str(&mut key, sku);
    push_str(&mut key, warehouse);
    key
}

/// Folds a wave's event into its row.
pub fn fold_wave(
    rows: &mut dyn Rows,
    envelope: &EventEnvelope,
    event: &WaveEvent,
) -> Result<(), StoreError> {
    let wave_id = envelope.aggregate_id.as_str();
    let key = wave_key(wave_id);
    if let WaveEvent::WavePlanned(planned) = event {
        let warehouse = planned.warehouse.as_str();
        rows.put_new(open_wave_key(warehouse, wave_id), Vec::new());
        let time_key = wave_time_key(planned.planned_at, wave_id);
        rows.put_new(time_key, encode_cache_value(&warehouse));
        keep(rows, key, WaveRow::planned(wave_id, planned));
        return Ok(());
    }
    let Some(mut wave): Option<WaveRow> = take(rows, &key, "wave row")? else {
        return Err(StoreError::Corrupt {
            key: envelope.aggregate_id.clone(),
            reason: "a wave event before the wave was planned".into(),
        });
    };
    match event {
        WaveEvent::PickRecorded(e) => wave.picked(e.order_id, &e.sku, e.picked_quantity),
        WaveEvent::WaveCompleted(e) => {
            wave.summary.status = WaveStatus::Completed;
            wave.summary.completed_at = Some(e.completed_at);
            rows.remove(open_wave_key(wave.summary.warehouse.as_str(), wave_id));
        }
        WaveEvent::WavePlanned(_) | WaveEvent::WaveOrderPicked(_) | WaveEvent::WaveSkuPicked(_) => {
        }
    }
    keep(rows, key, wave);
    Ok(())
}

/// Counts the units a stock item ships by day: what replenishment measures velocity by.
pub fn count_sales(
    rows: &mut dyn Rows,
    (sku, warehouse): (&str, &str),
    envelope: &EventEnvelope,
    event: &StockEvent,
) -> Result<(), StoreError> {
    let StockEvent::ReservationCommitted(committed) = event else {
        return Ok(());
    };
    let key = sales_key(sku, warehouse, envelope.recorded_at.date_naive());
    let sold: u64 = get(rows, &key, "sales row")?.unwrap_or(0);
    put(rows, key, &(sold + u64::from(committed.quantity)));
    Ok(())
}

/// What replenishment is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplenishmentParams {
    /// The days of sales velocity is measured over, ending with `as_of`'s day.
    pub window_days: u32,
    /// Days from ordering stock to having it on the shelf.
    pub lead_time_days: u32,
    /// Days of sales a purchase should cover once it arrives.
    pub cover_days: u32,
    pub as_of: NaiveDate,
}

impl ReplenishmentParams {
    pub const WINDOW_DAYS_DEFAULT: u32 = 28;
    pub const LEAD_TIME_DAYS_DEFAULT: u32 = 7;
    pub const COVER_DAYS_DEFAULT: u32 = 14;
    pub const DAYS_MAX: u32 = 365;
}

/// A stock item's replenishment figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReplenishmentView {
    pub sku: Sku,
    pub warehouse: WarehouseId,
    pub on_hand: u64,
    pub available: u64,
    pub safety_stock: u64,
    /// Units shipped in the window.
    pub units_sold: u64,
    pub window_days: u32,
    /// Units shipped per day over the window.
    pub velocity_per_day: f64,
    /// Days the available units last at that velocity; absent when nothing sold.
    pub days_of_cover: Option<f64>,
    pub lead_time_days: u32,
    /// velocity × lead time (rounded up) + safety stock: order when available falls to it.
    pub reorder_point: u64,
    /// Available is at or below the reorder point.
    pub reorder: bool,
    /// What to order now: enough for the lead time and `cover_days` after it, plus safety
    /// stock, less what is available (rounded up; 0 above the reorder point).
    pub suggested_order_quantity: u64,
}

fn ceil_div(numerator: u64, denominator: u64) -> u64 {
    numerator.div_ceil(denominator.max(1))
}

/// The figures of one item that sold `units_sold` in the window.
pub fn replenishment(
    row: &StockRow,
    units_sold: u64,
    params: &ReplenishmentParams,
) -> ReplenishmentView {
    let window = u64::from(params.window_days.max(1));
    let available = row.state.available();
    let safety = row.state.safety_stock;
    let reorder_point = ceil_div(units_sold * u64::from(params.lead_time_days), window) + safety;
    let reorder = units_sold > 0 && available <= reorder_point || available < safety;
    let target = ceil_div(
        units_sold * u64::from(params.lead_time_days + params.cover_days),
        window,
    ) + safety;
    let velocity = units_sold as f64 / window as f64;
    ReplenishmentView {
        sku: row.sku.clone(),
        warehouse: row.warehouse.clone(),
        on_hand: row.state.on_hand,
        available,
        safety_stock: safety,
        units_sold,
        window_days: params.window_days,
        velocity_per_day: (velocity * 100.0).round() / 100.0,
        days_of_cover: (units_sold > 0)
            .then(|| (available as f64 / velocity * 10.0).round() / 10.0),
        lead_time_days: params.lead_time_days,
        reorder_point,
        reorder,
        suggested_order_quantity: if reorder {
            target.saturating_sub(available)
        } else {
            0
        },
    }
}
