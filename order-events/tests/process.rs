//! The order process in memory: what the ledger does by itself after each command, run to
//! quiescence by `MemoryLedger::submit_with_process`, the reference the deployed handler
//! follows.

use order_events::codec::SealedEvent;
use order_events::ids::*;
use order_events::ledger::{MemoryLedger, Step};
use order_events::order::*;
use order_events::process::{CarrierRule, ProcessRules, WarehouseRule};
use order_events::stock::*;
use order_events::testkit::samples::{self, amount, line_quantity, order_id, MUG, TSHIRT};
use order_events::testkit::{at, Shelf};
use order_events::{Command, Event, Policy, Rejection};

fn rules(resolution: ShortResolution) -> ProcessRules {
    ProcessRules {
        short_resolution: resolution,
        warehouses: vec![
            WarehouseRule {
                warehouse: WarehouseId::from("HAM-1"),
                countries: vec!["DE".to_owned()],
                priority: 1,
            },
            WarehouseRule {
                warehouse: WarehouseId::from("BER-1"),
                countries: vec!["DE".to_owned()],
                priority: 2,
            },
        ],
        carriers: vec![CarrierRule {
            carrier: CarrierId::from("dhl"),
            countries: vec!["DE".to_owned()],
            weight_grams_max: Some(31_500),
            service_levels: Vec::new(),
            handling: None,
            rates: Vec::new(),
        }],
        settlement: Default::default(),
        catalog: Default::default(),
    }
}

struct Shop {
    ledger: MemoryLedger,
    seed: u128,
    minute: i64,
}

impl Shop {
    fn new(resolution: ShortResolution) -> Shop {
        Shop {
            ledger: MemoryLedger::with_rules(Policy::default(), rules(resolution)),
            seed: 0,
            minute: 0,
        }
    }

    fn run(&mut self, command: impl Into<Command>) -> Vec<Step> {
        self.seed += 1;
        let envelope = samples::envelope(command, self.seed);
        self.ledger.submit_with_process(&envelope, at(self.minute))
    }

    fn receive(&mut self, sku: &str, warehouse: &str, quantity: u32) {
        let steps = self.run(ReceiveStock {
            item: StockKey::new(sku, warehouse),
            quantity,
            reference: "PO-1".to_owned(),
        });
        assert!(steps[0].1.is_ok());
    }

    fn stock(&self, sku: &str, warehouse: &str) -> (u64, u64) {
        let item = self
            .ledger
            .stock_item(&StockKey::new(sku, warehouse))
            .cloned()
            .unwrap_or_default();
        (item.on_hand, item.reserved())
    }

    fn order(&self) -> Order {
        self.ledger.order(&order_id()).cloned().expect("placed")
    }
}

/// Command types of the steps, and whether each was accepted.
fn trace(steps: &[Step]) -> Vec<(&'static str, bool)> {
    steps
        .iter()
        .map(|(command, outcome)| (command.command.type_name(), outcome.is_ok()))
        .collect()
}

fn events(steps: &[Step]) -> Vec<&Event> {
    steps
        .iter()
        .filter_map(|(_, outcome)| outcome.as_ref().ok())
        .flat_map(|events: &Vec<SealedEvent>| events.iter().map(|e| &e.envelope.event))
        .collect()
}

fn rejection(steps: &[Step], type_name: &str) -> Option<Rejection> {
    steps
        .iter()
        .find(|(command, _)| command.command.type_name() == type_name)
        .and_then(|(_, outcome)| outcome.as_ref().err().cloned())
}

fn ship(shipment_id: &str, lines: Vec<LineQuantity>) -> Ship {
    Ship {
        order_id: order_id(),
        shipment_id: ShipmentId::from(shipment_id),
        carrier: None,
        service_level: ServiceLevel::Standard,
        tracking_number: format!("T-{shipment_id}"),
        lines,
        freight_cost: Some(amount("3.20")),
        weight_grams: Some(800),
    }
}

#[test]
fn a_whole_journey_runs_its_stock_steps_and_timers_by_itself() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 1);
    shop.receive(TSHIRT, "BER-1", 5);
    shop.receive(MUG, "HAM-1", 3);

    // Placement: plan (T-shirt from BER alone: HAM has 1 of 2), reserve, record, confirm.
    let steps = shop.run(samples::place_order());
    assert_eq!(
        trace(&steps),
        [
            ("PlaceOrder", true),
            ("PlanReservations", true),
            ("ReserveStock", true),
            ("ReserveStock", true),
            ("RecordReservation", true),
            ("RecordReservation", true),
            ("ConfirmStockReserved", true),
        ]
    );
    let process_steps = &steps[1..];
    assert!(process_steps
        .iter()
        .all(|(c, _)| c.actor == order_events::Actor::system() && c.causation_id.is_some()));
    assert_eq!(shop.order().status, OrderStatus::AwaitingPayment);
    assert_eq!(shop.stock(TSHIRT, "BER-1"), (5, 2));
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (1, 0));
    assert_eq!(shop.stock(MUG, "HAM-1"), (3, 1));

    // Two captures pay it.
    shop.run(samples::capture("P1", "30.00"));
    shop.run(samples::capture("P2", "24.38"));
    assert_eq!(shop.order().status, OrderStatus::Paid);

    // A partial shipment without a carrier: the carrier rules pick one; stock is committed.
    let steps = shop.run(ship("S1", vec![line_quantity(TSHIRT, 2)]));
    assert_eq!(
        trace(&steps),
        [
            ("Ship", true),
            ("CommitReservation", true),
            ("AccrueCarrierFreight", true)
        ]
    );
    let Event::Order(OrderEvent::ShipmentDispatched(dispatched)) = events(&steps)[0] else {
        panic!("expected a dispatch");
    };
    assert_eq!(dispatched.carrier, CarrierId::from("dhl"));
    assert_eq!(shop.stock(TSHIRT, "BER-1"), (3, 0));
    shop.run(ship("S2", vec![line_quantity(MUG, 1)]));
    assert_eq!(shop.stock(MUG, "HAM-1"), (2, 0));

    // Delivery, then the auto-confirm timer: not before the policy's seven days, then once.
    shop.minute = 1440;
    for shipment in ["S1", "S2"] {
        shop.run(RecordDelivery {
            order_id: order_id(),
            shipment_id: ShipmentId::from(shipment),
        });
    }
    assert_eq!(shop.order().status, OrderStatus::Delivered);
    assert!(shop.ledger.fire_timers(at(1440 + 7 * 1440 - 1)).is_empty());
    let fired = shop.ledger.fire_timers(at(1440 + 7 * 1440));
    assert_eq!(trace(&fired), [("ConfirmReceipt", true)]);
    assert!(matches!(
        events(&fired)[0],
        Event::Order(OrderEvent::ReceiptConfirmed(ReceiptConfirmed {
            automatic: true,
            ..
        }))
    ));
    assert!(shop.ledger.fire_timers(at(1440 + 30 * 1440)).is_empty());

    // A returned mug is restocked where it shipped from.
    shop.minute = 1440 + 8 * 1440;
    shop.run(RequestReturn {
        order_id: order_id(),
        return_id: ReturnId::from("R1"),
        lines: vec![line_quantity(MUG, 1)],
        reason: ReturnReason::Defective,
    });
    let steps = shop.run(ReceiveReturn {
        order_id: order_id(),
        return_id: ReturnId::from("R1"),
        disposition: ReturnDisposition::Restock,
    });
    assert_eq!(
        trace(&steps),
        [("ReceiveReturn", true), ("RestockReturn", true)]
    );
    assert_eq!(shop.stock(MUG, "HAM-1"), (3, 0));
}

#[test]
fn a_short_line_is_split_off_backordered_or_cancels_the_order_per_policy() {
    let place = |shop: &mut Shop| {
        shop.receive(TSHIRT, "HAM-1", 1);
        shop.receive(MUG, "BER-1", 1);
        shop.run(samples::place_order())
    };

    // Split: the T-shirt line shrinks to the one unit there is; the rest is confirmed. The
    // missing T-shirt is not assumed missing: it is asked of the other warehouse known to hold
    // stock, whose refusal makes the line short.
    let mut shop = Shop::new(ShortResolution::Split);
    let steps = place(&mut shop);
    assert_eq!(
        trace(&steps)[1..],
        [
            ("PlanReservations", true),
            ("ReserveStock", true),
            ("ReserveStock", false),
            ("ReserveStock", true),
            ("RecordReservation", true),
            ("RecordReservation", true),
            ("RecordReservation", true),
            ("MarkStockShort", true),
            ("ConfirmStockReserved", true),
        ]
    );
    let order = shop.order();
    assert_eq!(order.status, OrderStatus::AwaitingPayment);
    assert_eq!(order.line(&Sku::from(TSHIRT)).unwrap().quantity, 1);
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (1, 1));

    // Backorder: whatever was reserved goes back; the order waits (until it expires).
    let mut shop = Shop::new(ShortResolution::Backorder);
    let steps = place(&mut shop);
    assert_eq!(
        trace(&steps)[8..],
        [
            ("ReleaseReservation", true),
            ("ReleaseReservation", true),
            ("MarkStockShort", true),
        ]
    );
    assert_eq!(shop.order().status, OrderStatus::Backordered);
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (1, 0));
    assert_eq!(shop.stock(MUG, "BER-1"), (1, 0));
    // Fifteen minutes on it tries again; still short, it waits again.
    let retried = shop.ledger.fire_timers(at(15));
    assert_eq!(trace(&retried)[0], ("PlanReservations", true));
    assert_eq!(trace(&retried).last(), Some(&("MarkStockShort", true)));
    assert_eq!(shop.order().status, OrderStatus::Backordered);
    // The next try would be at the payment deadline: the order expires instead.
    let expired = shop.ledger.fire_timers(at(30));
    assert_eq!(trace(&expired), [("ExpireOrder", true)]);
    assert_eq!(shop.order().status, OrderStatus::Expired);

    // Cancel: released, and the order is cancelled for stock.
    let mut shop = Shop::new(ShortResolution::Cancel);
    place(&mut shop);
    assert_eq!(shop.order().status, OrderStatus::Cancelled);
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (1, 0));

    // Split with nothing at all to sell cancels.
    let mut shop = Shop::new(ShortResolution::Split);
    shop.run(samples::place_order());
    assert_eq!(shop.order().status, OrderStatus::Cancelled);
}

#[test]
fn an_unpaid_order_expires_at_its_deadline_and_gives_its_stock_back() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 2);
    shop.receive(MUG, "HAM-1", 1);
    shop.run(samples::place_order());
    assert_eq!(shop.ledger.next_deadline(), Some(at(30)));
    assert!(shop.ledger.fire_timers(at(29)).is_empty());
    let steps = shop.ledger.fire_timers(at(30));
    assert_eq!(
        trace(&steps),
        [
            ("ExpireOrder", true),
            ("ReleaseReservation", true),
            ("ReleaseReservation", true),
        ]
    );
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (2, 0));
    assert_eq!(shop.stock(MUG, "HAM-1"), (1, 0));
    assert_eq!(shop.ledger.next_deadline(), None);
}

#[test]
fn an_outcome_after_cancellation_is_released_and_a_cancellation_releases_the_rest() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 2);
    shop.receive(MUG, "HAM-1", 1);
    // Place by hand, without the process, to interleave a cancellation.
    shop.seed += 1;
    let place = samples::envelope(samples::place_order(), shop.seed);
    let placed = shop.ledger.submit(&place, at(0)).unwrap();
    let plan = shop.ledger.reactions(&place, Ok(&placed), at(0));
    let planned = shop.ledger.submit(&plan[0], at(0)).unwrap();
    let reserves = shop.ledger.reactions(&plan[0], Ok(&planned), at(0));
    assert_eq!(reserves.len(), 2);
    // The first reservation is made and recorded; then the customer cancels.
    let steps = shop.ledger.submit_with_process(&reserves[0], at(0));
    assert_eq!(
        trace(&steps),
        [("ReserveStock", true), ("RecordReservation", true)]
    );
    let steps = shop.run(CancelOrder {
        order_id: order_id(),
        reason: CancelReason::CustomerRequest,
        note: String::new(),
    });
    assert_eq!(
        trace(&steps),
        [("CancelOrder", true), ("ReleaseReservation", true)]
    );
    // The second reservation arrives late: recorded, then released.
    let steps = shop.ledger.submit_with_process(&reserves[1], at(0));
    assert_eq!(
        trace(&steps),
        [
            ("ReserveStock", true),
            ("RecordReservation", true),
            ("ReleaseReservation", true),
        ]
    );
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (2, 0));
    assert_eq!(shop.stock(MUG, "HAM-1"), (1, 0));
}

#[test]
fn a_shipment_without_a_matching_carrier_rule_is_refused() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 2);
    shop.receive(MUG, "HAM-1", 1);
    shop.run(samples::place_order());
    shop.run(samples::capture("P1", "54.38"));
    let mut heavy = ship("S1", vec![line_quantity(MUG, 1)]);
    heavy.weight_grams = Some(40_000);
    let steps = shop.run(heavy);
    assert_eq!(
        rejection(&steps, "Ship").map(|r| r.rule),
        Some(order_events::Rule::CarrierRequired)
    );
}

#[test]
fn the_process_is_deterministic() {
    let run = || {
        let mut shop = Shop::new(ShortResolution::Split);
        shop.receive(TSHIRT, "HAM-1", 1);
        shop.receive(TSHIRT, "BER-1", 1);
        shop.receive(MUG, "BER-1", 1);
        let steps = shop.run(samples::place_order());
        steps
            .into_iter()
            .map(|(command, outcome)| {
                let events: Vec<_> = outcome
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.envelope.event_id, e.envelope.hash))
                    .collect();
                (command.command_id, command.command, events)
            })
            .collect::<Vec<_>>()
    };
    let first = run();
    // The T-shirt line is split across both warehouses.
    assert!(first.iter().any(|(_, command, _)| matches!(
        command,
        Command::Order(OrderCommand::PlanReservations(p)) if p.reservations.len() == 3
    )));
    assert_eq!(first, run());
}

#[test]
fn a_backordered_order_gets_its_stock_when_it_arrives() {
    let mut shop = Shop::new(ShortResolution::Backorder);
    shop.receive(TSHIRT, "HAM-1", 1);
    shop.receive(MUG, "HAM-1", 1);
    shop.run(samples::place_order());
    assert_eq!(shop.order().status, OrderStatus::Backordered);
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (1, 0));
    // The missing T-shirt arrives; the next try reserves everything.
    shop.minute = 10;
    shop.receive(TSHIRT, "HAM-1", 4);
    assert!(shop.ledger.fire_timers(at(14)).is_empty());
    let retried = shop.ledger.fire_timers(at(15));
    assert_eq!(
        trace(&retried).last(),
        Some(&("ConfirmStockReserved", true))
    );
    assert_eq!(shop.order().status, OrderStatus::AwaitingPayment);
    assert_eq!(shop.order().plans_made, 2);
    assert_eq!(shop.stock(TSHIRT, "HAM-1"), (5, 2));
    assert_eq!(shop.stock(MUG, "HAM-1"), (1, 1));
}

#[test]
fn money_moves_feed_the_merchant_and_carrier_accounts_a_payout_is_checked_against() {
    use order_events::account::{merchant_account, PayoutMerchant};
    use order_events::{Currency, Rule};

    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "BER-1", 5);
    shop.receive(MUG, "HAM-1", 3);
    shop.run(samples::place_order());
    // 10 % commission: 3.00 on 30.00, 2.44 on 24.38 (2.438 half to even).
    let steps = shop.run(samples::capture("P1", "30.00"));
    assert_eq!(
        trace(&steps),
        [("CapturePayment", true), ("AccrueMerchantEarnings", true)]
    );
    shop.run(samples::capture("P2", "24.38"));
    shop.run(ship("S1", vec![line_quantity(TSHIRT, 2)]));
    shop.run(ship("S2", vec![line_quantity(MUG, 1)]));
    shop.minute = 1440;
    let first = shop.run(RecordDelivery {
        order_id: order_id(),
        shipment_id: ShipmentId::from("S1"),
    });
    assert_eq!(
        trace(&first),
        [("RecordDelivery", true)],
        "not the last parcel"
    );
    let last = shop.run(RecordDelivery {
        order_id: order_id(),
        shipment_id: ShipmentId::from("S2"),
    });
    assert_eq!(
        trace(&last),
        [("RecordDelivery", true), ("StartReturnWindow", true)]
    );
    let refund = shop.run(Refund {
        order_id: order_id(),
        refund_id: RefundId::from("RF1"),
        amount: amount("9.50"),
        reason: RefundReason::Goodwill,
        psp_reference: "psp-rf1".to_owned(),
    });
    assert_eq!(
        trace(&refund),
        [("Refund", true), ("ChargeMerchantRefund", true)]
    );

    let merchant_id = merchant_account(samples::MERCHANT, Currency::EUR);
    let merchant = shop
        .ledger
        .account(&merchant_id)
        .expect("fed")
        .merchant
        .clone();
    // 54.38 − 5.44 − 9.50 + 0.95
    assert_eq!(merchant.earned, amount("40.39"));
    assert_eq!(
        merchant.open_orders[&order_id()].delivered_at,
        Some(at(1440))
    );
    let carrier = shop
        .ledger
        .account("carrier:dhl:EUR")
        .expect("fed")
        .carrier
        .clone();
    assert_eq!(
        carrier.uninvoiced.into_iter().collect::<Vec<_>>(),
        [
            ("T-S1".to_owned(), amount("3.20")),
            ("T-S2".to_owned(), amount("3.20"))
        ]
    );

    // Inside the return window everything is held back; once it closes all of it is available
    // and no more.
    let payout = |value: &str, reference: &str| PayoutMerchant {
        merchant_id: MerchantId::from(samples::MERCHANT),
        currency: Currency::EUR,
        amount: amount(value),
        payout_reference: reference.to_owned(),
    };
    shop.minute = 1440 + 14 * 1440 - 1;
    let early = shop.run(payout("0.01", "PO-1"));
    assert_eq!(
        rejection(&early, "PayoutMerchant").map(|r| r.rule),
        Some(Rule::PayoutExceedsAvailable)
    );
    shop.minute += 1;
    let beyond = shop.run(payout("40.40", "PO-1"));
    assert_eq!(
        rejection(&beyond, "PayoutMerchant").map(|r| r.rule),
        Some(Rule::PayoutExceedsAvailable)
    );
    let paid = shop.run(payout("40.39", "PO-1"));
    assert_eq!(trace(&paid), [("PayoutMerchant", true)]);
    let again = shop.run(payout("0.01", "PO-2"));
    assert_eq!(
        rejection(&again, "PayoutMerchant").map(|r| r.rule),
        Some(Rule::PayoutExceedsAvailable)
    );
}

/// Places `place`, planning with `view` instead of the ledger's own stock, then runs every
/// consequence to quiescence.
fn place_seen_as(shop: &mut Shop, place: PlaceOrder, view: &Shelf) -> Vec<Step> {
    shop.seed += 1;
    let envelope = samples::envelope(place, shop.seed);
    let placed = shop.ledger.submit(&envelope, at(0)).unwrap();
    let plan = shop
        .ledger
        .reactions_with_view(&envelope, Ok(&placed), at(0), view);
    let mut steps = vec![(envelope, Ok(placed))];
    for command in &plan {
        steps.extend(shop.ledger.submit_with_process(command, at(0)));
    }
    steps
}

fn with_mugs(quantity: u32) -> PlaceOrder {
    let mut place = samples::place_order();
    place.lines[1].quantity = quantity;
    place
}

#[test]
fn stock_the_view_has_not_seen_is_still_reserved_when_every_warehouse_has_a_share() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 5);
    shop.receive(MUG, "HAM-1", 3);
    shop.receive(MUG, "BER-1", 2);
    shop.receive(MUG, "HAM-1", 10);
    // The view saw the first receipts only: 3 + 2 mugs for an order of 8.
    let view = Shelf(vec![
        (TSHIRT, "HAM-1", 5),
        (MUG, "HAM-1", 3),
        (MUG, "BER-1", 2),
    ]);
    let steps = place_seen_as(&mut shop, with_mugs(8), &view);
    assert!(rejection(&steps, "ConfirmStockReserved").is_none());
    let order = shop.order();
    assert_eq!(
        order.status,
        OrderStatus::AwaitingPayment,
        "{:?}",
        trace(&steps)
    );
    let mut held: Vec<(String, String, u32)> = order
        .reservations
        .iter()
        .map(|r| (r.sku.to_string(), r.warehouse.to_string(), r.quantity))
        .collect();
    held.sort();
    assert_eq!(
        held,
        [
            (MUG.to_owned(), "BER-1".to_owned(), 2),
            (MUG.to_owned(), "HAM-1".to_owned(), 6),
            (TSHIRT.to_owned(), "HAM-1".to_owned(), 2),
        ]
    );
    assert_eq!(shop.stock(MUG, "HAM-1"), (13, 6));
    assert!(!events(&steps)
        .iter()
        .any(|e| matches!(e, Event::Order(OrderEvent::StockShortRecorded(_)))));
}

#[test]
fn only_what_the_stock_item_lacks_is_short() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 5);
    shop.receive(MUG, "HAM-1", 1);
    // The view counts 3 mugs at HAM-1 (ahead of the item, which holds 1).
    let view = Shelf(vec![(TSHIRT, "HAM-1", 5), (MUG, "HAM-1", 3)]);
    let steps = place_seen_as(&mut shop, with_mugs(3), &view);
    let recorded: Vec<(u32, u32)> = events(&steps)
        .iter()
        .filter_map(|e| match e {
            Event::Order(OrderEvent::ReservationRecorded(r)) if r.sku.as_str() == MUG => {
                Some((r.quantity, r.reserved_quantity))
            }
            _ => None,
        })
        .collect();
    // HAM-1 held its 1 of 3; the rest was asked of BER-1, the table's next warehouse, which
    // had none: only then is the line short.
    assert_eq!(recorded, [(3, 1), (2, 0)]);
    let short = events(&steps).into_iter().find_map(|e| match e {
        Event::Order(OrderEvent::StockShortRecorded(short)) => Some(short.short_lines.clone()),
        _ => None,
    });
    assert_eq!(short, Some(vec![line_quantity(MUG, 2)]));
    let order = shop.order();
    assert_eq!(order.status, OrderStatus::AwaitingPayment);
    assert!(order
        .reservations
        .iter()
        .any(|r| r.sku.as_str() == MUG && r.quantity == 1));
    assert_eq!(shop.stock(MUG, "HAM-1"), (1, 1));
}

#[test]
fn a_line_the_view_knows_nothing_of_is_asked_warehouse_after_warehouse() {
    let mut shop = Shop::new(ShortResolution::Split);
    shop.receive(TSHIRT, "HAM-1", 5);
    shop.receive(MUG, "HAM-1", 2);
    shop.receive(MUG, "BER-1", 3);
    // The view has seen no mugs at all: HAM-1 (priority 1) is asked for all 5 and holds its 2;
    // BER-1 is then asked for the other 3.
    let view = Shelf(vec![(TSHIRT, "HAM-1", 5)]);
    let steps = place_seen_as(&mut shop, with_mugs(5), &view);
    let plans: Vec<(bool, usize)> = events(&steps)
        .iter()
        .filter_map(|e| match e {
            Event::Order(OrderEvent::ReservationsPlanned(p)) => {
                Some((p.continues, p.reservations.len()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(plans, [(false, 2), (true, 1)]);
    let order = shop.order();
    assert_eq!(
        order.status,
        OrderStatus::AwaitingPayment,
        "{:?}",
        trace(&steps)
    );
    assert_eq!(order.plans_made, 1, "a continued plan is the same plan");
    assert_eq!(
        (shop.stock(MUG, "HAM-1"), shop.stock(MUG, "BER-1")),
        ((2, 2), (3, 3))
    );
}
