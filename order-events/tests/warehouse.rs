//! The warehouse's side through the order process: a wave planned for the sample order picks
//! it, the stock items know they are being picked, the order takes what was picked, a parcel
//! is packed, verified and weighed, and ships with the carrier table's carrier and freight.

use order_events::envelope::Command;
use order_events::ids::*;
use order_events::ledger::{MemoryLedger, Step};
use order_events::order::*;
use order_events::process::ProcessRules;
use order_events::shipping::Handling;
use order_events::stock::*;
use order_events::testkit::samples::{self, everything, line_quantity, order_id, MUG, TSHIRT};
use order_events::testkit::warehouse::{self, *};
use order_events::testkit::{at, given};
use order_events::wave::*;
use order_events::{Event, OverweightHandling, Policy, Rule};

struct Warehouse {
    ledger: MemoryLedger,
    seed: u128,
}

impl Warehouse {
    /// The sample order, paid, its stock reserved at the sample warehouse.
    fn with_paid_order(policy: Policy) -> Warehouse {
        let rules = ProcessRules {
            catalog: warehouse::catalog(),
            carriers: warehouse::carriers(),
            ..ProcessRules::default()
        };
        let mut shop = Warehouse {
            ledger: MemoryLedger::with_rules(policy, rules),
            seed: 0,
        };
        for sku in [TSHIRT, MUG] {
            shop.accept(ReceiveStock {
                item: StockKey::new(sku, samples::WAREHOUSE),
                quantity: 10,
                reference: "PO-1".to_owned(),
            });
        }
        shop.accept(samples::place_order());
        shop.accept(samples::capture("P1", samples::TOTAL));
        assert_eq!(shop.order().status, OrderStatus::Paid);
        shop
    }

    fn run(&mut self, command: impl Into<Command>) -> Vec<Step> {
        self.seed += 1;
        let envelope = samples::envelope(command, self.seed);
        self.ledger.submit_with_process(&envelope, at(60))
    }

    /// Runs `command`, which must be accepted with every reaction.
    fn accept(&mut self, command: impl Into<Command>) -> Vec<Event> {
        let steps = self.run(command);
        for (command, outcome) in &steps {
            assert!(
                outcome.is_ok(),
                "{}: {outcome:?}",
                command.command.type_name()
            );
        }
        steps
            .into_iter()
            .flat_map(|(_, outcome)| outcome.unwrap())
            .map(|sealed| sealed.envelope.event)
            .collect()
    }

    fn refuse(&mut self, command: impl Into<Command>) -> Rule {
        let steps = self.run(command);
        steps[0].1.as_ref().expect_err("refused").rule
    }

    fn order(&self) -> Order {
        self.ledger.order(&order_id()).cloned().expect("placed")
    }

    fn item(&self, sku: &str) -> StockItem {
        let key = StockKey::new(sku, samples::WAREHOUSE);
        self.ledger.stock_item(&key).cloned().expect("received")
    }

    /// Plans the sample wave and picks every line in full.
    fn pick_all(&mut self) -> Vec<Event> {
        self.accept(plan_wave());
        let mut events = self.accept(record_pick(MUG, 1));
        events.extend(self.accept(record_pick(TSHIRT, 2)));
        events
    }
}

/// Ships the packed parcel as packed, carrier and freight from the table.
fn ship_as_packed(parcel_id: &str) -> Ship {
    Ship {
        order_id: order_id(),
        shipment_id: ShipmentId::from(parcel_id),
        carrier: None,
        service_level: ServiceLevel::Standard,
        tracking_number: "TRK-1".to_owned(),
        lines: Vec::new(),
        freight_cost: None,
        weight_grams: None,
    }
}

fn count(sku: &str, counted_quantity: u64) -> CountStock {
    CountStock {
        item: StockKey::new(sku, samples::WAREHOUSE),
        counted_quantity,
        reason: "cycle count".to_owned(),
    }
}

#[test]
fn a_pick_list_walks_the_bins_in_order_express_first_and_unknown_bins_last() {
    let express = OrderId::for_external_reference("web", "W-2002");
    let line = |sku: &str, quantity, bin: Option<&str>| WaveLine {
        sku: Sku::from(sku),
        quantity,
        bin: bin.map(str::to_owned),
    };
    let wave: Wave = given([])
        .when(PlanWave {
            orders: vec![
                WaveOrder {
                    lines: vec![
                        line(TSHIRT, 2, Some("B-02-01")),
                        line(MUG, 1, Some("A-01-03")),
                        line("LAMP-01", 1, None),
                    ],
                    ..wave_order()
                },
                WaveOrder {
                    order_id: express,
                    service_level: ServiceLevel::Express,
                    lines: vec![line(TSHIRT, 1, Some("B-02-01"))],
                },
            ],
            ..plan_wave()
        })
        .then_accepts();
    let walk: Vec<(Option<&str>, &str, bool)> = wave
        .lines
        .iter()
        .map(|state| {
            let line = &state.line;
            (
                line.bin.as_deref(),
                line.sku.as_str(),
                line.order_id == express,
            )
        })
        .collect();
    assert_eq!(
        walk,
        [
            (Some("A-01-03"), MUG, false),
            (Some("B-02-01"), TSHIRT, true),
            (Some("B-02-01"), TSHIRT, false),
            (None, "LAMP-01", false),
        ]
    );
}

#[test]
fn the_last_pick_of_an_order_a_sku_and_the_wave_says_so() {
    let picked = PickRecorded {
        order_id: order_id(),
        sku: Sku::from(MUG),
        bin: Some("A-01-03".to_owned()),
        quantity: 1,
        picked_quantity: 1,
    };
    given::<Wave>([wave_planned().into(), picked.into()])
        .at_minute(150)
        .when(record_pick(TSHIRT, 1))
        .then_events([
            PickRecorded {
                order_id: order_id(),
                sku: Sku::from(TSHIRT),
                bin: Some("B-02-01".to_owned()),
                quantity: 2,
                picked_quantity: 1,
            }
            .into(),
            WaveOrderPicked {
                order_id: order_id(),
                lines: vec![line_quantity(MUG, 1), line_quantity(TSHIRT, 1)],
            }
            .into(),
            WaveSkuPicked {
                sku: Sku::from(TSHIRT),
                quantity: 2,
                picked_quantity: 1,
            }
            .into(),
            WaveCompleted {
                lines: 2,
                short_lines: 1,
                completed_at: at(150),
            }
            .into(),
        ]);
    // A repeat of a recorded pick changes nothing.
    given::<Wave>([wave_planned().into()])
        .when(record_pick(MUG, 1))
        .then_accepts();
}

#[test]
fn a_wave_holds_counts_off_its_items_until_they_are_picked_and_the_order_takes_the_picks() {
    let mut shop = Warehouse::with_paid_order(Policy::default());
    let events = shop.accept(plan_wave());
    let started: Vec<&PicksStarted> = events
        .iter()
        .filter_map(|event| match event {
            Event::Stock(StockEvent::PicksStarted(started)) => Some(started),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), 2, "each SKU's item learns it is picked");
    assert_eq!(shop.refuse(count(MUG, 9)), Rule::PicksInProgress);

    shop.accept(record_pick(MUG, 1));
    assert!(
        shop.item(MUG).picking.is_empty(),
        "the mug's lines are done"
    );
    assert_eq!(shop.refuse(count(TSHIRT, 9)), Rule::PicksInProgress);
    assert!(shop.order().picked.is_empty(), "half the order is picked");

    shop.accept(record_pick(TSHIRT, 2));
    assert_eq!(shop.order().picked, everything_by_sku());
    // The picked mug is at the pack station: on hand and reserved, not in the bin.
    let mug = shop.item(MUG);
    assert_eq!((mug.on_hand, mug.staged_total(), mug.in_bin()), (10, 1, 9));
    let counted = shop.accept(count(MUG, 8));
    assert_eq!(
        counted,
        [Event::Stock(
            StockCounted {
                book_quantity: 9,
                counted_quantity: 8,
                difference: -1,
                reason: "cycle count".to_owned(),
            }
            .into()
        )]
    );
    assert_eq!(
        shop.item(MUG).on_hand,
        9,
        "8 in the bin, 1 at the pack station"
    );
    // Packed and shipped, the mug leaves the pack station once: 8 left, all in the bin.
    shop.accept(pack_parcel("S1", everything(), 800));
    shop.accept(ship_as_packed("S1"));
    let mug = shop.item(MUG);
    assert_eq!((mug.on_hand, mug.staged_total(), mug.in_bin()), (8, 0, 8));
}

/// A count of the bin between the picks and the shipment: before picked units were staged,
/// the book still held the units at the pack station, the count posted them as missing, and
/// the shipment took them off on hand a second time.
#[test]
fn a_count_while_picks_wait_at_the_pack_station_takes_nothing_off_twice() {
    let mut shop = Warehouse::with_paid_order(Policy::default());
    shop.pick_all();
    let counted = shop.accept(count(TSHIRT, 8));
    let Event::Stock(StockEvent::StockCounted(counted)) = &counted[0] else {
        panic!("a count: {counted:?}");
    };
    assert_eq!(
        (counted.book_quantity, counted.difference),
        (8, 0),
        "nothing is missing"
    );
    shop.accept(pack_parcel("S1", everything(), 800));
    shop.accept(ship_as_packed("S1"));
    assert_eq!(shop.item(TSHIRT).on_hand, 8, "10 received, 2 shipped");
}

/// The sample order's units as the wave picked them: the mug's bin comes first.
fn everything_by_sku() -> Vec<LineQuantity> {
    vec![line_quantity(MUG, 1), line_quantity(TSHIRT, 2)]
}

#[test]
fn a_packed_parcel_is_verified_weighed_labelled_and_shipped_as_packed() {
    let mut shop = Warehouse::with_paid_order(Policy::default());
    shop.pick_all();
    let packed = shop.accept(pack_parcel("S1", everything(), 1_000));
    let Event::Order(OrderEvent::ParcelPacked(parcel)) = &packed[0] else {
        panic!("a parcel: {packed:?}");
    };
    assert_eq!(parcel.expected_weight_grams, Some(800));
    assert_eq!(parcel.weight_limit_grams, Some(1_000_000));
    assert_eq!(parcel.handling, [Handling::Fragile]);
    assert!(parcel.weight_mismatch, "1000 g is 25 % above 800 g");
    assert!(!parcel.overweight);
    assert!(shop.order().picked.is_empty());

    let shipped = shop.accept(ship_as_packed("S1"));
    let Event::Order(OrderEvent::ShipmentDispatched(dispatched)) = &shipped[0] else {
        panic!("a dispatch: {shipped:?}");
    };
    assert_eq!(dispatched.carrier, CarrierId::from("dhl"));
    assert_eq!(dispatched.lines, everything());
    assert_eq!(dispatched.weight_grams, 1_000);
    assert_eq!(
        dispatched.freight_cost,
        samples::amount("4.90"),
        "dhl's rate up to 2 kg"
    );
    let order = shop.order();
    assert_eq!(order.status, OrderStatus::Shipped);
    assert!(order.parcels.is_empty());
    assert_eq!(shop.item(MUG).on_hand, 9, "the reservation is committed");
}

#[test]
fn a_parcel_within_the_tolerance_is_no_mismatch() {
    let mut shop = Warehouse::with_paid_order(Policy::default());
    shop.pick_all();
    let packed = shop.accept(pack_parcel("S1", everything(), 880));
    assert!(matches!(
        &packed[0],
        Event::Order(OrderEvent::ParcelPacked(p)) if !p.weight_mismatch
    ));
}

#[test]
fn hazardous_goods_go_with_a_carrier_that_takes_them() {
    let mut rules = ProcessRules {
        catalog: warehouse::catalog(),
        carriers: warehouse::carriers(),
        ..ProcessRules::default()
    };
    rules
        .catalog
        .get_mut(&Sku::from(MUG))
        .expect("in the catalog")
        .hazardous = true;
    let mut shop = Warehouse::with_paid_order(Policy::default());
    shop.ledger = {
        let mut ledger = MemoryLedger::with_rules(Policy::default(), rules);
        for sku in [TSHIRT, MUG] {
            let receive = ReceiveStock {
                item: StockKey::new(sku, samples::WAREHOUSE),
                quantity: 10,
                reference: "PO-1".to_owned(),
            };
            ledger.submit_with_process(&samples::envelope(receive, 900), at(0));
        }
        ledger
    };
    shop.accept(samples::place_order());
    shop.accept(samples::capture("P1", samples::TOTAL));
    let ship = Ship {
        order_id: order_id(),
        shipment_id: ShipmentId::from("S1"),
        carrier: None,
        service_level: ServiceLevel::Standard,
        tracking_number: "TRK-1".to_owned(),
        lines: everything(),
        freight_cost: None,
        weight_grams: Some(800),
    };
    let named = Ship {
        carrier: Some(CarrierId::from("dhl")),
        ..ship.clone()
    };
    assert_eq!(shop.refuse(named), Rule::CarrierRefusesParcel);
    let shipped = shop.accept(ship);
    assert!(matches!(
        &shipped[0],
        Event::Order(OrderEvent::ShipmentDispatched(d))
            if d.carrier.as_str() == "freight-co" && d.freight_cost == samples::amount("49.00")
    ));
}

#[test]
fn an_overweight_parcel_is_flagged_or_refused_by_policy_and_a_split_may_leave_units_out() {
    let mut shop = Warehouse::with_paid_order(Policy::default());
    shop.pick_all();
    let packed = shop.accept(pack_parcel("S1", everything(), 1_200_000));
    assert!(matches!(
        &packed[0],
        Event::Order(OrderEvent::ParcelPacked(p)) if p.overweight
    ));

    let split = Policy {
        overweight: OverweightHandling::Split,
        ..Policy::default()
    };
    let mut shop = Warehouse::with_paid_order(split);
    shop.pick_all();
    let heavy = pack_parcel("S1", everything(), 1_200_000);
    assert_eq!(shop.refuse(heavy), Rule::ParcelOverweight);
    // Near the limit, leaving the mug out is allowed: it would not fit.
    shop.accept(pack_parcel("S1", vec![line_quantity(TSHIRT, 2)], 999_700));
    shop.accept(pack_parcel("S2", vec![line_quantity(MUG, 1)], 400));
    assert_eq!(shop.order().parcels.len(), 2);
}

#[test]
fn with_packing_required_only_packed_parcels_ship() {
    let packed_only = Policy {
        ship_packed_only: true,
        ..Policy::default()
    };
    let mut shop = Warehouse::with_paid_order(packed_only);
    let unpacked = Ship {
        order_id: order_id(),
        shipment_id: ShipmentId::from("S1"),
        carrier: Some(CarrierId::from("dhl")),
        service_level: ServiceLevel::Standard,
        tracking_number: "TRK-1".to_owned(),
        lines: everything(),
        freight_cost: Some(samples::amount("3.00")),
        weight_grams: Some(800),
    };
    assert_eq!(shop.refuse(unpacked.clone()), Rule::ParcelNotPacked);
    shop.pick_all();
    shop.accept(pack_parcel("S1", everything(), 820));
    shop.accept(unpacked);
    assert_eq!(shop.order().status, OrderStatus::Shipped);
}

#[test]
fn a_cancelled_order_drops_its_picks_and_refuses_late_ones() {
    let mut shop = Warehouse::with_paid_order(Policy::default());
    shop.accept(plan_wave());
    shop.accept(record_pick(MUG, 1));
    shop.accept(CancelOrder {
        order_id: order_id(),
        reason: CancelReason::CustomerRequest,
        note: String::new(),
    });
    let steps = shop.run(record_pick(TSHIRT, 2));
    let picks = steps
        .iter()
        .find(|(command, _)| command.command.type_name() == "RecordPicks")
        .expect("the process hands the picks to the order");
    assert_eq!(
        picks.1.as_ref().expect_err("refused").rule,
        Rule::IllegalTransition
    );
    assert!(steps
        .iter()
        .any(|(command, outcome)| command.command.type_name() == "FinishPicks" && outcome.is_ok()));
    assert!(shop.order().picked.is_empty());
    // Cancelled, the order holds nothing: its picked units go back to the bin.
    for sku in [MUG, TSHIRT] {
        let item = shop.item(sku);
        assert_eq!(item.staged_total(), 0, "{sku}");
        assert_eq!(item.in_bin(), item.on_hand, "{sku}");
    }
}
