//! A seeded shop: realistic command traffic for `ledger demo` and the read side's tests.
//!
//! Pure like the rest of the crate: the randomness is a seeded generator, time is the caller's,
//! and what the shop does next depends only on the orders' states the caller shows it. Same
//! seed and same answers, same commands.
//!
//! Orders are placed in waves; each order draws its fate at placement (pays at once or in two
//! parts, fails payment, never pays, is cancelled, ships in one or two parcels, is delayed or
//! lost in transit, is returned or exchanged, reviews it, opens a claim) and then moves one step each time
//! the shop is stepped at or after its next action time. Stock arrives at the start and in
//! restocks, some SKUs are scarce so stock-outs happen.

mod warehouse;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::account::RecordCodRemittance;
use crate::context::{Actor, ActorKind};
use crate::envelope::{Command, CommandEnvelope};
use crate::ids::{
    CarrierId, Channel, ClaimId, CustomerId, MerchantId, OrderId, PaymentId, RefundId, ReturnId,
    ShipmentId, Sku, StockKey,
};
use crate::money::{Amount, Currency};
use crate::order::{
    Address, ApplyDiscount, CancelOrder, CancelReason, CapturePayment, CarrierExceptionKind,
    ClaimKind, ClaimRefund, ClaimRejection, ClaimReplacement, ClaimResolution,
    CollectCashOnDelivery, ConfirmReceipt, Discount, FailPayment, HoldReason, LineItem,
    LineQuantity, ModifyPrice, OpenClaim, Order, OrderCommand, OrderStatus, PaymentMethod,
    PaymentTerms, PlaceOrder, ReceiveReturn, RecordCarrierException, RecordDelivery, Refund,
    RefundReason, RefuseDelivery, ReleaseHold, RequestExchange, RequestReturn, ResolveClaim,
    ReturnDisposition, ReturnReason, ReviewOrder, ReviseReview, ServiceLevel, Ship,
};
use crate::stock::{ReceiveStock, SetSafetyStock, StockCommand};

/// A small, fast, seeded generator (SplitMix64): the same seed gives the same traffic on every
/// platform, with no dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no value to return");
        self.next_u64() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// The shape of the simulated shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopConfig {
    pub orders: u32,
    /// Orders placed together, every `wave_minutes`.
    pub wave_size: u32,
    pub wave_minutes: i64,
    pub merchants: u32,
    pub skus: u32,
    pub warehouses: Vec<String>,
    pub channels: Vec<String>,
    pub currency: Currency,
    /// The deployment has carrier rules, so half the parcels leave the carrier to them.
    pub carrier_rules: bool,
    /// The deployment offers cash on delivery on every channel up to this order total (its
    /// policy must say so too): some orders under it ask for it, and some of those, and a
    /// few prepaid ones, are refused at the door.
    pub cash_on_delivery_max: Option<Amount>,
    /// Paid orders go through the warehouse floor: pick waves, packing and weighing through
    /// the ledger (`Shop::warehouse_step` must be called too, with the catalog of
    /// `Shop::catalog` configured). Off: parcels ship straight from the order's lines.
    pub warehouse_flow: bool,
}

impl Default for ShopConfig {
    fn default() -> ShopConfig {
        ShopConfig {
            orders: 3000,
            wave_size: 200,
            wave_minutes: 360,
            merchants: 6,
            skus: 40,
            warehouses: vec!["BER-1".into(), "HAM-1".into()],
            channels: vec!["web".into(), "app".into(), "marketplace".into()],
            currency: Currency::EUR,
            carrier_rules: false,
            cash_on_delivery_max: None,
            warehouse_flow: false,
        }
    }
}

/// What an order will go through, drawn at placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fate {
    change_price: bool,
    discount: bool,
    split_payment: bool,
    fail_payment: bool,
    recover_payment: bool,
    abandon: bool,
    cancel: bool,
    partial_shipment: bool,
    named_carrier: bool,
    delay: bool,
    lose: bool,
    confirm: bool,
    feedback: bool,
    exchange: bool,
    ret: bool,
    /// Pays cash on delivery.
    cod: bool,
    /// Refuses the parcel at the door.
    refuse: bool,
    /// Chose express delivery: picked first.
    express: bool,
}

#[derive(Debug, Clone)]
struct SimOrder {
    id: OrderId,
    customer: String,
    fate: Fate,
    next_at: DateTime<Utc>,
    /// Steps taken; also numbers the order's payments, parcels, returns and refunds.
    steps: u32,
    changed_price: bool,
    failed: bool,
    returned: bool,
    delayed: bool,
    lost: bool,
    /// The rating the customer gave, once they reviewed.
    rating: Option<u8>,
    revised: bool,
    /// The claim the customer opens after a poor review, and how far it got.
    claim: Option<ClaimKind>,
    claim_opened: bool,
    claim_resolved: bool,
    /// Packed once with a wrong SKU (refused), on the floor.
    mispacked: bool,
}

/// The simulated shop. Step it with the current time and a way to see each order's state.
#[derive(Debug, Clone)]
pub struct Shop {
    config: ShopConfig,
    rng: SplitMix64,
    start: DateTime<Utc>,
    placed: u32,
    next_wave_at: DateTime<Utc>,
    active: Vec<SimOrder>,
    commands: u64,
    seed: u64,
    /// Cash-on-delivery collections sent, not yet remitted: (order, payment id, carrier,
    /// tracking number).
    collections: Vec<(OrderId, PaymentId, CarrierId, String)>,
    /// The warehouse floor, with `warehouse_flow`.
    floor: Option<warehouse::Floor>,
}

const STEP: i64 = 15;

/// One step of one order: the command to send (if any) and the minutes until its next step
/// (`None`: the order is done).
type Step = (Option<CommandEnvelope>, Option<i64>);
/// Steps after which the shop gives up on an order (far more than any journey takes).
const STEPS_MAX: u32 = 60;

/// Rounds up to the shop's 15-minute grid, so orders' actions gather into few distinct times.
fn on_grid(at: DateTime<Utc>) -> DateTime<Utc> {
    let minutes = at.timestamp().div_euclid(60);
    let rounded = (minutes + STEP - 1).div_euclid(STEP) * STEP;
    DateTime::from_timestamp(rounded * 60, 0).expect("in range")
}

impl Shop {
    pub fn new(seed: u64, config: ShopConfig, start: DateTime<Utc>) -> Shop {
        let start = on_grid(start);
        Shop {
            rng: SplitMix64::new(seed),
            start,
            placed: 0,
            next_wave_at: start,
            active: Vec::new(),
            commands: 0,
            collections: Vec::new(),
            floor: config.warehouse_flow.then(|| warehouse::Floor::new(start)),
            seed,
            config,
        }
    }

    pub fn config(&self) -> &ShopConfig {
        &self.config
    }

    pub fn placed(&self) -> u32 {
        self.placed
    }

    /// Orders still moving.
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// When the shop next has something to do; `None` once every order is done.
    pub fn next_time(&self) -> Option<DateTime<Utc>> {
        let wave = (self.placed < self.config.orders).then_some(self.next_wave_at);
        let order = self.active.iter().map(|o| o.next_at).min();
        let next = match (wave, order) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }?;
        // The floor works while orders move.
        Some(match &self.floor {
            Some(floor) => next.min(floor.next_time()),
            None => next,
        })
    }

    fn envelope(
        &mut self,
        kind: ActorKind,
        actor: &str,
        now: DateTime<Utc>,
        command: Command,
    ) -> CommandEnvelope {
        self.commands += 1;
        let id = Uuid::from_u64_pair(self.seed ^ 0x5e0d_5e0d_0000_0000, self.commands);
        CommandEnvelope {
            command_id: id,
            correlation_id: id,
            causation_id: None,
            actor: Actor::new(kind, actor),
            issued_at: now,
            command,
        }
    }

    fn sku(&self, n: u32) -> Sku {
        Sku::new(format!("SKU-{n:03}"))
    }

    /// Unit price of a SKU: fixed per SKU, 5.00 to 124.50.
    fn price(&self, n: u32) -> Amount {
        Amount(Decimal::new(500 + i64::from(n * 7919 % 240) * 50, 2))
    }

    /// Stock deliveries and safety stock at the start: some SKUs are scarce.
    pub fn opening_stock(&mut self, now: DateTime<Utc>) -> Vec<CommandEnvelope> {
        let mut commands = Vec::new();
        for n in 0..self.config.skus {
            for w in 0..self.config.warehouses.len() {
                let warehouse = self.config.warehouses[w].clone();
                let item = StockKey::new(self.sku(n).0, warehouse.clone());
                let quantity = if n % 7 == 3 {
                    5
                } else {
                    60 + self.rng.below(120) as u32
                };
                let receive = StockCommand::from(ReceiveStock {
                    item: item.clone(),
                    quantity,
                    reference: format!("PO-OPEN-{n}-{warehouse}"),
                });
                commands.push(self.envelope(ActorKind::Service, "wms", now, receive.into()));
                let safety = StockCommand::from(SetSafetyStock { item, quantity: 10 });
                commands.push(self.envelope(ActorKind::Staff, "planner", now, safety.into()));
            }
        }
        if self.floor.is_some() {
            commands.extend(self.bin_locations(now));
        }
        commands
    }

    /// Everything the shop does at `now`: a new wave of orders when due, restocks, and the
    /// next step of every order whose time has come. `order_of` shows an order's state.
    pub fn step(
        &mut self,
        now: DateTime<Utc>,
        order_of: &dyn Fn(OrderId) -> Option<Order>,
    ) -> Vec<CommandEnvelope> {
        let mut commands = Vec::new();
        if self.placed < self.config.orders && now >= self.next_wave_at {
            let wave = self.config.wave_size.min(self.config.orders - self.placed);
            for _ in 0..wave {
                commands.push(self.place(now));
            }
            // Stock keeps arriving with the waves, a little less than is sold.
            for _ in 0..self.config.skus / 4 {
                let n = self.rng.below(u64::from(self.config.skus)) as u32;
                let warehouse = self.rng.pick(&self.config.warehouses).clone();
                let quantity = 10 + self.rng.below(40) as u32;
                let receive = StockCommand::from(ReceiveStock {
                    item: StockKey::new(self.sku(n).0, warehouse),
                    quantity,
                    reference: format!("PO-{}-{n}", self.placed),
                });
                commands.push(self.envelope(ActorKind::Service, "wms", now, receive.into()));
            }
            self.next_wave_at = now + Duration::minutes(self.config.wave_minutes);
        }
        let mut active = std::mem::take(&mut self.active);
        for order in &mut active {
            if order.next_at > now {
                continue;
            }
            let state = order_of(order.id);
            let (command, wait_minutes) = if order.steps >= STEPS_MAX {
                // Something keeps refusing this order's next step; a real shop would escalate.
                (None, None)
            } else {
                self.advance(order, state.as_ref(), now)
            };
            order.steps += 1;
            if let Some(command) = command {
                commands.push(command);
            }
            order.next_at = match wait_minutes {
                Some(minutes) => on_grid(now + Duration::minutes(minutes)),
                None => DateTime::<Utc>::MAX_UTC,
            };
        }
        active.retain(|o| o.next_at != DateTime::<Utc>::MAX_UTC);
        self.active = active;
        commands
    }

    fn place(&mut self, now: DateTime<Utc>) -> CommandEnvelope {
        self.placed += 1;
        let n = self.placed;
        let channel = self.rng.pick(&self.config.channels).clone();
        let reference = format!("SIM-{}-{n}", self.seed);
        let id = OrderId::for_external_reference(&channel, &reference);
        let customer = format!(
            "cust-{}",
            self.rng.below(u64::from(self.config.orders / 3 + 1))
        );
        let merchant = format!(
            "merchant-{}",
            self.rng.below(u64::from(self.config.merchants))
        );
        let line_count = 1 + self.rng.below(3) as u32;
        let mut skus: Vec<u32> = Vec::new();
        while skus.len() < line_count as usize {
            let sku = self.rng.below(u64::from(self.config.skus)) as u32;
            if !skus.contains(&sku) {
                skus.push(sku);
            }
        }
        let lines: Vec<LineItem> = skus
            .iter()
            .map(|&sku| LineItem {
                sku: self.sku(sku),
                quantity: 1 + self.rng.below(3) as u32,
                unit_price: self.price(sku),
            })
            .collect();
        let shipping_fee = Amount(Decimal::new(490, 2));
        let total = lines
            .iter()
            .map(|l| l.unit_price.times(l.quantity))
            .sum::<Amount>()
            + shipping_fee;
        let cod_offered = self
            .config
            .cash_on_delivery_max
            .is_some_and(|max| total <= max);
        let r = &mut self.rng;
        let cod = cod_offered && r.chance(20);
        let refuse = r.chance(if cod { 15 } else { 2 });
        let fate = Fate {
            change_price: r.chance(4),
            discount: r.chance(8),
            split_payment: r.chance(15),
            fail_payment: r.chance(6),
            recover_payment: r.chance(60),
            abandon: r.chance(4),
            cancel: r.chance(3),
            // A cash-on-delivery order ships in one parcel; a refused one too.
            partial_shipment: r.chance(25) && !cod && !refuse,
            named_carrier: r.chance(50),
            delay: r.chance(10),
            lose: r.chance(2),
            confirm: r.chance(55),
            feedback: r.chance(50),
            exchange: r.chance(3),
            ret: r.chance(10),
            cod,
            refuse,
            express: r.chance(15),
        };
        self.active.push(SimOrder {
            id,
            customer: customer.clone(),
            fate,
            next_at: on_grid(now + Duration::minutes(1)),
            steps: 0,
            changed_price: false,
            failed: false,
            returned: false,
            delayed: false,
            lost: false,
            rating: None,
            revised: false,
            claim: None,
            claim_opened: false,
            claim_resolved: false,
            mispacked: false,
        });
        let command = OrderCommand::from(PlaceOrder {
            channel: Channel::new(channel),
            external_reference: reference,
            customer_id: CustomerId::new(customer.clone()),
            merchant_id: MerchantId::new(merchant),
            currency: self.config.currency,
            lines,
            shipping_fee,
            discounts: Vec::new(),
            shipping_address: Address {
                recipient: format!("Customer {customer}"),
                phone: "+49 30 555 0100".into(),
                street: "Alexanderplatz 1".into(),
                city: "Berlin".into(),
                postal_code: "10178".into(),
                country: "DE".into(),
            },
            payment_terms: if fate.cod {
                PaymentTerms::CashOnDelivery
            } else {
                PaymentTerms::Prepaid
            },
            service_level: if fate.express {
                ServiceLevel::Express
            } else {
                ServiceLevel::Standard
            },
        });
        self.envelope(ActorKind::Customer, &customer, now, command.into())
    }

    /// One step of one order: the command to send (if any) and the minutes until its next
    /// step (`None`: the order is done).
    fn advance(&mut self, sim: &mut SimOrder, state: Option<&Order>, now: DateTime<Utc>) -> Step {
        let Some(state) = state else {
            // Not placed (yet): the placement was refused or is still on its way.
            return (None, (sim.steps < 3).then_some(STEP));
        };
        let refundable = state.captured() - state.refunded();
        match state.status {
            OrderStatus::Initial | OrderStatus::Placed => (None, Some(STEP)),
            OrderStatus::Backordered => self.backordered(sim, now),
            OrderStatus::AwaitingPayment | OrderStatus::PartiallyPaid => {
                self.paying(sim, state, now)
            }
            OrderStatus::OnHold => self.on_hold(sim, state, now),
            OrderStatus::Paid | OrderStatus::ReadyToShip | OrderStatus::PartiallyShipped => {
                self.shipping(sim, state, now)
            }
            OrderStatus::Shipped => self.deliver(sim, state, now),
            OrderStatus::Delivered | OrderStatus::Completed => self.after_delivery(sim, state, now),
            OrderStatus::ReturnRequested => self.receiving_return(sim, state, now),
            OrderStatus::PartiallyReturned | OrderStatus::Returned => {
                self.refunding_return(sim, state, now)
            }
            // Refused at the door: the parcel comes back, then the money.
            OrderStatus::Cancelled if state.returns.iter().any(|r| r.disposition.is_none()) => {
                self.receiving_return(sim, state, now)
            }
            OrderStatus::Cancelled if refundable.is_positive() => {
                self.refunding_cancellation(sim, state, now)
            }
            OrderStatus::Cancelled | OrderStatus::Expired | OrderStatus::Refunded => (None, None),
        }
    }

    /// The envelope of `command` from `actor`, sent now, and the minutes until the order's
    /// next step (`None`: it is done).
    fn send(
        &mut self,
        now: DateTime<Utc>,
        kind: ActorKind,
        actor: &str,
        command: OrderCommand,
        wait: Option<i64>,
    ) -> Step {
        (Some(self.envelope(kind, actor, now, command.into())), wait)
    }

    /// A backordered order waits for stock, and its customer gives up after a while.
    fn backordered(&mut self, sim: &mut SimOrder, now: DateTime<Utc>) -> Step {
        if sim.steps > 12 {
            self.customer_cancels(sim, now, "waited too long")
        } else {
            (None, Some(60))
        }
    }

    /// An order awaiting payment: abandoned, cancelled, repriced, a failed payment, or a
    /// capture (in part, for split payments).
    fn paying(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let id = sim.id;
        let n = sim.steps;
        let outstanding = state.total() - state.captured();
        if sim.fate.abandon {
            // Never pays: the payment deadline expires it.
            return (None, Some(60));
        }
        if sim.fate.cancel {
            return self.customer_cancels(sim, now, "");
        }
        if state.status == OrderStatus::AwaitingPayment
            && !sim.changed_price
            && (sim.fate.change_price || sim.fate.discount)
        {
            sim.changed_price = true;
            let command: OrderCommand = if sim.fate.discount {
                ApplyDiscount {
                    order_id: id,
                    discount: Discount {
                        code: format!("WELCOME-{n}"),
                        amount: Amount(Decimal::new(300, 2)),
                    },
                }
                .into()
            } else {
                let line = &state.lines[0];
                ModifyPrice {
                    order_id: id,
                    sku: line.sku.clone(),
                    unit_price: Amount(line.unit_price.0 - Decimal::ONE),
                    reason: "price match".into(),
                }
                .into()
            };
            return self.send(now, ActorKind::Staff, "cs-agent", command, Some(STEP));
        }
        if sim.fate.fail_payment && !sim.failed {
            sim.failed = true;
            return self.send(
                now,
                ActorKind::Service,
                "psp-bridge",
                FailPayment {
                    order_id: id,
                    payment_id: PaymentId::new(format!("pay-{n}")),
                    reason: "card declined".into(),
                }
                .into(),
                Some(STEP),
            );
        }
        let amount = if sim.fate.split_payment
            && state.captured().0.is_zero()
            && outstanding.0 > Decimal::from(20)
        {
            Amount(Decimal::from(20))
        } else {
            outstanding
        };
        let method = if amount == outstanding {
            PaymentMethod::Card
        } else {
            PaymentMethod::GiftCard
        };
        self.send(
            now,
            ActorKind::Service,
            "psp-bridge",
            CapturePayment {
                order_id: id,
                payment_id: PaymentId::new(format!("pay-{n}")),
                method,
                amount,
                currency: self.config.currency,
                psp_reference: format!("psp-{}-{n}", id.0.simple()),
            }
            .into(),
            Some(STEP),
        )
    }

    /// An order on hold: cancelled after a failed payment that is not recovered, else released.
    fn on_hold(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let id = sim.id;
        match state.hold.map(|h| h.reason) {
            Some(HoldReason::PaymentFailed) if !sim.fate.recover_payment => self.send(
                now,
                ActorKind::Staff,
                "cs-agent",
                CancelOrder {
                    order_id: id,
                    reason: CancelReason::PaymentFailed,
                    note: String::new(),
                }
                .into(),
                Some(STEP),
            ),
            _ => self.send(
                now,
                ActorKind::Staff,
                "cs-agent",
                ReleaseHold {
                    order_id: id,
                    note: "looked into".into(),
                }
                .into(),
                Some(60),
            ),
        }
    }

    /// A paid order ships its unshipped lines (in two parcels for a partial shipment), then
    /// delivers.
    fn shipping(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        if self.floor.is_some() && state.lines.iter().any(|l| l.shipped < l.quantity) {
            return self.shipping_from_floor(sim, state, now);
        }
        let id = sim.id;
        let n = sim.steps;
        let unshipped = state.unshipped();
        if unshipped.is_empty() {
            return self.deliver(sim, state, now);
        }
        let lines =
            if sim.fate.partial_shipment && state.shipments.is_empty() && unshipped.len() > 1 {
                unshipped[..1].to_vec()
            } else {
                unshipped
            };
        let named = sim.fate.named_carrier || !self.config.carrier_rules;
        let carrier =
            named.then(|| CarrierId::new(if n.is_multiple_of(2) { "dhl" } else { "ups" }));
        let weight: u32 = lines.iter().map(|l| l.quantity * 400).sum();
        let ship = Ship {
            order_id: id,
            shipment_id: ShipmentId::new(format!("parcel-{n}")),
            carrier,
            service_level: ServiceLevel::Standard,
            tracking_number: format!("TRK{}{n}", &id.0.simple().to_string()[..10]),
            lines,
            freight_cost: Some(Amount(Decimal::new(390 + i64::from(n % 3) * 100, 2))),
            weight_grams: Some(weight),
        };
        self.send(
            now,
            ActorKind::Service,
            "wms",
            ship.into(),
            Some(if sim.fate.partial_shipment {
                24 * 60
            } else {
                180
            }),
        )
    }

    /// A delivered order: feedback, a return or an exchange, or the customer confirming receipt.
    fn after_delivery(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let id = sim.id;
        let n = sim.steps;
        let customer = sim.customer.clone();
        if let Some(step) = self.review_and_claim(sim, state, now) {
            return step;
        }
        if (sim.fate.ret || sim.fate.exchange) && !sim.returned {
            sim.returned = true;
            let line = &state.lines[0];
            let lines = vec![LineQuantity {
                sku: line.sku.clone(),
                quantity: 1,
            }];
            let return_id = ReturnId::new(format!("ret-{n}"));
            let command: OrderCommand = if sim.fate.exchange {
                RequestExchange {
                    order_id: id,
                    return_id,
                    lines: lines.clone(),
                    replacement: lines,
                    reason: ReturnReason::WrongItem,
                }
                .into()
            } else {
                RequestReturn {
                    order_id: id,
                    return_id,
                    lines,
                    reason: ReturnReason::ChangedMind,
                }
                .into()
            };
            return self.send(
                now,
                ActorKind::Customer,
                &customer,
                command,
                Some(2 * 24 * 60),
            );
        }
        if state.status == OrderStatus::Delivered && sim.fate.confirm {
            return self.send(
                now,
                ActorKind::Customer,
                &customer,
                ConfirmReceipt { order_id: id }.into(),
                None,
            );
        }
        // Left to the auto-confirm timer (or already completed).
        (None, None)
    }

    /// A delivered order's review, its revision, and a claim after a poor one, one step each:
    /// `None` once there is nothing (more) to do.
    fn review_and_claim(
        &mut self,
        sim: &mut SimOrder,
        state: &Order,
        now: DateTime<Utc>,
    ) -> Option<Step> {
        let (id, customer) = (sim.id, sim.customer.clone());
        let Some(rating) = sim.rating else {
            if !sim.fate.feedback {
                return None;
            }
            // Mostly happy customers: 5 half the time, 1 or 2 one time in ten.
            let rating = match self.rng.below(20) {
                0 => 1,
                1 => 2,
                2 | 3 => 3,
                4..=9 => 4,
                _ => 5,
            };
            sim.rating = Some(rating);
            let kinds = [
                ClaimKind::NotAsDescribed,
                ClaimKind::Defective,
                ClaimKind::Damaged,
            ];
            sim.claim =
                (rating == 1 && self.rng.chance(60)).then(|| kinds[self.rng.below(3) as usize]);
            let review = ReviewOrder {
                order_id: id,
                rating,
                text: String::new(),
            };
            return Some(self.send(
                now,
                ActorKind::Customer,
                &customer,
                review.into(),
                Some(6 * 60),
            ));
        };
        if rating == 2 && !sim.revised && self.rng.chance(30) {
            // Support called; the customer thinks better of it.
            sim.revised = true;
            let revised = ReviseReview {
                order_id: id,
                rating: 3,
                text: "support sorted it out".into(),
            };
            return Some(self.send(
                now,
                ActorKind::Customer,
                &customer,
                revised.into(),
                Some(6 * 60),
            ));
        }
        let kind = sim.claim?;
        let claim_id = ClaimId::new(format!("claim-{}", id.0.simple()));
        if !sim.claim_opened {
            sim.claim_opened = true;
            let text = "not what the listing showed".into();
            let claim = OpenClaim {
                order_id: id,
                claim_id,
                kind,
                text,
            };
            return Some(self.send(
                now,
                ActorKind::Customer,
                &customer,
                claim.into(),
                Some(24 * 60),
            ));
        }
        if sim.claim_resolved {
            return None;
        }
        sim.claim_resolved = true;
        let resolution = self.claim_resolution(sim, state);
        let resolve = ResolveClaim {
            order_id: id,
            claim_id,
            resolution,
        };
        Some(self.send(
            now,
            ActorKind::Staff,
            "cs-agent",
            resolve.into(),
            Some(6 * 60),
        ))
    }

    /// Customer service's answer to a claim: half the time the first line's price back, a
    /// third of the time a replacement of one unit, otherwise a rejection.
    fn claim_resolution(&mut self, sim: &SimOrder, state: &Order) -> ClaimResolution {
        let n = sim.steps;
        let line = &state.lines[0];
        let refundable = state.captured() - state.refunded();
        match self.rng.below(6) {
            0..=2 if refundable.is_positive() => ClaimResolution::Refund(ClaimRefund {
                refund_id: RefundId::new(format!("rf-claim-{n}")),
                amount: line.unit_price.min(refundable),
                psp_reference: format!("psp-c-{}-{n}", sim.id.0.simple()),
            }),
            3 | 4 if line.shipped > state.return_requested(&line.sku) => {
                ClaimResolution::Replacement(ClaimReplacement {
                    return_id: ReturnId::new(format!("claim-ret-{n}")),
                    lines: vec![LineQuantity {
                        sku: line.sku.clone(),
                        quantity: 1,
                    }],
                })
            }
            _ => ClaimResolution::Rejected(ClaimRejection {
                reason: "the photos show the item as listed".into(),
            }),
        }
    }

    /// A requested return arrives at the warehouse.
    fn receiving_return(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let id = sim.id;
        let open = state.returns.iter().find(|r| r.disposition.is_none());
        match open {
            Some(case) => {
                let disposition = if self.rng.chance(80) {
                    ReturnDisposition::Restock
                } else {
                    ReturnDisposition::WriteOff
                };
                self.send(
                    now,
                    ActorKind::Service,
                    "wms",
                    ReceiveReturn {
                        order_id: id,
                        return_id: case.return_id.clone(),
                        disposition,
                    }
                    .into(),
                    Some(STEP),
                )
            }
            None => (None, None),
        }
    }

    /// A returned order refunds what came back (exchanges refund nothing).
    fn refunding_return(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let refundable = state.captured() - state.refunded();
        let exchange = state.returns.iter().all(|r| r.exchange);
        let value: Amount = state
            .returns
            .iter()
            .filter(|r| !r.exchange)
            .flat_map(|r| &r.lines)
            .filter_map(|l| {
                state
                    .line(&l.sku)
                    .map(|line| line.unit_price.times(l.quantity))
            })
            .sum();
        let amount = value.min(refundable);
        if exchange || !amount.is_positive() || state.refunded().is_positive() {
            return (None, None);
        }
        self.refund(sim, now, amount, RefundReason::Return)
    }

    /// A cancelled order refunds what was captured.
    fn refunding_cancellation(
        &mut self,
        sim: &mut SimOrder,
        state: &Order,
        now: DateTime<Utc>,
    ) -> Step {
        let refundable = state.captured() - state.refunded();
        self.refund(sim, now, refundable, RefundReason::Cancellation)
    }

    /// The customer cancels the order, saying `note`.
    fn customer_cancels(&mut self, sim: &SimOrder, now: DateTime<Utc>, note: &str) -> Step {
        let cancel = CancelOrder {
            order_id: sim.id,
            reason: CancelReason::CustomerRequest,
            note: note.to_owned(),
        };
        let customer = sim.customer.clone();
        self.send(
            now,
            ActorKind::Customer,
            &customer,
            cancel.into(),
            Some(STEP),
        )
    }

    /// Customer service refunds `amount` for `reason`; the order is done.
    fn refund(
        &mut self,
        sim: &SimOrder,
        now: DateTime<Utc>,
        amount: Amount,
        reason: RefundReason,
    ) -> Step {
        let (id, n) = (sim.id, sim.steps);
        let refund = Refund {
            order_id: id,
            refund_id: RefundId::new(format!("rf-{n}")),
            amount,
            reason,
            psp_reference: format!("psp-r-{}-{n}", id.0.simple()),
        };
        self.send(now, ActorKind::Staff, "cs-agent", refund.into(), None)
    }

    /// Delivers, delays or loses the order's parcels, one event per step.
    fn deliver(&mut self, sim: &mut SimOrder, state: &Order, now: DateTime<Utc>) -> Step {
        let Some(parcel) = state.shipments.iter().find(|s| s.delivered_at.is_none()) else {
            return (None, Some(60));
        };
        let shipment_id = parcel.shipment_id.clone();
        let carrier = parcel.carrier.to_string();
        let id = sim.id;
        let at_the_door = state.status == OrderStatus::Shipped && state.delivered_at.is_none();
        let (command, wait): (OrderCommand, i64) = if sim.fate.refuse && at_the_door {
            (
                RefuseDelivery {
                    order_id: id,
                    shipment_id,
                    note: "customer refused the parcel".into(),
                }
                .into(),
                2 * 24 * 60,
            )
        } else if sim.fate.lose && !sim.lost {
            sim.lost = true;
            (
                RecordCarrierException {
                    order_id: id,
                    shipment_id,
                    kind: CarrierExceptionKind::Lost,
                    note: "no scan for 5 days".into(),
                }
                .into(),
                24 * 60,
            )
        } else if sim.fate.delay && !sim.delayed {
            sim.delayed = true;
            (
                RecordCarrierException {
                    order_id: id,
                    shipment_id,
                    kind: CarrierExceptionKind::Delayed,
                    note: "hub congestion".into(),
                }
                .into(),
                2 * 24 * 60,
            )
        } else if state.is_cash_on_delivery() {
            let payment_id = PaymentId::new(format!("cod-{}", sim.steps));
            let tracking = parcel.tracking_number.clone();
            let carrier = parcel.carrier.clone();
            self.collections
                .push((id, payment_id.clone(), carrier, tracking));
            (
                CollectCashOnDelivery {
                    order_id: id,
                    shipment_id,
                    payment_id,
                    amount: state.outstanding(),
                    currency: self.config.currency,
                }
                .into(),
                6 * 60,
            )
        } else {
            (
                RecordDelivery {
                    order_id: id,
                    shipment_id,
                }
                .into(),
                6 * 60,
            )
        };
        let envelope = self.envelope(
            ActorKind::Service,
            &format!("carrier-{carrier}"),
            now,
            command.into(),
        );
        (Some(envelope), Some(wait))
    }

    /// Finance records each carrier's remittance of the cash it collected (the collections the
    /// orders' states show), less a collection fee of 0.50 a parcel: one per carrier, at `now`.
    pub fn cod_remittances(
        &mut self,
        now: DateTime<Utc>,
        order_of: &dyn Fn(OrderId) -> Option<Order>,
    ) -> Vec<CommandEnvelope> {
        let mut by_carrier: std::collections::BTreeMap<CarrierId, Vec<String>> =
            std::collections::BTreeMap::new();
        for (order_id, payment_id, carrier, tracking) in std::mem::take(&mut self.collections) {
            let collected = order_of(order_id).is_some_and(|order| {
                let payment = order.payments.iter().find(|p| p.payment_id == payment_id);
                payment.is_some_and(|p| p.captured.is_some())
            });
            if collected {
                by_carrier.entry(carrier).or_default().push(tracking);
            }
        }
        let currency = self.config.currency;
        by_carrier
            .into_iter()
            .map(|(carrier, parcels)| {
                let fee = Amount(Decimal::new(50, 2)).times(parcels.len() as u32);
                let remittance = RecordCodRemittance {
                    remittance_reference: format!("COD-{carrier}-{}", now.format("%Y%m%d")),
                    carrier,
                    currency,
                    received_on: now.date_naive(),
                    parcels,
                    fees: fee,
                    netted: None,
                };
                let command = Command::Account(remittance.into());
                self.envelope(ActorKind::Staff, "finance", now, command)
            })
            .collect()
    }

    /// The orders still moving and when they next act (for diagnosing a run that never ends).
    pub fn pending(&self) -> Vec<(OrderId, DateTime<Utc>)> {
        self.active.iter().map(|o| (o.id, o.next_at)).collect()
    }

    /// The shop's start time.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }
}
