//! The warehouse's rules: waves and picks, the picks an order takes, packing, shipping a
//! parcel, and the stock item's count.

use order_events::ids::*;
use order_events::order::*;
use order_events::stock::*;
use order_events::testkit::samples::{self, everything, history_to, line_quantity, MUG, TSHIRT};
use order_events::testkit::warehouse::*;
use order_events::testkit::{given, Given, Then};
use order_events::wave::*;
use order_events::{Actor, OverweightHandling, Policy, Rule};

pub type WaveCase = (Rule, Box<dyn Fn() -> Then<Wave>>);

fn paid_with(more: Vec<OrderEvent>) -> Given<Order> {
    let mut history = history_to(OrderStatus::Paid);
    history.extend(more);
    given(history).with_policy(shipping_policy())
}

fn picked_all() -> Vec<OrderEvent> {
    vec![picks_recorded(everything())]
}

fn ship(shipment_id: &str) -> Ship {
    Ship {
        order_id: samples::order_id(),
        shipment_id: ShipmentId::from(shipment_id),
        carrier: Some(CarrierId::from("dhl")),
        service_level: ServiceLevel::Standard,
        tracking_number: "TRK-1".to_owned(),
        lines: Vec::new(),
        freight_cost: None,
        weight_grams: None,
    }
}

fn with_policy(change: fn(&mut Policy)) -> Policy {
    let mut policy = shipping_policy();
    change(&mut policy);
    policy
}

pub fn order_cases() -> Vec<super::Case> {
    vec![
        (
            Rule::PicksExceedUnshipped,
            Box::new(|| {
                paid_with(picked_all())
                    .by(Actor::system())
                    .when(record_picks(vec![line_quantity(MUG, 1)]))
            }),
        ),
        (
            Rule::ParcelAlreadyPacked,
            Box::new(|| {
                paid_with(vec![picks_recorded(everything()), parcel_packed().into()])
                    .when(pack_parcel("S1", vec![line_quantity(MUG, 1)], 400))
            }),
        ),
        (
            Rule::PackSkuNotPicked,
            Box::new(|| {
                paid_with(vec![picks_recorded(vec![line_quantity(MUG, 1)])]).when(pack_parcel(
                    "S1",
                    vec![line_quantity(TSHIRT, 1)],
                    200,
                ))
            }),
        ),
        (
            Rule::PackExceedsPicked,
            Box::new(|| {
                paid_with(vec![picks_recorded(vec![line_quantity(TSHIRT, 1)])]).when(pack_parcel(
                    "S1",
                    vec![line_quantity(TSHIRT, 2)],
                    400,
                ))
            }),
        ),
        (
            Rule::PackIncomplete,
            Box::new(|| {
                paid_with(picked_all()).when(pack_parcel("S1", vec![line_quantity(TSHIRT, 2)], 400))
            }),
        ),
        (
            Rule::ParcelOverweight,
            Box::new(|| {
                let policy = with_policy(|p| p.overweight = OverweightHandling::Split);
                paid_with(picked_all())
                    .with_policy(policy)
                    .when(pack_parcel("S1", everything(), 1_200_000))
            }),
        ),
        (
            Rule::ParcelNotPacked,
            Box::new(|| {
                let policy = with_policy(|p| p.ship_packed_only = true);
                paid_with(Vec::new()).with_policy(policy).when(Ship {
                    lines: everything(),
                    weight_grams: Some(800),
                    ..ship("S9")
                })
            }),
        ),
        (
            Rule::ShipmentDiffersFromParcel,
            Box::new(|| {
                paid_with(vec![picks_recorded(everything()), parcel_packed().into()]).when(Ship {
                    lines: vec![line_quantity(MUG, 1)],
                    ..ship("S1")
                })
            }),
        ),
        (
            Rule::WeightRequired,
            Box::new(|| {
                paid_with(Vec::new()).when(Ship {
                    lines: everything(),
                    ..ship("S9")
                })
            }),
        ),
        (
            Rule::CarrierRefusesParcel,
            Box::new(|| {
                paid_with(Vec::new()).when(Ship {
                    lines: everything(),
                    weight_grams: Some(40_000),
                    ..ship("S9")
                })
            }),
        ),
        (
            Rule::FreightRateUnknown,
            Box::new(|| {
                paid_with(Vec::new()).when(Ship {
                    carrier: Some(CarrierId::from("ups")),
                    lines: everything(),
                    weight_grams: Some(800),
                    ..ship("S9")
                })
            }),
        ),
    ]
}

fn received(quantity: u32) -> StockEvent {
    StockReceived {
        quantity,
        reference: "PO-1".to_owned(),
    }
    .into()
}

pub fn stock_cases() -> Vec<super::StockCase> {
    vec![(
        Rule::PicksInProgress,
        Box::new(|| {
            let picking = PicksStarted {
                wave_id: WaveId::from(WAVE),
                quantity: 1,
            };
            given([received(5), picking.into()]).when(CountStock {
                item: samples::stock_key(),
                counted_quantity: 4,
                reason: "cycle count".to_owned(),
            })
        }),
    )]
}

fn planned() -> Given<Wave> {
    given([wave_planned().into()])
}

pub fn wave_cases() -> Vec<WaveCase> {
    vec![
        (
            Rule::WaveIdInvalid,
            Box::new(|| {
                given([]).when(PlanWave {
                    wave_id: WaveId::from("wave 1"),
                    ..plan_wave()
                })
            }),
        ),
        (
            Rule::WaveAlreadyPlanned,
            Box::new(|| planned().when(plan_wave())),
        ),
        (
            Rule::WaveNotFound,
            Box::new(|| given([]).when(record_pick(MUG, 1))),
        ),
        (
            Rule::WaveOrdersInvalid,
            Box::new(|| {
                given([]).when(PlanWave {
                    orders: vec![wave_order(), wave_order()],
                    ..plan_wave()
                })
            }),
        ),
        (
            Rule::PickNotInWave,
            Box::new(|| planned().when(record_pick("LAMP-01", 1))),
        ),
        (
            Rule::PickAlreadyRecorded,
            Box::new(|| {
                let picked = PickRecorded {
                    order_id: samples::order_id(),
                    sku: Sku::from(MUG),
                    bin: Some("A-01-03".to_owned()),
                    quantity: 1,
                    picked_quantity: 1,
                };
                given([wave_planned().into(), picked.into()]).when(record_pick(MUG, 0))
            }),
        ),
        (
            Rule::PickExceedsLine,
            Box::new(|| planned().when(record_pick(MUG, 2))),
        ),
    ]
}

#[test]
fn every_warehouse_rule_case_rejects_with_its_rule() {
    for (rule, scenario) in wave_cases() {
        let rejection = scenario().then_rejects(rule);
        println!("{rule}: {}", rejection.detail);
    }
}
