//! The simulated shop's warehouse floor, when [`ShopConfig::warehouse_flow`] is on: paid orders
//! wait for a pick wave of their warehouse (planned every hour, express first), the wave is
//! picked half an hour later (a few lines short), each order's picks are packed and weighed
//! (now and then a wrong SKU is scanned and refused, or the scale reads far off), and the
//! parcel ships as packed, priced by the carrier table — an overweight one with a freight
//! forwarder the table does not know. A stock item is counted every six hours.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::{on_grid, Shop, SimOrder, Step, STEP};
use crate::context::ActorKind;
use crate::envelope::CommandEnvelope;
use crate::ids::{CarrierId, OrderId, ShipmentId, Sku, StockKey, WarehouseId, WaveId};
use crate::money::Amount;
use crate::money::Currency;
use crate::order::{Order, PackParcel, ServiceLevel, Ship};
use crate::shipping::{CarrierRule, Catalog, FreightRate, Handling, SkuAttributes};
use crate::stock::{CountStock, SetBinLocation, StockCommand, StockItem};
use crate::wave::{PlanWave, RecordPick, WaveCommand, WaveLine, WaveOrder};

/// Most orders in one simulated wave.
const WAVE_ORDERS: usize = 40;
/// Minutes between two wave plans, and from a plan to its picking.
const PLAN_EVERY: i64 = 60;
const PICK_AFTER: i64 = 30;
/// Minutes between two cycle counts.
const COUNT_EVERY: i64 = 360;
/// The carrier an overweight parcel goes with: a freight forwarder outside the table.
pub const FORWARDER: &str = "spedition";

/// A wave planned and not yet picked.
#[derive(Debug, Clone)]
struct PendingWave {
    wave_id: WaveId,
    pick_at: DateTime<Utc>,
    /// (order, SKU, units, whether the order pays cash on delivery: never picked short).
    lines: Vec<(OrderId, Sku, u32, bool)>,
}

/// The floor's state.
#[derive(Debug, Clone)]
pub(super) struct Floor {
    /// Orders waiting for a wave.
    waiting: BTreeSet<OrderId>,
    pending: Vec<PendingWave>,
    next_plan_at: DateTime<Utc>,
    next_count_at: DateTime<Utc>,
    planned: u32,
    counted: u32,
}

impl Floor {
    pub(super) fn new(start: DateTime<Utc>) -> Floor {
        Floor {
            waiting: BTreeSet::new(),
            pending: Vec::new(),
            next_plan_at: start,
            next_count_at: start + Duration::minutes(COUNT_EVERY),
            planned: 0,
            counted: 0,
        }
    }

    fn in_pending_wave(&self, id: OrderId) -> bool {
        self.pending
            .iter()
            .any(|wave| wave.lines.iter().any(|line| line.0 == id))
    }

    /// When the floor next has something to do while orders are still moving.
    pub(super) fn next_time(&self) -> DateTime<Utc> {
        let picks = self.pending.iter().map(|wave| wave.pick_at).min();
        let plan = (!self.waiting.is_empty()).then_some(self.next_plan_at);
        [picks, plan, Some(self.next_count_at)]
            .into_iter()
            .flatten()
            .min()
            .expect("the count is always due some time")
    }
}

/// The number of one of the shop's SKUs (`SKU-007` is 7).
fn sku_number(sku: &Sku) -> u32 {
    sku.as_str()
        .strip_prefix("SKU-")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The SKU's bin: aisle by SKU number, then rack and shelf.
fn bin_of(n: u32) -> String {
    let aisle = char::from(b'A' + (n % 6) as u8);
    format!("{aisle}-{:02}-{}", n / 6 + 1, n % 4 + 1)
}

impl Shop {
    /// The shop's carrier table: dhl (fragile and liquid goods too) and ups to parcels of up
    /// to 31.5 kg, priced by weight in EUR; the first that takes a parcel is chosen when a
    /// shipment names none.
    pub fn carriers() -> Vec<CarrierRule> {
        let rates = |prices: [&str; 3]| {
            [Some(2_000), Some(10_000), None]
                .into_iter()
                .zip(prices)
                .map(|(weight_grams_max, price)| FreightRate {
                    currency: Currency::EUR,
                    weight_grams_max,
                    price: price.parse().expect("a valid amount"),
                })
                .collect()
        };
        let row = |carrier: &str, handling, prices| CarrierRule {
            carrier: CarrierId::new(carrier),
            countries: Vec::new(),
            weight_grams_max: Some(31_500),
            service_levels: Vec::new(),
            handling,
            rates: rates(prices),
        };
        vec![
            row(
                "dhl",
                Some(vec![Handling::Fragile, Handling::Liquid]),
                ["4.90", "6.90", "12.90"],
            ),
            row("ups", None, ["5.40", "7.40", "13.40"]),
        ]
    }

    /// The shop's catalog: every SKU's weight (150 g to 1 kg; the last SKU, a garden bench,
    /// 12 kg), every fifth fragile, some liquid.
    pub fn catalog(&self) -> Catalog {
        (0..self.config.skus)
            .map(|n| {
                let attributes = SkuAttributes {
                    weight_grams: self.weight_of(n),
                    length_mm: None,
                    width_mm: None,
                    height_mm: None,
                    fragile: n % 5 == 0,
                    liquid: n % 9 == 4,
                    hazardous: false,
                };
                (self.sku(n), attributes)
            })
            .collect()
    }

    /// One unit of SKU number `n`, in grams.
    fn weight_of(&self, n: u32) -> u32 {
        if n + 1 == self.config.skus {
            12_000
        } else {
            150 + (n * 53 % 18) * 50
        }
    }

    /// The bins of every SKU in every warehouse, set at the start.
    pub(super) fn bin_locations(&mut self, now: DateTime<Utc>) -> Vec<CommandEnvelope> {
        let mut commands = Vec::new();
        for n in 0..self.config.skus {
            for warehouse in self.config.warehouses.clone() {
                let set = StockCommand::from(SetBinLocation {
                    item: StockKey::new(self.sku(n).0, warehouse),
                    bin: bin_of(n),
                });
                commands.push(self.envelope(ActorKind::Service, "wms", now, set.into()));
            }
        }
        commands
    }

    /// What the floor does at `now`: picks waves due, plans the next waves, counts an item.
    /// `order_of` and `stock_of` show the orders' and stock items' states.
    pub fn warehouse_step(
        &mut self,
        now: DateTime<Utc>,
        order_of: &dyn Fn(OrderId) -> Option<Order>,
        stock_of: &dyn Fn(&StockKey) -> Option<StockItem>,
    ) -> Vec<CommandEnvelope> {
        let Some(mut floor) = self.floor.take() else {
            return Vec::new();
        };
        let mut commands = self.pick_due(&mut floor, now);
        if now >= floor.next_plan_at && !floor.waiting.is_empty() {
            commands.extend(self.plan_waves(&mut floor, now, order_of));
            floor.next_plan_at = on_grid(now + Duration::minutes(PLAN_EVERY));
        }
        if now >= floor.next_count_at {
            commands.extend(self.count(&mut floor, now, stock_of));
            floor.next_count_at = on_grid(now + Duration::minutes(COUNT_EVERY));
        }
        self.floor = Some(floor);
        commands
    }

    fn pick_due(&mut self, floor: &mut Floor, now: DateTime<Utc>) -> Vec<CommandEnvelope> {
        let (due, later): (Vec<PendingWave>, Vec<PendingWave>) = std::mem::take(&mut floor.pending)
            .into_iter()
            .partition(|wave| wave.pick_at <= now);
        floor.pending = later;
        let mut commands = Vec::new();
        for wave in due {
            for (order_id, sku, quantity, cod) in wave.lines {
                let short = !cod && self.rng.chance(3);
                let pick = WaveCommand::from(RecordPick {
                    wave_id: wave.wave_id.clone(),
                    order_id,
                    sku,
                    picked_quantity: if short { quantity - 1 } else { quantity },
                });
                commands.push(self.envelope(ActorKind::Staff, "picker", now, pick.into()));
            }
        }
        commands
    }

    fn plan_waves(
        &mut self,
        floor: &mut Floor,
        now: DateTime<Utc>,
        order_of: &dyn Fn(OrderId) -> Option<Order>,
    ) -> Vec<CommandEnvelope> {
        let mut commands = Vec::new();
        for code in self.config.warehouses.clone() {
            let warehouse = WarehouseId::new(code);
            let mut orders: Vec<(bool, WaveOrder, bool)> = Vec::new();
            for &id in &floor.waiting {
                let (Some(state), Some(sim)) = (order_of(id), self.sim_order(id)) else {
                    continue;
                };
                let partial = sim.fate.partial_shipment && state.shipments.is_empty();
                if let Some(order) = wave_order(&state, &warehouse, partial) {
                    orders.push((!sim.fate.express, order, sim.fate.cod));
                }
            }
            orders.sort_by_key(|(later, order, _)| (*later, order.order_id));
            orders.truncate(WAVE_ORDERS);
            if orders.is_empty() {
                continue;
            }
            floor.planned += 1;
            let wave_id = WaveId::new(format!("W-{warehouse}-{:05}", floor.planned));
            let mut lines = Vec::new();
            for (_, order, cod) in &orders {
                floor.waiting.remove(&order.order_id);
                for line in &order.lines {
                    lines.push((order.order_id, line.sku.clone(), line.quantity, *cod));
                }
            }
            floor.pending.push(PendingWave {
                wave_id: wave_id.clone(),
                pick_at: on_grid(now + Duration::minutes(PICK_AFTER)),
                lines,
            });
            let plan = WaveCommand::from(PlanWave {
                wave_id,
                warehouse,
                carrier: None,
                service_level: None,
                cutoff_at: Some(on_grid(now + Duration::minutes(4 * 60))),
                orders: orders.into_iter().map(|(_, order, _)| order).collect(),
            });
            commands.push(self.envelope(ActorKind::Service, "wms", now, plan.into()));
        }
        commands
    }

    fn sim_order(&self, id: OrderId) -> Option<&SimOrder> {
        self.active.iter().find(|sim| sim.id == id)
    }

    /// One stock item counted, in turn — every other time one whose picked units wait at the
    /// pack station, if any does (the count must leave them out of the bin's book): one or two
    /// units fewer than the book now and then.
    fn count(
        &mut self,
        floor: &mut Floor,
        now: DateTime<Utc>,
        stock_of: &dyn Fn(&StockKey) -> Option<StockItem>,
    ) -> Vec<CommandEnvelope> {
        let warehouses = self.config.warehouses.len() as u32;
        let n = floor.counted;
        floor.counted += 1;
        let in_turn = |n: u32| {
            let sku = self.sku(n / warehouses % self.config.skus);
            StockKey::new(
                sku.0,
                self.config.warehouses[(n % warehouses) as usize].clone(),
            )
        };
        let staged = || {
            (0..self.config.skus * warehouses).map(in_turn).find(|key| {
                stock_of(key).is_some_and(|s| s.staged_total() > 0 && s.picking.is_empty())
            })
        };
        let item = match n % 2 {
            1 => staged().unwrap_or_else(|| in_turn(n)),
            _ => in_turn(n),
        };
        let Some(state) = stock_of(&item) else {
            return Vec::new();
        };
        if !state.picking.is_empty() {
            return Vec::new();
        }
        // The counter counts the bin: the units at the pack station are not in it.
        let missing = self.rng.below(3).min(state.available());
        let count = StockCommand::from(CountStock {
            item,
            counted_quantity: state.in_bin() - missing,
            reason: if missing > 0 {
                "cycle count: units missing from the bin".into()
            } else {
                "cycle count".into()
            },
        });
        vec![self.envelope(ActorKind::Staff, "counter", now, count.into())]
    }

    /// A paid order on the floor: waits for a wave, is packed once picked, then ships as
    /// packed.
    pub(super) fn shipping_from_floor(
        &mut self,
        sim: &mut SimOrder,
        state: &Order,
        now: DateTime<Utc>,
    ) -> Step {
        if let Some(parcel) = state.parcels.first() {
            return self.ship_parcel(sim, parcel.parcel_id.clone(), parcel.overweight, now);
        }
        let floor = self.floor.as_ref().expect("on the floor");
        let in_wave = floor.in_pending_wave(sim.id);
        let unshipped = state.unshipped();
        let all_picked = unshipped
            .iter()
            .all(|l| state.picked_units(&l.sku) == l.quantity);
        if !state.picked.is_empty() && !in_wave && (all_picked || !sim.fate.cod) {
            return self.pack(sim, state, now);
        }
        let waiting_for_more = unshipped
            .iter()
            .any(|l| state.picked_units(&l.sku) < l.quantity);
        if !in_wave && waiting_for_more {
            let floor = self.floor.as_mut().expect("on the floor");
            floor.waiting.insert(sim.id);
        }
        (None, Some(PLAN_EVERY))
    }

    /// Packs what was picked: now and then a wrong SKU is scanned first (refused), and now
    /// and then the scale reads far off.
    fn pack(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let n = sim.steps;
        let expected: u32 = state
            .picked
            .iter()
            .map(|l| self.weight_of(sku_number(&l.sku)) * l.quantity)
            .sum();
        let mut lines = state.picked.clone();
        if !sim.mispacked && self.rng.chance(2) {
            sim.mispacked = true;
            let wrong = (0..self.config.skus)
                .map(|k| self.sku(k))
                .find(|sku| state.picked_units(sku) == 0)
                .unwrap_or_else(|| self.sku(0));
            lines[0].sku = wrong;
        }
        let off = if self.rng.chance(4) {
            130
        } else {
            97 + self.rng.below(7) as u32
        };
        let weight_grams = (u64::from(expected) * u64::from(off) / 100).max(1) as u32;
        let pack = PackParcel {
            order_id: sim.id,
            parcel_id: ShipmentId::new(format!("parcel-{n}")),
            lines,
            weight_grams,
        };
        self.send(now, ActorKind::Staff, "packer", pack.into(), Some(STEP))
    }

    fn ship_parcel(
        &mut self,
        sim: &mut SimOrder,
        parcel_id: ShipmentId,
        overweight: bool,
        now: DateTime<Utc>,
    ) -> Step {
        let n = sim.steps;
        let (carrier, freight_cost) = if overweight {
            (
                Some(CarrierId::new(FORWARDER)),
                Some(Amount(Decimal::new(8900, 2))),
            )
        } else if sim.fate.named_carrier {
            let name = if n.is_multiple_of(2) { "dhl" } else { "ups" };
            (Some(CarrierId::new(name)), None)
        } else {
            (None, None)
        };
        let ship = Ship {
            order_id: sim.id,
            shipment_id: parcel_id,
            carrier,
            service_level: if sim.fate.express {
                ServiceLevel::Express
            } else {
                ServiceLevel::Standard
            },
            tracking_number: format!("TRK{}{n}", &sim.id.0.simple().to_string()[..10]),
            lines: Vec::new(),
            freight_cost,
            weight_grams: None,
        };
        let wait = if sim.fate.partial_shipment {
            24 * 60
        } else {
            180
        };
        self.send(now, ActorKind::Service, "wms", ship.into(), Some(wait))
    }
}

/// The order's lines to pick at `warehouse`: reserved there, not shipped, picked or packed
/// yet (only the first for an order that ships in two parcels).
fn wave_order(state: &Order, warehouse: &WarehouseId, partial: bool) -> Option<WaveOrder> {
    let header = state.header.as_ref()?;
    let mut lines: Vec<WaveLine> = Vec::new();
    let mut seen = BTreeMap::new();
    for reserved in state
        .reservations
        .iter()
        .filter(|r| &r.warehouse == warehouse)
    {
        let line = state.line(&reserved.sku)?;
        let waiting = state.picked_units(&line.sku) + state.packed_units(&line.sku);
        let quantity = reserved
            .quantity
            .min(line.quantity - line.shipped)
            .saturating_sub(waiting);
        if quantity == 0 || seen.insert(line.sku.clone(), ()).is_some() {
            continue;
        }
        lines.push(WaveLine {
            sku: line.sku.clone(),
            quantity,
            bin: Some(bin_of(sku_number(&line.sku))),
        });
    }
    if partial {
        lines.truncate(1);
    }
    if lines.is_empty() {
        return None;
    }
    Some(WaveOrder {
        order_id: header.order_id,
        service_level: header.service_level,
        lines,
    })
}
