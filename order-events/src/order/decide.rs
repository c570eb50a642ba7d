//! The order's rules: given the state and a command, the events that follow or the rule broken.

mod warehouse;

use std::collections::{BTreeMap, HashSet};

use super::messages::*;
use super::status::{is_legal, legal_statuses, OrderStatus};
use super::{Order, OrderLine};
use crate::context::{ActorKind, Context, Policy};
use crate::ids::{CarrierId, ClaimId, OrderId, PaymentId, ReturnId, ShipmentId, Sku};
use crate::money::{Amount, Currency};
use crate::rejection::{ensure, reject, Rejection, Rule};
use crate::validate::{self, NOTE_MAX, SHORT_TEXT_MAX};

/// Decides `command` against `state`. Pure: the same state, command and context always give the
/// same answer.
pub fn decide(
    state: &Order,
    command: &OrderCommand,
    context: &Context,
) -> Result<Vec<OrderEvent>, Rejection> {
    if let OrderCommand::RecordFeedback(_) = command {
        return reject(
            Rule::CommandRetired,
            "RecordFeedback is retired: the order's customer reviews it with ReviewOrder, and \
             claims are opened with OpenClaim",
        );
    }
    let is_placement = matches!(command, OrderCommand::PlaceOrder(_));
    if state.status == OrderStatus::Initial && !is_placement {
        return reject(
            Rule::OrderNotFound,
            format!("order {} has not been placed", command.order_id()),
        );
    }
    if state.status != OrderStatus::Initial && is_placement {
        return reject(
            Rule::OrderAlreadyPlaced,
            format!("order {} was placed already", command.order_id()),
        );
    }
    if !is_legal(state.status, command) {
        let allowed: Vec<&str> = legal_statuses(command.type_name())
            .iter()
            .map(|status| status.code())
            .collect();
        return reject(
            Rule::IllegalTransition,
            format!(
                "{} is not allowed when the order is {}; it is allowed when {}",
                command.type_name(),
                state.status,
                allowed.join(", ")
            ),
        );
    }
    let currency = state.header.as_ref().map(|header| header.currency);
    let events = match (command, currency) {
        (OrderCommand::PlaceOrder(c), None) => vec![place_order(c, context)?.into()],
        (command, Some(currency)) => decide_placed(state, command, currency, context)?,
        (_, None) => unreachable!("only placement is legal before an order exists"),
    };
    Ok(events)
}

fn place_order(c: &PlaceOrder, context: &Context) -> Result<OrderPlaced, Rejection> {
    let policy = &context.policy;
    validate::required_text("channel", c.channel.as_str(), 64)?;
    validate::required_text("external_reference", &c.external_reference, SHORT_TEXT_MAX)?;
    validate::required_text("customer_id", c.customer_id.as_str(), SHORT_TEXT_MAX)?;
    validate::required_text("merchant_id", c.merchant_id.as_str(), SHORT_TEXT_MAX)?;

    ensure(!c.lines.is_empty(), Rule::LinesRequired, || {
        "an order needs at least one line".to_owned()
    })?;
    let max_lines = policy.lines_per_order_max as usize;
    ensure(c.lines.len() <= max_lines, Rule::TooManyLines, || {
        format!("{} lines; at most {max_lines} allowed", c.lines.len())
    })?;
    let mut seen = HashSet::new();
    for line in &c.lines {
        validate::sku(&line.sku)?;
        validate::unique_sku(&mut seen, &line.sku, "lines")?;
        validate::quantity(
            &format!("quantity of {}", line.sku),
            u64::from(line.quantity),
            policy,
        )?;
        validate::amount(
            &format!("unit_price of {}", line.sku),
            line.unit_price,
            c.currency,
            false,
        )?;
    }
    validate::amount("shipping_fee", c.shipping_fee, c.currency, false)?;
    let mut codes = HashSet::new();
    for discount in &c.discounts {
        check_discount(discount, c.currency)?;
        ensure(
            codes.insert(&discount.code),
            Rule::DiscountAlreadyApplied,
            || format!("discount {} is listed twice", discount.code),
        )?;
    }
    let subtotal: Amount = c.lines.iter().map(|l| l.unit_price.times(l.quantity)).sum();
    let discounts: Amount = c.discounts.iter().map(|d| d.amount).sum();
    check_total(subtotal + c.shipping_fee, discounts)?;
    if c.payment_terms == PaymentTerms::CashOnDelivery {
        let total = subtotal + c.shipping_fee - discounts;
        let order = (c.channel.as_str(), c.merchant_id.as_str(), c.currency);
        check_cash_on_delivery(policy, order, total)?;
    }

    let address = &c.shipping_address;
    validate::required_text(
        "shipping_address.recipient",
        &address.recipient,
        SHORT_TEXT_MAX,
    )?;
    validate::required_text("shipping_address.street", &address.street, 200)?;
    validate::required_text("shipping_address.city", &address.city, SHORT_TEXT_MAX)?;
    validate::phone(&address.phone)?;
    validate::postal_code(&address.postal_code)?;
    validate::country(&address.country)?;

    Ok(OrderPlaced {
        order_id: OrderId::for_external_reference(c.channel.as_str(), &c.external_reference),
        channel: c.channel.clone(),
        external_reference: c.external_reference.clone(),
        customer_id: c.customer_id.clone(),
        merchant_id: c.merchant_id.clone(),
        currency: c.currency,
        lines: c.lines.clone(),
        shipping_fee: c.shipping_fee,
        discounts: c.discounts.clone(),
        shipping_address: c.shipping_address.clone(),
        placed_at: context.now,
        payment_due_at: context.now + policy.payment_window(),
        payment_terms: c.payment_terms,
        service_level: c.service_level,
    })
}

/// Whether the policy offers cash on delivery to an order of (channel, merchant, currency)
/// with `total`: an offer covers it, and one of those that do allows the total.
fn check_cash_on_delivery(
    policy: &Policy,
    (channel, merchant, currency): (&str, &str, Currency),
    total: Amount,
) -> Result<(), Rejection> {
    let offers = policy
        .cash_on_delivery
        .iter()
        .filter(|offer| offer.covers(channel, merchant, currency));
    let largest = offers.map(|offer| offer.max_order_value).max();
    let Some(largest) = largest else {
        return reject(
            Rule::CashOnDeliveryNotOffered,
            format!(
                "no cash-on-delivery offer covers channel {}, merchant {} in {currency}",
                validate::printable(channel),
                validate::printable(merchant)
            ),
        );
    };
    ensure(total <= largest, Rule::CashOnDeliveryLimitExceeded, || {
        format!(
            "the order's total {total} {currency} is above the {largest} cash on delivery allows"
        )
    })
}

fn check_discount(discount: &Discount, currency: Currency) -> Result<(), Rejection> {
    validate::required_text("discount code", &discount.code, 64)?;
    validate::amount(
        &format!("amount of discount {}", discount.code),
        discount.amount,
        currency,
        false,
    )
}

/// Discounts may not make the total negative.
fn check_total(before_discounts: Amount, discounts: Amount) -> Result<(), Rejection> {
    ensure(
        discounts <= before_discounts,
        Rule::DiscountExceedsSubtotal,
        || format!("discounts of {discounts} exceed the order's {before_discounts}"),
    )
}

/// Every command but placement, on an order that exists: one rule per command.
fn decide_placed(
    state: &Order,
    command: &OrderCommand,
    currency: Currency,
    context: &Context,
) -> Result<Vec<OrderEvent>, Rejection> {
    let placed = Placed {
        state,
        currency,
        context,
    };
    let event: OrderEvent = match command {
        OrderCommand::PlaceOrder(_) => unreachable!("placement is decided by place_order"),
        OrderCommand::ModifyPrice(c) => placed.modify_price(c)?.into(),
        OrderCommand::ApplyDiscount(c) => placed.apply_discount(c)?.into(),
        OrderCommand::CancelOrder(c) => placed.cancel_order(c)?.into(),
        OrderCommand::ExpireOrder(_) => placed.expire_order()?.into(),
        OrderCommand::PlanReservations(c) => placed.plan_reservations(c)?.into(),
        OrderCommand::RecordReservation(c) => placed.record_reservation(c)?.into(),
        OrderCommand::ConfirmStockReserved(c) => placed.confirm_stock_reserved(c)?.into(),
        OrderCommand::MarkStockShort(c) => return placed.mark_stock_short(c),
        OrderCommand::CapturePayment(c) => placed.capture_payment(c)?.into(),
        OrderCommand::FailPayment(c) => placed.fail_payment(c)?.into(),
        OrderCommand::ReleaseHold(c) => placed.release_hold(c)?.into(),
        OrderCommand::AllocateWarehouse(c) => placed.allocate_warehouse(c)?.into(),
        OrderCommand::Ship(c) => placed.ship(c)?.into(),
        OrderCommand::RecordCarrierException(c) => placed.record_carrier_exception(c)?.into(),
        OrderCommand::RecordDelivery(c) => placed.record_delivery(c)?.into(),
        OrderCommand::CollectCashOnDelivery(c) => return placed.collect_cash_on_delivery(c),
        OrderCommand::RefuseDelivery(c) => return placed.refuse_delivery(c),
        OrderCommand::ConfirmReceipt(_) => placed.confirm_receipt()?.into(),
        OrderCommand::RequestReturn(c) => placed.request_return(c)?.into(),
        OrderCommand::RequestExchange(c) => placed.request_exchange(c)?.into(),
        OrderCommand::ReceiveReturn(c) => placed.receive_return(c)?.into(),
        OrderCommand::Refund(c) => placed.refund(c)?.into(),
        OrderCommand::RecordFeedback(_) => unreachable!("retired: refused by decide"),
        OrderCommand::ReviewOrder(c) => placed.review_order(c)?.into(),
        OrderCommand::ReviseReview(c) => placed.revise_review(c)?.into(),
        OrderCommand::OpenClaim(c) => placed.open_claim(c)?.into(),
        OrderCommand::ResolveClaim(c) => return placed.resolve_claim(c),
        OrderCommand::RecordPicks(c) => placed.record_picks(c)?.into(),
        OrderCommand::PackParcel(c) => placed.pack_parcel(c)?.into(),
    };
    Ok(vec![event])
}

/// What the rules of an order that exists decide from: the order, its currency and the
/// command's context.
#[derive(Clone, Copy)]
struct Placed<'a> {
    state: &'a Order,
    currency: Currency,
    context: &'a Context,
}

impl Placed<'_> {
    /// The order's line of `sku`, or `line_not_found`.
    fn line(&self, sku: &Sku) -> Result<&OrderLine, Rejection> {
        self.state.line(sku).ok_or_else(|| {
            Rejection::new(
                Rule::LineNotFound,
                format!(
                    "{} is not a line of the order",
                    validate::printable(sku.as_str())
                ),
            )
        })
    }

    fn modify_price(&self, c: &ModifyPrice) -> Result<PriceModified, Rejection> {
        let state = self.state;
        let currency = self.currency;
        validate::sku(&c.sku)?;
        let line = self.line(&c.sku)?;
        validate::amount("unit_price", c.unit_price, currency, false)?;
        validate::required_text("reason", &c.reason, NOTE_MAX)?;
        let new_subtotal = state.subtotal() - line.unit_price.times(line.quantity)
            + c.unit_price.times(line.quantity);
        check_total(new_subtotal + state.shipping_fee, state.discount_total())?;
        self.check_still_cash_on_delivery(
            new_subtotal + state.shipping_fee - state.discount_total(),
        )?;
        Ok(PriceModified {
            sku: c.sku.clone(),
            previous_unit_price: line.unit_price,
            unit_price: c.unit_price,
            reason: c.reason.clone(),
        })
    }

    /// A cash-on-delivery order's total, raised, stays within what the policy offers it now
    /// (lowering it is always fine).
    fn check_still_cash_on_delivery(&self, total: Amount) -> Result<(), Rejection> {
        let Some(header) = &self.state.header else {
            return Ok(());
        };
        if header.payment_terms != PaymentTerms::CashOnDelivery || total <= self.state.total() {
            return Ok(());
        }
        let order = (
            header.channel.as_str(),
            header.merchant_id.as_str(),
            header.currency,
        );
        check_cash_on_delivery(&self.context.policy, order, total)
    }

    fn apply_discount(&self, c: &ApplyDiscount) -> Result<DiscountApplied, Rejection> {
        let state = self.state;
        let currency = self.currency;
        check_discount(&c.discount, currency)?;
        let applied = state.discounts.iter().any(|d| d.code == c.discount.code);
        ensure(!applied, Rule::DiscountAlreadyApplied, || {
            format!("discount {} is applied already", c.discount.code)
        })?;
        check_total(
            state.subtotal() + state.shipping_fee,
            state.discount_total() + c.discount.amount,
        )?;
        Ok(DiscountApplied {
            discount: c.discount.clone(),
        })
    }

    fn cancel_order(&self, c: &CancelOrder) -> Result<OrderCancelled, Rejection> {
        let state = self.state;
        validate::optional_text("note", &c.note, NOTE_MAX)?;
        if let Some(hold) = state.hold {
            ensure(
                !hold.resume_to.has_shipped(),
                Rule::IllegalTransition,
                || {
                    format!(
                        "CancelOrder is not allowed: the order on hold was {} and has shipped",
                        hold.resume_to
                    )
                },
            )?;
        }
        Ok(OrderCancelled {
            reason: c.reason,
            note: c.note.clone(),
            refund_due: state.captured() - state.refunded(),
        })
    }

    fn expire_order(&self) -> Result<OrderExpired, Rejection> {
        let state = self.state;
        let context = self.context;
        let due = state.header.as_ref().map(|h| h.payment_due_at);
        let due = due.expect("a placed order has a header");
        ensure(context.now >= due, Rule::OrderNotYetExpired, || {
            format!("payment is due at {due}; it is {}", context.now)
        })?;
        Ok(OrderExpired {
            expired_at: context.now,
        })
    }

    fn plan_reservations(&self, c: &PlanReservations) -> Result<ReservationsPlanned, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        ensure(state.plan_complete(), Rule::ReservationPlanInvalid, || {
            "the previous plan still waits for outcomes".to_owned()
        })?;
        let mut planned: BTreeMap<&Sku, u64> = BTreeMap::new();
        let mut seen = HashSet::new();
        if c.continues {
            ensure(
                !state.reservation_plan.is_empty(),
                Rule::ReservationPlanInvalid,
                || "there is no plan to continue".to_owned(),
            )?;
            // What the plan asked stays asked; what it holds counts towards the lines.
            for asked in &state.reservation_plan {
                seen.insert((&asked.line.sku, &asked.line.warehouse));
                let held = asked.reserved.unwrap_or(0);
                *planned.entry(&asked.line.sku).or_default() += u64::from(held);
            }
        }
        for reservation in &c.reservations {
            validate::sku(&reservation.sku)?;
            validate::warehouse(&reservation.warehouse)?;
            self.line(&reservation.sku)?;
            validate::quantity("planned quantity", u64::from(reservation.quantity), policy)?;
            ensure(
                seen.insert((&reservation.sku, &reservation.warehouse)),
                Rule::ReservationPlanInvalid,
                || {
                    format!(
                        "{} at {} is planned twice",
                        validate::printable(reservation.sku.as_str()),
                        validate::printable(reservation.warehouse.as_str())
                    )
                },
            )?;
            *planned.entry(&reservation.sku).or_default() += u64::from(reservation.quantity);
        }
        for (sku, quantity) in planned {
            let ordered = self.line(sku)?.quantity;
            ensure(
                quantity <= u64::from(ordered),
                Rule::ReservationPlanInvalid,
                || format!("{sku} ordered {ordered}, planned {quantity}"),
            )?;
        }
        Ok(ReservationsPlanned {
            reservations: c.reservations.clone(),
            continues: c.continues,
        })
    }

    fn record_reservation(&self, c: &RecordReservation) -> Result<ReservationRecorded, Rejection> {
        let state = self.state;
        let planned = state.reservation_plan.iter().find(|p| {
            p.line.sku == c.sku && p.line.warehouse == c.warehouse && p.reserved.is_none()
        });
        let Some(planned) = planned else {
            return reject(
                Rule::ReservationNotPlanned,
                format!(
                    "no reservation of {} at {} waits for an outcome",
                    validate::printable(c.sku.as_str()),
                    validate::printable(c.warehouse.as_str())
                ),
            );
        };
        let planned = planned.line.quantity;
        let reserved_quantity = match (c.reserved, c.quantity) {
            (false, None) => 0,
            (true, None) => planned,
            (true, Some(held)) if (1..=planned).contains(&held) => held,
            (reserved, Some(held)) => {
                return reject(
                    Rule::ReservationOutcomeInvalid,
                    format!("holds {held} of {planned} planned, reserved {reserved}"),
                )
            }
        };
        Ok(ReservationRecorded {
            sku: c.sku.clone(),
            warehouse: c.warehouse.clone(),
            quantity: planned,
            reserved: c.reserved,
            reserved_quantity,
        })
    }

    fn confirm_stock_reserved(
        &self,
        c: &ConfirmStockReserved,
    ) -> Result<StockReservationConfirmed, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        ensure(!c.reservations.is_empty(), Rule::LinesRequired, || {
            "reservations is empty".to_owned()
        })?;
        // One SKU may be reserved across several warehouses; the sum must cover the line.
        let mut reserved: BTreeMap<&Sku, u64> = BTreeMap::new();
        for reservation in &c.reservations {
            validate::sku(&reservation.sku)?;
            validate::warehouse(&reservation.warehouse)?;
            self.line(&reservation.sku)?;
            validate::quantity("reserved quantity", u64::from(reservation.quantity), policy)?;
            *reserved.entry(&reservation.sku).or_default() += u64::from(reservation.quantity);
        }
        for line in &state.lines {
            let covered = reserved.get(&line.sku).copied().unwrap_or(0);
            ensure(
                covered == u64::from(line.quantity),
                Rule::ReservationDoesNotCoverOrder,
                || format!("{} ordered {}, reserved {covered}", line.sku, line.quantity),
            )?;
        }
        Ok(StockReservationConfirmed {
            reservations: c.reservations.clone(),
        })
    }

    fn mark_stock_short(&self, c: &MarkStockShort) -> Result<Vec<OrderEvent>, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        line_quantities("short_lines", &c.short_lines, policy)?;
        for short in &c.short_lines {
            let line = self.line(&short.sku)?;
            ensure(
                short.quantity <= line.quantity,
                Rule::ShortageExceedsOrdered,
                || {
                    format!(
                        "{} short {} of {} ordered",
                        short.sku, short.quantity, line.quantity
                    )
                },
            )?;
        }
        let recorded = StockShortRecorded {
            short_lines: c.short_lines.clone(),
            resolution: c.resolution,
        };
        match c.resolution {
            ShortResolution::Split => {
                let remaining = state.lines.iter().any(|line| {
                    let short = c.short_lines.iter().find(|s| s.sku == line.sku);
                    line.quantity > short.map_or(0, |s| s.quantity)
                });
                ensure(remaining, Rule::SplitLeavesNoLines, || {
                    "every line is short in full".to_owned()
                })?;
                // Discounts stay as granted; a split that leaves less than they take off
                // must be cancelled or backordered instead.
                let dropped: Amount = c
                    .short_lines
                    .iter()
                    .filter_map(|short| {
                        state
                            .line(&short.sku)
                            .map(|l| l.unit_price.times(short.quantity))
                    })
                    .sum();
                check_total(
                    state.subtotal() - dropped + state.shipping_fee,
                    state.discount_total(),
                )?;
            }
            ShortResolution::Cancel => {
                let cancelled = OrderCancelled {
                    reason: CancelReason::StockShort,
                    note: "stock short".to_owned(),
                    refund_due: state.captured() - state.refunded(),
                };
                return Ok(vec![recorded.into(), cancelled.into()]);
            }
            ShortResolution::Backorder => {}
        }
        Ok(vec![recorded.into()])
    }

    fn capture_payment(&self, c: &CapturePayment) -> Result<PaymentCaptured, Rejection> {
        let state = self.state;
        let currency = self.currency;
        validate::required_text("payment_id", c.payment_id.as_str(), SHORT_TEXT_MAX)?;
        check_new_payment(state, &c.payment_id)?;
        ensure(c.currency == currency, Rule::CurrencyMismatch, || {
            format!("payment in {}, order in {currency}", c.currency)
        })?;
        validate::amount("amount", c.amount, currency, true)?;
        validate::required_text("psp_reference", &c.psp_reference, SHORT_TEXT_MAX)?;
        let outstanding = state.total() - state.captured();
        ensure(
            c.amount <= outstanding,
            Rule::CaptureExceedsOutstanding,
            || {
                format!(
                    "capture of {} exceeds the {outstanding} outstanding",
                    c.amount
                )
            },
        )?;
        Ok(PaymentCaptured {
            payment_id: c.payment_id.clone(),
            method: c.method,
            amount: c.amount,
            psp_reference: c.psp_reference.clone(),
        })
    }

    fn fail_payment(&self, c: &FailPayment) -> Result<PaymentFailed, Rejection> {
        let state = self.state;
        validate::required_text("payment_id", c.payment_id.as_str(), SHORT_TEXT_MAX)?;
        check_new_payment(state, &c.payment_id)?;
        validate::required_text("reason", &c.reason, NOTE_MAX)?;
        Ok(PaymentFailed {
            payment_id: c.payment_id.clone(),
            reason: c.reason.clone(),
        })
    }

    fn release_hold(&self, c: &ReleaseHold) -> Result<HoldReleased, Rejection> {
        validate::optional_text("note", &c.note, NOTE_MAX)?;
        Ok(HoldReleased {
            note: c.note.clone(),
        })
    }

    fn allocate_warehouse(&self, c: &AllocateWarehouse) -> Result<WarehouseAllocated, Rejection> {
        ensure(!c.allocations.is_empty(), Rule::LinesRequired, || {
            "allocations is empty".to_owned()
        })?;
        let mut seen = HashSet::new();
        for allocation in &c.allocations {
            validate::sku(&allocation.sku)?;
            validate::unique_sku(&mut seen, &allocation.sku, "allocations")?;
            validate::warehouse(&allocation.warehouse)?;
            self.line(&allocation.sku)?;
        }
        Ok(WarehouseAllocated {
            allocations: c.allocations.clone(),
        })
    }

    fn record_carrier_exception(
        &self,
        c: &RecordCarrierException,
    ) -> Result<CarrierExceptionRecorded, Rejection> {
        let state = self.state;
        shipment_of(state, &c.shipment_id)?;
        validate::optional_text("note", &c.note, NOTE_MAX)?;
        Ok(CarrierExceptionRecorded {
            shipment_id: c.shipment_id.clone(),
            kind: c.kind,
            note: c.note.clone(),
        })
    }

    fn record_delivery(&self, c: &RecordDelivery) -> Result<ShipmentDelivered, Rejection> {
        let state = self.state;
        let delivered = self.deliver(&c.shipment_id)?;
        ensure(
            !state.is_cash_on_delivery() || state.outstanding().0.is_zero(),
            Rule::CashNotCollected,
            || {
                format!(
                    "{} is outstanding on this cash-on-delivery order: record CollectCashOnDelivery",
                    state.outstanding()
                )
            },
        )?;
        Ok(delivered)
    }

    /// A parcel of the order, not delivered yet, delivered now.
    fn deliver(&self, shipment_id: &ShipmentId) -> Result<ShipmentDelivered, Rejection> {
        let shipment = shipment_of(self.state, shipment_id)?;
        ensure(
            shipment.delivered_at.is_none(),
            Rule::ShipmentAlreadyDelivered,
            || format!("shipment {shipment_id} was delivered already"),
        )?;
        Ok(ShipmentDelivered {
            shipment_id: shipment_id.clone(),
            delivered_at: self.context.now,
        })
    }

    /// The carrier's collection at the door: the outstanding total, with the parcel's delivery.
    fn collect_cash_on_delivery(
        &self,
        c: &CollectCashOnDelivery,
    ) -> Result<Vec<OrderEvent>, Rejection> {
        let (state, currency) = (self.state, self.currency);
        ensure(state.is_cash_on_delivery(), Rule::NotCashOnDelivery, || {
            "the order is prepaid; its payments are captured with CapturePayment".to_owned()
        })?;
        validate::required_text("payment_id", c.payment_id.as_str(), SHORT_TEXT_MAX)?;
        check_new_payment(state, &c.payment_id)?;
        let delivered = self.deliver(&c.shipment_id)?;
        validate::amount("amount", c.amount, c.currency, true)?;
        let outstanding = state.outstanding();
        ensure(
            c.currency == currency && c.amount == outstanding,
            Rule::CollectionNotOutstanding,
            || {
                format!(
                    "collected {} {}; outstanding {outstanding} {currency}",
                    c.amount, c.currency
                )
            },
        )?;
        let shipment = shipment_of(state, &c.shipment_id)?;
        let collected = CashCollected {
            payment_id: c.payment_id.clone(),
            shipment_id: c.shipment_id.clone(),
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            amount: c.amount,
            collected_at: self.context.now,
        };
        Ok(vec![collected.into(), delivered.into()])
    }

    /// Refusal at the door: every parcel goes back to the sender and the order is cancelled,
    /// with the policy's refund due and the failed delivery's freight on its payer.
    fn refuse_delivery(&self, c: &RefuseDelivery) -> Result<Vec<OrderEvent>, Rejection> {
        let (state, policy) = (self.state, &self.context.policy);
        shipment_of(state, &c.shipment_id)?;
        validate::optional_text("note", &c.note, NOTE_MAX)?;
        let delivered = state.shipments.iter().find(|s| s.delivered_at.is_some());
        ensure(delivered.is_none(), Rule::RefusalAfterDelivery, || {
            let id = delivered.map(|s| s.shipment_id.as_str()).unwrap_or("?");
            format!("parcel {id} was delivered; what comes back now is a return")
        })?;
        let lines = state
            .lines
            .iter()
            .filter(|line| line.shipped > 0)
            .map(|line| LineQuantity {
                sku: line.sku.clone(),
                quantity: line.shipped,
            })
            .collect();
        let refundable = state.captured() - state.refunded();
        let refund_due = match policy.refused_delivery_refund {
            RefusalRefund::Full => refundable,
            RefusalRefund::GoodsOnly => (refundable - state.shipping_fee).max(Amount::ZERO),
        };
        let refused = DeliveryRefused {
            shipment_id: c.shipment_id.clone(),
            return_id: ReturnId::new(format!("rts-{}", c.shipment_id)),
            lines,
            note: c.note.clone(),
            freight: state.shipments.iter().map(|s| s.freight_cost).sum(),
            freight_payer: policy.refused_delivery_freight,
            refused_at: self.context.now,
        };
        let cancelled = OrderCancelled {
            reason: CancelReason::DeliveryRefused,
            note: c.note.clone(),
            refund_due,
        };
        Ok(vec![refused.into(), cancelled.into()])
    }

    fn confirm_receipt(&self) -> Result<ReceiptConfirmed, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        let context = self.context;
        let header = state.header.as_ref().expect("a placed order has a header");
        let actor = &context.actor;
        let automatic = actor.kind == ActorKind::System;
        match actor.kind {
            ActorKind::Customer => {
                ensure(
                    actor.id == header.customer_id.as_str(),
                    Rule::ActorNotPermitted,
                    || "only the order's customer may confirm receipt".to_owned(),
                )?;
            }
            ActorKind::System => {
                let delivered = state.delivered_at.expect("a delivered order has a time");
                let due = delivered + policy.auto_confirm_after();
                ensure(context.now >= due, Rule::AutoConfirmTooEarly, || {
                    format!(
                        "automatic confirmation is due at {due}; it is {}",
                        context.now
                    )
                })?;
            }
            ActorKind::Staff | ActorKind::Service => {}
        }
        Ok(ReceiptConfirmed {
            automatic,
            confirmed_at: context.now,
        })
    }

    fn request_return(&self, c: &RequestReturn) -> Result<ReturnRequested, Rejection> {
        let state = self.state;
        let context = self.context;
        check_return_request(state, &c.return_id, &c.lines, context)?;
        Ok(ReturnRequested {
            return_id: c.return_id.clone(),
            lines: c.lines.clone(),
            reason: c.reason,
        })
    }

    fn request_exchange(&self, c: &RequestExchange) -> Result<ExchangeRequested, Rejection> {
        let policy = &self.context.policy;
        let state = self.state;
        let context = self.context;
        check_return_request(state, &c.return_id, &c.lines, context)?;
        line_quantities("replacement", &c.replacement, policy)?;
        Ok(ExchangeRequested {
            return_id: c.return_id.clone(),
            lines: c.lines.clone(),
            replacement: c.replacement.clone(),
            reason: c.reason,
        })
    }

    fn receive_return(&self, c: &ReceiveReturn) -> Result<ReturnReceived, Rejection> {
        let state = self.state;
        let case = state.return_case(&c.return_id).ok_or_else(|| {
            Rejection::new(
                Rule::ReturnNotFound,
                format!(
                    "no return {} on this order",
                    validate::printable(c.return_id.as_str())
                ),
            )
        })?;
        ensure(
            case.disposition.is_none(),
            Rule::ReturnAlreadyReceived,
            || format!("return {} was received already", c.return_id),
        )?;
        Ok(ReturnReceived {
            return_id: c.return_id.clone(),
            disposition: c.disposition,
            lines: case.lines.clone(),
        })
    }

    fn refund(&self, c: &Refund) -> Result<RefundIssued, Rejection> {
        let state = self.state;
        let currency = self.currency;
        validate::required_text("refund_id", c.refund_id.as_str(), SHORT_TEXT_MAX)?;
        let known = state.refunds.iter().any(|r| r.refund_id == c.refund_id);
        ensure(!known, Rule::RefundAlreadyRecorded, || {
            format!("refund {} was issued already", c.refund_id)
        })?;
        validate::amount("amount", c.amount, currency, true)?;
        validate::required_text("psp_reference", &c.psp_reference, SHORT_TEXT_MAX)?;
        let refundable = state.captured() - state.refunded();
        ensure(c.amount <= refundable, Rule::RefundExceedsCaptured, || {
            format!(
                "refund of {} exceeds the {refundable} captured and not refunded",
                c.amount
            )
        })?;
        Ok(RefundIssued {
            refund_id: c.refund_id.clone(),
            amount: c.amount,
            reason: c.reason,
            psp_reference: c.psp_reference.clone(),
        })
    }

    /// Whether the command comes from the order's own customer.
    fn check_the_customer(&self) -> Result<(), Rejection> {
        let actor = &self.context.actor;
        let customer = self
            .state
            .header
            .as_ref()
            .map(|header| header.customer_id.as_str());
        ensure(
            actor.kind == ActorKind::Customer && Some(actor.id.as_str()) == customer,
            Rule::NotTheOrdersCustomer,
            || format!("{} is not this order's customer", actor.label()),
        )
    }

    fn review(&self, rating: u8, text: &str) -> Result<(), Rejection> {
        self.check_the_customer()?;
        ensure((1..=5).contains(&rating), Rule::RatingOutOfRange, || {
            format!("rating is {rating}")
        })?;
        validate::optional_text("text", text, NOTE_MAX)
    }

    fn review_order(&self, c: &ReviewOrder) -> Result<ReviewRecorded, Rejection> {
        self.review(c.rating, &c.text)?;
        ensure(
            self.state.review.is_none(),
            Rule::ReviewAlreadyRecorded,
            || "the order was reviewed already; revise the review with ReviseReview".to_owned(),
        )?;
        Ok(ReviewRecorded {
            rating: c.rating,
            text: c.text.clone(),
            reviewed_at: self.context.now,
        })
    }

    fn revise_review(&self, c: &ReviseReview) -> Result<ReviewRevised, Rejection> {
        self.review(c.rating, &c.text)?;
        let review = self.state.review.as_ref().ok_or_else(|| {
            Rejection::new(Rule::ReviewNotFound, "the order has no review to revise")
        })?;
        let closes = review
            .reviewed_at
            .map(|first| first + self.context.policy.review_revision_window());
        ensure(
            closes.is_some_and(|closes| self.context.now <= closes),
            Rule::ReviewRevisionWindowClosed,
            || match closes {
                Some(closes) => format!("revisions closed at {closes}; it is {}", self.context.now),
                None => "the review was recorded as feedback, without a date".to_owned(),
            },
        )?;
        Ok(ReviewRevised {
            rating: c.rating,
            text: c.text.clone(),
            revised_at: self.context.now,
        })
    }

    fn open_claim(&self, c: &OpenClaim) -> Result<ClaimOpened, Rejection> {
        let state = self.state;
        if self.context.actor.kind != ActorKind::Staff
            && self.context.actor.kind != ActorKind::Service
        {
            self.check_the_customer()?;
        }
        validate::required_text("claim_id", c.claim_id.as_str(), SHORT_TEXT_MAX)?;
        validate::optional_text("text", &c.text, NOTE_MAX)?;
        ensure(
            state.claim(&c.claim_id).is_none(),
            Rule::ClaimAlreadyRecorded,
            || format!("claim {} was opened already", c.claim_id),
        )?;
        let open = state.claims.iter().find(|claim| claim.is_open());
        ensure(open.is_none(), Rule::ClaimAlreadyOpen, || {
            let id = open.and_then(|claim| claim.claim_id.as_ref());
            format!("claim {} is open", id.map(ClaimId::as_str).unwrap_or("?"))
        })?;
        self.check_claim_window(c.kind)?;
        Ok(ClaimOpened {
            claim_id: c.claim_id.clone(),
            kind: c.kind,
            text: c.text.clone(),
            opened_at: self.context.now,
        })
    }

    /// A claim's window opens at delivery — for a parcel not received, once the last parcel's
    /// expected delivery has passed — and stays open for the policy's claim days.
    fn check_claim_window(&self, kind: ClaimKind) -> Result<(), Rejection> {
        let (state, policy, now) = (self.state, &self.context.policy, self.context.now);
        let expected = state
            .shipments
            .iter()
            .filter_map(|shipment| shipment.dispatched_at)
            .max()
            .map(|dispatched| dispatched + policy.expected_delivery());
        let opens = match (state.delivered_at, kind) {
            (Some(delivered), _) => delivered,
            (None, ClaimKind::NotReceived) => expected
                .ok_or_else(|| Rejection::new(Rule::ClaimTooEarly, "nothing was dispatched yet"))?,
            (None, _) => return reject(
                Rule::ClaimTooEarly,
                "the order was not delivered: only a claim that it was not received can be opened",
            ),
        };
        ensure(now >= opens, Rule::ClaimTooEarly, || {
            format!(
                "the parcel is expected by {opens}; a claim that it was not received opens then"
            )
        })?;
        let closes = opens + policy.claim_window();
        ensure(now <= closes, Rule::ClaimWindowClosed, || {
            format!("claims closed at {closes}; it is {now}")
        })
    }

    fn resolve_claim(&self, c: &ResolveClaim) -> Result<Vec<OrderEvent>, Rejection> {
        let actor = &self.context.actor;
        ensure(
            actor.kind == ActorKind::Staff,
            Rule::ClaimResolverNotStaff,
            || format!("{} is not staff", actor.label()),
        )?;
        let claim = self.state.claim(&c.claim_id).ok_or_else(|| {
            let id = validate::printable(c.claim_id.as_str());
            Rejection::new(Rule::ClaimNotFound, format!("no claim {id} on this order"))
        })?;
        ensure(
            claim.resolution.is_none(),
            Rule::ClaimAlreadyResolved,
            || format!("claim {} was resolved already", c.claim_id),
        )?;
        let consequence: Option<OrderEvent> = match &c.resolution {
            ClaimResolution::Refund(refund) => Some(self.claim_refund(c.order_id, refund)?.into()),
            ClaimResolution::Replacement(replacement) => {
                Some(self.claim_replacement(claim.kind, replacement)?.into())
            }
            ClaimResolution::Rejected(rejection) => {
                validate::required_text("resolution.rejected.reason", &rejection.reason, NOTE_MAX)?;
                None
            }
        };
        let resolved = ClaimResolved {
            claim_id: c.claim_id.clone(),
            resolution: c.resolution.clone(),
            resolved_at: self.context.now,
        };
        Ok([resolved.into()].into_iter().chain(consequence).collect())
    }

    /// A claim's refund goes through the order's refunds: the same checks, the same event.
    fn claim_refund(
        &self,
        order_id: OrderId,
        refund: &ClaimRefund,
    ) -> Result<RefundIssued, Rejection> {
        self.refund(&Refund {
            order_id,
            refund_id: refund.refund_id.clone(),
            amount: refund.amount,
            reason: RefundReason::Claim,
            psp_reference: refund.psp_reference.clone(),
        })
    }

    /// A claim's replacement is an exchange of the claimed lines for the same again; delivered
    /// goods only, and not bound by the return window (the claim's own window was checked
    /// when it was opened).
    fn claim_replacement(
        &self,
        kind: ClaimKind,
        replacement: &ClaimReplacement,
    ) -> Result<ExchangeRequested, Rejection> {
        let reason = match (self.state.delivered_at, kind) {
            (Some(_), ClaimKind::Defective) => ReturnReason::Defective,
            (Some(_), ClaimKind::Damaged) => ReturnReason::DamagedInTransit,
            (Some(_), ClaimKind::NotAsDescribed | ClaimKind::Counterfeit) => {
                ReturnReason::NotAsDescribed
            }
            _ => {
                return reject(
                    Rule::ReplacementNotDelivered,
                    "goods not received are not exchanged: refund them",
                )
            }
        };
        check_return_lines(
            self.state,
            &replacement.return_id,
            &replacement.lines,
            self.context,
        )?;
        line_quantities("replacement", &replacement.lines, &self.context.policy)?;
        Ok(ExchangeRequested {
            return_id: replacement.return_id.clone(),
            lines: replacement.lines.clone(),
            replacement: replacement.lines.clone(),
            reason,
        })
    }
}

fn check_new_payment(state: &Order, payment_id: &PaymentId) -> Result<(), Rejection> {
    let known = state.payments.iter().any(|p| &p.payment_id == payment_id);
    ensure(!known, Rule::PaymentAlreadyRecorded, || {
        format!("payment {payment_id} was recorded already")
    })
}

fn shipment_of<'a>(
    state: &'a Order,
    shipment_id: &ShipmentId,
) -> Result<&'a super::Shipment, Rejection> {
    state.shipment(shipment_id).ok_or_else(|| {
        Rejection::new(
            Rule::ShipmentNotFound,
            format!(
                "no shipment {} on this order",
                validate::printable(shipment_id.as_str())
            ),
        )
    })
}

fn check_return_request(
    state: &Order,
    return_id: &ReturnId,
    lines: &[LineQuantity],
    context: &Context,
) -> Result<(), Rejection> {
    let delivered = state
        .delivered_at
        .expect("orders after delivery have a delivery time");
    let closes = delivered + context.policy.return_window();
    ensure(context.now <= closes, Rule::ReturnWindowClosed, || {
        format!(
            "the return window closed at {closes}; it is {}",
            context.now
        )
    })?;
    check_return_lines(state, return_id, lines, context)
}

/// A new return case's id and lines: each a line of the order, shipped and not yet returned.
fn check_return_lines(
    state: &Order,
    return_id: &ReturnId,
    lines: &[LineQuantity],
    context: &Context,
) -> Result<(), Rejection> {
    validate::required_text("return_id", return_id.as_str(), SHORT_TEXT_MAX)?;
    ensure(
        state.return_case(return_id).is_none(),
        Rule::ReturnAlreadyRecorded,
        || format!("return {return_id} was requested already"),
    )?;
    line_quantities("lines", lines, &context.policy)?;
    for returned in lines {
        let line = state.line(&returned.sku).ok_or_else(|| {
            Rejection::new(
                Rule::LineNotFound,
                format!("{} is not a line of the order", returned.sku),
            )
        })?;
        let returnable = line.shipped - state.return_requested(&returned.sku);
        ensure(
            returned.quantity <= returnable,
            Rule::ReturnExceedsShipped,
            || {
                format!(
                    "{} returns {}, {returnable} returnable",
                    returned.sku, returned.quantity
                )
            },
        )?;
    }
    Ok(())
}

/// A list of SKU quantities (shipment, return, shortage): at least one line, each SKU valid and
/// listed once, each quantity in range.
fn line_quantities(field: &str, lines: &[LineQuantity], policy: &Policy) -> Result<(), Rejection> {
    ensure(!lines.is_empty(), Rule::LinesRequired, || {
        format!("{field} is empty")
    })?;
    let mut seen = HashSet::new();
    for line in lines {
        validate::sku(&line.sku)?;
        validate::unique_sku(&mut seen, &line.sku, field)?;
        validate::quantity(
            &format!("{field} quantity of {}", line.sku),
            u64::from(line.quantity),
            policy,
        )?;
    }
    Ok(())
}
