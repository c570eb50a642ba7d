//! The order state machine, written once as a table.
//!
//! [`TRANSITIONS`] says from which statuses each command is legal. `decide` consults it before
//! any other rule, so a command outside the table is refused as `illegal_transition`. Which
//! status an event leads to is said next to each event in `apply` and summarised in
//! `ARCHITECTURE.md`.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::messages::OrderCommand;

/// Where an order is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// No order yet: the aggregate before `OrderPlaced`.
    #[default]
    Initial,
    /// Placed; stock reservation pending.
    Placed,
    /// Some lines short; waiting for stock.
    Backordered,
    /// Stock reserved; waiting for payment until the payment deadline.
    AwaitingPayment,
    /// Some, not all, of the total captured (combined payment).
    PartiallyPaid,
    /// The total captured.
    Paid,
    /// Stock reserved for a cash-on-delivery order: it ships unpaid, and the carrier collects
    /// the total at the door.
    ReadyToShip,
    /// Some lines shipped.
    PartiallyShipped,
    /// Everything shipped.
    Shipped,
    /// Every parcel delivered.
    Delivered,
    /// Receipt confirmed by the customer or automatically.
    Completed,
    /// Exception: a failed payment or a lost or damaged parcel waits for a person.
    OnHold,
    /// A return or exchange case is open.
    ReturnRequested,
    /// Some of what was shipped came back.
    PartiallyReturned,
    /// Everything shipped came back.
    Returned,
    /// Everything captured was refunded.
    Refunded,
    /// Cancelled before shipment, or refused at the door.
    Cancelled,
    /// Not paid before the payment deadline.
    Expired,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 18] = [
        OrderStatus::Initial,
        OrderStatus::Placed,
        OrderStatus::Backordered,
        OrderStatus::AwaitingPayment,
        OrderStatus::PartiallyPaid,
        OrderStatus::Paid,
        OrderStatus::ReadyToShip,
        OrderStatus::PartiallyShipped,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Completed,
        OrderStatus::OnHold,
        OrderStatus::ReturnRequested,
        OrderStatus::PartiallyReturned,
        OrderStatus::Returned,
        OrderStatus::Refunded,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OrderStatus::Initial => "initial",
            OrderStatus::Placed => "placed",
            OrderStatus::Backordered => "backordered",
            OrderStatus::AwaitingPayment => "awaiting_payment",
            OrderStatus::PartiallyPaid => "partially_paid",
            OrderStatus::Paid => "paid",
            OrderStatus::ReadyToShip => "ready_to_ship",
            OrderStatus::PartiallyShipped => "partially_shipped",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Completed => "completed",
            OrderStatus::OnHold => "on_hold",
            OrderStatus::ReturnRequested => "return_requested",
            OrderStatus::PartiallyReturned => "partially_returned",
            OrderStatus::Returned => "returned",
            OrderStatus::Refunded => "refunded",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Expired => "expired",
        }
    }

    /// Whether goods have left the warehouse (cancellation is then no longer possible).
    pub fn has_shipped(self) -> bool {
        !matches!(
            self,
            OrderStatus::Initial
                | OrderStatus::Placed
                | OrderStatus::Backordered
                | OrderStatus::AwaitingPayment
                | OrderStatus::PartiallyPaid
                | OrderStatus::Paid
                | OrderStatus::ReadyToShip
                | OrderStatus::Cancelled
                | OrderStatus::Expired
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

use OrderStatus::*;

/// Statuses an order can be in after delivery, where after-sales commands apply.
const AFTER_DELIVERY: &[OrderStatus] = &[Delivered, Completed, ReturnRequested, PartiallyReturned];

/// For each command type, the statuses it is legal in. The one place the state machine lives.
pub const TRANSITIONS: &[(&str, &[OrderStatus])] = &[
    ("PlaceOrder", &[Initial]),
    (
        "ModifyPrice",
        &[Placed, Backordered, AwaitingPayment, ReadyToShip],
    ),
    (
        "ApplyDiscount",
        &[Placed, Backordered, AwaitingPayment, ReadyToShip],
    ),
    // On hold is allowed; `decide` refuses it too when the held order had already shipped.
    (
        "CancelOrder",
        &[
            Placed,
            Backordered,
            AwaitingPayment,
            PartiallyPaid,
            Paid,
            ReadyToShip,
            OnHold,
        ],
    ),
    ("ExpireOrder", &[Placed, Backordered, AwaitingPayment]),
    ("PlanReservations", &[Placed, Backordered]),
    // Outcomes still arrive after a cancellation or expiry; the process then releases them.
    (
        "RecordReservation",
        &[Placed, Backordered, Cancelled, Expired],
    ),
    ("ConfirmStockReserved", &[Placed, Backordered]),
    ("MarkStockShort", &[Placed, Backordered]),
    ("CapturePayment", &[AwaitingPayment, PartiallyPaid]),
    ("FailPayment", &[AwaitingPayment, PartiallyPaid]),
    ("ReleaseHold", &[OnHold]),
    (
        "AllocateWarehouse",
        &[AwaitingPayment, PartiallyPaid, Paid, ReadyToShip],
    ),
    ("Ship", &[Paid, ReadyToShip, PartiallyShipped]),
    // A wave's picks may arrive while a partly shipped order is held for a lost parcel.
    (
        "RecordPicks",
        &[Paid, ReadyToShip, PartiallyShipped, OnHold],
    ),
    ("PackParcel", &[Paid, ReadyToShip, PartiallyShipped]),
    (
        "RecordCarrierException",
        &[PartiallyShipped, Shipped, Delivered],
    ),
    ("RecordDelivery", &[PartiallyShipped, Shipped]),
    // A cash-on-delivery order ships in one parcel, so it is shipped in full at the door.
    ("CollectCashOnDelivery", &[Shipped]),
    // Refusal refuses the order: every unit shipped, none delivered.
    ("RefuseDelivery", &[Shipped]),
    ("ConfirmReceipt", &[Delivered]),
    ("RequestReturn", AFTER_DELIVERY),
    ("RequestExchange", AFTER_DELIVERY),
    // Shops that refund on request still receive the goods afterwards; a refused parcel
    // arrives back at an order cancelled at the door.
    ("ReceiveReturn", &[ReturnRequested, Refunded, Cancelled]),
    (
        "Refund",
        &[
            Paid,
            PartiallyShipped,
            Shipped,
            Delivered,
            Completed,
            ReturnRequested,
            PartiallyReturned,
            Returned,
            Cancelled,
        ],
    ),
    // Retired (refused as `command_retired` in every status): ReviewOrder and OpenClaim.
    ("RecordFeedback", &[]),
    ("ReviewOrder", DELIVERED_EVER),
    ("ReviseReview", DELIVERED_EVER),
    ("OpenClaim", AFTER_DISPATCH),
    ("ResolveClaim", AFTER_DISPATCH),
];

/// Once the order was delivered, whatever came after: reviews.
const DELIVERED_EVER: &[OrderStatus] = &[
    Delivered,
    Completed,
    ReturnRequested,
    PartiallyReturned,
    Returned,
    Refunded,
];

/// Once a parcel left: claims (a parcel may never arrive).
const AFTER_DISPATCH: &[OrderStatus] = &[
    PartiallyShipped,
    Shipped,
    Delivered,
    Completed,
    ReturnRequested,
    PartiallyReturned,
    Returned,
    Refunded,
];

/// The statuses in which commands of `type_name` are legal.
pub fn legal_statuses(type_name: &str) -> &'static [OrderStatus] {
    TRANSITIONS
        .iter()
        .find(|(name, _)| *name == type_name)
        .map(|(_, statuses)| *statuses)
        .unwrap_or(&[])
}

/// Whether `command` is legal in `status` according to the table.
pub fn is_legal(status: OrderStatus, command: &OrderCommand) -> bool {
    legal_statuses(command.type_name()).contains(&status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_exactly_one_row() {
        for (name, _) in OrderCommand::TYPES {
            let rows = TRANSITIONS.iter().filter(|(row, _)| row == name).count();
            assert_eq!(rows, 1, "{name} has {rows} rows in the transition table");
        }
        assert_eq!(TRANSITIONS.len(), OrderCommand::TYPES.len());
    }
}
