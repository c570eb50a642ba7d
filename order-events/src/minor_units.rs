//! Every amount a new event records is written with its currency's minor units: `"0.00"` and
//! `"20.00"` in EUR, whether the command said `"20"` or the decision computed a zero. Events
//! are what other services read (JSON event records, exports), so money reads alike
//! everywhere. The value never changes, only how many digits it is written with; events
//! already in the log keep theirs.

use crate::account::AccountEvent;
use crate::money::{Amount, Currency};
use crate::order::OrderEvent;
use crate::reconciliation::ReconciliationEvent;
use crate::Event;

/// `event` with its amounts in minor units of its currency: its own `currency` field, or for
/// an order's events that carry none, `order_currency` (the order's, from its state).
pub fn in_minor_units(mut event: Event, order_currency: Option<Currency>) -> Event {
    match &mut event {
        Event::Order(event) => order(event, order_currency),
        Event::Account(event) => account(event),
        Event::Reconciliation(ReconciliationEvent::ReconciliationRecorded(run)) => {
            for net in &mut run.outcome.currencies {
                let c = net.currency;
                Amount::rescale_all(
                    c,
                    [
                        &mut net.expected_net,
                        &mut net.reported_net,
                        &mut net.variance,
                    ],
                );
            }
        }
        Event::Stock(_) | Event::Wave(_) => {}
    }
    event
}

fn order(event: &mut OrderEvent, order_currency: Option<Currency>) {
    use OrderEvent::*;
    if let OrderPlaced(placed) = event {
        let c = placed.currency;
        placed.shipping_fee = placed.shipping_fee.in_minor_units(c);
        for line in &mut placed.lines {
            line.unit_price = line.unit_price.in_minor_units(c);
        }
        for discount in &mut placed.discounts {
            discount.amount = discount.amount.in_minor_units(c);
        }
        return;
    }
    let Some(c) = order_currency else {
        return;
    };
    let amounts: Vec<&mut Amount> = match event {
        PriceModified(e) => vec![&mut e.previous_unit_price, &mut e.unit_price],
        DiscountApplied(e) => vec![&mut e.discount.amount],
        OrderCancelled(e) => vec![&mut e.refund_due],
        PaymentCaptured(e) => vec![&mut e.amount],
        ShipmentDispatched(e) => vec![&mut e.freight_cost],
        RefundIssued(e) => vec![&mut e.amount],
        CashCollected(e) => vec![&mut e.amount],
        DeliveryRefused(e) => vec![&mut e.freight],
        _ => Vec::new(),
    };
    Amount::rescale_all(c, amounts);
}

fn account(event: &mut AccountEvent) {
    use AccountEvent::*;
    let (c, amounts): (Currency, Vec<&mut Amount>) = match event {
        PspSettlementRecorded(e) => (e.currency, vec![&mut e.gross, &mut e.fees, &mut e.net]),
        MerchantEarningsAccrued(e) => (e.currency, vec![&mut e.captured, &mut e.commission]),
        MerchantRefundCharged(e) => (
            e.currency,
            vec![&mut e.refunded, &mut e.commission_reversed],
        ),
        ReturnWindowStarted(_) => return,
        MerchantPaidOut(e) => (e.currency, vec![&mut e.amount, &mut e.available]),
        CarrierFreightAccrued(e) => (e.currency, vec![&mut e.freight]),
        CarrierInvoiceRecorded(e) => {
            let c = e.currency;
            for parcel in &mut e.lines {
                parcel.charged = parcel.charged.in_minor_units(c);
                parcel.invoiced = parcel.invoiced.in_minor_units(c);
            }
            (c, vec![&mut e.charged, &mut e.invoiced])
        }
        CarrierPaid(e) => (e.currency, vec![&mut e.amount]),
        CarrierCodAccrued(e) => (e.currency, vec![&mut e.amount]),
        CodRemitted(e) => {
            let c = e.currency;
            for parcel in &mut e.parcels {
                parcel.amount = parcel.amount.in_minor_units(c);
            }
            let netted = e.netted.as_mut().map(|n| &mut n.amount);
            let amounts = [&mut e.gross, &mut e.fees, &mut e.net].into_iter();
            (c, amounts.chain(netted).collect())
        }
        MerchantFreightCharged(e) => (e.currency, vec![&mut e.freight]),
    };
    Amount::rescale_all(c, amounts);
}
