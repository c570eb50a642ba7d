//! Domain throughput: decide + apply per command, and the codec per event.
//! Run with `cargo bench -p order-events`; results and method are in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use order_events::codec::{self, json};
use order_events::envelope::{ChainHead, Event};
use order_events::order::{self, Order, OrderCommand, OrderStatus};
use order_events::stock::{self, ReserveStock, StockItem, StockReceived};
use order_events::testkit::{at, context, samples};
use order_events::Aggregate;

fn decide_and_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("decide+apply");
    group.throughput(Throughput::Elements(1));

    let place = OrderCommand::from(samples::place_order());
    group.bench_function("PlaceOrder", |b| {
        b.iter(|| {
            let mut state = Order::default();
            for event in order::decide(&state, black_box(&place), &context()).unwrap() {
                order::apply(&mut state, &event);
            }
            state
        })
    });

    let paid = Order::replay(&samples::history_to(OrderStatus::AwaitingPayment));
    let capture = order_events::testkit::every::one_of_each_order_command()
        .into_iter()
        .find(|c| c.type_name() == "CapturePayment")
        .unwrap();
    group.bench_function("CapturePayment", |b| {
        b.iter_batched_ref(
            || paid.clone(),
            |state| {
                for event in order::decide(state, black_box(&capture), &context()).unwrap() {
                    order::apply(state, &event);
                }
            },
            BatchSize::SmallInput,
        )
    });

    let mut item = StockItem::default();
    stock::apply(
        &mut item,
        &StockReceived {
            quantity: 1_000,
            reference: "PO".to_owned(),
        }
        .into(),
    );
    let reserve = stock::StockCommand::from(ReserveStock {
        item: samples::stock_key(),
        order_id: samples::order_id(),
        quantity: 3,
        expires_at: at(30),
        minimum: None,
    });
    group.bench_function("ReserveStock", |b| {
        b.iter_batched_ref(
            || item.clone(),
            |state| {
                for event in stock::decide(state, black_box(&reserve), &context()).unwrap() {
                    stock::apply(state, &event);
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn codec_per_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let command = samples::envelope(OrderCommand::from(samples::place_order()), 1);
    let placed = Event::Order(samples::order_placed());
    let sealed = codec::seal(&command, ChainHead::GENESIS, vec![placed.clone()], at(0)).remove(0);
    println!("OrderPlaced record: {} bytes", sealed.record.len());

    group.bench_function("seal OrderPlaced (encode + SHA-256)", |b| {
        b.iter(|| {
            codec::seal(
                &command,
                ChainHead::GENESIS,
                vec![black_box(placed.clone())],
                at(0),
            )
        })
    });
    group.bench_function("decode OrderPlaced (verify + decode)", |b| {
        b.iter(|| codec::decode_event(black_box(&sealed.record)).unwrap())
    });
    let exported = serde_json::to_vec(&json::encode_event(&sealed.envelope)).unwrap();
    group.bench_function("JSON export OrderPlaced", |b| {
        b.iter(|| serde_json::to_vec(&json::encode_event(black_box(&sealed.envelope))).unwrap())
    });
    group.bench_function("JSON import OrderPlaced", |b| {
        b.iter(|| json::decode_event(black_box(&exported)).unwrap())
    });
    let command_json = json::encode_command_json(&command);
    group.bench_function("JSON command decode PlaceOrder", |b| {
        b.iter(|| json::decode_command_json(black_box(command_json.as_bytes())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, decide_and_apply, codec_per_event);
criterion_main!(benches);
