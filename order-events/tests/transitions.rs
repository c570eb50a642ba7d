//! The order state machine, pair by pair: every status × every command type.
//!
//! A legal pair (per the transition table) must be accepted and lead to the status listed in
//! [`expected_after`]; an illegal pair must be refused as `illegal_transition` (or, before
//! placement and for a second placement, `order_not_found` / `order_already_placed`).

use order_events::ids::ClaimId;
use order_events::order::status::{legal_statuses, TRANSITIONS};
use order_events::order::{
    ClaimKind, ClaimOpened, Order, OrderCommand, OrderStatus, PackParcel, ReservationsPlanned,
    ReviewRecorded, Ship,
};
use order_events::testkit::every::one_of_each_order_command;
use order_events::testkit::samples::{self, history_to};
use order_events::testkit::warehouse;
use order_events::testkit::{at, given};
use order_events::{Actor, ActorKind, Rule};

use OrderStatus::*;

/// Decisions happen two days in: after the payment deadline, within the return window.
const MINUTE: i64 = 2 * 1440;
/// Claims are opened eight days in: the sample parcel, dispatched at minute 120, is overdue
/// after the policy's seven days.
const CLAIM_MINUTE: i64 = 8 * 1440;

/// The status a legal command leads to from `from`, with the sample commands.
fn expected_after(from: OrderStatus, command: &str) -> OrderStatus {
    match (command, from) {
        ("PlaceOrder", _) => Placed,
        ("CancelOrder", _) => Cancelled,
        ("ExpireOrder", _) => Expired,
        ("ConfirmStockReserved", _) => AwaitingPayment,
        // The sample shortage waits for stock.
        ("MarkStockShort", _) => Backordered,
        // The sample capture is 10.00 of 54.38.
        ("CapturePayment", _) => PartiallyPaid,
        ("FailPayment", _) => OnHold,
        // The sample hold came from a failed payment while awaiting payment.
        ("ReleaseHold", OnHold) => AwaitingPayment,
        // The sample shipment sends the mug: the rest of a partial shipment, or a first parcel.
        ("Ship", Paid) => PartiallyShipped,
        ("Ship", PartiallyShipped) => Shipped,
        // Delivering the only parcel of a fully shipped order delivers the order.
        ("RecordDelivery", Shipped) => Delivered,
        ("ConfirmReceipt", Delivered) => Completed,
        // The carrier collects at the door and hands the only parcel over.
        ("CollectCashOnDelivery", Shipped) => Delivered,
        ("RefuseDelivery", Shipped) => Cancelled,
        // A cash-on-delivery order ships whole.
        ("Ship", ReadyToShip) => Shipped,
        ("RequestReturn" | "RequestExchange", _) => ReturnRequested,
        // The open sample case R1 holds the mug only.
        ("ReceiveReturn", ReturnRequested) => PartiallyReturned,
        // Price changes, discounts, allocations, delays, a partial delivery, a partial refund
        // and feedback leave the status as it was.
        _ => from,
    }
}

#[test]
fn every_status_and_command_pair_follows_the_table() {
    let mut legal = 0;
    let mut illegal = 0;
    for status in OrderStatus::ALL {
        let history = history_to(status);
        assert_eq!(
            given::<Order>(history.clone()).state().status,
            status,
            "the sample history for {status} leads elsewhere"
        );
        for command in one_of_each_order_command() {
            let name = command.type_name();
            let mut history = history.clone();
            let by = match name {
                "ReviewOrder" | "ReviseReview" | "OpenClaim" => {
                    Actor::new(ActorKind::Customer, "cust-42")
                }
                "ResolveClaim" => Actor::new(ActorKind::Staff, "cs-agent"),
                "RecordPicks" => Actor::system(),
                _ => Actor::new(ActorKind::Service, "test"),
            };
            match name {
                "ReviseReview" => history.push(
                    ReviewRecorded {
                        rating: 2,
                        text: String::new(),
                        reviewed_at: at(MINUTE - 60),
                    }
                    .into(),
                ),
                "ResolveClaim" => history.push(
                    ClaimOpened {
                        claim_id: ClaimId::from("C1"),
                        kind: ClaimKind::Damaged,
                        text: String::new(),
                        opened_at: at(MINUTE - 60),
                    }
                    .into(),
                ),
                _ => {}
            }
            // Cash is collected on a cash-on-delivery order, which ships in one parcel.
            if name == "CollectCashOnDelivery" && status == Shipped {
                history = samples::cod_shipped();
            }
            // A cancelled order receives goods back only when refused at the door.
            if name == "ReceiveReturn" && status == Cancelled {
                history = samples::cod_refused("R1");
            }
            // A parcel is packed from what was picked.
            if name == "PackParcel" {
                let picked = if status == ReadyToShip {
                    samples::everything()
                } else {
                    vec![samples::line_quantity(samples::MUG, 1)]
                };
                history.push(warehouse::picks_recorded(picked));
            }
            let command = match (&command, status) {
                (OrderCommand::Ship(ship), ReadyToShip) => OrderCommand::Ship(Ship {
                    lines: samples::everything(),
                    ..ship.clone()
                }),
                (OrderCommand::PackParcel(pack), ReadyToShip) => {
                    OrderCommand::PackParcel(PackParcel {
                        lines: samples::everything(),
                        ..pack.clone()
                    })
                }
                _ => command,
            };
            if name == "RecordReservation" {
                // An outcome answers a plan: give every status one to answer.
                history.push(
                    ReservationsPlanned {
                        reservations: samples::reservations(),
                        continues: false,
                    }
                    .into(),
                );
            }
            // A claim that a parcel was not received opens once it is overdue.
            let minute = if name == "OpenClaim" {
                CLAIM_MINUTE
            } else {
                MINUTE
            };
            let then = given::<Order>(history)
                .at_minute(minute)
                .by(by)
                .when(command.clone());
            if legal_statuses(name).contains(&status) {
                let after = then.then_accepts();
                assert_eq!(
                    after.status,
                    expected_after(status, name),
                    "{name} from {status}"
                );
                legal += 1;
            } else {
                let expected_rule = match (status, &command) {
                    (_, OrderCommand::RecordFeedback(_)) => Rule::CommandRetired,
                    (Initial, _) => Rule::OrderNotFound,
                    (_, OrderCommand::PlaceOrder(_)) => Rule::OrderAlreadyPlaced,
                    _ => Rule::IllegalTransition,
                };
                let rejection = then.then_rejects(expected_rule);
                if expected_rule == Rule::IllegalTransition {
                    assert!(rejection.detail.contains(status.code()), "{rejection}");
                }
                illegal += 1;
            }
        }
    }
    let pairs = OrderStatus::ALL.len() * OrderCommand::TYPES.len();
    assert_eq!(legal + illegal, pairs);
    let table_pairs: usize = TRANSITIONS.iter().map(|(_, from)| from.len()).sum();
    assert_eq!(
        legal, table_pairs,
        "every legal pair in the table was exercised"
    );
    println!("{legal} legal and {illegal} illegal transitions checked");
}

#[test]
fn a_held_order_that_had_shipped_cannot_be_cancelled() {
    use order_events::ids::ShipmentId;
    use order_events::order::{
        CancelOrder, CancelReason, CarrierExceptionKind, CarrierExceptionRecorded,
    };
    let mut history = history_to(Shipped);
    history.push(
        CarrierExceptionRecorded {
            shipment_id: ShipmentId::from("S1"),
            kind: CarrierExceptionKind::Lost,
            note: "parcel lost at hub".to_owned(),
        }
        .into(),
    );
    let held = given::<Order>(history.clone());
    assert_eq!(held.state().status, OnHold);
    given::<Order>(history)
        .when(CancelOrder {
            order_id: order_events::testkit::samples::order_id(),
            reason: CancelReason::CustomerRequest,
            note: String::new(),
        })
        .then_rejects(Rule::IllegalTransition);
}
