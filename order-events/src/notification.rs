//! Notifications: what the customer is told about their order, derived from the order's events
//! and decided nowhere else. One event makes at most one notification, whose id derives from
//! the event's, so deriving again (a rebuild, a redelivery) gives the same notification and a
//! receiver deduplicates by its id.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{CarrierId, CustomerId, MerchantId, OrderId, RefundId, ReturnId, ShipmentId};
use crate::money::{Amount, Currency};
use crate::order::{
    CancelReason, CarrierExceptionKind, LineQuantity, Order, OrderEvent, OrderStatus, PaymentTerms,
    ShortResolution,
};

/// One customer-facing moment of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Notification {
    /// Derived from the causing event's id: the same moment always has the same id.
    pub notification_id: Uuid,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub merchant_id: MerchantId,
    /// The event it was derived from.
    pub caused_by: Uuid,
    pub occurred_at: DateTime<Utc>,
    #[serde(flatten)]
    pub notice: Notice,
}

/// What the customer is told, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Paid in full — or, cash on delivery, its stock reserved — the order is confirmed.
    OrderConfirmed {
        total: Amount,
        currency: Currency,
        /// `cash_on_delivery`: the total is to be paid to the carrier at the door.
        payment_terms: PaymentTerms,
    },
    /// Some lines could not be reserved: what is short, what the shop did (`resolution`), and
    /// what the customer may choose instead.
    Shortage {
        short_lines: Vec<LineQuantity>,
        resolution: ShortResolution,
        choices: Vec<ShortResolution>,
    },
    Shipped {
        shipment_id: ShipmentId,
        carrier: CarrierId,
        tracking_number: String,
    },
    /// A parcel is delayed, lost or damaged.
    DeliveryException {
        shipment_id: ShipmentId,
        exception: CarrierExceptionKind,
    },
    Delivered {
        shipment_id: ShipmentId,
    },
    /// Receipt was confirmed automatically, the auto-confirm days after delivery.
    ReceiptConfirmed,
    /// A return or an exchange was accepted.
    ReturnApproved {
        return_id: ReturnId,
        lines: Vec<LineQuantity>,
        exchange: bool,
    },
    RefundIssued {
        refund_id: RefundId,
        amount: Amount,
        currency: Currency,
    },
    /// The parcel was refused at the door: the order is cancelled, and `refund_due` (nothing
    /// for cash on delivery) comes back.
    DeliveryRefused {
        refund_due: Amount,
        currency: Currency,
    },
}

impl Notice {
    /// The wire name of the kind (`order_confirmed`, `shipped`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::OrderConfirmed { .. } => "order_confirmed",
            Notice::Shortage { .. } => "shortage",
            Notice::Shipped { .. } => "shipped",
            Notice::DeliveryException { .. } => "delivery_exception",
            Notice::Delivered { .. } => "delivered",
            Notice::ReceiptConfirmed => "receipt_confirmed",
            Notice::ReturnApproved { .. } => "return_approved",
            Notice::RefundIssued { .. } => "refund_issued",
            Notice::DeliveryRefused { .. } => "delivery_refused",
        }
    }

    /// Every kind, as configuration names them.
    pub const KINDS: [&'static str; 9] = [
        "order_confirmed",
        "shortage",
        "shipped",
        "delivery_exception",
        "delivered",
        "receipt_confirmed",
        "return_approved",
        "refund_issued",
        "delivery_refused",
    ];
}

/// The namespace of notification ids (a v5 UUID of the causing event's id).
const NAMESPACE: Uuid = Uuid::from_u128(0x6e07_1f1c_a7e5_4c0e_9a3d_1b0e_55c1_7a10);

/// The notification `event` makes, given the order after it (`order`), the event's id and
/// when it was recorded; `None` when the event is no customer-facing moment.
pub fn notification(
    order: &Order,
    event: &OrderEvent,
    event_id: Uuid,
    recorded_at: DateTime<Utc>,
) -> Option<Notification> {
    let header = order.header.as_ref()?;
    let notice = notice(order, event, header.currency)?;
    Some(Notification {
        notification_id: Uuid::new_v5(&NAMESPACE, event_id.as_bytes()),
        order_id: header.order_id,
        customer_id: header.customer_id.clone(),
        merchant_id: header.merchant_id.clone(),
        caused_by: event_id,
        occurred_at: recorded_at,
        notice,
    })
}

fn notice(order: &Order, event: &OrderEvent, currency: Currency) -> Option<Notice> {
    Some(match event {
        OrderEvent::PaymentCaptured(_) if order.status == OrderStatus::Paid => {
            Notice::OrderConfirmed {
                total: order.total(),
                currency,
                payment_terms: PaymentTerms::Prepaid,
            }
        }
        OrderEvent::StockReservationConfirmed(_) if order.status == OrderStatus::ReadyToShip => {
            Notice::OrderConfirmed {
                total: order.total(),
                currency,
                payment_terms: PaymentTerms::CashOnDelivery,
            }
        }
        OrderEvent::OrderCancelled(e) if e.reason == CancelReason::DeliveryRefused => {
            Notice::DeliveryRefused {
                refund_due: e.refund_due,
                currency,
            }
        }
        OrderEvent::StockShortRecorded(e) => Notice::Shortage {
            short_lines: e.short_lines.clone(),
            resolution: e.resolution,
            choices: vec![
                ShortResolution::Backorder,
                ShortResolution::Split,
                ShortResolution::Cancel,
            ],
        },
        OrderEvent::ShipmentDispatched(e) => Notice::Shipped {
            shipment_id: e.shipment_id.clone(),
            carrier: e.carrier.clone(),
            tracking_number: e.tracking_number.clone(),
        },
        OrderEvent::CarrierExceptionRecorded(e) => Notice::DeliveryException {
            shipment_id: e.shipment_id.clone(),
            exception: e.kind,
        },
        OrderEvent::ShipmentDelivered(e) => Notice::Delivered {
            shipment_id: e.shipment_id.clone(),
        },
        OrderEvent::ReceiptConfirmed(e) if e.automatic => Notice::ReceiptConfirmed,
        OrderEvent::ReturnRequested(e) => Notice::ReturnApproved {
            return_id: e.return_id.clone(),
            lines: e.lines.clone(),
            exchange: false,
        },
        OrderEvent::ExchangeRequested(e) => Notice::ReturnApproved {
            return_id: e.return_id.clone(),
            lines: e.lines.clone(),
            exchange: true,
        },
        OrderEvent::RefundIssued(e) => Notice::RefundIssued {
            refund_id: e.refund_id.clone(),
            amount: e.amount,
            currency,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order;
    use crate::testkit::at;
    use crate::testkit::samples::{self, history_to};

    /// The notifications of a history, folding it as the read side does.
    fn derived(history: &[OrderEvent]) -> Vec<Notification> {
        let mut state = Order::default();
        let mut found = Vec::new();
        for (n, event) in history.iter().enumerate() {
            order::apply(&mut state, event);
            let id = Uuid::from_u128(n as u128 + 1);
            found.extend(notification(&state, event, id, at(n as i64)));
        }
        found
    }

    #[test]
    fn a_delivered_order_tells_its_customer_confirmed_shipped_and_delivered_once_each() {
        let kinds: Vec<&str> = derived(&history_to(OrderStatus::Delivered))
            .iter()
            .map(|n| n.notice.kind())
            .collect();
        assert_eq!(kinds, ["order_confirmed", "shipped", "delivered"]);
    }

    #[test]
    fn a_partial_capture_confirms_nothing_and_the_id_derives_from_the_event() {
        let history = history_to(OrderStatus::PartiallyPaid);
        assert!(derived(&history).is_empty());
        let paid = history_to(OrderStatus::Paid);
        let twice = (derived(&paid), derived(&paid));
        assert_eq!(twice.0, twice.1);
        let confirmed = &twice.0[0];
        assert_eq!(confirmed.customer_id.as_str(), "cust-42");
        assert_eq!(
            confirmed.notification_id,
            Uuid::new_v5(&NAMESPACE, confirmed.caused_by.as_bytes())
        );
        let json = serde_json::to_value(confirmed).unwrap();
        assert_eq!(json["kind"], "order_confirmed");
        assert_eq!(json["total"], samples::TOTAL);
        assert_eq!(json["payment_terms"], "prepaid");
    }

    #[test]
    fn cash_on_delivery_is_confirmed_when_reserved_and_a_refusal_is_told() {
        let refused = derived(&samples::cod_refused("rts-S1"));
        let kinds: Vec<&str> = refused.iter().map(|n| n.notice.kind()).collect();
        assert_eq!(kinds, ["order_confirmed", "shipped", "delivery_refused"]);
        let json = serde_json::to_value(&refused[0]).unwrap();
        assert_eq!(json["payment_terms"], "cash_on_delivery");
        let json = serde_json::to_value(&refused[2]).unwrap();
        assert_eq!(json["refund_due"], "0.00");
    }
}
