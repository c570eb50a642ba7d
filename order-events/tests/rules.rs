//! One case per rejection rule, as a table; a last check makes sure no rule lacks a case.

use std::collections::BTreeSet;

#[path = "rules/warehouse.rs"]
mod warehouse;

use order_events::account::*;
use order_events::ids::*;
use order_events::order::*;
use order_events::reconciliation::{ReconciliationRun, RecordReconciliation};
use order_events::stock::*;
use order_events::testkit::samples::{
    self, amount, history_to, line_quantity, order_id, MUG, TSHIRT,
};
use order_events::testkit::{at, given, Then};
use order_events::{Actor, ActorKind, Currency, Rule};

type Case = (Rule, Box<dyn Fn() -> Then<Order>>);
type StockCase = (Rule, Box<dyn Fn() -> Then<StockItem>>);

fn order_case(rule: Rule, scenario: impl Fn() -> Then<Order> + 'static) -> Case {
    (rule, Box::new(scenario))
}

fn stock_case(rule: Rule, scenario: impl Fn() -> Then<StockItem> + 'static) -> StockCase {
    (rule, Box::new(scenario))
}

fn in_status(status: OrderStatus) -> order_events::testkit::Given<Order> {
    given(history_to(status))
}

fn place_with(change: impl Fn(&mut PlaceOrder)) -> Then<Order> {
    let mut command = samples::place_order();
    change(&mut command);
    given([]).when(command)
}

fn capture(payment_id: &str, value: &str, currency: Currency) -> CapturePayment {
    CapturePayment {
        order_id: order_id(),
        payment_id: PaymentId::from(payment_id),
        method: PaymentMethod::Card,
        amount: amount(value),
        currency,
        psp_reference: "psp-x".to_owned(),
    }
}

fn ship(shipment_id: &str, lines: Vec<LineQuantity>, weight_grams: u32) -> Ship {
    Ship {
        order_id: order_id(),
        shipment_id: ShipmentId::from(shipment_id),
        carrier: Some(CarrierId::from("dhl")),
        service_level: ServiceLevel::Standard,
        tracking_number: "TRK".to_owned(),
        lines,
        freight_cost: Some(amount("3.00")),
        weight_grams: Some(weight_grams),
    }
}

fn request_return(return_id: &str, lines: Vec<LineQuantity>) -> RequestReturn {
    RequestReturn {
        order_id: order_id(),
        return_id: ReturnId::from(return_id),
        lines,
        reason: ReturnReason::Defective,
    }
}

fn refund(refund_id: &str, value: &str) -> Refund {
    Refund {
        order_id: order_id(),
        refund_id: RefundId::from(refund_id),
        amount: amount(value),
        reason: RefundReason::Goodwill,
        psp_reference: "psp-r".to_owned(),
    }
}

fn feedback(rating: u8) -> RecordFeedback {
    RecordFeedback {
        order_id: order_id(),
        rating,
        comment: String::new(),
        claim: None,
    }
}

/// The sample order's customer.
fn customer() -> Actor {
    Actor::new(ActorKind::Customer, "cust-42")
}

fn staff() -> Actor {
    Actor::new(ActorKind::Staff, "cs-agent")
}

fn review(rating: u8) -> ReviewOrder {
    ReviewOrder {
        order_id: order_id(),
        rating,
        text: String::new(),
    }
}

fn revise(rating: u8) -> ReviseReview {
    ReviseReview {
        order_id: order_id(),
        rating,
        text: String::new(),
    }
}

fn reviewed(minute: i64) -> OrderEvent {
    ReviewRecorded {
        rating: 2,
        text: String::new(),
        reviewed_at: at(minute),
    }
    .into()
}

fn open_claim(claim_id: &str, kind: ClaimKind) -> OpenClaim {
    OpenClaim {
        order_id: order_id(),
        claim_id: ClaimId::from(claim_id),
        kind,
        text: String::new(),
    }
}

fn claim_opened(claim_id: &str, kind: ClaimKind) -> OrderEvent {
    ClaimOpened {
        claim_id: ClaimId::from(claim_id),
        kind,
        text: String::new(),
        opened_at: at(2000),
    }
    .into()
}

/// Claim C1 opened and rejected.
fn resolved_claim() -> Vec<OrderEvent> {
    let resolved = ClaimResolved {
        claim_id: ClaimId::from("C1"),
        resolution: rejected(),
        resolved_at: at(2100),
    };
    vec![claim_opened("C1", ClaimKind::Defective), resolved.into()]
}

fn rejected() -> ClaimResolution {
    ClaimResolution::Rejected(ClaimRejection {
        reason: "as listed".to_owned(),
    })
}

fn resolve(claim_id: &str, resolution: ClaimResolution) -> ResolveClaim {
    ResolveClaim {
        order_id: order_id(),
        claim_id: ClaimId::from(claim_id),
        resolution,
    }
}

/// The sample order delivered (at minute 1440), with `more` after.
fn delivered_with(more: Vec<OrderEvent>) -> order_events::testkit::Given<Order> {
    given([history_to(OrderStatus::Delivered), more].concat())
}

fn review_and_claim_cases() -> Vec<Case> {
    use OrderStatus::{Delivered, Shipped};
    vec![
        order_case(Rule::CommandRetired, || {
            in_status(Delivered).when(feedback(4))
        }),
        order_case(Rule::RatingOutOfRange, || {
            in_status(Delivered).by(customer()).when(review(6))
        }),
        order_case(Rule::NotTheOrdersCustomer, || {
            let someone = Actor::new(ActorKind::Customer, "cust-7");
            in_status(Delivered).by(someone).when(review(5))
        }),
        order_case(Rule::ReviewAlreadyRecorded, || {
            delivered_with(vec![reviewed(2000)])
                .by(customer())
                .when(review(5))
        }),
        order_case(Rule::ReviewNotFound, || {
            in_status(Delivered).by(customer()).when(revise(4))
        }),
        order_case(Rule::ReviewRevisionWindowClosed, || {
            delivered_with(vec![reviewed(2000)])
                .by(customer())
                .at_minute(2000 + 31 * 1440)
                .when(revise(4))
        }),
        order_case(Rule::ClaimTooEarly, || {
            // Dispatched at minute 120: expected seven days later.
            in_status(Shipped)
                .by(customer())
                .at_minute(3 * 1440)
                .when(open_claim("C1", ClaimKind::NotReceived))
        }),
        order_case(Rule::ClaimWindowClosed, || {
            in_status(Delivered)
                .by(customer())
                .at_minute(1440 + 91 * 1440)
                .when(open_claim("C1", ClaimKind::Defective))
        }),
        order_case(Rule::ClaimAlreadyRecorded, || {
            delivered_with(resolved_claim())
                .by(customer())
                .at_minute(2200)
                .when(open_claim("C1", ClaimKind::Defective))
        }),
        order_case(Rule::ClaimAlreadyOpen, || {
            delivered_with(vec![claim_opened("C1", ClaimKind::Defective)])
                .by(customer())
                .at_minute(2200)
                .when(open_claim("C2", ClaimKind::Damaged))
        }),
        order_case(Rule::ClaimNotFound, || {
            in_status(Delivered)
                .by(staff())
                .when(resolve("C9", rejected()))
        }),
        order_case(Rule::ClaimAlreadyResolved, || {
            delivered_with(resolved_claim())
                .by(staff())
                .when(resolve("C1", rejected()))
        }),
        order_case(Rule::ClaimResolverNotStaff, || {
            delivered_with(vec![claim_opened("C1", ClaimKind::Defective)])
                .by(customer())
                .when(resolve("C1", rejected()))
        }),
        order_case(Rule::ReplacementNotDelivered, || {
            let mut history = history_to(Shipped);
            history.push(claim_opened("C1", ClaimKind::NotReceived));
            let replacement = ClaimResolution::Replacement(ClaimReplacement {
                return_id: ReturnId::from("X1"),
                lines: vec![line_quantity(MUG, 1)],
            });
            given(history).by(staff()).when(resolve("C1", replacement))
        }),
    ]
}

fn reserve(quantity: u32, expires_minute: i64) -> ReserveStock {
    ReserveStock {
        item: samples::stock_key(),
        order_id: order_id(),
        quantity,
        expires_at: at(expires_minute),
        minimum: None,
    }
}

fn received(quantity: u32) -> StockEvent {
    StockReceived {
        quantity,
        reference: "PO-1".to_owned(),
    }
    .into()
}

fn reserved(quantity: u32) -> StockEvent {
    StockReserved {
        order_id: order_id(),
        quantity,
        expires_at: at(30),
    }
    .into()
}

fn order_cases() -> Vec<Case> {
    use OrderStatus::*;
    vec![
        order_case(Rule::OrderNotFound, || {
            given([]).when(capture("P1", "1.00", Currency::EUR))
        }),
        order_case(Rule::OrderAlreadyPlaced, || {
            in_status(Placed).when(samples::place_order())
        }),
        order_case(Rule::IllegalTransition, || {
            in_status(Placed).when(ship("S1", vec![line_quantity(MUG, 1)], 100))
        }),
        order_case(Rule::ActorNotPermitted, || {
            in_status(Delivered)
                .by(Actor::new(ActorKind::Customer, "somebody-else"))
                .when(ConfirmReceipt {
                    order_id: order_id(),
                })
        }),
        order_case(Rule::RequiredFieldMissing, || {
            place_with(|c| c.customer_id = CustomerId::from(" "))
        }),
        order_case(Rule::FieldTooLong, || {
            place_with(|c| c.shipping_address.city = "x".repeat(129))
        }),
        order_case(Rule::TextInvalid, || {
            place_with(|c| c.shipping_address.recipient = "Erika\u{7}".to_owned())
        }),
        order_case(Rule::LinesRequired, || place_with(|c| c.lines.clear())),
        order_case(Rule::TooManyLines, || {
            place_with(|c| {
                let line = c.lines[0].clone();
                c.lines = (0..101)
                    .map(|i| LineItem {
                        sku: Sku(format!("SKU-{i}")),
                        ..line.clone()
                    })
                    .collect();
            })
        }),
        order_case(Rule::DuplicateLine, || {
            place_with(|c| c.lines[1].sku = Sku::from(TSHIRT))
        }),
        order_case(Rule::QuantityMustBePositive, || {
            place_with(|c| c.lines[0].quantity = 0)
        }),
        order_case(Rule::QuantityExceedsMaximum, || {
            place_with(|c| c.lines[0].quantity = 10_001)
        }),
        order_case(Rule::AmountMustNotBeNegative, || {
            place_with(|c| c.lines[0].unit_price = amount("-1.00"))
        }),
        order_case(Rule::AmountMustBePositive, || {
            in_status(AwaitingPayment).when(capture("P2", "0.00", Currency::EUR))
        }),
        order_case(Rule::AmountTooLarge, || {
            place_with(|c| c.shipping_fee = amount("1000000000000.01"))
        }),
        order_case(Rule::AmountPrecisionExceedsCurrency, || {
            place_with(|c| c.lines[0].unit_price = amount("19.999"))
        }),
        order_case(Rule::CurrencyMismatch, || {
            in_status(AwaitingPayment).when(capture("P2", "10.00", Currency::USD))
        }),
        order_case(Rule::SkuFormatInvalid, || {
            place_with(|c| c.lines[0].sku = Sku::from("red shirt"))
        }),
        order_case(Rule::WarehouseFormatInvalid, || {
            let mut reservations = samples::reservations();
            reservations[0].warehouse = WarehouseId::from("ber 1");
            in_status(Placed).when(ConfirmStockReserved {
                order_id: order_id(),
                reservations,
            })
        }),
        order_case(Rule::PostalCodeInvalid, || {
            place_with(|c| c.shipping_address.postal_code = "!".to_owned())
        }),
        order_case(Rule::PhoneInvalid, || {
            place_with(|c| c.shipping_address.phone = "call me".to_owned())
        }),
        order_case(Rule::CountryCodeInvalid, || {
            place_with(|c| c.shipping_address.country = "Germany".to_owned())
        }),
        order_case(Rule::DiscountExceedsSubtotal, || {
            place_with(|c| {
                c.discounts = vec![Discount {
                    code: "BIG".to_owned(),
                    amount: amount("54.39"),
                }]
            })
        }),
        order_case(Rule::DiscountAlreadyApplied, || {
            let discount = Discount {
                code: "WELCOME5".to_owned(),
                amount: amount("5.00"),
            };
            let mut history = history_to(Placed);
            history.push(
                DiscountApplied {
                    discount: discount.clone(),
                }
                .into(),
            );
            given(history).when(ApplyDiscount {
                order_id: order_id(),
                discount,
            })
        }),
        order_case(Rule::LineNotFound, || {
            in_status(Placed).when(ModifyPrice {
                order_id: order_id(),
                sku: Sku::from("NOT-ORDERED"),
                unit_price: amount("1.00"),
                reason: "typo".to_owned(),
            })
        }),
        order_case(Rule::OrderNotYetExpired, || {
            in_status(AwaitingPayment).at_minute(29).when(ExpireOrder {
                order_id: order_id(),
            })
        }),
        order_case(Rule::ReservationDoesNotCoverOrder, || {
            let mut reservations = samples::reservations();
            reservations.pop();
            in_status(Placed).when(ConfirmStockReserved {
                order_id: order_id(),
                reservations,
            })
        }),
        order_case(Rule::ReservationPlanInvalid, || {
            // The order has one MUG; planning two is more than ordered.
            in_status(Placed).when(PlanReservations {
                order_id: order_id(),
                reservations: vec![ReservedLine {
                    sku: Sku::from(MUG),
                    warehouse: WarehouseId::from(samples::WAREHOUSE),
                    quantity: 2,
                }],
                continues: false,
            })
        }),
        order_case(Rule::ReservationNotPlanned, || {
            in_status(Placed).when(RecordReservation {
                order_id: order_id(),
                sku: Sku::from(MUG),
                warehouse: WarehouseId::from(samples::WAREHOUSE),
                reserved: true,
                quantity: None,
            })
        }),
        order_case(Rule::ReservationOutcomeInvalid, || {
            // One MUG planned; a refusal that claims to hold a unit is not an outcome.
            let mut history = history_to(Placed);
            history.push(
                ReservationsPlanned {
                    reservations: vec![ReservedLine {
                        sku: Sku::from(MUG),
                        warehouse: WarehouseId::from(samples::WAREHOUSE),
                        quantity: 1,
                    }],
                    continues: false,
                }
                .into(),
            );
            given(history).when(RecordReservation {
                order_id: order_id(),
                sku: Sku::from(MUG),
                warehouse: WarehouseId::from(samples::WAREHOUSE),
                reserved: false,
                quantity: Some(1),
            })
        }),
        order_case(Rule::ShortageExceedsOrdered, || {
            in_status(Placed).when(MarkStockShort {
                order_id: order_id(),
                short_lines: vec![line_quantity(MUG, 2)],
                resolution: ShortResolution::Backorder,
            })
        }),
        order_case(Rule::SplitLeavesNoLines, || {
            in_status(Placed).when(MarkStockShort {
                order_id: order_id(),
                short_lines: vec![line_quantity(TSHIRT, 2), line_quantity(MUG, 1)],
                resolution: ShortResolution::Split,
            })
        }),
        order_case(Rule::PaymentAlreadyRecorded, || {
            in_status(PartiallyPaid).when(capture("P1", "1.00", Currency::EUR))
        }),
        order_case(Rule::CaptureExceedsOutstanding, || {
            in_status(PartiallyPaid).when(capture("P2", "34.39", Currency::EUR))
        }),
        order_case(Rule::ShipmentAlreadyRecorded, || {
            in_status(PartiallyShipped).when(ship("S1", vec![line_quantity(MUG, 1)], 100))
        }),
        order_case(Rule::ShipmentExceedsUnshipped, || {
            in_status(PartiallyShipped).when(ship("S2", vec![line_quantity(TSHIRT, 1)], 100))
        }),
        order_case(Rule::ShipmentNotFound, || {
            in_status(Shipped).when(RecordDelivery {
                order_id: order_id(),
                shipment_id: ShipmentId::from("S9"),
            })
        }),
        order_case(Rule::ShipmentAlreadyDelivered, || {
            let mut history = history_to(PartiallyShipped);
            history.push(samples::shipment_delivered("S1"));
            given(history).when(RecordDelivery {
                order_id: order_id(),
                shipment_id: ShipmentId::from("S1"),
            })
        }),
        order_case(Rule::CarrierRequired, || {
            let mut command = ship("S2", vec![line_quantity(MUG, 1)], 300);
            command.carrier = None;
            in_status(Paid).when(command)
        }),
        order_case(Rule::WeightMustBePositive, || {
            in_status(Paid).when(ship("S2", vec![line_quantity(MUG, 1)], 0))
        }),
        order_case(Rule::AutoConfirmTooEarly, || {
            // Delivered at minute 1440; automatic confirmation is due seven days later.
            in_status(Delivered)
                .by(Actor::system())
                .at_minute(1440 + 7 * 1440 - 1)
                .when(ConfirmReceipt {
                    order_id: order_id(),
                })
        }),
        order_case(Rule::ReturnWindowClosed, || {
            in_status(Delivered)
                .at_minute(1440 + 14 * 1440 + 1)
                .when(request_return("R2", vec![line_quantity(MUG, 1)]))
        }),
        order_case(Rule::ReturnExceedsShipped, || {
            // One mug shipped, one already in return case R1.
            in_status(ReturnRequested)
                .at_minute(2000)
                .when(request_return("R2", vec![line_quantity(MUG, 1)]))
        }),
        order_case(Rule::ReturnAlreadyRecorded, || {
            in_status(ReturnRequested)
                .at_minute(2000)
                .when(request_return("R1", vec![line_quantity(TSHIRT, 1)]))
        }),
        order_case(Rule::ReturnNotFound, || {
            in_status(ReturnRequested).when(ReceiveReturn {
                order_id: order_id(),
                return_id: ReturnId::from("R9"),
                disposition: ReturnDisposition::Restock,
            })
        }),
        order_case(Rule::ReturnAlreadyReceived, || {
            let mut history = history_to(PartiallyReturned);
            history.push(samples::return_requested(
                "R2",
                vec![line_quantity(TSHIRT, 1)],
            ));
            given(history).when(ReceiveReturn {
                order_id: order_id(),
                return_id: ReturnId::from("R1"),
                disposition: ReturnDisposition::WriteOff,
            })
        }),
        order_case(Rule::RefundAlreadyRecorded, || {
            let mut history = history_to(Paid);
            history.push(samples::refund_issued("RF1", "1.00"));
            given(history).when(refund("RF1", "1.00"))
        }),
        order_case(Rule::RefundExceedsCaptured, || {
            let mut history = history_to(Paid);
            history.push(samples::refund_issued("RF1", "50.00"));
            given(history).when(refund("RF2", "4.39"))
        }),
    ]
    .into_iter()
    .chain(review_and_claim_cases())
    .chain(cash_on_delivery_cases())
    .chain(warehouse::order_cases())
    .collect()
}

fn cash_on_delivery_cases() -> Vec<Case> {
    use OrderStatus::*;
    vec![
        order_case(Rule::CashOnDeliveryNotOffered, || {
            given([]).when(samples::place_cod_order())
        }),
        order_case(Rule::CashOnDeliveryLimitExceeded, || {
            let mut policy = samples::cod_policy();
            policy.cash_on_delivery[0].max_order_value = amount("50.00");
            given([])
                .with_policy(policy)
                .when(samples::place_cod_order())
        }),
        order_case(Rule::CashOnDeliveryShipsWhole, || {
            in_status(ReadyToShip).when(ship("S1", vec![line_quantity(MUG, 1)], 500))
        }),
        order_case(Rule::NotCashOnDelivery, || {
            in_status(Shipped).when(samples::collect_cash(samples::TOTAL))
        }),
        order_case(Rule::CollectionNotOutstanding, || {
            given(samples::cod_shipped()).when(samples::collect_cash("50.00"))
        }),
        order_case(Rule::CashNotCollected, || {
            given(samples::cod_shipped()).when(RecordDelivery {
                order_id: order_id(),
                shipment_id: ShipmentId::from("S1"),
            })
        }),
        order_case(Rule::RefusalAfterDelivery, || {
            let mut history = history_to(PartiallyShipped);
            history.push(samples::shipment_dispatched(
                "S2",
                vec![line_quantity(MUG, 1)],
            ));
            history.push(samples::shipment_delivered("S1"));
            given(history).when(RefuseDelivery {
                order_id: order_id(),
                shipment_id: ShipmentId::from("S2"),
                note: String::new(),
            })
        }),
    ]
}

/// The sample COD parcel's cash, owed by its carrier.
fn cod_accrued() -> AccountEvent {
    let c = samples::accrue_carrier_cod();
    CarrierCodAccrued {
        carrier: c.carrier,
        currency: c.currency,
        order_id: c.order_id,
        tracking_number: c.tracking_number,
        amount: c.amount,
    }
    .into()
}

fn stock_cases() -> Vec<StockCase> {
    vec![
        stock_case(Rule::StockInsufficient, || {
            given([received(5), reserved(1)]).when(ReserveStock {
                order_id: OrderId::for_external_reference("web", "other"),
                ..reserve(5, 30)
            })
        }),
        stock_case(Rule::ReservationMinimumInvalid, || {
            given([received(5)]).when(ReserveStock {
                minimum: Some(4),
                ..reserve(3, 30)
            })
        }),
        stock_case(Rule::ReservationConflict, || {
            given([received(5), reserved(1)]).when(reserve(2, 30))
        }),
        stock_case(Rule::ReservationNotFound, || {
            given([received(5)]).when(ReleaseReservation {
                item: samples::stock_key(),
                order_id: order_id(),
                reason: ReleaseReason::OrderCancelled,
            })
        }),
        stock_case(Rule::ReservationExpiryNotInFuture, || {
            given([received(5)]).when(reserve(1, 0))
        }),
        stock_case(Rule::ReservationNotExpired, || {
            given([received(5), reserved(1)])
                .at_minute(29)
                .when(ReleaseReservation {
                    item: samples::stock_key(),
                    order_id: order_id(),
                    reason: ReleaseReason::Expired,
                })
        }),
        stock_case(Rule::CommitExceedsReservation, || {
            given([received(5), reserved(1)]).when(CommitReservation {
                item: samples::stock_key(),
                order_id: order_id(),
                shipment_id: ShipmentId::from("S1"),
                quantity: 2,
            })
        }),
        stock_case(Rule::AdjustmentBelowReserved, || {
            given([received(5), reserved(3)]).when(AdjustStock {
                item: samples::stock_key(),
                counted_quantity: 2,
                reason: "cycle count".to_owned(),
            })
        }),
        stock_case(Rule::QuantityExceedsMaximum, || {
            given([]).when(ReceiveStock {
                item: samples::stock_key(),
                quantity: 10_001,
                reference: "PO-1".to_owned(),
            })
        }),
        stock_case(Rule::SkuFormatInvalid, || {
            given([]).when(ReceiveStock {
                item: StockKey::new("bad sku", "BER-1"),
                quantity: 1,
                reference: "PO-1".to_owned(),
            })
        }),
        stock_case(Rule::WarehouseFormatInvalid, || {
            given([]).when(ReceiveStock {
                item: StockKey::new(MUG, "ber-1"),
                quantity: 1,
                reference: "PO-1".to_owned(),
            })
        }),
        stock_case(Rule::RequiredFieldMissing, || {
            given([]).when(ReceiveStock {
                item: samples::stock_key(),
                quantity: 1,
                reference: String::new(),
            })
        }),
    ]
    .into_iter()
    .chain(warehouse::stock_cases())
    .collect()
}

type ReconciliationCase = (Rule, Box<dyn Fn() -> Then<ReconciliationRun>>);

fn reconciliation_cases() -> Vec<ReconciliationCase> {
    let with = |change: fn(&mut RecordReconciliation)| {
        move || {
            let mut command = samples::record_reconciliation();
            change(&mut command);
            given([]).when(command)
        }
    };
    vec![
        (
            Rule::RunIdInvalid,
            Box::new(with(|c| c.run_id = "run 1".into())),
        ),
        (
            Rule::ReconciliationAlreadyRecorded,
            Box::new(|| {
                given([samples::reconciliation_recorded().into()])
                    .when(samples::record_reconciliation())
            }),
        ),
        // The finance account aggregate's rules, in the same table.
        (
            Rule::ReconciliationInconsistent,
            Box::new(with(|c| {
                c.outcome.auto_matched = c.outcome.transaction_lines + 1
            })),
        ),
    ]
}

type AccountCase = (Rule, Box<dyn Fn() -> Then<Account>>);

fn account_cases() -> Vec<AccountCase> {
    let with = |change: fn(&mut RecordPspSettlement)| {
        move || {
            let mut command = samples::record_psp_settlement();
            change(&mut command);
            given([]).when(command)
        }
    };
    vec![
        (
            Rule::AccountNameInvalid,
            Box::new(with(|c| c.provider = "ad yen".into())),
        ),
        (
            Rule::SettlementDoesNotAddUp,
            Box::new(with(|c| c.net = amount("985.69"))),
        ),
        (
            Rule::SettlementAlreadyRecorded,
            Box::new(|| {
                given([samples::psp_settlement_recorded().into()])
                    .when(samples::record_psp_settlement())
            }),
        ),
        (
            Rule::AmountMustBePositive,
            Box::new(with(|c| {
                c.gross = amount("0.00");
                c.fees = amount("0.00");
                c.net = amount("0.00");
            })),
        ),
        (
            Rule::AmountPrecisionExceedsCurrency,
            Box::new(with(|c| c.fees = amount("14.301"))),
        ),
        // Merchant accounts.
        (
            Rule::PayoutExceedsAvailable,
            Box::new(|| {
                given([account_event(0), account_event(2)])
                    .at_minute(10 * DAY)
                    .when(samples::payout_merchant())
            }),
        ),
        (
            Rule::TransferReferenceReused,
            Box::new(|| {
                given((0..4).map(account_event))
                    .at_minute(21 * DAY)
                    .when(PayoutMerchant {
                        amount: amount("0.39"),
                        ..samples::payout_merchant()
                    })
            }),
        ),
        (
            Rule::CommissionExceedsAmount,
            Box::new(|| {
                given([]).by(Actor::system()).when(AccrueMerchantEarnings {
                    commission: amount("54.39"),
                    ..samples::accrue_merchant_earnings()
                })
            }),
        ),
        (
            Rule::AccrualAlreadyRecorded,
            Box::new(|| {
                given([account_event(0)])
                    .by(Actor::system())
                    .when(samples::accrue_merchant_earnings())
            }),
        ),
        (
            Rule::ActorNotPermitted,
            Box::new(|| given([]).when(samples::accrue_merchant_earnings())),
        ),
        // Carrier accounts.
        (
            Rule::CarrierInvoiceAlreadyRecorded,
            Box::new(|| {
                given([account_event(4), account_event(5)]).when(samples::record_carrier_invoice())
            }),
        ),
        (
            Rule::InvoiceParcelNotOpen,
            Box::new(|| given([]).when(samples::record_carrier_invoice())),
        ),
        (
            Rule::LinesRequired,
            Box::new(|| {
                given([account_event(4)]).when(RecordCarrierInvoice {
                    lines: Vec::new(),
                    ..samples::record_carrier_invoice()
                })
            }),
        ),
        (
            Rule::CarrierInvoiceNotFound,
            Box::new(|| given([account_event(4)]).when(samples::pay_carrier())),
        ),
        (
            Rule::CarrierPaymentExceedsInvoice,
            Box::new(|| {
                given([account_event(4), account_event(5)]).when(PayCarrier {
                    amount: amount("5.16"),
                    ..samples::pay_carrier()
                })
            }),
        ),
        (
            Rule::CodParcelNotOpen,
            Box::new(|| given([]).when(samples::record_cod_remittance())),
        ),
        (
            Rule::CodRemittanceAlreadyRecorded,
            Box::new(|| {
                let mut history = vec![cod_accrued(), account_event(4), account_event(5)];
                history.push(cod_remitted());
                given(history).when(samples::record_cod_remittance())
            }),
        ),
        (
            Rule::CodRemittanceNegative,
            Box::new(|| {
                given([cod_accrued(), account_event(4), account_event(5)]).when(
                    RecordCodRemittance {
                        fees: amount("50.00"),
                        ..samples::record_cod_remittance()
                    },
                )
            }),
        ),
    ]
}

/// The sample remittance, recorded.
fn cod_remitted() -> AccountEvent {
    let c = samples::record_cod_remittance();
    CodRemitted {
        carrier: c.carrier,
        currency: c.currency,
        remittance_reference: c.remittance_reference,
        received_on: c.received_on,
        parcels: vec![RemittedParcel {
            tracking_number: "TRK-S1".to_owned(),
            amount: amount(samples::TOTAL),
        }],
        gross: amount(samples::TOTAL),
        fees: c.fees,
        netted: c.netted,
        net: amount("48.33"),
    }
    .into()
}

const DAY: i64 = 1440;

/// The n-th of the sample merchant and carrier events.
fn account_event(n: usize) -> AccountEvent {
    samples::account_events()[n].clone()
}

#[test]
fn every_account_rule_case_rejects_with_its_rule() {
    for (rule, scenario) in account_cases() {
        let rejection = scenario().then_rejects(rule);
        println!("{rule}: {}", rejection.detail);
    }
}

#[test]
fn a_settlement_that_adds_up_is_recorded_and_counted() {
    let account: Account = given([])
        .when(samples::record_psp_settlement())
        .then_events([samples::psp_settlement_recorded().into()]);
    assert_eq!(account.psp.cleared, amount("1000.00"));
    assert_eq!(account.psp.fees, amount("14.30"));
    assert!(account.psp.settlements.contains("SEPA-2026-10-31-0001"));
}

#[test]
fn every_reconciliation_rule_case_rejects_with_its_rule() {
    for (rule, scenario) in reconciliation_cases() {
        let rejection = scenario().then_rejects(rule);
        println!("{rule}: {}", rejection.detail);
    }
}

#[test]
fn every_order_rule_case_rejects_with_its_rule() {
    for (rule, scenario) in order_cases() {
        let rejection = scenario().then_rejects(rule);
        println!("{rule}: {}", rejection.detail);
    }
}

#[test]
fn every_stock_rule_case_rejects_with_its_rule() {
    for (rule, scenario) in stock_cases() {
        let rejection = scenario().then_rejects(rule);
        println!("{rule}: {}", rejection.detail);
    }
}

/// A command id names one command on its aggregate: retries pass, anything else is refused
/// with the first use named.
fn idempotency_cases() -> Vec<Rule> {
    use order_events::codec::command_digest;
    use order_events::idempotency::{check_repeat, FirstUse};
    let place = samples::envelope(samples::place_order(), 1);
    let first = FirstUse {
        command_id: place.command_id,
        command_type: "PlaceOrder".to_owned(),
        aggregate: place.command.target(),
        digest: Some(command_digest(&place)),
        decided_at: at(0),
    };
    let mut retry = place.clone();
    retry.issued_at = at(60);
    assert_eq!(
        check_repeat(&first, &retry),
        Ok(()),
        "a retry is the same command"
    );
    let mut other_quantity = samples::place_order();
    other_quantity.lines[0].quantity += 1;
    let mut other_payload = samples::envelope(other_quantity, 1);
    other_payload.command_id = place.command_id;
    let mut other_actor = place.clone();
    other_actor.actor = Actor::new(ActorKind::Staff, "someone-else");
    let cancel = CancelOrder {
        order_id: order_id(),
        reason: CancelReason::CustomerRequest,
        note: String::new(),
    };
    let mut other_type = samples::envelope(cancel, 1);
    other_type.command_id = place.command_id;
    let mut rules = Vec::new();
    for repeat in [other_payload, other_actor, other_type] {
        let rejection = check_repeat(&first, &repeat).expect_err("another command under a used id");
        assert!(
            rejection.detail.contains("PlaceOrder")
                && rejection.detail.contains(&first.aggregate.id),
            "the refusal names the first use: {}",
            rejection.detail
        );
        rules.push(rejection.rule);
    }
    let unrecorded = FirstUse {
        digest: None,
        ..first
    };
    assert_eq!(
        check_repeat(&unrecorded, &place),
        Ok(()),
        "no digest: told apart by type alone"
    );
    rules
}

#[test]
fn a_reused_command_id_is_refused_and_a_retry_is_not() {
    assert!(idempotency_cases()
        .iter()
        .all(|rule| *rule == Rule::CommandIdReused));
}

#[test]
fn every_rule_has_a_case() {
    let covered: BTreeSet<Rule> = order_cases()
        .iter()
        .map(|(rule, _)| *rule)
        .chain(stock_cases().iter().map(|(rule, _)| *rule))
        .chain(reconciliation_cases().iter().map(|(rule, _)| *rule))
        .chain(account_cases().iter().map(|(rule, _)| *rule))
        .chain(warehouse::wave_cases().iter().map(|(rule, _)| *rule))
        .chain(idempotency_cases())
        .collect();
    // Rules of retired commands, which nothing can break any more.
    let retired = [Rule::FeedbackAlreadyRecorded];
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .filter(|rule| !covered.contains(rule) && !retired.contains(rule))
        .map(|rule| rule.code())
        .collect();
    assert!(missing.is_empty(), "rules without a test case: {missing:?}");
}
