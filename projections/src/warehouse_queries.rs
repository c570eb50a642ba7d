//! The warehouse's queries: waves and their pick lists, replenishment over the units each
//! stock item shipped per day, and the wave planner, which proposes the next wave of a
//! warehouse from the orders ready for it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use order_events::codec::decode_cache_value;
use order_events::ids::{CarrierId, OrderId, Sku, WarehouseId, WaveId};
use order_events::order::{Order, OrderStatus, ServiceLevel};
use order_events::shipping::{Parcel, Shipping};
use order_events::wave::{PlanWave, WaveLine, WaveOrder, WAVE_ORDERS_MAX};

use crate::keys;
use crate::model::{OrderRow, StockRow};
use crate::query::QueryError;
use crate::warehouse::{
    open_wave_prefix, replenishment, sales_key, wave_id_of, wave_key, ReplenishmentParams,
    ReplenishmentView, WaveRow, WaveSummary, WaveView,
};
use crate::{ProjectionStore, StoreError};

/// What the wave planner selects orders by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavePlanRequest {
    pub wave_id: WaveId,
    pub warehouse: WarehouseId,
    pub orders_max: usize,
    /// Only orders the carrier table routes to this carrier.
    pub carrier: Option<CarrierId>,
    /// Only orders of this service level.
    pub service_level: Option<ServiceLevel>,
    pub cutoff_at: Option<DateTime<Utc>>,
}

impl ProjectionStore {
    /// Up to `limit` waves, newest planned first (then by wave id), without their pick lists;
    /// `open_only` keeps those still picking. Reads the rows of the waves it lists only: the
    /// open waves from their index, the others by walking the planning-time index from its
    /// newest end.
    pub fn waves(
        &self,
        warehouse: Option<&str>,
        open_only: bool,
        limit: usize,
    ) -> Result<Vec<WaveSummary>, QueryError> {
        if limit == 0 || limit > crate::query::PAGE_LIMIT_MAX {
            return Err(QueryError::BadLimit(limit));
        }
        let waves = if open_only {
            let mut open = self.open_waves(warehouse)?;
            open.truncate(limit);
            open
        } else {
            self.newest_waves(warehouse, limit)?
        };
        Ok(waves.into_iter().map(|wave| wave.summary).collect())
    }

    /// The waves still picking (of a warehouse), newest planned first, then by wave id.
    fn open_waves(&self, warehouse: Option<&str>) -> Result<Vec<WaveRow>, StoreError> {
        let mut waves = Vec::new();
        for entry in self.backend().scan_prefix(&open_wave_prefix(warehouse)) {
            let (key, _) = entry?;
            waves.push(self.wave_row(wave_id_of(&key)?)?);
        }
        waves.sort_by(|a, b| {
            let (a, b) = (&a.summary, &b.summary);
            b.planned_at
                .cmp(&a.planned_at)
                .then_with(|| a.wave_id.cmp(&b.wave_id))
        });
        Ok(waves)
    }

    /// The `limit` newest waves (of a warehouse), newest planned first.
    fn newest_waves(
        &self,
        warehouse: Option<&str>,
        limit: usize,
    ) -> Result<Vec<WaveRow>, StoreError> {
        let mut waves = Vec::new();
        for entry in self.backend().scan_prefix(&[keys::WAVE_TIME]) {
            if waves.len() == limit {
                break;
            }
            let (key, value) = entry?;
            let code: String =
                decode_cache_value("wave time", &value).map_err(|e| StoreError::Corrupt {
                    key: format!("{key:?}"),
                    reason: e.to_string(),
                })?;
            if warehouse.is_none_or(|wanted| wanted == code) {
                waves.push(self.wave_row(wave_id_of(&key)?)?);
            }
        }
        Ok(waves)
    }

    /// The row of a wave an index names.
    fn wave_row(&self, wave_id: &str) -> Result<WaveRow, StoreError> {
        self.read(&wave_key(wave_id), "wave row")?
            .ok_or_else(|| StoreError::Corrupt {
                key: wave_id.to_owned(),
                reason: "a wave index names a wave with no row".into(),
            })
    }

    pub fn wave(&self, wave_id: &str) -> Result<Option<WaveView>, StoreError> {
        let row: Option<WaveRow> = self.read(&wave_key(wave_id), "wave row")?;
        Ok(row.map(WaveView::from))
    }

    /// Replenishment figures of every stock item (of one warehouse or SKU), by SKU then
    /// warehouse; `reorder_only` keeps those at or below their reorder point.
    pub fn replenishment(
        &self,
        params: &ReplenishmentParams,
        warehouse: Option<&str>,
        sku: Option<&str>,
        reorder_only: bool,
    ) -> Result<Vec<ReplenishmentView>, StoreError> {
        let prefix = match sku {
            Some(sku) => keys::with_str(keys::STOCK, sku),
            None => vec![keys::STOCK],
        };
        let first = params.as_of - Duration::days(i64::from(params.window_days) - 1);
        let mut views = Vec::new();
        for (_, row) in self.scan::<StockRow>(&prefix, "stock row")? {
            if warehouse.is_some_and(|code| row.warehouse.as_str() != code) {
                continue;
            }
            let (sku, code) = (row.sku.as_str(), row.warehouse.as_str());
            let mut end = sales_key(sku, code, params.as_of);
            end.push(0xff);
            let sold: u64 = self
                .backend()
                .range(
                    std::ops::Bound::Included(sales_key(sku, code, first)),
                    std::ops::Bound::Excluded(end),
                )
                .map(|entry| {
                    let (key, value) = entry?;
                    crate::query::decoded::<u64>(&key, Some(value.to_vec()), "sales row")
                        .map(Option::unwrap_or_default)
                })
                .sum::<Result<u64, StoreError>>()?;
            let view = replenishment(&row, sold, params);
            if !reorder_only || view.reorder {
                views.push(view);
            }
        }
        Ok(views)
    }

    /// The next wave of a warehouse: its ready orders — paid (or cash on delivery, ready to
    /// ship) with stock reserved there that is not picked, packed or in an open wave yet —
    /// express first, then longest waiting, up to the request's size; each with its lines
    /// at that warehouse and their bins (the stock item's, else `bins`).
    pub fn propose_wave(
        &self,
        request: &WavePlanRequest,
        shipping: &Shipping,
        bins: &BTreeMap<Sku, String>,
    ) -> Result<Option<PlanWave>, QueryError> {
        if request.orders_max == 0 || request.orders_max > WAVE_ORDERS_MAX {
            return Err(QueryError::BadLimit(request.orders_max));
        }
        let waved = self.orders_in_open_waves(&request.warehouse)?;
        let mut candidates: Vec<(bool, DateTime<Utc>, WaveOrder)> = Vec::new();
        for status in [
            OrderStatus::Paid,
            OrderStatus::ReadyToShip,
            OrderStatus::PartiallyShipped,
        ] {
            let prefix =
                keys::index_prefix(keys::OrderIndex::Status, Some(&keys::status_code(status)));
            for entry in self.backend().scan_prefix(&prefix) {
                let (key, _) = entry?;
                let id = OrderId(keys::id_at_end(&key)?);
                if waved.contains(&id) {
                    continue;
                }
                let Some(row): Option<OrderRow> =
                    self.read(&keys::order(keys::ORDER, id.0), "order row")?
                else {
                    continue;
                };
                if let Some(order) = self.wave_order(&row.state, request, shipping, bins)? {
                    let express = order.service_level == ServiceLevel::Express;
                    candidates.push((!express, row.status_since(), order));
                }
            }
        }
        if candidates.is_empty() {
            return Ok(None);
        }
        candidates.sort_by_key(|(later, since, order)| (*later, *since, order.order_id));
        candidates.truncate(request.orders_max);
        Ok(Some(PlanWave {
            wave_id: request.wave_id.clone(),
            warehouse: request.warehouse.clone(),
            carrier: request.carrier.clone(),
            service_level: request.service_level,
            cutoff_at: request.cutoff_at,
            orders: candidates.into_iter().map(|(_, _, order)| order).collect(),
        }))
    }

    fn orders_in_open_waves(
        &self,
        warehouse: &WarehouseId,
    ) -> Result<BTreeSet<OrderId>, StoreError> {
        Ok(self
            .open_waves(Some(warehouse.as_str()))?
            .into_iter()
            .flat_map(|wave| wave.pick_list.into_iter().map(|line| line.order_id))
            .collect())
    }

    /// The order's lines to pick at the request's warehouse, if it is ready and matches.
    fn wave_order(
        &self,
        order: &Order,
        request: &WavePlanRequest,
        shipping: &Shipping,
        bins: &BTreeMap<Sku, String>,
    ) -> Result<Option<WaveOrder>, StoreError> {
        let Some(header) = &order.header else {
            return Ok(None);
        };
        if order.hold.is_some() {
            return Ok(None);
        }
        let level = header.service_level;
        if request.service_level.is_some_and(|wanted| wanted != level) {
            return Ok(None);
        }
        let mut lines = Vec::new();
        for reserved in order
            .reservations
            .iter()
            .filter(|r| r.warehouse == request.warehouse)
        {
            let Some(line) = order.line(&reserved.sku) else {
                continue;
            };
            let waiting = order.picked_units(&line.sku) + order.packed_units(&line.sku);
            let quantity = reserved
                .quantity
                .min(line.quantity - line.shipped)
                .saturating_sub(waiting);
            if quantity == 0 {
                continue;
            }
            let stock: Option<StockRow> = self.read(
                &keys::stock(line.sku.as_str(), request.warehouse.as_str()),
                "stock row",
            )?;
            let bin = stock
                .and_then(|row| row.state.bin)
                .or_else(|| bins.get(&line.sku).cloned());
            lines.push(WaveLine {
                sku: line.sku.clone(),
                quantity,
                bin,
            });
        }
        if lines.is_empty() || !routed_to(order, &lines, request, shipping) {
            return Ok(None);
        }
        Ok(Some(WaveOrder {
            order_id: header.order_id,
            service_level: level,
            lines,
        }))
    }
}

/// Whether the carrier table would send the order's parcel with the request's carrier (any
/// order when the request names none, or the parcel's weight is unknown).
fn routed_to(
    order: &Order,
    lines: &[WaveLine],
    request: &WavePlanRequest,
    shipping: &Shipping,
) -> bool {
    let (Some(carrier), Some(header)) = (&request.carrier, &order.header) else {
        return true;
    };
    let quantities: Vec<order_events::order::LineQuantity> = lines
        .iter()
        .map(|line| order_events::order::LineQuantity {
            sku: line.sku.clone(),
            quantity: line.quantity,
        })
        .collect();
    let units = order_events::order::LineQuantity::units(&quantities);
    let Some(weight_grams) = shipping.expected_weight(&units) else {
        return true;
    };
    let handling = shipping.handling(&units);
    let parcel = Parcel {
        country: &header.shipping_address.country,
        weight_grams,
        service_level: header.service_level,
        handling: &handling,
    };
    shipping.choose_carrier(parcel).as_ref() == Some(carrier)
}
