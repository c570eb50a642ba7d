//! Sample commands and events of the warehouse: a wave picking the sample order, its parcel
//! packed and weighed, the stock item's bin, picks and cycle count.

use super::at;
use super::samples::{line_quantity, order_id, stock_key, MUG, TSHIRT, WAREHOUSE};
use crate::envelope::{Command, Event};
use crate::ids::*;
use crate::money::Currency;
use crate::order::*;
use crate::shipping::{CarrierRule, FreightRate, Handling, Shipping, SkuAttributes};
use crate::stock::*;
use crate::wave::*;
use crate::Policy;

pub const WAVE: &str = "W-BER-1-0001";

/// The catalog the samples weigh with: a T-shirt is 200 g, a mug 400 g and fragile.
pub fn catalog() -> crate::shipping::Catalog {
    let attributes = |weight_grams, fragile| SkuAttributes {
        weight_grams,
        length_mm: None,
        width_mm: None,
        height_mm: None,
        fragile,
        liquid: false,
        hazardous: false,
    };
    [
        (Sku::from(TSHIRT), attributes(200, false)),
        (Sku::from(MUG), attributes(400, true)),
    ]
    .into_iter()
    .collect()
}

/// The sample order's lines, with bins.
pub fn wave_order() -> WaveOrder {
    WaveOrder {
        order_id: order_id(),
        service_level: ServiceLevel::Standard,
        lines: vec![
            WaveLine {
                sku: Sku::from(TSHIRT),
                quantity: 2,
                bin: Some("B-02-01".to_owned()),
            },
            WaveLine {
                sku: Sku::from(MUG),
                quantity: 1,
                bin: Some("A-01-03".to_owned()),
            },
        ],
    }
}

pub fn plan_wave() -> PlanWave {
    PlanWave {
        wave_id: WaveId::from(WAVE),
        warehouse: WarehouseId::from(WAREHOUSE),
        carrier: Some(CarrierId::from("dhl")),
        service_level: None,
        cutoff_at: Some(at(600)),
        orders: vec![wave_order()],
    }
}

pub fn wave_planned() -> WavePlanned {
    let line = |bin: &str, sku: &str, quantity| PickListLine {
        bin: Some(bin.to_owned()),
        sku: Sku::from(sku),
        order_id: order_id(),
        quantity,
        service_level: ServiceLevel::Standard,
    };
    WavePlanned {
        warehouse: WarehouseId::from(WAREHOUSE),
        carrier: Some(CarrierId::from("dhl")),
        service_level: None,
        cutoff_at: Some(at(600)),
        pick_list: vec![line("A-01-03", MUG, 1), line("B-02-01", TSHIRT, 2)],
        planned_at: at(120),
    }
}

pub fn record_pick(sku: &str, picked_quantity: u32) -> RecordPick {
    RecordPick {
        wave_id: WaveId::from(WAVE),
        order_id: order_id(),
        sku: Sku::from(sku),
        picked_quantity,
    }
}

pub fn record_picks(lines: Vec<LineQuantity>) -> RecordPicks {
    RecordPicks {
        order_id: order_id(),
        wave_id: WaveId::from(WAVE),
        warehouse: WarehouseId::from(WAREHOUSE),
        lines,
    }
}

pub fn picks_recorded(lines: Vec<LineQuantity>) -> OrderEvent {
    PicksRecorded {
        wave_id: WaveId::from(WAVE),
        warehouse: WarehouseId::from(WAREHOUSE),
        lines,
    }
    .into()
}

pub fn pack_parcel(parcel_id: &str, lines: Vec<LineQuantity>, weight_grams: u32) -> PackParcel {
    PackParcel {
        order_id: order_id(),
        parcel_id: ShipmentId::from(parcel_id),
        lines,
        weight_grams,
    }
}

/// The sample order's one parcel: 800 g expected, 830 g measured, fragile.
pub fn parcel_packed() -> ParcelPacked {
    ParcelPacked {
        parcel_id: ShipmentId::from("S1"),
        lines: vec![line_quantity(TSHIRT, 2), line_quantity(MUG, 1)],
        weight_grams: 830,
        expected_weight_grams: Some(800),
        weight_limit_grams: Some(31_500),
        handling: vec![Handling::Fragile],
        weight_mismatch: false,
        overweight: false,
        packed_at: at(180),
    }
}

/// One command of each warehouse type that is no order's (those are in
/// [`super::every::one_of_each_order_command`]).
pub fn commands() -> Vec<Command> {
    let item = stock_key();
    vec![
        plan_wave().into(),
        record_pick(MUG, 1).into(),
        SetBinLocation {
            item: item.clone(),
            bin: "A-01-03".to_owned(),
        }
        .into(),
        CountStock {
            item: item.clone(),
            counted_quantity: 37,
            reason: "cycle count: 1 broken".to_owned(),
        }
        .into(),
        StartPicks {
            item: item.clone(),
            wave_id: WaveId::from(WAVE),
            quantity: 1,
        }
        .into(),
        FinishPicks {
            item,
            wave_id: WaveId::from(WAVE),
            picked_quantity: 1,
            orders: vec![OrderUnits {
                order_id: order_id(),
                quantity: 1,
            }],
        }
        .into(),
    ]
}

/// One event of each warehouse type (added after every type before them, so last).
pub fn events() -> Vec<Event> {
    let wave: Vec<WaveEvent> = vec![
        wave_planned().into(),
        PickRecorded {
            order_id: order_id(),
            sku: Sku::from(MUG),
            bin: Some("A-01-03".to_owned()),
            quantity: 1,
            picked_quantity: 1,
        }
        .into(),
        WaveOrderPicked {
            order_id: order_id(),
            lines: vec![line_quantity(TSHIRT, 2), line_quantity(MUG, 1)],
        }
        .into(),
        WaveSkuPicked {
            sku: Sku::from(MUG),
            quantity: 1,
            picked_quantity: 1,
        }
        .into(),
        WaveCompleted {
            lines: 2,
            short_lines: 0,
            completed_at: at(150),
        }
        .into(),
    ];
    let order: Vec<OrderEvent> = vec![
        picks_recorded(vec![line_quantity(TSHIRT, 2), line_quantity(MUG, 1)]),
        parcel_packed().into(),
    ];
    let stock: Vec<StockEvent> = vec![
        BinLocationSet {
            bin: "A-01-03".to_owned(),
        }
        .into(),
        StockCounted {
            book_quantity: 38,
            counted_quantity: 37,
            difference: -1,
            reason: "cycle count: 1 broken".to_owned(),
        }
        .into(),
        PicksStarted {
            wave_id: WaveId::from(WAVE),
            quantity: 1,
        }
        .into(),
        PicksFinished {
            wave_id: WaveId::from(WAVE),
            quantity: 1,
            picked_quantity: 1,
            staged: vec![OrderUnits {
                order_id: order_id(),
                quantity: 1,
            }],
        }
        .into(),
    ];
    wave.into_iter()
        .map(Event::Wave)
        .chain(order.into_iter().map(Event::Order))
        .chain(stock.into_iter().map(Event::Stock))
        .collect()
}

/// The carrier table the samples ship with: dhl to Germany up to 31.5 kg, taking fragile and
/// liquid goods, 4.90 up to 2 kg and 7.90 above; freight-co anywhere up to a tonne, any
/// handling, 49.00.
pub fn carriers() -> Vec<CarrierRule> {
    let rate = |weight_grams_max, price: &str| FreightRate {
        currency: Currency::EUR,
        weight_grams_max,
        price: price.parse().expect("a sample amount"),
    };
    vec![
        CarrierRule {
            carrier: CarrierId::from("dhl"),
            countries: vec!["DE".to_owned()],
            weight_grams_max: Some(31_500),
            service_levels: Vec::new(),
            handling: Some(vec![Handling::Fragile, Handling::Liquid]),
            rates: vec![rate(Some(2_000), "4.90"), rate(None, "7.90")],
        },
        CarrierRule {
            carrier: CarrierId::from("freight-co"),
            countries: Vec::new(),
            weight_grams_max: Some(1_000_000),
            service_levels: Vec::new(),
            handling: None,
            rates: vec![rate(None, "49.00")],
        },
    ]
}

/// The default policy, weighing with [`catalog`] and shipping with [`carriers`].
pub fn shipping_policy() -> Policy {
    Policy {
        shipping: std::sync::Arc::new(Shipping {
            catalog: catalog(),
            carriers: carriers(),
        }),
        ..Policy::default()
    }
}
