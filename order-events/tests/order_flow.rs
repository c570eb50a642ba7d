//! The order's happy paths and business scenarios, as given / when / then.

use order_events::ids::*;
use order_events::order::*;
use order_events::stock::*;
use order_events::testkit::samples::{
    self, amount, history_to, line_quantity, order_id, MUG, TOTAL, TSHIRT,
};
use order_events::testkit::{at, given};
use order_events::{Actor, ActorKind, Rule};

#[test]
fn placing_records_the_order_with_its_payment_deadline() {
    given::<Order>([])
        .when(samples::place_order())
        .then_events([samples::order_placed()]);
}

#[test]
fn the_same_channel_order_imported_twice_is_refused() {
    let first = given::<Order>([])
        .when(samples::place_order())
        .then_accepts();
    assert_eq!(first.header.as_ref().unwrap().order_id, order_id());
    given::<Order>([samples::order_placed()])
        .when(samples::place_order())
        .then_rejects(Rule::OrderAlreadyPlaced);
}

#[test]
fn combined_payment_adds_up_to_the_total() {
    let after_first = given::<Order>(history_to(OrderStatus::AwaitingPayment))
        .when(samples::capture("P1", "20.00"))
        .then_events([samples::payment_captured("P1", "20.00")]);
    assert_eq!(after_first.status, OrderStatus::PartiallyPaid);
    let after_second = given::<Order>(history_to(OrderStatus::PartiallyPaid))
        .when(samples::capture("P2", "34.38"))
        .then_events([samples::payment_captured("P2", "34.38")]);
    assert_eq!(after_second.status, OrderStatus::Paid);
    assert_eq!(after_second.captured(), amount(TOTAL));
}

#[test]
fn cancelling_after_payment_leaves_the_capture_due_for_refund() {
    let cancelled = given::<Order>(history_to(OrderStatus::Paid))
        .when(CancelOrder {
            order_id: order_id(),
            reason: CancelReason::CustomerRequest,
            note: "changed my mind".to_owned(),
        })
        .then_events([samples::cancelled(TOTAL)]);
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
    let refunded = given::<Order>(history_to(OrderStatus::Cancelled))
        .when(Refund {
            order_id: order_id(),
            refund_id: RefundId::from("RF1"),
            amount: amount(TOTAL),
            reason: RefundReason::Cancellation,
            psp_reference: "psp-RF1".to_owned(),
        })
        .then_accepts();
    assert_eq!(refunded.status, OrderStatus::Refunded);
}

#[test]
fn a_short_order_can_wait_split_or_cancel() {
    let short = |resolution| MarkStockShort {
        order_id: order_id(),
        short_lines: vec![line_quantity(MUG, 1)],
        resolution,
    };
    let waiting = given::<Order>(history_to(OrderStatus::Placed))
        .when(short(ShortResolution::Backorder))
        .then_events([samples::stock_short(ShortResolution::Backorder)]);
    assert_eq!(waiting.status, OrderStatus::Backordered);

    let split = given::<Order>(history_to(OrderStatus::Placed))
        .when(short(ShortResolution::Split))
        .then_accepts();
    assert_eq!(split.lines.len(), 1, "the mug line is gone");
    assert_eq!(split.total(), amount("44.88"));
    assert_eq!(split.status, OrderStatus::Placed);

    let cancelled = given::<Order>(history_to(OrderStatus::Placed))
        .when(short(ShortResolution::Cancel))
        .then_events([
            samples::stock_short(ShortResolution::Cancel),
            OrderCancelled {
                reason: CancelReason::StockShort,
                note: "stock short".to_owned(),
                refund_due: amount("0"),
            }
            .into(),
        ]);
    assert_eq!(cancelled.status, OrderStatus::Cancelled);
}

#[test]
fn a_fully_discounted_order_is_paid_once_reserved() {
    let mut history = history_to(OrderStatus::Placed);
    history.push(
        DiscountApplied {
            discount: Discount {
                code: "FREE".to_owned(),
                amount: amount(TOTAL),
            },
        }
        .into(),
    );
    let state = given::<Order>(history)
        .when(ConfirmStockReserved {
            order_id: order_id(),
            reservations: samples::reservations(),
        })
        .then_accepts();
    assert_eq!(state.status, OrderStatus::Paid);
}

#[test]
fn partial_shipments_then_deliveries_deliver_the_order() {
    let state = given::<Order>(history_to(OrderStatus::PartiallyShipped))
        .at_minute(200)
        .when(Ship {
            order_id: order_id(),
            shipment_id: ShipmentId::from("S2"),
            carrier: Some(CarrierId::from("ups")),
            service_level: ServiceLevel::Standard,
            tracking_number: "1Z1".to_owned(),
            lines: vec![line_quantity(MUG, 1)],
            freight_cost: Some(amount("2.00")),
            weight_grams: Some(300),
        })
        .then_accepts();
    assert_eq!(state.status, OrderStatus::Shipped);
    assert_eq!(state.shipments.len(), 2);

    let mut history = history_to(OrderStatus::PartiallyShipped);
    history.push(samples::shipment_dispatched(
        "S2",
        vec![line_quantity(MUG, 1)],
    ));
    history.push(samples::shipment_delivered("S1"));
    let one_delivered = given::<Order>(history.clone());
    assert_eq!(one_delivered.state().status, OrderStatus::Shipped);
    let delivered = one_delivered
        .at_minute(3000)
        .when(RecordDelivery {
            order_id: order_id(),
            shipment_id: ShipmentId::from("S2"),
        })
        .then_accepts();
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(delivered.delivered_at, Some(at(3000)));
}

#[test]
fn receipt_is_confirmed_by_the_customer_or_automatically_after_the_period() {
    let confirm = || ConfirmReceipt {
        order_id: order_id(),
    };
    let by_customer = given::<Order>(history_to(OrderStatus::Delivered))
        .by(Actor::new(ActorKind::Customer, "cust-42"))
        .at_minute(1500)
        .when(confirm())
        .then_events([ReceiptConfirmed {
            automatic: false,
            confirmed_at: at(1500),
        }
        .into()]);
    assert_eq!(by_customer.status, OrderStatus::Completed);
    // Delivered at minute 1440; seven days later the system confirms.
    let due = 1440 + 7 * 1440;
    given::<Order>(history_to(OrderStatus::Delivered))
        .by(Actor::system())
        .at_minute(due)
        .when(confirm())
        .then_events([ReceiptConfirmed {
            automatic: true,
            confirmed_at: at(due),
        }
        .into()]);
}

#[test]
fn returns_come_back_partially_then_fully_and_get_refunded() {
    let mut history = history_to(OrderStatus::PartiallyReturned);
    let state = given::<Order>(history.clone())
        .at_minute(2000)
        .when(RequestExchange {
            order_id: order_id(),
            return_id: ReturnId::from("X1"),
            lines: vec![line_quantity(TSHIRT, 2)],
            replacement: vec![line_quantity("TSHIRT-RED-L", 2)],
            reason: ReturnReason::WrongItem,
        })
        .then_accepts();
    assert_eq!(state.status, OrderStatus::ReturnRequested);
    assert!(state.returns[1].exchange);

    history.push(samples::return_requested(
        "R2",
        vec![line_quantity(TSHIRT, 2)],
    ));
    let returned = given::<Order>(history.clone())
        .when(ReceiveReturn {
            order_id: order_id(),
            return_id: ReturnId::from("R2"),
            disposition: ReturnDisposition::Restock,
        })
        .then_events([samples::return_received(
            "R2",
            vec![line_quantity(TSHIRT, 2)],
        )]);
    assert_eq!(returned.status, OrderStatus::Returned);

    history.push(samples::return_received(
        "R2",
        vec![line_quantity(TSHIRT, 2)],
    ));
    history.push(samples::refund_issued("RF1", "50.00"));
    let refunded = given::<Order>(history)
        .when(Refund {
            order_id: order_id(),
            refund_id: RefundId::from("RF2"),
            amount: amount("4.38"),
            reason: RefundReason::Return,
            psp_reference: "psp-RF2".to_owned(),
        })
        .then_accepts();
    assert_eq!(refunded.status, OrderStatus::Refunded);
    assert_eq!(refunded.refunded(), refunded.captured());
}

#[test]
fn a_lost_parcel_holds_the_order_until_released() {
    let held = given::<Order>(history_to(OrderStatus::Shipped))
        .when(RecordCarrierException {
            order_id: order_id(),
            shipment_id: ShipmentId::from("S1"),
            kind: CarrierExceptionKind::Lost,
            note: String::new(),
        })
        .then_accepts();
    assert_eq!(held.status, OrderStatus::OnHold);
    assert_eq!(held.hold.unwrap().reason, HoldReason::ParcelLost);
}

#[test]
fn an_unpaid_order_expires_at_its_deadline() {
    given::<Order>(history_to(OrderStatus::AwaitingPayment))
        .at_minute(30)
        .when(ExpireOrder {
            order_id: order_id(),
        })
        .then_events([OrderExpired { expired_at: at(30) }.into()]);
}

// Stock items.

fn receive(quantity: u32) -> ReceiveStock {
    ReceiveStock {
        item: samples::stock_key(),
        quantity,
        reference: "PO-1".to_owned(),
    }
}

fn reserve(quantity: u32) -> ReserveStock {
    ReserveStock {
        item: samples::stock_key(),
        order_id: order_id(),
        quantity,
        expires_at: at(30),
        minimum: None,
    }
}

fn stock_after(events: Vec<StockEvent>) -> StockItem {
    given::<StockItem>(events).state().clone()
}

#[test]
fn stock_is_received_reserved_committed_and_restocked() {
    let received = StockReceived {
        quantity: 10,
        reference: "PO-1".to_owned(),
    };
    given::<StockItem>([])
        .when(receive(10))
        .then_events([received.clone().into()]);
    let reserved = StockReserved {
        order_id: order_id(),
        quantity: 3,
        expires_at: at(30),
    };
    let state = given::<StockItem>([received.clone().into()])
        .when(reserve(3))
        .then_events([reserved.clone().into()]);
    assert_eq!(
        (state.on_hand, state.reserved(), state.available()),
        (10, 3, 7)
    );

    let history: Vec<StockEvent> = vec![received.into(), reserved.into()];
    let committed = given::<StockItem>(history.clone())
        .when(CommitReservation {
            item: samples::stock_key(),
            order_id: order_id(),
            shipment_id: ShipmentId::from("S1"),
            quantity: 2,
        })
        .then_accepts();
    assert_eq!((committed.on_hand, committed.reserved()), (8, 1));

    let restocked = given::<StockItem>(history)
        .when(RestockReturn {
            item: samples::stock_key(),
            order_id: order_id(),
            return_id: ReturnId::from("R1"),
            quantity: 1,
        })
        .then_accepts();
    assert_eq!(restocked.on_hand, 11);
}

#[test]
fn a_repeated_reservation_for_the_same_order_changes_nothing() {
    let history: Vec<StockEvent> = vec![
        StockReceived {
            quantity: 5,
            reference: "PO-1".to_owned(),
        }
        .into(),
        StockReserved {
            order_id: order_id(),
            quantity: 2,
            expires_at: at(30),
        }
        .into(),
    ];
    given::<StockItem>(history).when(reserve(2)).then_events([]);
}

#[test]
fn an_expired_reservation_is_released_and_the_low_stock_flag_follows_safety_stock() {
    let history: Vec<StockEvent> = vec![
        StockReceived {
            quantity: 5,
            reference: "PO-1".to_owned(),
        }
        .into(),
        SafetyStockSet { quantity: 4 }.into(),
        StockReserved {
            order_id: order_id(),
            quantity: 2,
            expires_at: at(30),
        }
        .into(),
    ];
    assert!(
        stock_after(history.clone()).is_low(),
        "3 available, safety stock 4"
    );
    let released = given::<StockItem>(history)
        .at_minute(30)
        .when(ReleaseReservation {
            item: samples::stock_key(),
            order_id: order_id(),
            reason: ReleaseReason::Expired,
        })
        .then_events([ReservationReleased {
            order_id: order_id(),
            quantity: 2,
            reason: ReleaseReason::Expired,
        }
        .into()]);
    assert_eq!(released.available(), 5);
    assert!(!released.is_low());
}

#[test]
fn a_cycle_count_sets_on_hand() {
    let state = given::<StockItem>([StockReceived {
        quantity: 5,
        reference: "PO-1".to_owned(),
    }
    .into()])
    .when(AdjustStock {
        item: samples::stock_key(),
        counted_quantity: 4,
        reason: "one broken".to_owned(),
    })
    .then_events([StockAdjusted {
        previous_on_hand: 5,
        counted_quantity: 4,
        reason: "one broken".to_owned(),
    }
    .into()]);
    assert_eq!(state.on_hand, 4);
}

fn piece(sku: &str, warehouse: &str, quantity: u32) -> ReservedLine {
    ReservedLine {
        sku: Sku::from(sku),
        warehouse: WarehouseId::from(warehouse),
        quantity,
    }
}

/// The sample order (2 T-shirts, 1 mug) with a plan whose answers are all in: the T-shirts
/// held 1 of 2 at BER-1, the mug held.
fn answered_plan() -> Vec<OrderEvent> {
    let mut history = history_to(OrderStatus::Placed);
    history.push(
        ReservationsPlanned {
            reservations: vec![piece(TSHIRT, "BER-1", 2), piece(MUG, "BER-1", 1)],
            continues: false,
        }
        .into(),
    );
    for (sku, quantity, held) in [(TSHIRT, 2, 1), (MUG, 1, 1)] {
        history.push(
            ReservationRecorded {
                sku: Sku::from(sku),
                warehouse: WarehouseId::from("BER-1"),
                quantity,
                reserved: true,
                reserved_quantity: held,
            }
            .into(),
        );
    }
    history
}

fn continue_plan(reservations: Vec<ReservedLine>) -> PlanReservations {
    PlanReservations {
        order_id: order_id(),
        reservations,
        continues: true,
    }
}

#[test]
fn a_continued_plan_asks_new_warehouses_for_what_is_not_held() {
    let after = given::<Order>(answered_plan())
        .when(continue_plan(vec![piece(TSHIRT, "HAM-1", 1)]))
        .then_accepts();
    assert_eq!(after.reservation_plan.len(), 3, "earlier answers stand");
    assert_eq!(after.plans_made, 1);
    assert!(!after.plan_complete());
    // BER-1 was asked already; and 1 held + 2 more is more than the 2 ordered.
    given::<Order>(answered_plan())
        .when(continue_plan(vec![piece(TSHIRT, "BER-1", 1)]))
        .then_rejects(Rule::ReservationPlanInvalid);
    given::<Order>(answered_plan())
        .when(continue_plan(vec![piece(TSHIRT, "HAM-1", 2)]))
        .then_rejects(Rule::ReservationPlanInvalid);
    // Nothing to continue before a plan.
    given::<Order>(history_to(OrderStatus::Placed))
        .when(continue_plan(vec![piece(TSHIRT, "HAM-1", 1)]))
        .then_rejects(Rule::ReservationPlanInvalid);
}

#[test]
fn a_graded_outcome_holds_at_most_what_was_planned() {
    let mut history = answered_plan();
    history.truncate(history.len() - 2);
    let record = |reserved, quantity| RecordReservation {
        order_id: order_id(),
        sku: Sku::from(TSHIRT),
        warehouse: WarehouseId::from("BER-1"),
        reserved,
        quantity,
    };
    let after = given::<Order>(history.clone())
        .when(record(true, Some(1)))
        .then_accepts();
    assert_eq!(after.reservation_plan[0].reserved, Some(1));
    for (reserved, quantity) in [(true, Some(3)), (true, Some(0)), (false, Some(1))] {
        given::<Order>(history.clone())
            .when(record(reserved, quantity))
            .then_rejects(Rule::ReservationOutcomeInvalid);
    }
}

#[test]
fn a_reservation_with_a_minimum_holds_what_is_there() {
    let received = StockReceived {
        quantity: 2,
        reference: "PO-1".to_owned(),
    };
    let graded = ReserveStock {
        minimum: Some(1),
        ..reserve(5)
    };
    let held = given::<StockItem>([received.clone().into()])
        .when(graded.clone())
        .then_accepts();
    assert_eq!((held.reserved(), held.available()), (2, 0));
    // All or nothing without a minimum; below the minimum, refused.
    given::<StockItem>([received.clone().into()])
        .when(reserve(5))
        .then_rejects(Rule::StockInsufficient);
    given::<StockItem>([received.clone().into()])
        .when(ReserveStock {
            minimum: Some(3),
            ..reserve(5)
        })
        .then_rejects(Rule::StockInsufficient);
    // A repeat is idempotent when what is held lies in the range asked.
    let mut history: Vec<StockEvent> = vec![received.into()];
    history.push(
        StockReserved {
            order_id: order_id(),
            quantity: 2,
            expires_at: at(30),
        }
        .into(),
    );
    given::<StockItem>(history.clone())
        .when(graded)
        .then_events([]);
    given::<StockItem>(history)
        .when(reserve(5))
        .then_rejects(Rule::ReservationConflict);
}
