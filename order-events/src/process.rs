//! The order process: the commands the ledger issues by itself when something happens.
//!
//! Cross-aggregate steps (an order needs stock, a shipment consumes it, a return puts it back)
//! are reactions: given a decided command, its events and the state after them, the process
//! answers with further commands. Those travel the commands topic like any other, so each is
//! decided by its own aggregate, recorded with its actor (`system`) and causation (the event
//! or command that triggered it), and answered on the results topic.
//!
//! Every reaction has a deterministic command id, derived from what triggered it, so a
//! reaction computed twice (after a crash, by a zombie instance) is one command, decided once.
//! Timers work the same way: the deadline is part of the order's state (payment due, delivered
//! at + auto-confirm days), so it survives any crash with the events, and the command it fires
//! has an id derived from the order — firing it again changes nothing.
//!
//! The steps:
//! - `OrderPlaced` → `PlanReservations` (warehouse rules, available stock, customer country;
//!   a line may be split across warehouses) → `ReservationsPlanned` → one `ReserveStock` per
//!   SKU and warehouse, expiring when payment is due.
//! - each answered `ReserveStock` → `RecordReservation` on the order (reserved or refused);
//!   when the plan is complete: all reserved → `ConfirmStockReserved`; anything short → the
//!   policy's [`ShortResolution`]: split (drop the short quantities, confirm the rest),
//!   backorder or cancel (release what was reserved, then `MarkStockShort`).
//! - an outcome arriving after the order was cancelled or expired → release it.
//! - `OrderCancelled`/`OrderExpired` → release every reservation of the order (not when it
//!   was refused at the door: its stock left with the parcels and is restocked on return).
//! - `ShipmentDispatched` → `CommitReservation` for the shipped units.
//! - `ReturnReceived` with restock → `RestockReturn` at the warehouse that shipped.
//! - money, to the finance accounts (see [`crate::account`]): `PaymentCaptured` →
//!   `AccrueMerchantEarnings` (the capture less the settlement rules' commission);
//!   `CashCollected` → the same, and `AccrueCarrierCod` (the carrier owes the cash);
//!   `DeliveryRefused` with the freight on the merchant → `ChargeMerchantFreight`;
//!   `RefundIssued` → `ChargeMerchantRefund`; the last parcel's `ShipmentDelivered` →
//!   `StartReturnWindow` (the merchant's earnings on the order are held back until it closes);
//!   `ShipmentDispatched` with freight → `AccrueCarrierFreight`, which the carrier's invoice
//!   is checked against.
//! - timers: unpaid orders → `ExpireOrder` at the payment deadline; backordered orders →
//!   `PlanReservations` again every `backorder_retry_minutes` until then (stock may have
//!   arrived); delivered orders → `ConfirmReceipt` (automatic) after the policy's days.
//!
//! Pure like the rest of the crate: the caller passes the time and a view of the stock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::account::{
    AccountCommand, AccrueCarrierCod, AccrueCarrierFreight, AccrueMerchantEarnings,
    ChargeMerchantFreight, ChargeMerchantRefund, StartReturnWindow,
};
use crate::context::Policy;
use crate::envelope::Command;
use crate::ids::{OrderId, PaymentId, Sku, StockKey, WarehouseId, WaveId};
use crate::money::Amount;
use crate::order::{
    ConfirmReceipt, ConfirmStockReserved, ExpireOrder, FreightPayer, LineQuantity, MarkStockShort,
    Order, OrderCommand, OrderEvent, OrderHeader, OrderStatus, PlanReservations, RecordPicks,
    RecordReservation, ReservedLine, ReturnDisposition, ShortResolution,
};
use crate::settlement::{share, SettlementRules};
use crate::shipping::Catalog;
use crate::stock::{
    CommitReservation, FinishPicks, OrderUnits, ReleaseReason, ReleaseReservation, ReserveStock,
    RestockReturn, StartPicks, StockCommand,
};
use crate::wave::{Wave, WaveEvent};

/// One row of the warehouse table: which warehouse may ship to which countries, and in which
/// order warehouses are tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WarehouseRule {
    pub warehouse: WarehouseId,
    /// Destination countries (ISO 3166-1 alpha-2) this warehouse ships to; empty: all.
    #[serde(default)]
    pub countries: Vec<String>,
    /// Lower is tried first; ties go by warehouse code.
    #[serde(default)]
    pub priority: u32,
}

pub use crate::shipping::CarrierRule;

/// The shop's rule tables for the order process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessRules {
    /// What to do when some lines cannot be reserved. `split` falls back to `cancel` when
    /// nothing at all could be reserved.
    pub short_resolution: ShortResolution,
    /// Warehouse table. Empty: every warehouse holding the SKU may ship anywhere, the one with
    /// the most available stock first.
    pub warehouses: Vec<WarehouseRule>,
    /// Carrier table for shipments that name no carrier. Empty: such shipments are refused
    /// (`carrier_required`).
    pub carriers: Vec<CarrierRule>,
    /// Commission rates, for the merchant accruals. Configured in the `[settlement]` section
    /// (the settlement read model posts with the same rates), so not read from this one.
    #[serde(skip)]
    pub settlement: SettlementRules,
    /// The SKUs' weights and handling, for parcels. Configured in the `[catalog]` section.
    #[serde(skip)]
    pub catalog: Catalog,
}

impl Default for ProcessRules {
    fn default() -> ProcessRules {
        ProcessRules {
            short_resolution: ShortResolution::Split,
            warehouses: Vec::new(),
            carriers: Vec::new(),
            settlement: SettlementRules::default(),
            catalog: Catalog::new(),
        }
    }
}

/// What the process may know of stock when it plans: the warehouses holding a SKU and their
/// available units. A hint only (it may be partial or a little behind); the stock items decide.
pub trait StockView {
    fn stocked(&self, sku: &Sku) -> Vec<(WarehouseId, u64)>;

    /// Every warehouse known to hold stock of any SKU: where to ask for a SKU the view does
    /// not (yet) place anywhere, when no warehouse table names the candidates.
    fn warehouses(&self) -> Vec<WarehouseId> {
        Vec::new()
    }
}

/// A command the process issues, with its deterministic id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub command_id: Uuid,
    /// The event (or, for a stock item's answer, the command) that caused it.
    pub causation_id: Uuid,
    pub command: Command,
}

/// Which deadline an order is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimerKind {
    /// Unpaid at the payment deadline: expire, releasing the stock.
    Expire,
    /// Delivered and not confirmed: confirm receipt automatically.
    AutoConfirm,
    /// Backordered: plan the reservations again (stock may have arrived).
    Replan,
}

fn serves(countries: &[String], country: &str) -> bool {
    countries.is_empty() || countries.iter().any(|c| c == country)
}

/// Where to reserve each line: per line, the first candidate warehouse that can fill it alone;
/// otherwise what each candidate has, in order, and the rest at the first candidate given no
/// share (or, when every candidate has one, on top of the first share). A line no candidate is
/// known to stock is planned whole at the first candidate.
///
/// The view only chooses where to ask; the stock items decide, because the view may lag what
/// was published before the order. The process asks each with a minimum of one unit, so a
/// stock item holds what it has up to the planned quantity, and only what it lacks is short.
/// The candidates are the warehouse table's rows for the destination, or without a table the
/// warehouses holding the SKU (most available first) and then every other warehouse known to
/// hold stock. A line stays unplanned only when there is no candidate at all.
///
/// When the answers leave a line short, [`plan_rest`] asks the candidates not asked yet, so a
/// line is short only when every candidate was asked and held less than asked.
pub fn plan(
    lines: &[(Sku, u32)],
    country: &str,
    rules: &ProcessRules,
    view: &dyn StockView,
) -> Vec<ReservedLine> {
    plan_excluding(lines, country, rules, view, &[])
}

/// The rest of an order's plan once every answer is in: its short quantities, asked of the
/// candidates the plan has not asked for that SKU. Empty when there is nothing short or no
/// candidate left: then the shortage stands.
pub fn plan_rest(order: &Order, rules: &ProcessRules, view: &dyn StockView) -> Vec<ReservedLine> {
    let short: Vec<(Sku, u32)> = shortfall(order)
        .into_iter()
        .map(|line| (line.sku, line.quantity))
        .collect();
    if short.is_empty() {
        return Vec::new();
    }
    let asked: Vec<ReservedLine> = order
        .reservation_plan
        .iter()
        .map(|p| p.line.clone())
        .collect();
    plan_excluding(&short, country_of(order), rules, view, &asked)
}

/// Where the order ships to (empty before it is placed).
fn country_of(order: &Order) -> &str {
    order
        .header
        .as_ref()
        .map_or("", |h| h.shipping_address.country.as_str())
}

/// Per line, the quantity the order's plan does not hold.
fn shortfall(order: &Order) -> Vec<LineQuantity> {
    let mut held: BTreeMap<Sku, u32> = BTreeMap::new();
    for line in order.planned_reserved() {
        *held.entry(line.sku).or_default() += line.quantity;
    }
    order
        .lines
        .iter()
        .filter_map(|line| {
            let short = line.quantity - held.get(&line.sku).copied().unwrap_or(0);
            (short > 0).then(|| LineQuantity {
                sku: line.sku.clone(),
                quantity: short,
            })
        })
        .collect()
}

/// [`plan`], leaving out the warehouses `asked` already names for a SKU.
fn plan_excluding(
    lines: &[(Sku, u32)],
    country: &str,
    rules: &ProcessRules,
    view: &dyn StockView,
    asked: &[ReservedLine],
) -> Vec<ReservedLine> {
    let mut planned = Vec::new();
    // Asked once per plan, not per line: the handler's view gathers it from every partition.
    let known: Vec<WarehouseId> = if rules.warehouses.is_empty() {
        let mut known = view.warehouses();
        known.sort();
        known.dedup();
        known
    } else {
        Vec::new()
    };
    for (sku, quantity) in lines {
        let stocked: BTreeMap<WarehouseId, u64> = view.stocked(sku).into_iter().collect();
        let candidates: Vec<WarehouseId> = if rules.warehouses.is_empty() {
            let mut by_stock: Vec<(&WarehouseId, &u64)> = stocked.iter().collect();
            by_stock.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let mut candidates: Vec<WarehouseId> =
                by_stock.into_iter().map(|(w, _)| w.clone()).collect();
            let others = known.iter().filter(|w| !stocked.contains_key(*w));
            candidates.extend(others.cloned());
            candidates
        } else {
            let mut rows: Vec<&WarehouseRule> = rules
                .warehouses
                .iter()
                .filter(|rule| serves(&rule.countries, country))
                .collect();
            rows.sort_by(|a, b| (a.priority, &a.warehouse).cmp(&(b.priority, &b.warehouse)));
            rows.into_iter()
                .map(|rule| rule.warehouse.clone())
                .collect()
        };
        let candidates: Vec<WarehouseId> = candidates
            .into_iter()
            .filter(|w| !asked.iter().any(|a| a.sku == *sku && a.warehouse == *w))
            .collect();
        let Some(first) = candidates.first() else {
            continue;
        };
        let available = |w: &WarehouseId| stocked.get(w).copied().unwrap_or(0);
        let wanted = u64::from(*quantity);
        let piece = |warehouse: &WarehouseId, quantity: u64| ReservedLine {
            sku: sku.clone(),
            warehouse: warehouse.clone(),
            quantity: u32::try_from(quantity).expect("at most the line's quantity"),
        };
        if let Some(whole) = candidates.iter().find(|w| available(w) >= wanted) {
            planned.push(piece(whole, wanted));
            continue;
        }
        if candidates.iter().all(|w| available(w) == 0) {
            planned.push(piece(first, wanted));
            continue;
        }
        let mut remaining = wanted;
        let mut given: Vec<&WarehouseId> = Vec::new();
        for warehouse in &candidates {
            let take = available(warehouse).min(remaining);
            if take > 0 {
                planned.push(piece(warehouse, take));
                given.push(warehouse);
                remaining -= take;
            }
            if remaining == 0 {
                break;
            }
        }
        // The view may lag what was published before the order: ask for the rest rather than
        // assume it is missing — of a candidate given nothing, or else on top of the first
        // share (the process's reservations are graded, so asking for more risks nothing).
        if remaining > 0 {
            match candidates.iter().find(|w| !given.contains(w)) {
                Some(untried) => planned.push(piece(untried, remaining)),
                None => {
                    let first_share = planned
                        .iter_mut()
                        .rev()
                        .find(|line| line.sku == *sku && line.warehouse == *given[0])
                        .expect("the first share was planned above");
                    first_share.quantity +=
                        u32::try_from(remaining).expect("at most the line's quantity");
                }
            }
        }
    }
    planned
}

/// The deadline the order waits for, if any. A backordered order tries again every
/// `backorder_retry_minutes` after placement (the n-th plan at n intervals) until its payment
/// deadline, which expires it.
pub fn timer(order: &Order, policy: &Policy) -> Option<(DateTime<Utc>, TimerKind)> {
    match order.status {
        OrderStatus::Backordered => {
            let header = order.header.as_ref()?;
            let retry = policy.backorder_retry();
            let next = header.placed_at + retry * i32::try_from(order.plans_made).ok()?;
            if !retry.is_zero() && next < header.payment_due_at {
                Some((next, TimerKind::Replan))
            } else {
                Some((header.payment_due_at, TimerKind::Expire))
            }
        }
        OrderStatus::Placed | OrderStatus::AwaitingPayment => order
            .header
            .as_ref()
            .map(|h| (h.payment_due_at, TimerKind::Expire)),
        OrderStatus::Delivered => order
            .delivered_at
            .map(|at| (at + policy.auto_confirm_after(), TimerKind::AutoConfirm)),
        _ => None,
    }
}

/// The id of the command a due timer fires. It depends only on the order and the deadline:
/// expiry and confirmation happen once in an order's life, and the n-th re-plan is named by n,
/// so firing a deadline again is the same command.
pub fn timer_id(order_id: OrderId, order: &Order, kind: TimerKind) -> Uuid {
    let name = match kind {
        TimerKind::Expire => b"timer/expire".to_vec(),
        TimerKind::AutoConfirm => b"timer/auto-confirm".to_vec(),
        TimerKind::Replan => format!("timer/replan/{}", order.plans_made).into_bytes(),
    };
    Uuid::new_v5(&order_id.0, &name)
}

/// The command a due timer fires, with its [`timer_id`].
pub fn timer_command(
    order_id: OrderId,
    order: &Order,
    kind: TimerKind,
    rules: &ProcessRules,
    view: &dyn StockView,
) -> (Uuid, Command) {
    let command = match kind {
        TimerKind::Expire => order_command(ExpireOrder { order_id }),
        TimerKind::AutoConfirm => order_command(ConfirmReceipt { order_id }),
        TimerKind::Replan => {
            let lines: Vec<(Sku, u32)> = order
                .lines
                .iter()
                .map(|line| (line.sku.clone(), line.quantity))
                .collect();
            order_command(PlanReservations {
                order_id,
                reservations: plan(&lines, country_of(order), rules, view),
                continues: false,
            })
        }
    };
    (timer_id(order_id, order, kind), command)
}

fn order_command(command: impl Into<OrderCommand>) -> Command {
    Command::Order(command.into())
}

fn stock_command(command: impl Into<StockCommand>) -> Command {
    Command::Stock(command.into())
}

fn account_command(command: impl Into<AccountCommand>) -> Command {
    Command::Account(command.into())
}

/// Collects reactions with ids derived from their trigger.
struct Reactions {
    trigger: Uuid,
    out: Vec<Reaction>,
}

impl Reactions {
    fn new(trigger: Uuid) -> Reactions {
        Reactions {
            trigger,
            out: Vec::new(),
        }
    }

    fn push(&mut self, command: Command) {
        let index = self.out.len() as u32;
        let mut name = b"process/".to_vec();
        name.extend_from_slice(&index.to_be_bytes());
        self.out.push(Reaction {
            command_id: Uuid::new_v5(&self.trigger, &name),
            causation_id: self.trigger,
            command,
        });
    }

    /// A capture's or collection's earnings to the merchant's account, less the commission.
    fn accrue_earnings(
        &mut self,
        header: &OrderHeader,
        rules: &ProcessRules,
        payment_id: &PaymentId,
        amount: Amount,
    ) {
        let rate = rules.settlement.rate_of(&header.merchant_id);
        self.push(account_command(AccrueMerchantEarnings {
            merchant_id: header.merchant_id.clone(),
            currency: header.currency,
            order_id: header.order_id,
            payment_id: payment_id.clone(),
            captured: amount,
            commission: share(amount, rate, header.currency),
        }));
    }

    fn release_all<'a>(
        &mut self,
        order_id: OrderId,
        lines: impl IntoIterator<Item = &'a ReservedLine>,
        reason: ReleaseReason,
    ) {
        let mut items: Vec<StockKey> = lines
            .into_iter()
            .map(|line| StockKey {
                sku: line.sku.clone(),
                warehouse: line.warehouse.clone(),
            })
            .collect();
        items.sort();
        items.dedup();
        for item in items {
            self.push(stock_command(ReleaseReservation {
                item,
                order_id,
                reason,
            }));
        }
    }
}

/// The process's answer to an order event. `order` is the state after the command that
/// recorded `event` (every event of that command folded in).
pub fn react_to_order_event(
    order_id: OrderId,
    order: &Order,
    event_id: Uuid,
    event: &OrderEvent,
    rules: &ProcessRules,
    view: &dyn StockView,
) -> Vec<Reaction> {
    let mut reactions = Reactions::new(event_id);
    let Some(header) = &order.header else {
        return Vec::new();
    };
    match event {
        OrderEvent::OrderPlaced(placed) => {
            let lines: Vec<(Sku, u32)> = placed
                .lines
                .iter()
                .map(|line| (line.sku.clone(), line.quantity))
                .collect();
            let country = &placed.shipping_address.country;
            reactions.push(order_command(PlanReservations {
                order_id,
                reservations: plan(&lines, country, rules, view),
                continues: false,
            }));
        }
        OrderEvent::ReservationsPlanned(planned) => {
            for line in &planned.reservations {
                reactions.push(stock_command(ReserveStock {
                    item: StockKey {
                        sku: line.sku.clone(),
                        warehouse: line.warehouse.clone(),
                    },
                    order_id,
                    quantity: line.quantity,
                    expires_at: header.payment_due_at,
                    // Whatever the item holds counts towards the line; the rest is short.
                    minimum: Some(1),
                }));
            }
            if planned.reservations.is_empty() {
                resolve(&mut reactions, order_id, order, rules);
            }
        }
        OrderEvent::ReservationRecorded(recorded) => match order.status {
            OrderStatus::Cancelled | OrderStatus::Expired if recorded.reserved_quantity > 0 => {
                let reason = if order.status == OrderStatus::Expired {
                    ReleaseReason::Expired
                } else {
                    ReleaseReason::OrderCancelled
                };
                let line = ReservedLine {
                    sku: recorded.sku.clone(),
                    warehouse: recorded.warehouse.clone(),
                    quantity: recorded.reserved_quantity,
                };
                reactions.release_all(order_id, [&line], reason);
            }
            OrderStatus::Placed | OrderStatus::Backordered
                if order.plan_complete() && !order.reservation_plan.is_empty() =>
            {
                let rest = plan_rest(order, rules, view);
                if rest.is_empty() {
                    resolve(&mut reactions, order_id, order, rules);
                } else {
                    reactions.push(order_command(PlanReservations {
                        order_id,
                        reservations: rest,
                        continues: true,
                    }));
                }
            }
            _ => {}
        },
        // Refused at the door: the stock left with the parcels (committed at dispatch) and
        // comes back with the return case's `ReturnReceived`.
        OrderEvent::OrderCancelled(_) if !order.shipments.is_empty() => {}
        OrderEvent::OrderCancelled(_) | OrderEvent::OrderExpired(_) => {
            let reason = if matches!(event, OrderEvent::OrderExpired(_)) {
                ReleaseReason::Expired
            } else {
                ReleaseReason::OrderCancelled
            };
            let planned: Vec<ReservedLine> = order.planned_reserved().collect();
            reactions.release_all(order_id, order.reservations.iter().chain(&planned), reason);
        }
        OrderEvent::ShipmentDispatched(dispatched) => {
            for shipped in &dispatched.lines {
                let Some(line) = order.line(&shipped.sku) else {
                    continue;
                };
                // Units of this SKU shipped before this parcel came off the reservations first,
                // in the order the reservations were listed.
                let mut skip = line.shipped - shipped.quantity;
                let mut remaining = shipped.quantity;
                for reservation in order.reservations.iter().filter(|r| r.sku == shipped.sku) {
                    let before = skip.min(reservation.quantity);
                    skip -= before;
                    let take = (reservation.quantity - before).min(remaining);
                    if take > 0 {
                        reactions.push(stock_command(CommitReservation {
                            item: StockKey {
                                sku: shipped.sku.clone(),
                                warehouse: reservation.warehouse.clone(),
                            },
                            order_id,
                            shipment_id: dispatched.shipment_id.clone(),
                            quantity: take,
                        }));
                        remaining -= take;
                    }
                }
            }
            if dispatched.freight_cost.is_positive() {
                reactions.push(account_command(AccrueCarrierFreight {
                    carrier: dispatched.carrier.clone(),
                    currency: header.currency,
                    order_id,
                    tracking_number: dispatched.tracking_number.clone(),
                    freight: dispatched.freight_cost,
                }));
            }
        }
        OrderEvent::PaymentCaptured(captured) => {
            reactions.accrue_earnings(header, rules, &captured.payment_id, captured.amount);
        }
        OrderEvent::CashCollected(collected) => {
            reactions.accrue_earnings(header, rules, &collected.payment_id, collected.amount);
            reactions.push(account_command(AccrueCarrierCod {
                carrier: collected.carrier.clone(),
                currency: header.currency,
                order_id,
                tracking_number: collected.tracking_number.clone(),
                amount: collected.amount,
            }));
        }
        OrderEvent::DeliveryRefused(refused)
            if refused.freight_payer == FreightPayer::Merchant && refused.freight.is_positive() =>
        {
            reactions.push(account_command(ChargeMerchantFreight {
                merchant_id: header.merchant_id.clone(),
                currency: header.currency,
                order_id,
                shipment_id: refused.shipment_id.clone(),
                freight: refused.freight,
            }));
        }
        OrderEvent::RefundIssued(refunded) => {
            let rate = rules.settlement.rate_of(&header.merchant_id);
            reactions.push(account_command(ChargeMerchantRefund {
                merchant_id: header.merchant_id.clone(),
                currency: header.currency,
                order_id,
                refund_id: refunded.refund_id.clone(),
                refunded: refunded.amount,
                commission_share: share(refunded.amount, rate, header.currency),
            }));
        }
        OrderEvent::ShipmentDelivered(delivered)
            if order.delivered_at == Some(delivered.delivered_at) =>
        {
            reactions.push(account_command(StartReturnWindow {
                merchant_id: header.merchant_id.clone(),
                currency: header.currency,
                order_id,
                delivered_at: delivered.delivered_at,
            }));
        }
        OrderEvent::ReturnReceived(received)
            if received.disposition == ReturnDisposition::Restock =>
        {
            for returned in &received.lines {
                let warehouse = order
                    .reservations
                    .iter()
                    .find(|r| r.sku == returned.sku)
                    .map(|r| r.warehouse.clone())
                    .or_else(|| order.line(&returned.sku).and_then(|l| l.warehouse.clone()));
                // An order whose stock the ledger never reserved has no known warehouse; its
                // returns are restocked by whoever manages that stock.
                if let Some(warehouse) = warehouse {
                    reactions.push(stock_command(RestockReturn {
                        item: StockKey {
                            sku: returned.sku.clone(),
                            warehouse,
                        },
                        order_id,
                        return_id: received.return_id.clone(),
                        quantity: returned.quantity,
                    }));
                }
            }
        }
        _ => {}
    }
    reactions.out
}

/// Every planned reservation answered: confirm, or handle the shortage per policy.
fn resolve(reactions: &mut Reactions, order_id: OrderId, order: &Order, rules: &ProcessRules) {
    let short_lines = shortfall(order);
    let reservations = merged(order.planned_reserved());
    if short_lines.is_empty() {
        reactions.push(order_command(ConfirmStockReserved {
            order_id,
            reservations,
        }));
        return;
    }
    let resolution = match rules.short_resolution {
        ShortResolution::Split if reservations.is_empty() => ShortResolution::Cancel,
        resolution => resolution,
    };
    if resolution != ShortResolution::Split {
        reactions.release_all(order_id, &reservations, ReleaseReason::ShortElsewhere);
    }
    reactions.push(order_command(MarkStockShort {
        order_id,
        short_lines,
        resolution,
    }));
    if resolution == ShortResolution::Split {
        reactions.push(order_command(ConfirmStockReserved {
            order_id,
            reservations,
        }));
    }
}

/// Reserved lines with one entry per SKU and warehouse.
fn merged(lines: impl Iterator<Item = ReservedLine>) -> Vec<ReservedLine> {
    let mut by_item: BTreeMap<(Sku, WarehouseId), u32> = BTreeMap::new();
    for line in lines {
        *by_item.entry((line.sku, line.warehouse)).or_default() += line.quantity;
    }
    by_item
        .into_iter()
        .map(|((sku, warehouse), quantity)| ReservedLine {
            sku,
            warehouse,
            quantity,
        })
        .collect()
}

/// The process's answer to a stock item deciding one of the process's own reservations: the
/// order learns how many units it got (`None`: refused). `command_id` is the reservation
/// command's id.
pub fn react_to_reservation(
    command_id: Uuid,
    reservation: &ReserveStock,
    held: Option<u32>,
) -> Reaction {
    let mut reactions = Reactions::new(command_id);
    reactions.push(order_command(RecordReservation {
        order_id: reservation.order_id,
        sku: reservation.item.sku.clone(),
        warehouse: reservation.item.warehouse.clone(),
        reserved: held.is_some(),
        quantity: held,
    }));
    reactions.out.remove(0)
}

/// The process's answer to a wave event. `wave` is the state after the command that recorded
/// `event`: each stock item of the wave learns it is being picked, and when its lines are
/// done; each order learns what was picked for it once all its lines are.
pub fn react_to_wave_event(
    wave_id: &WaveId,
    wave: &Wave,
    event_id: Uuid,
    event: &WaveEvent,
) -> Vec<Reaction> {
    let mut reactions = Reactions::new(event_id);
    let Some(warehouse) = &wave.warehouse else {
        return Vec::new();
    };
    let item = |sku: &Sku| StockKey {
        sku: sku.clone(),
        warehouse: warehouse.clone(),
    };
    match event {
        WaveEvent::WavePlanned(planned) => {
            let mut units: BTreeMap<&Sku, u64> = BTreeMap::new();
            for line in &planned.pick_list {
                *units.entry(&line.sku).or_default() += u64::from(line.quantity);
            }
            for (sku, quantity) in units {
                reactions.push(stock_command(StartPicks {
                    item: item(sku),
                    wave_id: wave_id.clone(),
                    quantity,
                }));
            }
        }
        WaveEvent::WaveSkuPicked(done) => reactions.push(stock_command(FinishPicks {
            item: item(&done.sku),
            wave_id: wave_id.clone(),
            picked_quantity: done.picked_quantity,
            orders: picked_by_order(wave, &done.sku),
        })),
        WaveEvent::WaveOrderPicked(picked) if !picked.lines.is_empty() => {
            reactions.push(order_command(RecordPicks {
                order_id: picked.order_id,
                wave_id: wave_id.clone(),
                warehouse: warehouse.clone(),
                lines: picked.lines.clone(),
            }))
        }
        WaveEvent::WaveOrderPicked(_)
        | WaveEvent::PickRecorded(_)
        | WaveEvent::WaveCompleted(_) => {}
    }
    reactions.out
}

/// The units of `sku` the wave picked, by order (lines picked short to nothing left out).
fn picked_by_order(wave: &Wave, sku: &Sku) -> Vec<OrderUnits> {
    wave.lines
        .iter()
        .filter(|state| &state.line.sku == sku)
        .filter_map(|state| {
            let picked = state.picked.filter(|&units| units > 0)?;
            Some(OrderUnits {
                order_id: state.line.order_id,
                quantity: u64::from(picked),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testkit::Shelf;

    fn rule(warehouse: &str, countries: &[&str], priority: u32) -> WarehouseRule {
        WarehouseRule {
            warehouse: WarehouseId::from(warehouse),
            countries: countries.iter().map(|c| c.to_string()).collect(),
            priority,
        }
    }

    fn planned(lines: &[ReservedLine]) -> Vec<(String, String, u32)> {
        lines
            .iter()
            .map(|l| (l.sku.to_string(), l.warehouse.to_string(), l.quantity))
            .collect()
    }

    fn owned(rows: &[(&str, &str, u32)]) -> Vec<(String, String, u32)> {
        rows.iter()
            .map(|(s, w, n)| (s.to_string(), w.to_string(), *n))
            .collect()
    }

    #[test]
    fn the_warehouse_table_decides_by_country_and_priority_and_splits_when_needed() {
        let shelf = Shelf(vec![
            ("MUG", "BER", 10),
            ("MUG", "HAM", 2),
            ("MUG", "NYC", 100),
            ("TEA", "BER", 1),
            ("TEA", "HAM", 1),
        ]);
        let rules = ProcessRules {
            warehouses: vec![
                rule("HAM", &["DE"], 1),
                rule("BER", &["DE", "AT"], 2),
                rule("NYC", &["US"], 1),
            ],
            ..ProcessRules::default()
        };
        let lines = [(Sku::from("MUG"), 5), (Sku::from("TEA"), 3)];
        // MUG: HAM (priority 1) has 2, BER fills 5 alone. TEA: nobody fills 3; 1 + 1, and
        // with every candidate holding a share, the third is asked of the first share on top
        // (the view may lag; the graded reservation holds what HAM has).
        assert_eq!(
            planned(&plan(&lines, "DE", &rules, &shelf)),
            owned(&[("MUG", "BER", 5), ("TEA", "HAM", 2), ("TEA", "BER", 1)])
        );
        // Austria is served by BER only.
        assert_eq!(
            planned(&plan(&lines, "AT", &rules, &shelf)),
            owned(&[("MUG", "BER", 5), ("TEA", "BER", 3)])
        );
        // Nobody ships to France: nothing planned, everything short.
        assert!(plan(&lines, "FR", &rules, &shelf).is_empty());
        // Unknown stock: planned whole at the first candidate, which will answer.
        let unknown = [(Sku::from("NEW"), 4)];
        assert_eq!(
            planned(&plan(&unknown, "DE", &rules, &shelf)),
            owned(&[("NEW", "HAM", 4)])
        );
    }

    /// A view that knows the warehouses but lags their receipts.
    struct Lagging(Shelf, Vec<&'static str>);

    impl StockView for Lagging {
        fn stocked(&self, sku: &Sku) -> Vec<(WarehouseId, u64)> {
            self.0.stocked(sku)
        }

        fn warehouses(&self) -> Vec<WarehouseId> {
            self.1.iter().map(|w| WarehouseId::from(*w)).collect()
        }
    }

    #[test]
    fn a_lagging_view_never_makes_a_line_short_by_itself() {
        let rules = ProcessRules::default();
        // A SKU whose receipt the view has not seen: asked of the known warehouses' first.
        let view = Lagging(Shelf(vec![("MUG", "HAM", 3)]), vec!["HAM", "BER"]);
        assert_eq!(
            planned(&plan(&[(Sku::from("NEW"), 2)], "DE", &rules, &view)),
            owned(&[("NEW", "BER", 2)])
        );
        // Fewer units in the view than ordered: the rest is asked for at a warehouse it gave
        // nothing.
        assert_eq!(
            planned(&plan(&[(Sku::from("MUG"), 5)], "DE", &rules, &view)),
            owned(&[("MUG", "HAM", 3), ("MUG", "BER", 2)])
        );
        // Nowhere known at all: nothing to ask.
        assert!(plan(&[(Sku::from("NEW"), 2)], "DE", &rules, &Shelf(vec![])).is_empty());
    }

    #[test]
    fn without_a_table_the_warehouse_with_most_stock_goes_first() {
        let shelf = Shelf(vec![("MUG", "BER", 3), ("MUG", "HAM", 4)]);
        let rules = ProcessRules::default();
        assert_eq!(
            planned(&plan(&[(Sku::from("MUG"), 4)], "DE", &rules, &shelf)),
            owned(&[("MUG", "HAM", 4)])
        );
        assert_eq!(
            planned(&plan(&[(Sku::from("MUG"), 6)], "DE", &rules, &shelf)),
            owned(&[("MUG", "HAM", 4), ("MUG", "BER", 2)])
        );
        assert!(plan(&[(Sku::from("NONE"), 1)], "DE", &rules, &shelf).is_empty());
    }
}
