//! The stock item aggregate: one SKU in one warehouse, with its reservations.
//!
//! Invariants, checked by [`StockItem::check_invariants`] and asserted in [`apply`]:
//! `reserved = Σ active reservations`, `available = on_hand − reserved ≥ 0`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::fits;
use crate::ids::{OrderId, ReturnId, ShipmentId, StockKey, WaveId};
use crate::message::message_set;
use crate::rejection::{ensure, Rejection, Rule};
use crate::validate::{self, NOTE_MAX, SHORT_TEXT_MAX};

/// Most units one stock item can hold: bounds every sum so nothing overflows.
pub const ON_HAND_MAX: u64 = 1_000_000_000_000;

macro_rules! stock_message {
    ($($item:item)+) => {
        $(
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            $item
        )+
    };
}

/// Why a reservation is released.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseReason {
    OrderCancelled,
    /// The reservation's expiry passed without payment.
    Expired,
    /// Another line of the order was short and the order will not take this one.
    ShortElsewhere,
}

stock_message! {
    /// Goods arrived at the warehouse (purchase delivery, transfer in).
    pub struct ReceiveStock {
        pub item: StockKey,
        pub quantity: u32,
        /// The delivery note or transfer reference.
        pub reference: String,
    }

    /// A cycle count: set on hand to what was counted.
    pub struct AdjustStock {
        pub item: StockKey,
        pub counted_quantity: u64,
        pub reason: String,
    }

    /// Set the level below which the item counts as low on stock.
    pub struct SetSafetyStock {
        pub item: StockKey,
        pub quantity: u64,
    }

    /// Hold units for an order until `expires_at`.
    pub struct ReserveStock {
        pub item: StockKey,
        pub order_id: OrderId,
        pub quantity: u32,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub expires_at: DateTime<Utc>,
        /// Hold fewer than `quantity` when no more is available, but at least this many.
        /// Absent: all of `quantity` or nothing. (The order process asks with `1`: whatever
        /// the item has counts towards the line.)
        #[serde(default)]
        pub minimum: Option<u32>,
    }

    /// Give an order's held units back.
    pub struct ReleaseReservation {
        pub item: StockKey,
        pub order_id: OrderId,
        pub reason: ReleaseReason,
    }

    /// Units of a reservation leave with a shipment: on hand and reserved both go down.
    pub struct CommitReservation {
        pub item: StockKey,
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        pub quantity: u32,
    }

    /// Returned goods back on the shelf.
    pub struct RestockReturn {
        pub item: StockKey,
        pub order_id: OrderId,
        pub return_id: ReturnId,
        pub quantity: u32,
    }

    /// Where the item is kept in its warehouse: the bin a picker goes to. Pick lists are
    /// sorted by it.
    pub struct SetBinLocation {
        pub item: StockKey,
        /// The bin's code, e.g. `A-03-12` (aisle, rack, shelf): 1-32 printable characters.
        pub bin: String,
    }

    /// A cycle count: what is in the bin, counted, against the book's units in the bin (on
    /// hand less the units picked for orders and not yet shipped, at the pack station). The
    /// difference is posted as an adjustment with the reason. Refused while a wave is picking
    /// the item.
    pub struct CountStock {
        pub item: StockKey,
        pub counted_quantity: u64,
        pub reason: String,
    }

    /// A wave is picking units of the item (issued by the order process when the wave is
    /// planned).
    pub struct StartPicks {
        pub item: StockKey,
        pub wave_id: WaveId,
        pub quantity: u64,
    }

    /// A wave picked every line of the item (issued by the order process).
    pub struct FinishPicks {
        pub item: StockKey,
        pub wave_id: WaveId,
        /// Units actually picked (fewer than started: short picks).
        pub picked_quantity: u64,
        /// The units picked, by order: they leave the bin for the pack station until the
        /// order ships (or is cancelled and they go back).
        pub orders: Vec<OrderUnits>,
    }

    pub struct BinLocationSet {
        pub bin: String,
    }

    pub struct StockCounted {
        /// Units in the bin by the book when counted: on hand less the units at the pack
        /// station.
        pub book_quantity: u64,
        pub counted_quantity: u64,
        /// Counted minus book: the adjustment posted.
        pub difference: i64,
        pub reason: String,
    }

    pub struct PicksStarted {
        pub wave_id: WaveId,
        pub quantity: u64,
    }

    pub struct PicksFinished {
        pub wave_id: WaveId,
        pub quantity: u64,
        pub picked_quantity: u64,
        /// The units now at the pack station, by order: what each order picked, at most what
        /// it holds reserved (an order cancelled meanwhile holds nothing: its units go back
        /// to the bin).
        pub staged: Vec<OrderUnits>,
    }

    pub struct StockReceived {
        pub quantity: u32,
        pub reference: String,
    }

    pub struct StockAdjusted {
        pub previous_on_hand: u64,
        pub counted_quantity: u64,
        pub reason: String,
    }

    pub struct SafetyStockSet {
        pub quantity: u64,
    }

    pub struct StockReserved {
        pub order_id: OrderId,
        pub quantity: u32,
        #[serde(deserialize_with = "crate::wire::time")]
        #[schemars(with = "chrono::DateTime<chrono::Utc>")]
        pub expires_at: DateTime<Utc>,
    }

    pub struct ReservationReleased {
        pub order_id: OrderId,
        pub quantity: u32,
        pub reason: ReleaseReason,
    }

    pub struct ReservationCommitted {
        pub order_id: OrderId,
        pub shipment_id: ShipmentId,
        pub quantity: u32,
    }

    pub struct StockRestocked {
        pub order_id: OrderId,
        pub return_id: ReturnId,
        pub quantity: u32,
    }
}

message_set! {
    /// Every command the stock item aggregate decides.
    pub enum StockCommand {
        ReceiveStock = 1,
        AdjustStock = 1,
        SetSafetyStock = 1,
        ReserveStock = 2,
        ReleaseReservation = 1,
        CommitReservation = 1,
        RestockReturn = 1,
        SetBinLocation = 1,
        CountStock = 1,
        StartPicks = 1,
        FinishPicks = 2,
    }
}

message_set! {
    /// Every event of the stock item aggregate, with its current schema version.
    pub enum StockEvent {
        StockReceived = 1,
        StockAdjusted = 1,
        SafetyStockSet = 1,
        StockReserved = 1,
        ReservationReleased = 1,
        ReservationCommitted = 1,
        StockRestocked = 1,
        BinLocationSet = 1,
        StockCounted = 1,
        PicksStarted = 1,
        PicksFinished = 2,
    }
}

impl StockCommand {
    /// The stock item the command addresses.
    pub fn item(&self) -> &StockKey {
        match self {
            StockCommand::ReceiveStock(c) => &c.item,
            StockCommand::AdjustStock(c) => &c.item,
            StockCommand::SetSafetyStock(c) => &c.item,
            StockCommand::ReserveStock(c) => &c.item,
            StockCommand::ReleaseReservation(c) => &c.item,
            StockCommand::CommitReservation(c) => &c.item,
            StockCommand::RestockReturn(c) => &c.item,
            StockCommand::SetBinLocation(c) => &c.item,
            StockCommand::CountStock(c) => &c.item,
            StockCommand::StartPicks(c) => &c.item,
            StockCommand::FinishPicks(c) => &c.item,
        }
    }
}

/// Units of the item for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderUnits {
    pub order_id: OrderId,
    pub quantity: u64,
}

/// Units held for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub quantity: u32,
    pub expires_at: DateTime<Utc>,
}

/// The state of one stock item, as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StockItem {
    /// Units physically in the warehouse, reserved or not.
    pub on_hand: u64,
    /// Below this many available units the item is low on stock.
    pub safety_stock: u64,
    /// Active reservations by order.
    pub reservations: BTreeMap<OrderId, Reservation>,
    /// Where it is kept in the warehouse, once set.
    pub bin: Option<String>,
    /// Units waves are picking, by wave, until each has picked all its lines of the item.
    pub picking: BTreeMap<WaveId, u64>,
    /// Units picked for an order and not yet shipped, by order: at the pack station, out of
    /// the bin, still on hand and reserved. Never more than the order's reservation.
    pub staged: BTreeMap<OrderId, u64>,
}

impl StockItem {
    /// Units held by active reservations.
    pub fn reserved(&self) -> u64 {
        self.reservations
            .values()
            .map(|r| u64::from(r.quantity))
            .sum()
    }

    /// Units at the pack station (picked, not yet shipped).
    pub fn staged_total(&self) -> u64 {
        self.staged.values().sum()
    }

    /// Units in the bin by the book: on hand less those at the pack station.
    pub fn in_bin(&self) -> u64 {
        self.on_hand.saturating_sub(self.staged_total())
    }

    /// Units the order holds reserved here (0 without a reservation).
    fn held(&self, order_id: &OrderId) -> u64 {
        self.reservations
            .get(order_id)
            .map_or(0, |r| u64::from(r.quantity))
    }

    /// Keeps the order's staged units within its reservation (a commit or release lowers it).
    fn settle_staged(&mut self, order_id: &OrderId) {
        let units = self
            .staged
            .get(order_id)
            .map_or(0, |&units| units.min(self.held(order_id)));
        if units == 0 {
            self.staged.remove(order_id);
        } else {
            self.staged.insert(*order_id, units);
        }
    }

    /// Units free to reserve.
    pub fn available(&self) -> u64 {
        self.on_hand - self.reserved()
    }

    pub fn is_low(&self) -> bool {
        self.available() < self.safety_stock
    }

    pub fn check_invariants(&self) -> Result<(), String> {
        if self.reserved() > self.on_hand {
            return Err(format!(
                "reserved {} exceeds on hand {}",
                self.reserved(),
                self.on_hand
            ));
        }
        if self.on_hand > ON_HAND_MAX {
            return Err(format!("on hand {} above the maximum", self.on_hand));
        }
        if self.reservations.values().any(|r| r.quantity == 0) {
            return Err("an empty reservation is kept".to_owned());
        }
        for (order_id, units) in &self.staged {
            let held = self.held(order_id);
            if *units == 0 || *units > held {
                return Err(format!("{units} staged for {order_id}, {held} reserved"));
            }
        }
        Ok(())
    }

    fn reservation(&self, order_id: &OrderId) -> Result<&Reservation, Rejection> {
        self.reservations.get(order_id).ok_or_else(|| {
            Rejection::new(
                Rule::ReservationNotFound,
                format!("order {order_id} holds no reservation here"),
            )
        })
    }
}

fn check_item(item: &StockKey) -> Result<(), Rejection> {
    validate::sku(&item.sku)?;
    validate::warehouse(&item.warehouse)
}

fn check_room(state: &StockItem, adding: u64) -> Result<(), Rejection> {
    ensure(
        state.on_hand + adding <= ON_HAND_MAX,
        Rule::QuantityExceedsMaximum,
        || format!("on hand would exceed {ON_HAND_MAX}"),
    )
}

/// Decides `command` against `state`. Pure.
pub fn decide(
    state: &StockItem,
    command: &StockCommand,
    context: &Context,
) -> Result<Vec<StockEvent>, Rejection> {
    let policy = &context.policy;
    check_item(command.item())?;
    let event: StockEvent = match command {
        StockCommand::ReceiveStock(c) => {
            validate::quantity("quantity", u64::from(c.quantity), policy)?;
            validate::required_text("reference", &c.reference, SHORT_TEXT_MAX)?;
            check_room(state, u64::from(c.quantity))?;
            StockReceived {
                quantity: c.quantity,
                reference: c.reference.clone(),
            }
            .into()
        }
        StockCommand::AdjustStock(c) => {
            validate::required_text("reason", &c.reason, NOTE_MAX)?;
            check_counted(state, c.counted_quantity, 0)?;
            StockAdjusted {
                previous_on_hand: state.on_hand,
                counted_quantity: c.counted_quantity,
                reason: c.reason.clone(),
            }
            .into()
        }
        StockCommand::SetSafetyStock(c) => {
            ensure(
                c.quantity <= ON_HAND_MAX,
                Rule::QuantityExceedsMaximum,
                || format!("safety stock {} exceeds {ON_HAND_MAX}", c.quantity),
            )?;
            SafetyStockSet {
                quantity: c.quantity,
            }
            .into()
        }
        StockCommand::ReserveStock(c) => {
            validate::quantity("quantity", u64::from(c.quantity), policy)?;
            let minimum = c.minimum.unwrap_or(c.quantity);
            ensure(
                (1..=c.quantity).contains(&minimum),
                Rule::ReservationMinimumInvalid,
                || format!("minimum {minimum} of {} asked", c.quantity),
            )?;
            if let Some(existing) = state.reservations.get(&c.order_id) {
                // A retried reservation is idempotent; a different one is a conflict.
                ensure(
                    (minimum..=c.quantity).contains(&existing.quantity),
                    Rule::ReservationConflict,
                    || {
                        format!(
                            "order {} holds {}, asks for {minimum} to {}",
                            c.order_id, existing.quantity, c.quantity
                        )
                    },
                )?;
                return Ok(Vec::new());
            }
            ensure(
                c.expires_at > context.now,
                Rule::ReservationExpiryNotInFuture,
                || format!("expiry {} is not after {}", c.expires_at, context.now),
            )?;
            let available = state.available();
            ensure(
                u64::from(minimum) <= available,
                Rule::StockInsufficient,
                || {
                    format!(
                        "asks for {minimum} to {}, {available} available",
                        c.quantity
                    )
                },
            )?;
            let granted = u32::try_from(available.min(u64::from(c.quantity)))
                .expect("at most the quantity asked");
            StockReserved {
                order_id: c.order_id,
                quantity: granted,
                expires_at: c.expires_at,
            }
            .into()
        }
        StockCommand::ReleaseReservation(c) => {
            let reservation = state.reservation(&c.order_id)?;
            if c.reason == ReleaseReason::Expired {
                ensure(
                    context.now >= reservation.expires_at,
                    Rule::ReservationNotExpired,
                    || {
                        format!(
                            "expires at {}; it is {}",
                            reservation.expires_at, context.now
                        )
                    },
                )?;
            }
            ReservationReleased {
                order_id: c.order_id,
                quantity: reservation.quantity,
                reason: c.reason,
            }
            .into()
        }
        StockCommand::CommitReservation(c) => {
            validate::required_text("shipment_id", c.shipment_id.as_str(), SHORT_TEXT_MAX)?;
            validate::quantity("quantity", u64::from(c.quantity), policy)?;
            let reservation = state.reservation(&c.order_id)?;
            ensure(
                c.quantity <= reservation.quantity,
                Rule::CommitExceedsReservation,
                || format!("commits {}, {} reserved", c.quantity, reservation.quantity),
            )?;
            ReservationCommitted {
                order_id: c.order_id,
                shipment_id: c.shipment_id.clone(),
                quantity: c.quantity,
            }
            .into()
        }
        StockCommand::RestockReturn(c) => {
            validate::required_text("return_id", c.return_id.as_str(), SHORT_TEXT_MAX)?;
            validate::quantity("quantity", u64::from(c.quantity), policy)?;
            check_room(state, u64::from(c.quantity))?;
            StockRestocked {
                order_id: c.order_id,
                return_id: c.return_id.clone(),
                quantity: c.quantity,
            }
            .into()
        }
        StockCommand::SetBinLocation(c) => {
            validate::required_text("bin", &c.bin, 32)?;
            BinLocationSet { bin: c.bin.clone() }.into()
        }
        StockCommand::CountStock(c) => count_stock(state, c)?.into(),
        StockCommand::StartPicks(c) => {
            by_system(context, "StartPicks")?;
            ensure(
                !state.picking.contains_key(&c.wave_id),
                Rule::WaveAlreadyPlanned,
                || format!("wave {} is picking this item already", c.wave_id),
            )?;
            PicksStarted {
                wave_id: c.wave_id.clone(),
                quantity: c.quantity,
            }
            .into()
        }
        StockCommand::FinishPicks(c) => {
            by_system(context, "FinishPicks")?;
            let Some(&quantity) = state.picking.get(&c.wave_id) else {
                return Err(Rejection::new(
                    Rule::WaveNotFound,
                    format!("wave {} is not picking this item", c.wave_id),
                ));
            };
            PicksFinished {
                wave_id: c.wave_id.clone(),
                quantity,
                picked_quantity: c.picked_quantity,
                staged: staged_picks(state, &c.orders),
            }
            .into()
        }
    };
    Ok(vec![event])
}

/// The order process's own commands.
fn by_system(context: &Context, command: &str) -> Result<(), Rejection> {
    ensure(
        context.actor.kind == crate::ActorKind::System,
        Rule::ActorNotPermitted,
        || format!("{command} is issued by the order process from a wave"),
    )
}

/// The units a wave's picks put at the pack station: each order's picks (merged), at most
/// what it holds reserved less what it has there already.
fn staged_picks(state: &StockItem, orders: &[OrderUnits]) -> Vec<OrderUnits> {
    let mut picked: BTreeMap<OrderId, u64> = BTreeMap::new();
    for units in orders {
        let sum = picked.entry(units.order_id).or_default();
        *sum = sum.saturating_add(units.quantity);
    }
    picked
        .into_iter()
        .filter_map(|(order_id, units)| {
            let held = state.held(&order_id);
            let there = state.staged.get(&order_id).copied().unwrap_or(0);
            let quantity = units.min(held.saturating_sub(there));
            (quantity > 0).then_some(OrderUnits { order_id, quantity })
        })
        .collect()
}

/// A counted quantity the item can hold, and no fewer than its reservations hold — less the
/// reserved units `elsewhere` (at the pack station, for a count of the bin).
fn check_counted(state: &StockItem, counted: u64, elsewhere: u64) -> Result<(), Rejection> {
    ensure(counted <= ON_HAND_MAX, Rule::QuantityExceedsMaximum, || {
        format!("counted {counted} exceeds {ON_HAND_MAX}")
    })?;
    let reserved = state.reserved() - elsewhere;
    ensure(counted >= reserved, Rule::AdjustmentBelowReserved, || {
        format!("counted {counted}, but {reserved} are reserved")
    })
}

/// A count of the bin: against the book's units in the bin, the pack station's left aside.
fn count_stock(state: &StockItem, c: &CountStock) -> Result<StockCounted, Rejection> {
    validate::required_text("reason", &c.reason, NOTE_MAX)?;
    ensure(state.picking.is_empty(), Rule::PicksInProgress, || {
        let waves: Vec<&str> = state.picking.keys().map(WaveId::as_str).collect();
        format!("waves {} are picking this item", waves.join(", "))
    })?;
    let staged = state.staged_total();
    check_counted(state, c.counted_quantity, staged)?;
    ensure(
        c.counted_quantity + staged <= ON_HAND_MAX,
        Rule::QuantityExceedsMaximum,
        || {
            format!(
                "counted {} and {staged} staged exceed {ON_HAND_MAX}",
                c.counted_quantity
            )
        },
    )?;
    let book = state.in_bin();
    let difference = i64::try_from(c.counted_quantity).expect("bounded by ON_HAND_MAX")
        - i64::try_from(book).expect("bounded by ON_HAND_MAX");
    Ok(StockCounted {
        book_quantity: book,
        counted_quantity: c.counted_quantity,
        difference,
        reason: c.reason.clone(),
    })
}

/// Folds one event into the state. Infallible; an event that breaks an invariant is a bug.
pub fn apply(state: &mut StockItem, event: &StockEvent) {
    if let Err(broken) = try_apply(state, event) {
        panic!("{broken}");
    }
}

/// The checked fold, for histories read from outside (the verifier): an event that does not
/// fit the state is the `Err`, described, and the state is then half-changed (to be dropped).
pub fn try_apply(state: &mut StockItem, event: &StockEvent) -> Result<(), String> {
    match event {
        StockEvent::StockReceived(e) => {
            state.on_hand = state.on_hand.saturating_add(u64::from(e.quantity));
        }
        StockEvent::StockAdjusted(e) => {
            fits(e.counted_quantity >= state.reserved(), || {
                "adjusted below reserved".into()
            })?;
            state.on_hand = e.counted_quantity;
        }
        StockEvent::SafetyStockSet(e) => state.safety_stock = e.quantity,
        StockEvent::StockReserved(e) => {
            fits(u64::from(e.quantity) <= state.available(), || {
                "reservation oversells".into()
            })?;
            let previous = state.reservations.insert(
                e.order_id,
                Reservation {
                    quantity: e.quantity,
                    expires_at: e.expires_at,
                },
            );
            fits(previous.is_none(), || {
                "second reservation for one order".into()
            })?;
        }
        StockEvent::ReservationReleased(e) => {
            let released = state.reservations.remove(&e.order_id);
            fits(released.is_some(), || {
                "released a reservation that does not exist".into()
            })?;
            // Its picked units go back to the bin.
            state.settle_staged(&e.order_id);
        }
        StockEvent::ReservationCommitted(e) => {
            let reservation = state
                .reservations
                .get_mut(&e.order_id)
                .ok_or("committed a reservation that does not exist")?;
            fits(e.quantity <= reservation.quantity, || {
                "committed above reserved".into()
            })?;
            reservation.quantity -= e.quantity;
            if reservation.quantity == 0 {
                state.reservations.remove(&e.order_id);
            }
            // Shipped: picked units leave the pack station first.
            if let Some(units) = state.staged.get_mut(&e.order_id) {
                *units = units.saturating_sub(u64::from(e.quantity));
            }
            state.settle_staged(&e.order_id);
            state.on_hand = state
                .on_hand
                .checked_sub(u64::from(e.quantity))
                .ok_or("committed more than on hand")?;
        }
        StockEvent::StockRestocked(e) => {
            state.on_hand = state.on_hand.saturating_add(u64::from(e.quantity));
        }
        StockEvent::BinLocationSet(e) => state.bin = Some(e.bin.clone()),
        StockEvent::StockCounted(e) => {
            fits(state.picking.is_empty(), || "counted while picking".into())?;
            fits(e.book_quantity == state.in_bin(), || {
                format!(
                    "counted against {} in the bin, the book has {}",
                    e.book_quantity,
                    state.in_bin()
                )
            })?;
            let on_hand = e.counted_quantity.saturating_add(state.staged_total());
            fits(on_hand >= state.reserved(), || {
                "counted below reserved".into()
            })?;
            state.on_hand = on_hand;
        }
        StockEvent::PicksStarted(e) => {
            let previous = state.picking.insert(e.wave_id.clone(), e.quantity);
            fits(previous.is_none(), || {
                format!("wave {} started twice", e.wave_id)
            })?;
        }
        StockEvent::PicksFinished(e) => {
            let started = state.picking.remove(&e.wave_id);
            fits(started.is_some(), || {
                format!("wave {} finished unstarted", e.wave_id)
            })?;
            for units in &e.staged {
                let staged = state.staged.entry(units.order_id).or_default();
                *staged += units.quantity;
                let staged = *staged;
                let held = state.held(&units.order_id);
                fits(staged <= held, || {
                    format!(
                        "{} staged for {}, {held} reserved",
                        units.quantity, units.order_id
                    )
                })?;
            }
        }
    }
    Ok(())
}

impl crate::Aggregate for StockItem {
    type Command = StockCommand;
    type Event = StockEvent;
    const KIND: crate::AggregateKind = crate::AggregateKind::StockItem;

    fn decide(
        &self,
        command: &StockCommand,
        context: &Context,
    ) -> Result<Vec<StockEvent>, Rejection> {
        decide(self, command, context)
    }

    fn apply(&mut self, event: &StockEvent) {
        apply(self, event)
    }

    fn check_invariants(&self) -> Result<(), String> {
        StockItem::check_invariants(self)
    }
}
