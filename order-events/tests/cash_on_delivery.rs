//! Cash on delivery and refusal at the door: the decisions, and what the order process does
//! with them.

use order_events::account::AccountCommand;
use order_events::ids::{ReturnId, ShipmentId, Sku, WarehouseId};
use order_events::order::*;
use order_events::process::{react_to_order_event, ProcessRules, StockView};
use order_events::testkit::samples::{self, amount, order_id};
use order_events::testkit::{at, given};
use order_events::{Aggregate, Command, Policy};

struct NoStock;

impl StockView for NoStock {
    fn stocked(&self, _: &Sku) -> Vec<(WarehouseId, u64)> {
        Vec::new()
    }
}

fn refuse() -> RefuseDelivery {
    RefuseDelivery {
        order_id: order_id(),
        shipment_id: ShipmentId::from("S1"),
        note: "refused".to_owned(),
    }
}

/// The process's commands for the events `command` records on `history`.
fn reactions(history: Vec<OrderEvent>, command: impl Into<OrderCommand>) -> Vec<Command> {
    let state = Order::replay(&history);
    let then = given::<Order>(history).at_minute(2000).when(command);
    let events = then.outcome().clone().expect("accepted");
    let mut after = state;
    for event in &events {
        after.apply(event);
    }
    events
        .iter()
        .flat_map(|event| {
            react_to_order_event(
                order_id(),
                &after,
                uuid::Uuid::nil(),
                event,
                &ProcessRules::default(),
                &NoStock,
            )
        })
        .map(|reaction| reaction.command)
        .collect()
}

#[test]
fn a_cash_on_delivery_order_ships_unpaid_and_is_paid_at_the_door() {
    let placed = given::<Order>([])
        .with_policy(samples::cod_policy())
        .when(samples::place_cod_order())
        .then_events([samples::cod_order_placed()]);
    assert_eq!(
        placed.header.as_ref().unwrap().payment_terms,
        PaymentTerms::CashOnDelivery
    );
    let ready = given::<Order>(vec![samples::cod_order_placed(), samples::stock_reserved()]);
    assert_eq!(ready.state().status, OrderStatus::ReadyToShip);

    let delivered = given::<Order>(samples::cod_shipped())
        .at_minute(2000)
        .when(samples::collect_cash(samples::TOTAL))
        .then_events([
            samples::cash_collected(2000),
            ShipmentDelivered {
                shipment_id: ShipmentId::from("S1"),
                delivered_at: at(2000),
            }
            .into(),
        ]);
    assert_eq!(delivered.status, OrderStatus::Delivered);
    assert_eq!(delivered.captured(), delivered.total());
    // Refunds after delivery (a return) work as on any paid order.
    let mut history = samples::cod_shipped();
    history.extend([
        samples::cash_collected(2000),
        samples::shipment_delivered("S1"),
    ]);
    given::<Order>(history)
        .at_minute(2100)
        .when(Refund {
            order_id: order_id(),
            refund_id: "RF1".into(),
            amount: amount("9.50"),
            reason: RefundReason::Goodwill,
            psp_reference: "bank-1".to_owned(),
        })
        .then_accepts();
}

#[test]
fn a_price_change_may_not_lift_a_cash_on_delivery_order_over_its_limit() {
    let history = vec![samples::cod_order_placed(), samples::stock_reserved()];
    let raise = |price: &str| ModifyPrice {
        order_id: order_id(),
        sku: Sku::from(samples::MUG),
        unit_price: amount(price),
        reason: "repriced".to_owned(),
    };
    // 54.38 − 9.50 + 50.00 = 94.88: within the 100.00 offered.
    given::<Order>(history.clone())
        .with_policy(samples::cod_policy())
        .when(raise("50.00"))
        .then_accepts();
    let rejection = given::<Order>(history.clone())
        .with_policy(samples::cod_policy())
        .when(raise("60.00"))
        .then_rejects(order_events::Rule::CashOnDeliveryLimitExceeded);
    assert!(rejection.detail.contains("100.00"), "{}", rejection.detail);
    // Lowering it is fine whatever the policy says now.
    given::<Order>(history)
        .with_policy(Policy::default())
        .when(raise("5.00"))
        .then_accepts();
}

#[test]
fn a_refused_cash_on_delivery_order_is_cancelled_with_nothing_to_refund() {
    let after = given::<Order>(samples::cod_shipped())
        .at_minute(1440)
        .when(refuse())
        .then_events(
            samples::cod_refused("rts-S1")[3..]
                .iter()
                .cloned()
                .map(|e| match e {
                    OrderEvent::DeliveryRefused(refused) => DeliveryRefused {
                        note: "refused".to_owned(),
                        ..refused
                    }
                    .into(),
                    OrderEvent::OrderCancelled(cancelled) => OrderCancelled {
                        note: "refused".to_owned(),
                        ..cancelled
                    }
                    .into(),
                    other => other,
                }),
        );
    assert_eq!(after.status, OrderStatus::Cancelled);
    assert!(after.shipments.iter().all(|s| s.refused_at.is_some()));
    // The parcel comes back and is restocked; the order stays cancelled.
    let mut history = samples::cod_shipped();
    history.extend(samples::cod_refused("rts-S1")[3..].iter().cloned());
    let received = given::<Order>(history)
        .at_minute(3000)
        .when(ReceiveReturn {
            order_id: order_id(),
            return_id: ReturnId::from("rts-S1"),
            disposition: ReturnDisposition::Restock,
        })
        .then_accepts();
    assert_eq!(received.status, OrderStatus::Cancelled);
}

#[test]
fn a_refused_prepaid_order_is_due_the_policys_refund() {
    let refused = |refund: RefusalRefund| {
        let policy = Policy {
            refused_delivery_refund: refund,
            refused_delivery_freight: FreightPayer::Platform,
            ..Policy::default()
        };
        let then = given::<Order>(samples::history_to(OrderStatus::Shipped))
            .with_policy(policy)
            .when(refuse());
        let events = then.outcome().clone().expect("accepted");
        let [OrderEvent::DeliveryRefused(refused), OrderEvent::OrderCancelled(cancelled)] =
            &events[..]
        else {
            panic!("a refusal and a cancellation: {events:?}")
        };
        assert_eq!(refused.freight_payer, FreightPayer::Platform);
        assert_eq!(refused.freight, amount("3.20"));
        assert_eq!(cancelled.reason, CancelReason::DeliveryRefused);
        cancelled.refund_due
    };
    assert_eq!(refused(RefusalRefund::Full), amount(samples::TOTAL));
    // The 4.90 shipping fee is kept.
    assert_eq!(refused(RefusalRefund::GoodsOnly), amount("49.48"));
}

#[test]
fn the_process_accrues_collected_cash_and_charges_refused_freight() {
    let collected = reactions(
        samples::cod_shipped(),
        samples::collect_cash(samples::TOTAL),
    );
    let names: Vec<&str> = collected.iter().map(Command::type_name).collect();
    assert_eq!(
        names,
        [
            "AccrueMerchantEarnings",
            "AccrueCarrierCod",
            "StartReturnWindow"
        ]
    );
    let Command::Account(AccountCommand::AccrueCarrierCod(cod)) = &collected[1] else {
        unreachable!()
    };
    assert_eq!(
        (cod.tracking_number.as_str(), cod.amount),
        ("TRK-S1", amount(samples::TOTAL))
    );

    // Refused: the merchant bears the freight, and no reservation is released (the stock
    // left with the parcel; its return restocks it).
    let refused = reactions(samples::cod_shipped(), refuse());
    let names: Vec<&str> = refused.iter().map(Command::type_name).collect();
    assert_eq!(names, ["ChargeMerchantFreight"]);

    // The parcel arrives back: its units go back on the shelf they left.
    let arrived = reactions(
        samples::cod_refused("rts-S1"),
        ReceiveReturn {
            order_id: order_id(),
            return_id: ReturnId::from("rts-S1"),
            disposition: ReturnDisposition::Restock,
        },
    );
    let names: Vec<&str> = arrived.iter().map(Command::type_name).collect();
    assert_eq!(names, ["RestockReturn", "RestockReturn"]);
}
