//! The order aggregate: one customer order from placement to after-sales.

mod decide;
pub mod messages;
pub mod status;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use decide::decide;
pub use messages::*;
pub use status::OrderStatus;

use crate::fits;
use crate::ids::{
    CarrierId, Channel, ClaimId, CustomerId, MerchantId, OrderId, PaymentId, RefundId, ReturnId,
    ShipmentId, Sku, WarehouseId,
};
use crate::money::{Amount, Currency};

/// What never changes after placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderHeader {
    pub order_id: OrderId,
    pub channel: Channel,
    pub external_reference: String,
    pub customer_id: CustomerId,
    pub merchant_id: MerchantId,
    pub currency: Currency,
    pub shipping_address: Address,
    pub placed_at: DateTime<Utc>,
    pub payment_due_at: DateTime<Utc>,
    pub payment_terms: PaymentTerms,
    /// The delivery service the customer chose.
    pub service_level: ServiceLevel,
}

/// One line of the order with its fulfilment progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price: Amount,
    /// The warehouse allocated to ship this SKU, once chosen.
    pub warehouse: Option<WarehouseId>,
    /// Units dispatched so far.
    pub shipped: u32,
    /// Units received back from returns so far.
    pub returned: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub payment_id: PaymentId,
    /// The captured amount; `None` for a failed payment.
    pub captured: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub refund_id: RefundId,
    pub amount: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub shipment_id: ShipmentId,
    pub carrier: CarrierId,
    pub tracking_number: String,
    pub lines: Vec<LineQuantity>,
    pub freight_cost: Amount,
    pub delivered_at: Option<DateTime<Utc>>,
    pub exceptions: Vec<CarrierExceptionKind>,
    /// When it was dispatched (claims that it was not received open after its expected
    /// delivery).
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When it was refused at the door (it then travels back to the sender).
    pub refused_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnCase {
    pub return_id: ReturnId,
    pub lines: Vec<LineQuantity>,
    /// An exchange (goods replaced) rather than a plain return.
    pub exchange: bool,
    /// Set when the goods arrived back.
    pub disposition: Option<ReturnDisposition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub reason: HoldReason,
    /// The status the order returns to when the hold is released.
    pub resume_to: OrderStatus,
}

/// One reservation the order process planned, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedReservation {
    pub line: ReservedLine,
    /// `None` until the stock item answered; then the units it held (0: it refused).
    pub reserved: Option<u32>,
}

/// The state of one order, as folded from its events.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Order {
    pub status: OrderStatus,
    /// `None` until the order is placed.
    pub header: Option<OrderHeader>,
    pub lines: Vec<OrderLine>,
    pub shipping_fee: Amount,
    pub discounts: Vec<Discount>,
    /// The order process's reservation plan while stock is being reserved: cleared when the
    /// reservations are confirmed or the order gives them up (backorder, cancel).
    pub reservation_plan: Vec<PlannedReservation>,
    /// Reservation plans made so far (the first at placement, then one per backorder retry).
    pub plans_made: u32,
    /// Reservations confirmed for the order, so a cancellation knows what to release.
    pub reservations: Vec<ReservedLine>,
    pub payments: Vec<PaymentRecord>,
    pub refunds: Vec<RefundRecord>,
    pub shipments: Vec<Shipment>,
    pub returns: Vec<ReturnCase>,
    pub hold: Option<Hold>,
    /// When the last parcel was delivered: starts the return window and auto-confirm timer.
    pub delivered_at: Option<DateTime<Utc>>,
    /// The customer's review (or a retired feedback record's rating).
    pub review: Option<Review>,
    pub claims: Vec<Claim>,
    /// What a cancellation (or a refusal at the door) said is due back to the customer, less
    /// the refunds issued since.
    pub refund_owed: Amount,
    /// Units picked for the order by pick waves and not yet packed or shipped, by SKU.
    pub picked: Vec<LineQuantity>,
    /// Parcels packed and not yet shipped.
    pub parcels: Vec<ParcelPacked>,
}

/// The order's review as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub rating: u8,
    pub text: String,
    /// When it was first recorded; `None` for a retired `FeedbackRecorded`, which had no date
    /// and cannot be revised.
    pub reviewed_at: Option<DateTime<Utc>>,
    pub revised_at: Option<DateTime<Utc>>,
}

impl Claim {
    /// Opened with `OpenClaim` and not resolved yet.
    pub fn is_open(&self) -> bool {
        self.claim_id.is_some() && self.resolution.is_none()
    }
}

/// A claim about the order and, once resolved, how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// `None` for the claim of a retired `FeedbackRecorded` (it had no id and is never
    /// resolved through `ResolveClaim`).
    pub claim_id: Option<ClaimId>,
    pub kind: ClaimKind,
    pub opened_at: Option<DateTime<Utc>>,
    pub resolution: Option<ClaimResolution>,
}

impl Order {
    pub fn subtotal(&self) -> Amount {
        self.lines
            .iter()
            .map(|line| line.unit_price.times(line.quantity))
            .sum()
    }

    pub fn discount_total(&self) -> Amount {
        self.discounts.iter().map(|discount| discount.amount).sum()
    }

    /// What the customer pays: lines plus shipping minus discounts.
    pub fn total(&self) -> Amount {
        self.subtotal() + self.shipping_fee - self.discount_total()
    }

    /// Whether the carrier collects the total at the door.
    pub fn is_cash_on_delivery(&self) -> bool {
        self.header
            .as_ref()
            .is_some_and(|header| header.payment_terms == PaymentTerms::CashOnDelivery)
    }

    /// What is still to be paid: the total less every capture and collection.
    pub fn outstanding(&self) -> Amount {
        self.total() - self.captured()
    }

    pub fn captured(&self) -> Amount {
        self.payments.iter().filter_map(|p| p.captured).sum()
    }

    pub fn refunded(&self) -> Amount {
        self.refunds.iter().map(|refund| refund.amount).sum()
    }

    pub fn line(&self, sku: &Sku) -> Option<&OrderLine> {
        self.lines.iter().find(|line| &line.sku == sku)
    }

    fn line_mut(&mut self, sku: &Sku) -> Result<&mut OrderLine, String> {
        let line = self.lines.iter_mut().find(|line| &line.sku == sku);
        line.ok_or_else(|| format!("event names SKU {sku}, which is not a line of the order"))
    }

    pub fn claim(&self, claim_id: &ClaimId) -> Option<&Claim> {
        self.claims
            .iter()
            .find(|claim| claim.claim_id.as_ref() == Some(claim_id))
    }

    /// The units of each line not yet shipped (lines shipped in full left out).
    pub fn unshipped(&self) -> Vec<LineQuantity> {
        self.lines
            .iter()
            .filter(|l| l.shipped < l.quantity)
            .map(|l| LineQuantity {
                sku: l.sku.clone(),
                quantity: l.quantity - l.shipped,
            })
            .collect()
    }

    /// A packed parcel not yet shipped.
    pub fn parcel(&self, parcel_id: &ShipmentId) -> Option<&ParcelPacked> {
        self.parcels
            .iter()
            .find(|parcel| &parcel.parcel_id == parcel_id)
    }

    /// Units of `sku` picked and not yet packed or shipped.
    pub fn picked_units(&self, sku: &Sku) -> u32 {
        units_of(&self.picked, sku)
    }

    /// Units of `sku` in parcels packed and not yet shipped.
    pub fn packed_units(&self, sku: &Sku) -> u32 {
        self.parcels
            .iter()
            .map(|parcel| units_of(&parcel.lines, sku))
            .sum()
    }

    pub fn shipment(&self, shipment_id: &ShipmentId) -> Option<&Shipment> {
        self.shipments
            .iter()
            .find(|shipment| &shipment.shipment_id == shipment_id)
    }

    pub fn return_case(&self, return_id: &ReturnId) -> Option<&ReturnCase> {
        self.returns
            .iter()
            .find(|case| &case.return_id == return_id)
    }

    /// Units of `sku` in any return case, open or received.
    pub fn return_requested(&self, sku: &Sku) -> u32 {
        self.returns
            .iter()
            .flat_map(|case| &case.lines)
            .filter(|line| &line.sku == sku)
            .map(|line| line.quantity)
            .sum()
    }

    /// Whether every planned reservation has its outcome (an empty plan is complete).
    pub fn plan_complete(&self) -> bool {
        self.reservation_plan.iter().all(|p| p.reserved.is_some())
    }

    /// Planned reservations the stock items made, with the units each held.
    pub fn planned_reserved(&self) -> impl Iterator<Item = ReservedLine> + '_ {
        self.reservation_plan
            .iter()
            .filter_map(|p| match p.reserved {
                Some(held) if held > 0 => Some(ReservedLine {
                    quantity: held,
                    ..p.line.clone()
                }),
                _ => None,
            })
    }

    fn fully_shipped(&self) -> bool {
        self.lines.iter().all(|line| line.shipped == line.quantity)
    }

    /// Checks every invariant the order keeps; used after each step by the property tests and
    /// by auditors' replays. Returns the first broken invariant.
    pub fn check_invariants(&self) -> Result<(), String> {
        let fail = |what: String| Err(what);
        if self.status != OrderStatus::Initial && self.header.is_none() {
            return fail(format!("status {} without a placed order", self.status));
        }
        if self.total().is_negative() {
            return fail(format!("total {} is negative", self.total()));
        }
        if self.captured() > self.total() {
            return fail(format!(
                "captured {} exceeds total {}",
                self.captured(),
                self.total()
            ));
        }
        if self.refunded() > self.captured() {
            return fail(format!(
                "refunded {} exceeds captured {}",
                self.refunded(),
                self.captured()
            ));
        }
        for line in &self.lines {
            if line.shipped > line.quantity || line.returned > line.shipped {
                return fail(format!(
                    "line {}: ordered {}, shipped {}, returned {}",
                    line.sku, line.quantity, line.shipped, line.returned
                ));
            }
            let waiting =
                u64::from(self.picked_units(&line.sku)) + u64::from(self.packed_units(&line.sku));
            if waiting > u64::from(line.quantity - line.shipped) {
                return fail(format!(
                    "line {}: {waiting} picked or packed, {} unshipped",
                    line.sku,
                    line.quantity - line.shipped
                ));
            }
            if self.return_requested(&line.sku) > line.shipped {
                return fail(format!(
                    "line {}: more return requested than shipped",
                    line.sku
                ));
            }
        }
        if (self.status == OrderStatus::OnHold) != self.hold.is_some() {
            return fail(format!("status {} with hold {:?}", self.status, self.hold));
        }
        Ok(())
    }
}

/// Units of `sku` in `lines`.
fn units_of(lines: &[LineQuantity], sku: &Sku) -> u32 {
    lines
        .iter()
        .filter(|line| &line.sku == sku)
        .map(|line| line.quantity)
        .sum()
}

fn add_units(units: &mut Vec<LineQuantity>, lines: &[LineQuantity]) {
    for line in lines {
        match units.iter_mut().find(|unit| unit.sku == line.sku) {
            Some(unit) => unit.quantity = unit.quantity.saturating_add(line.quantity),
            None => units.push(line.clone()),
        }
    }
}

/// Takes `lines` out of `units`: all of them when `exact` (a parcel packs only what was
/// picked), else as many as there are (goods shipped without packing may not have been
/// picked through a wave).
fn take_units(
    units: &mut Vec<LineQuantity>,
    lines: &[LineQuantity],
    exact: bool,
) -> Result<(), String> {
    for line in lines {
        let Some(unit) = units.iter_mut().find(|unit| unit.sku == line.sku) else {
            fits(!exact, || {
                format!("packed {}, which was not picked", line.sku)
            })?;
            continue;
        };
        fits(!exact || line.quantity <= unit.quantity, || {
            format!("packed more {} than picked", line.sku)
        })?;
        unit.quantity = unit.quantity.saturating_sub(line.quantity);
    }
    units.retain(|unit| unit.quantity > 0);
    Ok(())
}

/// Folds one event into the state. Infallible: `decide` only emits events that fit the state,
/// so an event that does not fit is a bug and panics with the broken invariant.
pub fn apply(state: &mut Order, event: &OrderEvent) {
    if let Err(broken) = try_apply(state, event) {
        panic!("{broken}");
    }
}

/// The checked fold, for histories read from outside (the verifier): an event that does not
/// fit the state is the `Err`, described, and the state is then half-changed (to be dropped).
pub fn try_apply(state: &mut Order, event: &OrderEvent) -> Result<(), String> {
    match event {
        OrderEvent::OrderPlaced(e) => {
            fits(state.status == OrderStatus::Initial, || {
                "order placed twice".into()
            })?;
            state.header = Some(OrderHeader {
                order_id: e.order_id,
                channel: e.channel.clone(),
                external_reference: e.external_reference.clone(),
                customer_id: e.customer_id.clone(),
                merchant_id: e.merchant_id.clone(),
                currency: e.currency,
                shipping_address: e.shipping_address.clone(),
                placed_at: e.placed_at,
                payment_due_at: e.payment_due_at,
                payment_terms: e.payment_terms,
                service_level: e.service_level,
            });
            state.lines = e
                .lines
                .iter()
                .map(|line| OrderLine {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price: line.unit_price,
                    warehouse: None,
                    shipped: 0,
                    returned: 0,
                })
                .collect();
            state.shipping_fee = e.shipping_fee;
            state.discounts = e.discounts.clone();
            state.status = OrderStatus::Placed;
        }
        OrderEvent::PriceModified(e) => state.line_mut(&e.sku)?.unit_price = e.unit_price,
        OrderEvent::DiscountApplied(e) => state.discounts.push(e.discount.clone()),
        OrderEvent::OrderCancelled(e) => {
            // Picked and packed goods of a cancelled order go back to their bins.
            state.picked.clear();
            state.parcels.clear();
            state.hold = None;
            state.status = OrderStatus::Cancelled;
            state.refund_owed = e.refund_due;
        }
        OrderEvent::OrderExpired(_) => state.status = OrderStatus::Expired,
        OrderEvent::ReservationsPlanned(e) => {
            fits(state.plan_complete(), || {
                "a plan replaced one still waiting for outcomes".into()
            })?;
            let asked = e.reservations.iter().map(|line| PlannedReservation {
                line: line.clone(),
                reserved: None,
            });
            if e.continues {
                state.reservation_plan.extend(asked);
            } else {
                state.plans_made += 1;
                state.reservation_plan = asked.collect();
            }
        }
        OrderEvent::ReservationRecorded(e) => {
            let planned = state
                .reservation_plan
                .iter_mut()
                .find(|p| {
                    p.line.sku == e.sku && p.line.warehouse == e.warehouse && p.reserved.is_none()
                })
                .ok_or("an outcome for a reservation that was not planned")?;
            fits(
                e.reserved == (e.reserved_quantity > 0) && e.reserved_quantity <= e.quantity,
                || {
                    format!(
                        "an outcome holding {} of {} planned, reserved {}",
                        e.reserved_quantity, e.quantity, e.reserved
                    )
                },
            )?;
            planned.reserved = Some(e.reserved_quantity);
        }
        OrderEvent::StockReservationConfirmed(e) => {
            state.reservation_plan.clear();
            state.reservations = e.reservations.clone();
            // An order discounted to zero has nothing to pay; cash on delivery pays at the door.
            state.status = if state.total().0.is_zero() {
                OrderStatus::Paid
            } else if state.is_cash_on_delivery() {
                OrderStatus::ReadyToShip
            } else {
                OrderStatus::AwaitingPayment
            };
        }
        OrderEvent::StockShortRecorded(e) => match e.resolution {
            ShortResolution::Backorder => {
                // The process releases what was reserved; a later plan starts afresh.
                state.reservation_plan.clear();
                state.status = OrderStatus::Backordered;
            }
            ShortResolution::Split => {
                for short in &e.short_lines {
                    let line = state.line_mut(&short.sku)?;
                    fits(short.quantity <= line.quantity, || {
                        "shortage above ordered".into()
                    })?;
                    line.quantity -= short.quantity;
                }
                state.lines.retain(|line| line.quantity > 0);
                fits(!state.lines.is_empty(), || "split left no lines".into())?;
                state.status = OrderStatus::Placed;
            }
            // The `OrderCancelled` decided with it moves the status; the process releases what
            // was reserved.
            ShortResolution::Cancel => state.reservation_plan.clear(),
        },
        OrderEvent::PaymentCaptured(e) => {
            state.payments.push(PaymentRecord {
                payment_id: e.payment_id.clone(),
                captured: Some(e.amount),
            });
            let captured = state.captured();
            fits(captured <= state.total(), || "capture above total".into())?;
            state.status = if captured == state.total() {
                OrderStatus::Paid
            } else {
                OrderStatus::PartiallyPaid
            };
        }
        OrderEvent::PaymentFailed(e) => {
            state.payments.push(PaymentRecord {
                payment_id: e.payment_id.clone(),
                captured: None,
            });
            put_on_hold(state, HoldReason::PaymentFailed)?;
        }
        OrderEvent::HoldReleased(_) => {
            let hold = state
                .hold
                .take()
                .ok_or("hold released on an order not on hold")?;
            state.status = hold.resume_to;
        }
        OrderEvent::WarehouseAllocated(e) => {
            for allocation in &e.allocations {
                state.line_mut(&allocation.sku)?.warehouse = Some(allocation.warehouse.clone());
            }
        }
        OrderEvent::ShipmentDispatched(e) => {
            // A packed parcel leaves as it was packed; goods shipped unpacked leave the picks.
            match state
                .parcels
                .iter()
                .position(|p| p.parcel_id == e.shipment_id)
            {
                Some(index) => {
                    state.parcels.remove(index);
                }
                None => take_units(&mut state.picked, &e.lines, false)?,
            }
            for shipped in &e.lines {
                let line = state.line_mut(&shipped.sku)?;
                line.shipped = line.shipped.saturating_add(shipped.quantity);
                fits(line.shipped <= line.quantity, || {
                    "shipped more than ordered".into()
                })?;
            }
            state.shipments.push(Shipment {
                shipment_id: e.shipment_id.clone(),
                carrier: e.carrier.clone(),
                tracking_number: e.tracking_number.clone(),
                lines: e.lines.clone(),
                freight_cost: e.freight_cost,
                delivered_at: None,
                exceptions: Vec::new(),
                dispatched_at: Some(e.dispatched_at),
                refused_at: None,
            });
            state.status = if state.fully_shipped() {
                OrderStatus::Shipped
            } else {
                OrderStatus::PartiallyShipped
            };
        }
        OrderEvent::PicksRecorded(e) => add_units(&mut state.picked, &e.lines),
        OrderEvent::ParcelPacked(e) => {
            take_units(&mut state.picked, &e.lines, true)?;
            state.parcels.push(e.clone());
        }
        OrderEvent::CarrierExceptionRecorded(e) => {
            shipment_mut(state, &e.shipment_id)?.exceptions.push(e.kind);
            match e.kind {
                CarrierExceptionKind::Delayed => {}
                CarrierExceptionKind::Lost => put_on_hold(state, HoldReason::ParcelLost)?,
                CarrierExceptionKind::Damaged => put_on_hold(state, HoldReason::ParcelDamaged)?,
            }
        }
        OrderEvent::ShipmentDelivered(e) => {
            let shipment = shipment_mut(state, &e.shipment_id)?;
            fits(shipment.delivered_at.is_none(), || {
                "shipment delivered twice".into()
            })?;
            shipment.delivered_at = Some(e.delivered_at);
            let all_delivered = state.shipments.iter().all(|s| s.delivered_at.is_some());
            if state.fully_shipped() && all_delivered {
                state.delivered_at = Some(e.delivered_at);
                state.status = OrderStatus::Delivered;
            }
        }
        OrderEvent::CashCollected(e) => {
            fits(state.is_cash_on_delivery(), || {
                "cash collected on a prepaid order".into()
            })?;
            state.payments.push(PaymentRecord {
                payment_id: e.payment_id.clone(),
                captured: Some(e.amount),
            });
            fits(state.outstanding().0.is_zero(), || {
                "a collection that is not the outstanding total".into()
            })?;
        }
        OrderEvent::DeliveryRefused(e) => {
            fits(state.delivered_at.is_none(), || {
                "a delivered order refused at the door".into()
            })?;
            for shipment in &mut state.shipments {
                fits(shipment.delivered_at.is_none(), || {
                    "a refusal after a parcel was delivered".into()
                })?;
                shipment.refused_at = Some(e.refused_at);
            }
            state.returns.push(ReturnCase {
                return_id: e.return_id.clone(),
                lines: e.lines.clone(),
                exchange: false,
                disposition: None,
            });
            // The `OrderCancelled` recorded with it moves the status.
        }
        OrderEvent::ReceiptConfirmed(_) => state.status = OrderStatus::Completed,
        OrderEvent::ReturnRequested(e) => {
            open_return_case(state, &e.return_id, &e.lines, false);
        }
        OrderEvent::ExchangeRequested(e) => {
            open_return_case(state, &e.return_id, &e.lines, true);
        }
        OrderEvent::ReturnReceived(e) => {
            let case = state
                .returns
                .iter_mut()
                .find(|case| case.return_id == e.return_id)
                .ok_or("return received for an unknown case")?;
            fits(case.disposition.is_none(), || {
                "return received twice".into()
            })?;
            case.disposition = Some(e.disposition);
            let lines = case.lines.clone();
            for returned in &lines {
                let line = state.line_mut(&returned.sku)?;
                line.returned = line.returned.saturating_add(returned.quantity);
            }
            let open_case = state.returns.iter().any(|case| case.disposition.is_none());
            let all_returned = state.lines.iter().all(|line| line.returned == line.shipped);
            state.status = if matches!(state.status, OrderStatus::Refunded | OrderStatus::Cancelled)
            {
                // Refunded on request, or refused at the door and cancelled: the money is
                // settled, the goods arriving changes nothing.
                state.status
            } else if open_case {
                OrderStatus::ReturnRequested
            } else if all_returned {
                OrderStatus::Returned
            } else {
                OrderStatus::PartiallyReturned
            };
        }
        OrderEvent::RefundIssued(e) => {
            state.refunds.push(RefundRecord {
                refund_id: e.refund_id.clone(),
                amount: e.amount,
            });
            state.refund_owed = (state.refund_owed - e.amount).max(Amount::ZERO);
            fits(state.refunded() <= state.captured(), || {
                "refunds above captures".into()
            })?;
            if state.refunded() == state.captured() {
                state.status = OrderStatus::Refunded;
            }
        }
        OrderEvent::FeedbackRecorded(e) => apply_feedback(state, e),
        OrderEvent::ReviewRecorded(e) => {
            state.review = Some(Review {
                rating: e.rating,
                text: e.text.clone(),
                reviewed_at: Some(e.reviewed_at),
                revised_at: None,
            });
        }
        OrderEvent::ReviewRevised(e) => {
            let review = state
                .review
                .as_mut()
                .ok_or("review revised before one was recorded")?;
            review.rating = e.rating;
            review.text = e.text.clone();
            review.revised_at = Some(e.revised_at);
        }
        OrderEvent::ClaimOpened(e) => state.claims.push(Claim {
            claim_id: Some(e.claim_id.clone()),
            kind: e.kind,
            opened_at: Some(e.opened_at),
            resolution: None,
        }),
        OrderEvent::ClaimResolved(e) => {
            let claim = state
                .claims
                .iter_mut()
                .find(|claim| claim.claim_id.as_ref() == Some(&e.claim_id))
                .ok_or_else(|| format!("event resolves unknown claim {}", e.claim_id))?;
            fits(claim.resolution.is_none(), || "claim resolved twice".into())?;
            claim.resolution = Some(e.resolution.clone());
        }
    }
    Ok(())
}

/// A retired feedback record: the order's review, undated, and its claim if it named one.
fn apply_feedback(state: &mut Order, e: &FeedbackRecorded) {
    state.review = Some(Review {
        rating: e.rating,
        text: e.comment.clone(),
        reviewed_at: None,
        revised_at: None,
    });
    if let Some(kind) = e.claim {
        state.claims.push(Claim {
            claim_id: None,
            kind,
            opened_at: None,
            resolution: None,
        });
    }
}

fn put_on_hold(state: &mut Order, reason: HoldReason) -> Result<(), String> {
    fits(state.hold.is_none(), || "order put on hold twice".into())?;
    state.hold = Some(Hold {
        reason,
        resume_to: state.status,
    });
    state.status = OrderStatus::OnHold;
    Ok(())
}

fn shipment_mut<'a>(
    state: &'a mut Order,
    shipment_id: &ShipmentId,
) -> Result<&'a mut Shipment, String> {
    state
        .shipments
        .iter_mut()
        .find(|shipment| &shipment.shipment_id == shipment_id)
        .ok_or_else(|| format!("event names unknown shipment {shipment_id}"))
}

fn open_return_case(
    state: &mut Order,
    return_id: &ReturnId,
    lines: &[LineQuantity],
    exchange: bool,
) {
    state.returns.push(ReturnCase {
        return_id: return_id.clone(),
        lines: lines.to_vec(),
        exchange,
        disposition: None,
    });
    state.status = OrderStatus::ReturnRequested;
}

/// The order as a [`crate::Aggregate`].
impl crate::Aggregate for Order {
    type Command = OrderCommand;
    type Event = OrderEvent;
    const KIND: crate::AggregateKind = crate::AggregateKind::Order;

    fn decide(
        &self,
        command: &OrderCommand,
        context: &crate::Context,
    ) -> Result<Vec<OrderEvent>, crate::Rejection> {
        decide(self, command, context)
    }

    fn apply(&mut self, event: &OrderEvent) {
        apply(self, event)
    }

    fn check_invariants(&self) -> Result<(), String> {
        Order::check_invariants(self)
    }
}
