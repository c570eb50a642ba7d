//! A merchant's account: what the merchant has earned and what was paid out.
//!
//! The order process feeds it: every capture on the merchant's orders accrues the captured
//! amount less the platform's commission; every refund charges the refunded amount less the
//! commission given back; every delivery starts the order's return window. A payout is decided
//! against it: at most the earnings, less what is held back for orders whose return window is
//! still open (the policy's `payout_holdback_percent` of their earnings; an undelivered order's
//! window has not even begun), less earlier payouts.
//!
//! The account tracks each order only while its earnings may be held back or its commission
//! reversed: a payout forgets the orders whose window had closed by then, and a fully refunded
//! order is forgotten at once. So its state is bounded by the orders in flight, not by every
//! order the merchant ever sold.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use super::{
    AccountEvent, AccrueMerchantEarnings, ChargeMerchantFreight, ChargeMerchantRefund,
    MerchantEarningsAccrued, MerchantFreightCharged, MerchantPaidOut, MerchantRefundCharged,
    PayoutMerchant,
};
use crate::context::{Context, Policy};
use crate::ids::{OrderId, PaymentId, RefundId};
use crate::money::{Amount, Currency};
use crate::rejection::{ensure, reject, Rejection, Rule};
use crate::settlement::CommissionSoFar;
use crate::validate::{self, SHORT_TEXT_MAX};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MerchantEarnings {
    /// Captures − commission − refunds + commission reversals − freight of refused deliveries
    /// charged to the merchant, over the account's life.
    pub earned: Amount,
    /// Every payout so far.
    pub paid_out: Amount,
    /// Orders whose earnings may still be held back or whose commission may still be reversed.
    pub open_orders: BTreeMap<OrderId, OpenOrder>,
    /// Payout reference → amount paid under it.
    pub payouts: BTreeMap<String, Amount>,
}

/// One order the account still tracks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OpenOrder {
    /// What the order has earned the merchant so far.
    pub earned: Amount,
    pub commission: CommissionSoFar,
    /// When the last parcel was delivered; `None`: not yet, so the return window has not begun.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Payments and refunds accrued, so a repeat is refused.
    pub payments: BTreeSet<PaymentId>,
    pub refunds: BTreeSet<RefundId>,
}

impl OpenOrder {
    /// Whether the order's return window is open at `now` (or not yet begun).
    pub fn window_open(&self, now: DateTime<Utc>, policy: &Policy) -> bool {
        self.delivered_at
            .is_none_or(|delivered| now < delivered + policy.return_window())
    }

    /// Nothing left to hold back or to give back.
    fn settled(&self) -> bool {
        self.earned == Amount::ZERO && self.commission.charged == self.commission.reversed
    }

    /// Folds a capture's earnings in.
    pub fn accrue(&mut self, e: &MerchantEarningsAccrued) {
        self.earned += e.captured - e.commission;
        self.commission.charged += e.commission;
        self.payments.insert(e.payment_id.clone());
    }

    /// Folds a refund's charge in.
    pub fn charge_refund(&mut self, e: &MerchantRefundCharged) {
        self.earned -= e.refunded - e.commission_reversed;
        self.commission.reversed += e.commission_reversed;
        self.refunds.insert(e.refund_id.clone());
    }
}

/// What is held back of orders whose return window is open (or not yet begun): the policy's
/// share of their earnings (an order that owes counts as nothing), rounded up to the
/// currency's minor units. The merchant account decides payouts with it; the settlement read
/// model shows it.
pub fn held_back<'a>(
    open_orders: impl IntoIterator<Item = &'a OpenOrder>,
    policy: &Policy,
    currency: Currency,
) -> Amount {
    let share = Decimal::from(policy.payout_holdback_percent.min(100)) / Decimal::ONE_HUNDRED;
    let open: Decimal = open_orders
        .into_iter()
        .map(|order| order.earned.0.max(Decimal::ZERO))
        .sum();
    let mut held = (open * share)
        .round_dp_with_strategy(currency.minor_units(), RoundingStrategy::AwayFromZero);
    held.rescale(currency.minor_units());
    Amount(held)
}

impl MerchantEarnings {
    /// What is held back at `now`: see [`held_back`].
    pub fn held(&self, now: DateTime<Utc>, policy: &Policy, currency: Currency) -> Amount {
        let open = self
            .open_orders
            .values()
            .filter(|order| order.window_open(now, policy));
        held_back(open, policy, currency)
    }

    /// What may be paid out at `now`: earnings, less what is held back, less earlier payouts.
    pub fn available(&self, now: DateTime<Utc>, policy: &Policy, currency: Currency) -> Amount {
        self.earned - self.held(now, policy, currency) - self.paid_out
    }

    pub(super) fn check_invariants(&self) -> Result<(), String> {
        let paid: Amount = self.payouts.values().copied().sum();
        if paid != self.paid_out {
            return Err(format!(
                "payouts by reference add up to {paid}, not the {} paid out",
                self.paid_out
            ));
        }
        for (order_id, order) in &self.open_orders {
            if order.commission.reversed > order.commission.charged {
                return Err(format!(
                    "order {order_id}: commission reversed {} above the {} charged",
                    order.commission.reversed, order.commission.charged
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn accrue(
    state: &MerchantEarnings,
    c: &AccrueMerchantEarnings,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::amount("captured", c.captured, c.currency, true)?;
    validate::amount("commission", c.commission, c.currency, false)?;
    ensure(
        c.commission <= c.captured,
        Rule::CommissionExceedsAmount,
        || format!("commission {} on a capture of {}", c.commission, c.captured),
    )?;
    let repeated = state
        .open_orders
        .get(&c.order_id)
        .is_some_and(|order| order.payments.contains(&c.payment_id));
    ensure(!repeated, Rule::AccrualAlreadyRecorded, || {
        format!(
            "payment {} of order {} is already accrued",
            c.payment_id, c.order_id
        )
    })?;
    Ok(vec![MerchantEarningsAccrued {
        merchant_id: c.merchant_id.clone(),
        currency: c.currency,
        order_id: c.order_id,
        payment_id: c.payment_id.clone(),
        captured: c.captured,
        commission: c.commission,
    }
    .into()])
}

pub(super) fn charge_refund(
    state: &MerchantEarnings,
    c: &ChargeMerchantRefund,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::amount("refunded", c.refunded, c.currency, true)?;
    validate::amount("commission_share", c.commission_share, c.currency, false)?;
    ensure(
        c.commission_share <= c.refunded,
        Rule::CommissionExceedsAmount,
        || {
            format!(
                "commission share {} of a refund of {}",
                c.commission_share, c.refunded
            )
        },
    )?;
    let order = state.open_orders.get(&c.order_id);
    ensure(
        !order.is_some_and(|order| order.refunds.contains(&c.refund_id)),
        Rule::AccrualAlreadyRecorded,
        || {
            format!(
                "refund {} of order {} is already charged",
                c.refund_id, c.order_id
            )
        },
    )?;
    // The same share of the refund, never more than is left of what was charged. An order the
    // account no longer tracks had its window close and a payout since: its share is given back.
    let commission_reversed = match order {
        Some(order) => c
            .commission_share
            .min(order.commission.charged - order.commission.reversed),
        None => c.commission_share,
    };
    Ok(vec![MerchantRefundCharged {
        merchant_id: c.merchant_id.clone(),
        currency: c.currency,
        order_id: c.order_id,
        refund_id: c.refund_id.clone(),
        refunded: c.refunded,
        commission_reversed,
    }
    .into()])
}

/// The freight of a delivery refused at the door, when the policy puts it on the merchant: it
/// comes off the earnings (not off any order's, so no order stays tracked for it). A repeat of
/// the process's command has the same command id and is decided once.
pub(super) fn charge_freight(
    _state: &MerchantEarnings,
    c: &ChargeMerchantFreight,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text("shipment_id", c.shipment_id.as_str(), SHORT_TEXT_MAX)?;
    validate::amount("freight", c.freight, c.currency, true)?;
    Ok(vec![MerchantFreightCharged {
        merchant_id: c.merchant_id.clone(),
        currency: c.currency,
        order_id: c.order_id,
        shipment_id: c.shipment_id.clone(),
        freight: c.freight,
    }
    .into()])
}

pub(super) fn payout(
    state: &MerchantEarnings,
    c: &PayoutMerchant,
    context: &Context,
) -> Result<Vec<AccountEvent>, Rejection> {
    validate::required_text("payout_reference", &c.payout_reference, SHORT_TEXT_MAX)?;
    validate::amount("amount", c.amount, c.currency, true)?;
    match state.payouts.get(&c.payout_reference) {
        // A retry of a payout already made: nothing more to do.
        Some(paid) if *paid == c.amount => return Ok(Vec::new()),
        Some(paid) => {
            return reject(
                Rule::TransferReferenceReused,
                format!(
                    "payout reference {} already paid out {paid}, not {}",
                    c.payout_reference, c.amount
                ),
            )
        }
        None => {}
    }
    let policy = &context.policy;
    let held = state.held(context.now, policy, c.currency);
    let available = state.earned - held - state.paid_out;
    ensure(c.amount <= available, Rule::PayoutExceedsAvailable, || {
        let show = |amount: Amount| format!("{:.*}", c.currency.minor_units() as usize, amount.0);
        format!(
            "payout of {} {} exceeds the {} available: earned {}, held back {} for open \
             return windows, paid out {}",
            show(c.amount),
            c.currency,
            show(available),
            show(state.earned),
            show(held),
            show(state.paid_out)
        )
    })?;
    Ok(vec![MerchantPaidOut {
        merchant_id: c.merchant_id.clone(),
        currency: c.currency,
        amount: c.amount,
        payout_reference: c.payout_reference.clone(),
        available,
        windows_closed_through: context.now - policy.return_window(),
    }
    .into()])
}

pub(super) fn apply(state: &mut MerchantEarnings, event: &AccountEvent) {
    match event {
        AccountEvent::MerchantEarningsAccrued(e) => {
            state.earned += e.captured - e.commission;
            state.open_orders.entry(e.order_id).or_default().accrue(e);
        }
        AccountEvent::MerchantRefundCharged(e) => {
            state.earned -= e.refunded - e.commission_reversed;
            if let Some(order) = state.open_orders.get_mut(&e.order_id) {
                order.charge_refund(e);
                if order.settled() {
                    state.open_orders.remove(&e.order_id);
                }
            }
        }
        AccountEvent::ReturnWindowStarted(e) => {
            state
                .open_orders
                .entry(e.order_id)
                .or_default()
                .delivered_at = Some(e.delivered_at);
        }
        AccountEvent::MerchantPaidOut(e) => {
            state.paid_out += e.amount;
            state.payouts.insert(e.payout_reference.clone(), e.amount);
            state.open_orders.retain(|_, order| {
                order
                    .delivered_at
                    .is_none_or(|delivered| delivered > e.windows_closed_through)
            });
        }
        AccountEvent::MerchantFreightCharged(e) => state.earned -= e.freight,
        _ => unreachable!("account::apply routes only merchant events here"),
    }
}
