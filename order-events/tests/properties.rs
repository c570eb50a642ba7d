//! Property tests over random command sequences on two orders and two stock items.
//!
//! After every step: no panic, every invariant holds, decide is deterministic, and each event
//! and command survives encode → decode (binary and JSON) exactly. At the end: folding every
//! event from scratch gives the state built step by step, and every hash chain links up.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use order_events::codec::{self, json};
use order_events::envelope::{AggregateRef, ChainHead, Command, CommandEnvelope, Event};
use order_events::ids::*;
use order_events::order::{self, *};
use order_events::stock::{self, *};
use order_events::testkit::{at, samples};
use order_events::{Actor, ActorKind, Aggregate, Amount, Context, Currency};

const SKUS: [&str; 2] = [samples::TSHIRT, samples::MUG];
const REFERENCES: [&str; 2] = ["A-1", "B-2"];

fn order_id(index: usize) -> OrderId {
    OrderId::for_external_reference("web", REFERENCES[index])
}

fn cents(value: i64) -> Amount {
    Amount(Decimal::new(value, 2))
}

/// What to do next. Most ops read the current state when they run, so sequences make progress
/// through the order's life instead of being refused at the first step; raw values still come
/// in that are out of range, so rejections are exercised too.
#[derive(Debug, Clone)]
enum Op {
    Place {
        order: usize,
        quantities: [u32; 2],
        prices: [i64; 2],
        shipping: i64,
        discount: i64,
        cod: bool,
    },
    /// The carrier collects `percent` of what is outstanding at the door.
    CollectCod {
        order: usize,
        shipment: u8,
        percent: u8,
    },
    Refuse {
        order: usize,
        shipment: u8,
    },
    ModifyPrice {
        order: usize,
        line: usize,
        price: i64,
    },
    ApplyDiscount {
        order: usize,
        code: u8,
        value: i64,
    },
    Cancel {
        order: usize,
    },
    Expire {
        order: usize,
    },
    ConfirmStock {
        order: usize,
    },
    MarkShort {
        order: usize,
        line: usize,
        quantity: u32,
        resolution: u8,
    },
    Capture {
        order: usize,
        payment: u8,
        percent: u8,
        usd: bool,
    },
    FailPayment {
        order: usize,
        payment: u8,
    },
    ReleaseHold {
        order: usize,
    },
    Allocate {
        order: usize,
        line: usize,
    },
    Ship {
        order: usize,
        shipment: u8,
        line: usize,
        quantity: u32,
        weight: u32,
    },
    CarrierException {
        order: usize,
        shipment: u8,
        kind: u8,
    },
    Deliver {
        order: usize,
        shipment: u8,
    },
    ConfirmReceipt {
        order: usize,
        system: bool,
    },
    RequestReturn {
        order: usize,
        case: u8,
        line: usize,
        quantity: u32,
        exchange: bool,
    },
    ReceiveReturn {
        order: usize,
        case: u8,
        restock: bool,
    },
    Refund {
        order: usize,
        refund: u8,
        percent: u8,
    },
    Feedback {
        order: usize,
        rating: u8,
    },
    Receive {
        sku: usize,
        quantity: u32,
    },
    Adjust {
        sku: usize,
        counted: u64,
    },
    SafetyStock {
        sku: usize,
        quantity: u64,
    },
    Reserve {
        sku: usize,
        order: usize,
        quantity: u32,
        minimum: Option<u32>,
        ttl_minutes: i64,
    },
    Release {
        sku: usize,
        order: usize,
        expired: bool,
    },
    Commit {
        sku: usize,
        order: usize,
        quantity: u32,
    },
    Restock {
        sku: usize,
        order: usize,
        quantity: u32,
    },
    Wait {
        minutes: i64,
    },
}

/// Percentages of what is outstanding; mostly all of it, so orders get paid and refunded.
fn percent() -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(100u8), 1 => 0..=110u8]
}

/// A raw quantity, or [`REST`]: whatever the line has left to ship or return.
fn line_share() -> impl Strategy<Value = u32> {
    prop_oneof![Just(REST), 0..4u32]
}

const REST: u32 = 99;

/// A line index that stands for every line of the order.
const ALL_LINES: usize = 2;

/// Ops weighted toward an order's progress, so sequences get far into its life.
fn op() -> impl Strategy<Value = Op> {
    let o = || 0..2usize;
    let line = || 0..2usize;
    let place = (
        o(),
        [0..4u32, 0..4u32],
        [-100..5000i64, 0..5000i64],
        0..800i64,
        0..1000i64,
        proptest::bool::weighted(0.3),
    );
    prop_oneof![
        3 => place.prop_map(|(order, quantities, prices, shipping, discount, cod)| {
            Op::Place { order, quantities, prices, shipping, discount, cod }
        }),
        1 => (o(), 0..3u8, percent())
            .prop_map(|(order, shipment, percent)| Op::CollectCod { order, shipment, percent }),
        1 => (o(), 0..3u8).prop_map(|(order, shipment)| Op::Refuse { order, shipment }),
        1 => (o(), line(), -10..5000i64)
            .prop_map(|(order, line, price)| Op::ModifyPrice { order, line, price }),
        1 => (o(), 0..3u8, 0..3000i64)
            .prop_map(|(order, code, value)| Op::ApplyDiscount { order, code, value }),
        1 => o().prop_map(|order| Op::Cancel { order }),
        1 => o().prop_map(|order| Op::Expire { order }),
        3 => o().prop_map(|order| Op::ConfirmStock { order }),
        1 => (o(), line(), 0..4u32, 0..3u8).prop_map(|(order, line, quantity, resolution)| {
            Op::MarkShort { order, line, quantity, resolution }
        }),
        4 => (o(), 0..4u8, percent(), proptest::bool::weighted(0.05))
            .prop_map(|(order, payment, percent, usd)| Op::Capture { order, payment, percent, usd }),
        1 => (o(), 0..4u8).prop_map(|(order, payment)| Op::FailPayment { order, payment }),
        1 => o().prop_map(|order| Op::ReleaseHold { order }),
        1 => (o(), line()).prop_map(|(order, line)| Op::Allocate { order, line }),
        4 => (o(), 0..3u8, line(), line_share(), 0..2000u32).prop_map(
            |(order, shipment, line, quantity, weight)| Op::Ship { order, shipment, line, quantity, weight }
        ),
        1 => (o(), 0..3u8, 0..3u8)
            .prop_map(|(order, shipment, kind)| Op::CarrierException { order, shipment, kind }),
        4 => (o(), 0..3u8).prop_map(|(order, shipment)| Op::Deliver { order, shipment }),
        2 => (o(), any::<bool>()).prop_map(|(order, system)| Op::ConfirmReceipt { order, system }),
        3 => (o(), 0..3u8, 0..=ALL_LINES, line_share(), any::<bool>()).prop_map(
            |(order, case, line, quantity, exchange)| Op::RequestReturn { order, case, line, quantity, exchange }
        ),
        3 => (o(), 0..3u8, any::<bool>())
            .prop_map(|(order, case, restock)| Op::ReceiveReturn { order, case, restock }),
        2 => (o(), 0..4u8, percent())
            .prop_map(|(order, refund, percent)| Op::Refund { order, refund, percent }),
        1 => (o(), 0..7u8).prop_map(|(order, rating)| Op::Feedback { order, rating }),
        1 => (line(), 0..20u32).prop_map(|(sku, quantity)| Op::Receive { sku, quantity }),
        1 => (line(), 0..20u64).prop_map(|(sku, counted)| Op::Adjust { sku, counted }),
        1 => (line(), 0..10u64).prop_map(|(sku, quantity)| Op::SafetyStock { sku, quantity }),
        1 => (line(), o(), 0..6u32, proptest::option::of(0..6u32), -5..60i64).prop_map(
            |(sku, order, quantity, minimum, ttl_minutes)| {
                Op::Reserve { sku, order, quantity, minimum, ttl_minutes }
            }
        ),
        1 => (line(), o(), any::<bool>())
            .prop_map(|(sku, order, expired)| Op::Release { sku, order, expired }),
        1 => (line(), o(), 0..4u32)
            .prop_map(|(sku, order, quantity)| Op::Commit { sku, order, quantity }),
        1 => (line(), o(), 0..4u32)
            .prop_map(|(sku, order, quantity)| Op::Restock { sku, order, quantity }),
        1 => (0..3000i64).prop_map(|minutes| Op::Wait { minutes }),
    ]
}

/// Everything the simulated ledger holds.
#[derive(Default)]
struct World {
    orders: BTreeMap<OrderId, Order>,
    stock: BTreeMap<StockKey, StockItem>,
    heads: BTreeMap<AggregateRef, ChainHead>,
    log: BTreeMap<AggregateRef, Vec<order_events::EventEnvelope>>,
    minute: i64,
    commands: u128,
    accepted: usize,
}

fn share(total: Amount, percent: u8) -> Amount {
    let value = (total.0 * Decimal::from(percent) / Decimal::from(100)).round_dp(2);
    Amount(value)
}

impl World {
    fn order(&self, index: usize) -> Order {
        self.orders
            .get(&order_id(index))
            .cloned()
            .unwrap_or_default()
    }

    fn sku_of(&self, order: usize, line: usize) -> Sku {
        let state = self.order(order);
        state
            .lines
            .get(line)
            .map(|l| l.sku.clone())
            .unwrap_or_else(|| Sku::from(SKUS[line]))
    }

    /// Shipment 0 stands for the order's first parcel not yet delivered, if any.
    fn parcel(&self, order: usize, shipment: u8) -> ShipmentId {
        self.order(order)
            .shipments
            .iter()
            .find(|parcel| shipment == 0 && parcel.delivered_at.is_none())
            .map_or_else(
                || ShipmentId(format!("S{shipment}")),
                |parcel| parcel.shipment_id.clone(),
            )
    }

    /// `quantity`, or for [`REST`] what `left` says the line has left.
    fn rest_or(
        &self,
        order: usize,
        line: usize,
        quantity: u32,
        left: impl Fn(&OrderLine) -> u32,
    ) -> u32 {
        if quantity != REST {
            return quantity;
        }
        self.order(order).lines.get(line).map(left).unwrap_or(1)
    }

    /// Turns an op into a command and the actor issuing it; `None` for waiting.
    fn command(&mut self, op: &Op) -> Option<(Command, Actor)> {
        let service = Actor::new(ActorKind::Service, "prop");
        let key = |sku: usize| StockKey::new(SKUS[sku], samples::WAREHOUSE);
        let command: Command = match op.clone() {
            Op::Wait { minutes } => {
                self.minute += minutes;
                return None;
            }
            Op::Place {
                order,
                quantities,
                prices,
                shipping,
                discount,
                cod,
            } => {
                let mut place = samples::place_order();
                if cod {
                    place.payment_terms = PaymentTerms::CashOnDelivery;
                }
                place.external_reference = REFERENCES[order].to_owned();
                place.lines = (0..2)
                    .filter(|&i| quantities[i] > 0 || i == 0)
                    .map(|i| LineItem {
                        sku: Sku::from(SKUS[i]),
                        quantity: quantities[i],
                        unit_price: cents(prices[i]),
                    })
                    .collect();
                place.shipping_fee = cents(shipping);
                if discount > 0 {
                    place.discounts = vec![Discount {
                        code: "PROMO".to_owned(),
                        amount: cents(discount),
                    }];
                }
                OrderCommand::from(place).into()
            }
            Op::ModifyPrice { order, line, price } => OrderCommand::from(ModifyPrice {
                order_id: order_id(order),
                sku: self.sku_of(order, line),
                unit_price: cents(price),
                reason: "repricing".to_owned(),
            })
            .into(),
            Op::ApplyDiscount { order, code, value } => OrderCommand::from(ApplyDiscount {
                order_id: order_id(order),
                discount: Discount {
                    code: format!("CODE{code}"),
                    amount: cents(value),
                },
            })
            .into(),
            Op::Cancel { order } => OrderCommand::from(CancelOrder {
                order_id: order_id(order),
                reason: CancelReason::CustomerRequest,
                note: String::new(),
            })
            .into(),
            Op::Expire { order } => OrderCommand::from(ExpireOrder {
                order_id: order_id(order),
            })
            .into(),
            Op::ConfirmStock { order } => {
                let reservations = self
                    .order(order)
                    .lines
                    .iter()
                    .map(|l| ReservedLine {
                        sku: l.sku.clone(),
                        warehouse: WarehouseId::from(samples::WAREHOUSE),
                        quantity: l.quantity,
                    })
                    .collect();
                OrderCommand::from(ConfirmStockReserved {
                    order_id: order_id(order),
                    reservations,
                })
                .into()
            }
            Op::MarkShort {
                order,
                line,
                quantity,
                resolution,
            } => OrderCommand::from(MarkStockShort {
                order_id: order_id(order),
                short_lines: vec![LineQuantity {
                    sku: self.sku_of(order, line),
                    quantity,
                }],
                resolution: [
                    ShortResolution::Backorder,
                    ShortResolution::Split,
                    ShortResolution::Cancel,
                ][resolution as usize],
            })
            .into(),
            Op::Capture {
                order,
                payment,
                percent,
                usd,
            } => {
                let state = self.order(order);
                OrderCommand::from(CapturePayment {
                    order_id: order_id(order),
                    payment_id: PaymentId(format!("P{payment}")),
                    method: PaymentMethod::Card,
                    amount: share(state.total() - state.captured(), percent),
                    currency: if usd { Currency::USD } else { Currency::EUR },
                    psp_reference: format!("psp-{payment}"),
                })
                .into()
            }
            Op::FailPayment { order, payment } => OrderCommand::from(FailPayment {
                order_id: order_id(order),
                payment_id: PaymentId(format!("P{payment}")),
                reason: "declined".to_owned(),
            })
            .into(),
            Op::ReleaseHold { order } => OrderCommand::from(ReleaseHold {
                order_id: order_id(order),
                note: String::new(),
            })
            .into(),
            Op::Allocate { order, line } => OrderCommand::from(AllocateWarehouse {
                order_id: order_id(order),
                allocations: vec![Allocation {
                    sku: self.sku_of(order, line),
                    warehouse: WarehouseId::from(samples::WAREHOUSE),
                }],
            })
            .into(),
            Op::Ship {
                order,
                shipment,
                line,
                quantity,
                weight,
            } => {
                let quantity = self.rest_or(order, line, quantity, |l| l.quantity - l.shipped);
                OrderCommand::from(Ship {
                    order_id: order_id(order),
                    shipment_id: ShipmentId(format!("S{shipment}")),
                    carrier: Some(CarrierId::from("dhl")),
                    service_level: ServiceLevel::Standard,
                    tracking_number: format!("T{shipment}"),
                    lines: vec![LineQuantity {
                        sku: self.sku_of(order, line),
                        quantity,
                    }],
                    freight_cost: Some(cents(320)),
                    weight_grams: Some(weight),
                })
                .into()
            }
            Op::CarrierException {
                order,
                shipment,
                kind,
            } => OrderCommand::from(RecordCarrierException {
                order_id: order_id(order),
                shipment_id: ShipmentId(format!("S{shipment}")),
                kind: [
                    CarrierExceptionKind::Delayed,
                    CarrierExceptionKind::Lost,
                    CarrierExceptionKind::Damaged,
                ][kind as usize],
                note: String::new(),
            })
            .into(),
            Op::CollectCod {
                order,
                shipment,
                percent,
            } => {
                let state = self.order(order);
                OrderCommand::from(CollectCashOnDelivery {
                    order_id: order_id(order),
                    shipment_id: self.parcel(order, shipment),
                    payment_id: PaymentId::from(format!("COD{shipment}").as_str()),
                    amount: share(state.outstanding(), percent),
                    currency: Currency::EUR,
                })
                .into()
            }
            Op::Refuse { order, shipment } => OrderCommand::from(RefuseDelivery {
                order_id: order_id(order),
                shipment_id: self.parcel(order, shipment),
                note: String::new(),
            })
            .into(),
            Op::Deliver { order, shipment } => OrderCommand::from(RecordDelivery {
                order_id: order_id(order),
                shipment_id: self.parcel(order, shipment),
            })
            .into(),
            Op::ConfirmReceipt { order, system } => {
                let actor = if system {
                    Actor::system()
                } else {
                    Actor::new(ActorKind::Customer, "cust-42")
                };
                return Some((
                    OrderCommand::from(ConfirmReceipt {
                        order_id: order_id(order),
                    })
                    .into(),
                    actor,
                ));
            }
            Op::RequestReturn {
                order,
                case,
                line,
                quantity,
                exchange,
            } => {
                let state = self.order(order);
                let returnable = |l: &OrderLine| l.shipped - state.return_requested(&l.sku);
                let lines = if line == ALL_LINES {
                    let all = state.lines.iter().filter(|l| returnable(l) > 0);
                    all.map(|l| LineQuantity {
                        sku: l.sku.clone(),
                        quantity: returnable(l),
                    })
                    .collect()
                } else {
                    vec![LineQuantity {
                        sku: self.sku_of(order, line),
                        quantity: self.rest_or(order, line, quantity, returnable),
                    }]
                };
                let return_id = ReturnId(format!("R{case}"));
                if exchange {
                    OrderCommand::from(RequestExchange {
                        order_id: order_id(order),
                        return_id,
                        replacement: lines.clone(),
                        lines,
                        reason: ReturnReason::WrongItem,
                    })
                    .into()
                } else {
                    OrderCommand::from(RequestReturn {
                        order_id: order_id(order),
                        return_id,
                        lines,
                        reason: ReturnReason::Defective,
                    })
                    .into()
                }
            }
            Op::ReceiveReturn {
                order,
                case,
                restock,
            } => OrderCommand::from(ReceiveReturn {
                order_id: order_id(order),
                // Case 0 stands for the order's first open case, if it has one.
                return_id: self
                    .order(order)
                    .returns
                    .iter()
                    .find(|open| case == 0 && open.disposition.is_none())
                    .map_or_else(
                        || ReturnId(format!("R{case}")),
                        |open| open.return_id.clone(),
                    ),
                disposition: if restock {
                    ReturnDisposition::Restock
                } else {
                    ReturnDisposition::WriteOff
                },
            })
            .into(),
            Op::Refund {
                order,
                refund,
                percent,
            } => {
                let state = self.order(order);
                OrderCommand::from(Refund {
                    order_id: order_id(order),
                    refund_id: RefundId(format!("RF{refund}")),
                    amount: share(state.captured() - state.refunded(), percent),
                    reason: RefundReason::Return,
                    psp_reference: format!("psp-rf{refund}"),
                })
                .into()
            }
            Op::Feedback { order, rating } => {
                let review = OrderCommand::from(ReviewOrder {
                    order_id: order_id(order),
                    rating,
                    text: String::new(),
                });
                return Some((review.into(), Actor::new(ActorKind::Customer, "cust-42")));
            }
            Op::Receive { sku, quantity } => StockCommand::from(ReceiveStock {
                item: key(sku),
                quantity,
                reference: "PO".to_owned(),
            })
            .into(),
            Op::Adjust { sku, counted } => StockCommand::from(AdjustStock {
                item: key(sku),
                counted_quantity: counted,
                reason: "count".to_owned(),
            })
            .into(),
            Op::SafetyStock { sku, quantity } => StockCommand::from(SetSafetyStock {
                item: key(sku),
                quantity,
            })
            .into(),
            Op::Reserve {
                sku,
                order,
                quantity,
                minimum,
                ttl_minutes,
            } => StockCommand::from(ReserveStock {
                item: key(sku),
                order_id: order_id(order),
                quantity,
                expires_at: at(self.minute + ttl_minutes),
                minimum,
            })
            .into(),
            Op::Release {
                sku,
                order,
                expired,
            } => StockCommand::from(ReleaseReservation {
                item: key(sku),
                order_id: order_id(order),
                reason: if expired {
                    ReleaseReason::Expired
                } else {
                    ReleaseReason::OrderCancelled
                },
            })
            .into(),
            Op::Commit {
                sku,
                order,
                quantity,
            } => StockCommand::from(CommitReservation {
                item: key(sku),
                order_id: order_id(order),
                shipment_id: ShipmentId::from("S0"),
                quantity,
            })
            .into(),
            Op::Restock {
                sku,
                order,
                quantity,
            } => StockCommand::from(RestockReturn {
                item: key(sku),
                order_id: order_id(order),
                return_id: ReturnId::from("R0"),
                quantity,
            })
            .into(),
        };
        Some((command, service))
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let Some((command, actor)) = self.command(op) else {
            return Ok(());
        };
        self.commands += 1;
        let envelope = CommandEnvelope {
            command_id: uuid::Uuid::from_u128(self.commands),
            correlation_id: uuid::Uuid::from_u128(self.commands),
            causation_id: None,
            actor: actor.clone(),
            issued_at: at(self.minute),
            command,
        };
        // Commands survive both encodings exactly.
        prop_assert_eq!(
            &codec::decode_command_bincode(&codec::encode_command_bincode(&envelope)).unwrap(),
            &envelope
        );
        prop_assert_eq!(
            &json::decode_command_json(json::encode_command_json(&envelope).as_bytes()).unwrap(),
            &envelope
        );

        let context = Context {
            now: at(self.minute),
            actor,
            // Cash on delivery is offered up to 100.00, so some asks are refused.
            policy: samples::cod_policy(),
        };
        let target = envelope.command.target();
        let decided: Result<Vec<Event>, _> = match &envelope.command {
            Command::Order(c) => {
                let state = self.orders.get(&c.order_id()).cloned().unwrap_or_default();
                let first = order::decide(&state, c, &context);
                prop_assert_eq!(
                    &first,
                    &order::decide(&state, c, &context),
                    "decide is deterministic"
                );
                first.map(|events| events.into_iter().map(Event::Order).collect())
            }
            Command::Stock(c) => {
                let state = self.stock.get(c.item()).cloned().unwrap_or_default();
                let first = stock::decide(&state, c, &context);
                prop_assert_eq!(
                    &first,
                    &stock::decide(&state, c, &context),
                    "decide is deterministic"
                );
                first.map(|events| events.into_iter().map(Event::Stock).collect())
            }
            Command::Reconciliation(_) | Command::Account(_) | Command::Wave(_) => {
                unreachable!("the generated operations are order and stock commands")
            }
        };
        let Ok(events) = decided else { return Ok(()) };
        self.accepted += 1;
        let head = self
            .heads
            .get(&target)
            .copied()
            .unwrap_or(ChainHead::GENESIS);
        for sealed in codec::seal(&envelope, head, events, context.now) {
            // Events survive the binary record and the JSON export exactly.
            prop_assert_eq!(
                &codec::decode_event(&sealed.record).unwrap(),
                &sealed.envelope
            );
            let exported = serde_json::to_vec(&json::encode_event(&sealed.envelope)).unwrap();
            prop_assert_eq!(&json::decode_event(&exported).unwrap(), &sealed.envelope);
            match (&sealed.envelope.event, &envelope.command) {
                (Event::Order(e), Command::Order(c)) => {
                    let state = self.orders.entry(c.order_id()).or_default();
                    order::apply(state, e);
                    state.check_invariants().map_err(TestCaseError::fail)?;
                }
                (Event::Stock(e), Command::Stock(c)) => {
                    let state = self.stock.entry(c.item().clone()).or_default();
                    stock::apply(state, e);
                    state.check_invariants().map_err(TestCaseError::fail)?;
                }
                _ => return Err(TestCaseError::fail("event of another aggregate kind")),
            }
            self.heads.insert(target.clone(), sealed.envelope.head());
            self.log
                .entry(target.clone())
                .or_default()
                .push(sealed.envelope);
        }
        Ok(())
    }

    /// Folding each aggregate's events from scratch gives the incremental state, and every
    /// chain starts at 1 from the genesis hash and links each event to the one before.
    fn check_replay(&self) -> Result<(), TestCaseError> {
        for (target, events) in &self.log {
            let mut previous = ChainHead::GENESIS;
            for envelope in events {
                prop_assert_eq!(envelope.sequence, previous.sequence + 1);
                prop_assert_eq!(envelope.prev_hash, previous.hash);
                previous = envelope.head();
            }
            match target.kind {
                order_events::AggregateKind::Order => {
                    let folded: Vec<OrderEvent> = events
                        .iter()
                        .filter_map(|e| match &e.event {
                            Event::Order(o) => Some(o.clone()),
                            _ => None,
                        })
                        .collect();
                    let id = self
                        .orders
                        .keys()
                        .find(|id| id.to_string() == target.id)
                        .expect("order exists");
                    prop_assert_eq!(&Order::replay(&folded), &self.orders[id]);
                }
                order_events::AggregateKind::StockItem => {
                    let folded: Vec<StockEvent> = events
                        .iter()
                        .filter_map(|e| match &e.event {
                            Event::Stock(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect();
                    let key = self
                        .stock
                        .keys()
                        .find(|key| key.to_string() == target.id)
                        .expect("item exists");
                    prop_assert_eq!(&StockItem::replay(&folded), &self.stock[key]);
                }
                order_events::AggregateKind::Reconciliation
                | order_events::AggregateKind::Account
                | order_events::AggregateKind::Wave => {
                    unreachable!("the generated operations are order and stock commands")
                }
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_every_invariant(ops in proptest::collection::vec(op(), 1..120)) {
        let mut world = World::default();
        for op in &ops {
            world.step(op)?;
        }
        world.check_replay()?;
    }
}

/// The generator reaches deep into the order's life; without this, the property above could
/// pass by having every command refused.
#[test]
fn the_generator_reaches_late_statuses() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    let mut accepted = 0;
    for _ in 0..600 {
        let ops = proptest::collection::vec(op(), 100..200)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut world = World::default();
        for op in &ops {
            world.step(op).unwrap();
            seen.extend(world.orders.values().map(|o| o.status));
            if world
                .orders
                .values()
                .any(|o| o.status == OrderStatus::Delivered)
            {
                eprintln!("delivered after {op:?}");
            }
        }
        accepted += world.accepted;
    }
    println!("statuses reached: {seen:?}; {accepted} commands accepted");
    for status in OrderStatus::ALL
        .into_iter()
        .filter(|&s| s != OrderStatus::Initial)
    {
        assert!(
            seen.contains(&status),
            "random sequences never reach {status}: {seen:?}"
        );
    }
}

/// Order events, fitting or not: the sample journey's and some that break its rules.
fn any_order_event() -> impl Strategy<Value = OrderEvent> {
    let tshirt = |n| vec![samples::line_quantity(samples::TSHIRT, n)];
    prop::sample::select(vec![
        samples::order_placed(),
        samples::stock_reserved(),
        samples::stock_short(ShortResolution::Split),
        samples::stock_short(ShortResolution::Backorder),
        samples::payment_captured("P1", "30.00"),
        samples::payment_captured("P2", "99999.00"),
        samples::payment_failed(),
        samples::shipment_dispatched("S1", tshirt(2)),
        samples::shipment_dispatched("S2", tshirt(50)),
        samples::shipment_delivered("S1"),
        samples::shipment_delivered("S9"),
        samples::return_requested("R1", tshirt(1)),
        samples::return_received("R1", tshirt(1)),
        samples::return_received("R9", tshirt(1)),
        samples::refund_issued("F1", "5.00"),
        samples::refund_issued("F2", "99999.00"),
        samples::cancelled("0.00"),
    ])
}

proptest! {
    /// The checked fold never panics on a history that breaks the rules (events twice, out
    /// of order, above what was ordered or captured): what does not fit is its `Err`. The
    /// verifier relies on it instead of catching an unwinding panic.
    #[test]
    fn the_checked_fold_answers_every_history_without_panicking(
        events in prop::collection::vec(any_order_event(), 1..16)
    ) {
        let mut state = Order::default();
        for event in &events {
            let before = state.clone();
            match order::try_apply(&mut state, event) {
                // What fits folds as `apply` folds it.
                Ok(()) => {
                    let mut applied = before;
                    order::apply(&mut applied, event);
                    prop_assert_eq!(&applied, &state);
                }
                // What does not is described, and the history goes on from a fresh order.
                Err(broken) => {
                    prop_assert!(!broken.is_empty());
                    state = Order::default();
                }
            }
        }
    }
}
