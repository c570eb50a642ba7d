//! The read models against a reference: a plain in-memory fold of the same event log written
//! here, independently of the projector (its own status, money and stock arithmetic).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use common::{journey, shop_run};

use event_log::StoredRecord;
use order_events::account::AccountEvent;
use order_events::codec::decode_event;
use order_events::envelope::Event;
use order_events::ids::{OrderId, StockKey};
use order_events::money::{Amount, Currency};
use order_events::order::{self, Order, OrderEvent, OrderStatus};
use order_events::simulation::SplitMix64;
use order_events::stock::{self, StockItem};
use projections::fold::accounts;
use projections::query::OrderFilter;
use projections::{MemoryRows, ProjectionStore, Projector, SettlementRules};
use rust_decimal::{Decimal, RoundingStrategy};

/// Opens the store in `dir`. sled releases its file lock when the last handle of a dropped
/// store is gone (its flusher thread holds one briefly), so a reopen right after a drop
/// retries for a while.
fn open(dir: &tempfile::TempDir) -> ProjectionStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match ProjectionStore::open(&dir.path().join("read-models"), Projector::default()) {
            Ok(store) => return store,
            Err(projections::StoreError::InUse(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(error) => panic!("opening the read models: {error}"),
        }
    }
}

/// Feeds the log in chunks of random size, partitions interleaved as a consumer may see them.
fn fold_interleaved(store: &ProjectionStore, records: &[StoredRecord], seed: u64) {
    let mut rng = SplitMix64::new(seed);
    let mut by_partition: BTreeMap<u32, Vec<&StoredRecord>> = BTreeMap::new();
    for record in records {
        by_partition
            .entry(record.partition)
            .or_default()
            .push(record);
    }
    let mut cursors: BTreeMap<u32, usize> = by_partition.keys().map(|&p| (p, 0)).collect();
    loop {
        let open: Vec<u32> = cursors
            .iter()
            .filter(|(p, &c)| c < by_partition[p].len())
            .map(|(&p, _)| p)
            .collect();
        if open.is_empty() {
            break;
        }
        let mut chunk = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let p = *rng.pick(&open);
            let cursor = cursors.get_mut(&p).unwrap();
            let take = (1 + rng.below(300) as usize).min(by_partition[&p].len() - *cursor);
            chunk.extend(
                by_partition[&p][*cursor..*cursor + take]
                    .iter()
                    .map(|r| (*r).clone()),
            );
            *cursor += take;
        }
        store.fold(&chunk).unwrap();
    }
}

/// The reference: orders and stock items by the domain's `apply`, money by hand.
#[derive(Default)]
struct Reference {
    orders: HashMap<OrderId, Order>,
    stock: HashMap<StockKey, StockItem>,
    /// (currency, merchant) → captures, commission, refunds, reversals, freight charges.
    merchants: BTreeMap<(Currency, String), [Decimal; 5]>,
    commission_left: HashMap<OrderId, Decimal>,
    /// Through the payment provider's clearing account.
    captured: Decimal,
    refunded: Decimal,
    freight: Decimal,
    /// Collected on delivery, and remitted, by carrier.
    collected: BTreeMap<String, Decimal>,
    remitted: BTreeMap<String, Decimal>,
    /// merchant → the orders with a poor review, with a claim, with a defective return.
    defects: BTreeMap<String, [BTreeSet<OrderId>; 3]>,
    /// merchant → its orders.
    merchant_orders: BTreeMap<String, BTreeSet<OrderId>>,
    /// Pick waves by id.
    waves: BTreeMap<String, order_events::wave::Wave>,
}

/// Which defect an order event is, by this test's own reading of the definition: 0 a review
/// of 1 or 2 stars, 1 a claim, 2 a return or exchange for a fault of the goods.
fn defect_of(event: &OrderEvent) -> Option<usize> {
    use order::ReturnReason::{ChangedMind, Other};
    match event {
        OrderEvent::ReviewRecorded(e) if e.rating <= 2 => Some(0),
        OrderEvent::ReviewRevised(e) if e.rating <= 2 => Some(0),
        OrderEvent::ClaimOpened(_) => Some(1),
        OrderEvent::ReturnRequested(e) if !matches!(e.reason, ChangedMind | Other) => Some(2),
        OrderEvent::ExchangeRequested(e) if !matches!(e.reason, ChangedMind | Other) => Some(2),
        _ => None,
    }
}

fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}

impl Reference {
    fn fold(records: &[StoredRecord], rate: Decimal) -> Reference {
        let mut reference = Reference::default();
        for record in records {
            let envelope = decode_event(&record.payload).unwrap();
            match envelope.event {
                Event::Order(event) => {
                    let id = OrderId(envelope.aggregate_id.parse().unwrap());
                    let order = reference.orders.entry(id).or_default();
                    order::apply(order, &event);
                    let header = order.header.clone().unwrap();
                    let key = (header.currency, header.merchant_id.0.clone());
                    let merchant = header.merchant_id.0.clone();
                    reference
                        .merchant_orders
                        .entry(merchant.clone())
                        .or_default()
                        .insert(id);
                    if let Some(part) = defect_of(&event) {
                        reference.defects.entry(merchant).or_default()[part].insert(id);
                    }
                    let totals = reference.merchants.entry(key).or_default();
                    let cod = header.payment_terms == order::PaymentTerms::CashOnDelivery;
                    let mut earn = |amount: Decimal| {
                        let commission = round2(amount * rate);
                        totals[0] += amount;
                        totals[1] += commission;
                        *reference.commission_left.entry(id).or_default() += commission;
                    };
                    match &event {
                        OrderEvent::PaymentCaptured(e) => {
                            earn(e.amount.0);
                            reference.captured += e.amount.0;
                        }
                        OrderEvent::CashCollected(e) => {
                            earn(e.amount.0);
                            *reference.collected.entry(e.carrier.0.clone()).or_default() +=
                                e.amount.0;
                        }
                        OrderEvent::RefundIssued(e) => {
                            let left = reference.commission_left.entry(id).or_default();
                            let reversal = round2(e.amount.0 * rate).min(*left);
                            *left -= reversal;
                            totals[2] += e.amount.0;
                            totals[3] += reversal;
                            // Refunds of cash on delivery leave from the bank.
                            if !cod {
                                reference.refunded += e.amount.0;
                            }
                        }
                        OrderEvent::ShipmentDispatched(e) => reference.freight += e.freight_cost.0,
                        // The shop's policy puts a refused delivery's freight on the merchant.
                        OrderEvent::DeliveryRefused(e) => {
                            totals[4] += e.freight.0;
                            reference.freight -= e.freight.0;
                        }
                        _ => {}
                    }
                }
                Event::Stock(event) => {
                    let (sku, warehouse) = envelope.aggregate_id.split_once('@').unwrap();
                    let item = reference
                        .stock
                        .entry(StockKey::new(sku, warehouse))
                        .or_default();
                    stock::apply(item, &event);
                }
                Event::Account(AccountEvent::CodRemitted(e)) => {
                    *reference.remitted.entry(e.carrier.0.clone()).or_default() += e.gross.0;
                }
                // The shop records no reconciliation runs; their read model has a test of its own.
                Event::Reconciliation(_) | Event::Account(_) => {}
                Event::Wave(event) => {
                    let wave = reference
                        .waves
                        .entry(envelope.aggregate_id.clone())
                        .or_default();
                    order_events::wave::apply(wave, &event);
                }
            }
        }
        reference
    }
}

/// Checks every read model against the reference; the defect totals (defective, poor reviews,
/// claims, defective returns).
fn check_against_reference(store: &ProjectionStore, records: &[StoredRecord]) -> [u64; 4] {
    let rate = SettlementRules::default().commission_rate;
    let reference = Reference::fold(records, rate);
    assert!(!reference.orders.is_empty());
    for (id, order) in &reference.orders {
        let view = store
            .order(*id)
            .unwrap()
            .expect("every placed order has a view");
        assert_eq!(view.status, order.status, "status of {id}");
        assert_eq!(view.total, order.total(), "total of {id}");
        assert_eq!(view.captured, order.captured(), "captured of {id}");
        assert_eq!(view.refunded, order.refunded(), "refunded of {id}");
        assert_eq!(
            view.shipments.len(),
            order.shipments.len(),
            "shipments of {id}"
        );
        assert_eq!(view.returns.len(), order.returns.len(), "returns of {id}");
        let lines: Vec<(String, u32, u32, u32)> = order
            .lines
            .iter()
            .map(|l| (l.sku.0.clone(), l.quantity, l.shipped, l.returned))
            .collect();
        let view_lines: Vec<(String, u32, u32, u32)> = view
            .lines
            .iter()
            .map(|l| (l.sku.0.clone(), l.quantity, l.shipped, l.returned))
            .collect();
        assert_eq!(view_lines, lines, "lines of {id}");
        assert_eq!(view.timeline.last().map(|c| c.status), Some(order.status));
        assert_eq!(view.timeline[0].status, OrderStatus::Placed);
    }
    for (key, item) in &reference.stock {
        let view = store
            .stock_item(key.sku.as_str(), key.warehouse.as_str())
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                view.on_hand,
                view.reserved,
                view.available,
                view.safety_stock
            ),
            (
                item.on_hand,
                item.reserved(),
                item.available(),
                item.safety_stock
            ),
            "stock of {key}"
        );
        assert_eq!(view.low_stock, item.available() < item.safety_stock);
        assert_eq!(view.bin, item.bin, "bin of {key}");
        assert_eq!(view.picking, item.picking.values().sum::<u64>(), "{key}");
        assert_eq!(
            view.staged,
            item.staged_total(),
            "units at the pack station of {key}"
        );
    }
    // Waves: every line of every pick list, and what was picked, as the waves folded them.
    for (id, wave) in &reference.waves {
        let view = store.wave(id).unwrap().expect("a wave row");
        let lines: Vec<_> = wave
            .lines
            .iter()
            .map(|s| {
                (
                    s.line.order_id,
                    s.line.sku.clone(),
                    s.line.quantity,
                    s.picked,
                )
            })
            .collect();
        let view_lines: Vec<_> = view
            .pick_list
            .iter()
            .map(|l| (l.order_id, l.sku.clone(), l.quantity, l.picked_quantity))
            .collect();
        assert_eq!(view_lines, lines, "pick list of {id}");
        assert_eq!(
            view.summary.status == projections::warehouse::WaveStatus::Completed,
            wave.completed
        );
        let short = wave
            .lines
            .iter()
            .filter(|s| s.picked.is_some_and(|p| p < s.line.quantity))
            .count();
        assert_eq!(
            view.summary.short_lines as usize, short,
            "short lines of {id}"
        );
    }
    // The listings (read through the open-wave and planning-time indexes): per warehouse and
    // in all, every wave newest first, and the open ones, as the reference has them.
    let mut warehouses: BTreeSet<Option<&str>> = BTreeSet::from([None]);
    warehouses.extend(
        reference
            .waves
            .values()
            .filter_map(|w| w.warehouse.as_ref().map(|c| Some(c.as_str()))),
    );
    for warehouse in warehouses {
        let listed = |open| {
            store
                .waves(warehouse, open, projections::query::PAGE_LIMIT_MAX)
                .unwrap()
                .into_iter()
                .map(|w| (w.planned_at, w.wave_id.to_string()))
                .collect::<Vec<_>>()
        };
        let expected = |open_only: bool| {
            let mut waves: Vec<_> = reference
                .waves
                .iter()
                .filter(|(_, w)| {
                    warehouse.is_none_or(|c| w.warehouse.as_ref().is_some_and(|h| h.as_str() == c))
                })
                .filter(|(_, w)| !open_only || !w.completed)
                .map(|(id, _)| {
                    let view = store.wave(id).unwrap().unwrap();
                    (view.summary.planned_at, id.clone())
                })
                .collect();
            waves.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            waves.truncate(projections::query::PAGE_LIMIT_MAX);
            waves
        };
        assert_eq!(listed(false), expected(false), "waves of {warehouse:?}");
        assert_eq!(listed(true), expected(true), "open waves of {warehouse:?}");
    }
    // Money: per merchant, payable = captures − commission − refunds + reversals − payouts.
    let a_year_on = common::start() + Duration::days(365);
    let merchants = store
        .merchant_balances(None, None, a_year_on, &common::shop_policy())
        .unwrap();
    assert_eq!(merchants.len(), reference.merchants.len());
    for view in &merchants {
        let [captures, commission, refunds, reversals, freight] =
            reference.merchants[&(view.currency, view.merchant_id.0.clone())];
        assert_eq!(view.totals.captures.0, captures, "{}", view.merchant_id);
        assert_eq!(view.totals.commission.0, commission, "{}", view.merchant_id);
        assert_eq!(view.totals.refunds.0, refunds, "{}", view.merchant_id);
        assert_eq!(view.totals.commission_reversals.0, reversals);
        assert_eq!(view.totals.freight_charges.0, freight);
        assert_eq!(
            view.payable.0,
            captures - commission - refunds + reversals - freight,
            "payable of {}",
            view.merchant_id
        );
        assert_eq!(view.available, view.payable - view.held_back);
        let account = accounts::merchant_payable(view.merchant_id.as_str());
        let balance = store
            .balances(Some(view.currency))
            .unwrap()
            .into_iter()
            .find(|a| a.account == account)
            .unwrap();
        // A liability: its balance (debits − credits) is minus what is owed.
        assert_eq!(balance.balance, Amount(-view.payable.0));
    }
    let balances = store.balances(Some(Currency::EUR)).unwrap();
    let balance_of = |name: &str| {
        balances
            .iter()
            .find(|a| a.account == name)
            .map_or(Decimal::ZERO, |a| a.balance.0)
    };
    assert_eq!(
        balance_of(accounts::CLEARING),
        reference.captured - reference.refunded
    );
    assert_eq!(balance_of(accounts::FREIGHT), reference.freight);
    for (carrier, collected) in &reference.collected {
        let remitted = reference.remitted.get(carrier).copied().unwrap_or_default();
        assert_eq!(
            balance_of(&accounts::carrier_cod_receivable(carrier)),
            collected - remitted,
            "{carrier} owes what it collected and did not remit"
        );
    }
    let trial = store.trial_balance().unwrap();
    assert!(trial.balanced, "{trial:?}");
    check_defects(store, &reference)
}

/// The report's order defect rate and its parts, per merchant and in total, against the
/// reference's sets of orders.
fn check_defects(store: &ProjectionStore, reference: &Reference) -> [u64; 4] {
    let report = store.report(None, None, None).unwrap();
    let mut total = [0u64; 4];
    for merchant in &report.by_merchant {
        let name = merchant.merchant_id.0.as_str();
        let sets = reference.defects.get(name).cloned().unwrap_or_default();
        let defective: BTreeSet<OrderId> = sets.iter().flatten().copied().collect();
        let counts = [
            defective.len() as u64,
            sets[0].len() as u64,
            sets[1].len() as u64,
            sets[2].len() as u64,
        ];
        let d = merchant.defects;
        let got = [
            d.defective,
            d.negative_reviews,
            d.claims,
            d.defective_returns,
        ];
        assert_eq!(got, counts, "defects of {name}");
        assert_eq!(
            merchant.orders,
            reference.merchant_orders[name].len() as u64
        );
        for (sum, count) in total.iter_mut().zip(counts) {
            *sum += count;
        }
    }
    assert_eq!(report.by_merchant.len(), reference.merchant_orders.len());
    let d = report.defects;
    assert_eq!(
        [
            d.defective,
            d.negative_reviews,
            d.claims,
            d.defective_returns
        ],
        total
    );
    let rate = total[0] as f64 / report.orders.max(1) as f64;
    assert!((report.order_defect_rate - rate).abs() < 1e-12);
    total
}

#[test]
fn a_seeded_shop_run_folds_to_the_reference_in_any_chunking() {
    let seed = 0x5eed_0001;
    let (topic, _) = shop_run(seed, 400);
    eprintln!("seed {seed:#x}: {} events", topic.records.len());
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    fold_interleaved(&store, &topic.records, seed);
    let defects = check_against_reference(&store, &topic.records);
    assert!(
        defects[1..].iter().all(|&n| n > 0),
        "the shop run has every kind of defect: {defects:?}"
    );
    let waves = store.waves(None, false, 1000).unwrap();
    let short: u32 = waves.iter().map(|w| w.short_lines).sum();
    assert!(
        waves.len() > 5 && short > 0,
        "the shop picks in waves, some lines short: {} waves, {short} short",
        waves.len()
    );
    let report = store.report(None, None, None).unwrap();
    assert!(
        report.cash_on_delivery > 0 && report.refused > 0,
        "the shop sold cash on delivery and had parcels refused: {} {}",
        report.cash_on_delivery,
        report.refused
    );
    let cod = |e: &OrderEvent| matches!(e, OrderEvent::CashCollected(_));
    let collected = topic
        .records
        .iter()
        .any(|r| matches!(decode_event(&r.payload).unwrap().event, Event::Order(ref e) if cod(e)));
    assert!(collected, "carriers collected cash on delivery");

    // The sled store holds exactly what a fold into memory in one pass holds.
    let mut memory = MemoryRows::default();
    let projector = Projector::default();
    for record in &topic.records {
        let envelope = decode_event(&record.payload).unwrap();
        projector
            .fold(&mut memory, record.partition, record.offset, &envelope)
            .unwrap();
    }
    let mut stored = store.rows().unwrap();
    stored.retain(|key, _| {
        key[0] != projections::keys::CHECKPOINT && key != projections::keys::FORMAT
    });
    assert_eq!(stored, memory.0, "sled rows differ from the in-memory fold");

    // The run exercised what the read models are for.
    let statuses: BTreeMap<OrderStatus, usize> = store
        .orders(&OrderFilter::default(), 1000, None)
        .unwrap()
        .items
        .iter()
        .fold(BTreeMap::new(), |mut counts, o| {
            *counts.entry(o.status).or_default() += 1;
            counts
        });
    for status in [
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
        OrderStatus::PartiallyReturned,
    ] {
        assert!(
            statuses.contains_key(&status),
            "no {status} order in {statuses:?}"
        );
    }
}

#[test]
fn the_trial_balance_is_zero_after_every_event() {
    let (topic, _) = shop_run(0x5eed_0002, 150);
    let mut rows = MemoryRows::default();
    let projector = Projector::new(SettlementRules {
        commission_rate: Decimal::new(125, 3),
        merchant_commission_rates: [("merchant-1".to_owned(), Decimal::new(7, 2))].into(),
    });
    let mut money_events = 0;
    for record in &topic.records {
        let envelope = decode_event(&record.payload).unwrap();
        projector
            .fold(&mut rows, record.partition, record.offset, &envelope)
            .unwrap();
        if matches!(
            envelope.event,
            Event::Order(
                OrderEvent::PaymentCaptured(_)
                    | OrderEvent::RefundIssued(_)
                    | OrderEvent::ShipmentDispatched(_)
            )
        ) {
            money_events += 1;
        }
        assert_eq!(
            common::sum_of_balances(&rows),
            Decimal::ZERO,
            "trial balance after {}@{}",
            record.partition,
            record.offset
        );
    }
    assert!(money_events > 100, "only {money_events} money events");
}

#[test]
fn the_journey_reads_as_expected() {
    let (topic, ledger) = journey();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.fold(&topic.records).unwrap();
    check_against_reference(&store, &topic.records);
    let id: OrderId = OrderId("a9e4826c-e1fa-5275-b07b-412038fc6c3a".parse().unwrap());
    let view = store.order(id).unwrap().unwrap();
    assert_eq!(view.status, ledger.order(&id).unwrap().status);
    let statuses: Vec<OrderStatus> = view.timeline.iter().map(|c| c.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Placed,
            OrderStatus::AwaitingPayment,
            OrderStatus::PartiallyPaid,
            OrderStatus::Paid,
            OrderStatus::PartiallyShipped,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
            OrderStatus::Completed,
            OrderStatus::ReturnRequested,
            OrderStatus::PartiallyReturned,
        ]
    );
    assert_eq!(view.captured.to_string(), "93.80");
    assert_eq!(view.refunded.to_string(), "14.50");
    assert_eq!(view.shipments.len(), 2);
    assert_eq!(view.shipments[0].carrier.as_str(), "dhl");
    // 10 % commission on 93.80 is 9.38; the refund of 14.50 gives back 1.45.
    // Delivered at 10:00 on the 22nd: held back for the 14 days of the return window.
    let delivered = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    let policy = order_events::Policy::default();
    let balance_at = |now| store.merchant_balances(None, Some("merchant-7"), now, &policy);
    let merchant = &balance_at(delivered).unwrap()[0];
    assert_eq!(merchant.totals.commission.to_string(), "9.38");
    assert_eq!(merchant.payable.0, Decimal::new(7137, 2));
    assert_eq!(merchant.held_back.0, Decimal::new(7137, 2));
    assert_eq!(merchant.available.0, Decimal::ZERO);
    let last_minute =
        &balance_at(delivered + Duration::days(14) - Duration::minutes(1)).unwrap()[0];
    assert_eq!(last_minute.available.0, Decimal::ZERO);
    let window_closed = &balance_at(delivered + Duration::days(14)).unwrap()[0];
    assert_eq!(window_closed.held_back.0, Decimal::ZERO);
    assert_eq!(window_closed.available.0, Decimal::new(7137, 2));
    let order_balance = store.order_balance(id).unwrap().unwrap();
    assert_eq!(order_balance.entries.len(), 2 * 2 + 2 + 2);
    let report = store.report(None, None, None).unwrap();
    assert_eq!(report.orders, 1);
    assert_eq!(report.return_rate, 1.0);
    assert_eq!(
        report.by_status,
        [(view.status, 1)].into(),
        "the order counts once, in the status it is in now"
    );
    // The order's events, in sequence order, where the log has them, with their hashes.
    let positions: Vec<(u32, u64, String)> = topic
        .records
        .iter()
        .filter_map(|r| {
            let e = decode_event(&r.payload).unwrap();
            (e.aggregate_id == id.to_string()).then(|| (r.partition, r.offset, e.hash.to_hex()))
        })
        .collect();
    let refs: Vec<(u32, u64, String)> = view
        .events
        .iter()
        .map(|e| (e.partition, e.offset, e.hash.clone()))
        .collect();
    assert_eq!(refs, positions);
    assert!(view
        .events
        .iter()
        .enumerate()
        .all(|(i, e)| e.sequence == i as u64 + 1));
    assert!(report.processing_hours_p50.is_some());
}

#[test]
fn redelivered_records_and_duplicates_change_nothing_and_a_gap_raises_an_alarm() {
    let (topic, _) = journey();
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let records = &topic.records;
    let half = records.len() / 2;
    store.fold(&records[..half]).unwrap();
    let before = store.rows().unwrap();
    // Redelivery (a consumer restarting before the checkpoint): skipped by the checkpoint.
    let stats = store.fold(&records[..half]).unwrap();
    assert_eq!(stats.already_folded, half as u64);
    assert_eq!(store.rows().unwrap(), before);
    store.fold(&records[half..]).unwrap();
    assert!(store.gaps().unwrap().is_empty());

    // A gap: an aggregate's event missing from the log.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let order_events: Vec<&StoredRecord> = records
        .iter()
        .filter(|r| {
            decode_event(&r.payload).unwrap().aggregate_kind == order_events::AggregateKind::Order
        })
        .collect();
    let missing = order_events[3];
    let without: Vec<StoredRecord> = records
        .iter()
        .filter(|r| !(r.partition == missing.partition && r.offset == missing.offset))
        .cloned()
        .collect();
    let stats = store.fold(&without).unwrap();
    assert_eq!(stats.gaps, 1);
    assert!(stats.held_back > 0);
    let gaps = store.gaps().unwrap();
    assert_eq!(gaps.len(), 1);
    assert_eq!(gaps[0].expected_sequence, 4);
    assert_eq!(gaps[0].found_sequence, 5);
    assert_eq!(gaps[0].held_back, stats.held_back);

    // A record in the events topic that is no event: an alarm, and folding goes on.
    let mut junk = records[0].clone();
    junk.offset = 10_000;
    junk.payload = b"not an event".to_vec();
    let stats = store.fold(&[junk]).unwrap();
    assert_eq!(stats.undecodable, 1);
    assert_eq!(store.undecodable().unwrap()[0].offset, 10_000);
}

#[test]
fn crashes_and_restarts_at_random_points_give_the_no_crash_read_models() {
    let seed = 0xc4a5_0003;
    let (topic, _) = shop_run(seed, 150);
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = open(&clean_dir);
    clean.fold(&topic.records).unwrap();
    let expected = clean.rows().unwrap();

    let mut rng = SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    // Per partition: where the consumer is (it may be behind the checkpoint after a crash).
    let mut by_partition: BTreeMap<u32, Vec<StoredRecord>> = BTreeMap::new();
    for record in &topic.records {
        by_partition
            .entry(record.partition)
            .or_default()
            .push(record.clone());
    }
    let mut position: BTreeMap<u32, usize> = by_partition.keys().map(|&p| (p, 0)).collect();
    let mut crashes = 0;
    loop {
        let open_partitions: Vec<u32> = position
            .iter()
            .filter(|(p, &c)| c < by_partition[p].len())
            .map(|(&p, _)| p)
            .collect();
        if open_partitions.is_empty() {
            break;
        }
        let p = *rng.pick(&open_partitions);
        let from = position[&p];
        let take = (1 + rng.below(200) as usize).min(by_partition[&p].len() - from);
        let chunk = &by_partition[&p][from..from + take];
        match rng.below(10) {
            // Crash before the step is written: the consumer restarts from the checkpoint.
            0 => {
                crashes += 1;
                drop(store);
                store = open(&dir);
                let checkpoints = store.checkpoints().unwrap();
                for (partition, at) in position.iter_mut() {
                    let next = checkpoints.get(partition).copied().unwrap_or(0);
                    *at = by_partition[partition]
                        .iter()
                        .position(|r| r.offset >= next)
                        .unwrap_or(by_partition[partition].len());
                }
            }
            // Crash after the step is written, before the consumer moved on: redelivery.
            1 => {
                crashes += 1;
                store.fold(chunk).unwrap();
                drop(store);
                store = open(&dir);
            }
            _ => {
                store.fold(chunk).unwrap();
                *position.get_mut(&p).unwrap() = from + take;
            }
        }
    }
    assert!(crashes > 5, "seed {seed:#x}: only {crashes} crashes");
    assert_eq!(
        store.rows().unwrap(),
        expected,
        "seed {seed:#x}: read models or checkpoints differ from the no-crash run"
    );
}

#[test]
fn listings_page_stably_and_filter() {
    let (topic, _) = shop_run(0x5eed_0004, 200);
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.fold(&topic.records).unwrap();
    let all = store.orders(&OrderFilter::default(), 1000, None).unwrap();
    assert_eq!(all.items.len(), 200);
    assert!(all.next.is_none());
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .orders(&OrderFilter::default(), 7, after.as_deref())
            .unwrap();
        paged.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, all.items);
    let sorted = all
        .items
        .windows(2)
        .all(|w| (w[0].placed_at, w[0].order_id) <= (w[1].placed_at, w[1].order_id));
    assert!(sorted);

    let merchant = all.items[0].merchant_id.0.clone();
    let status = all.items[0].status;
    let filter = OrderFilter {
        merchant: Some(merchant.clone()),
        status: Some(status),
        ..OrderFilter::default()
    };
    let filtered = store.orders(&filter, 1000, None).unwrap().items;
    let expected: Vec<_> = all
        .items
        .iter()
        .filter(|o| o.merchant_id.0 == merchant && o.status == status)
        .cloned()
        .collect();
    assert_eq!(filtered, expected);
    let cut = all.items[100].placed_at;
    let later = OrderFilter {
        from: Some(cut),
        ..OrderFilter::default()
    };
    let later_items = store.orders(&later, 1000, None).unwrap().items;
    assert_eq!(
        later_items.len(),
        all.items.iter().filter(|o| o.placed_at >= cut).count()
    );

    assert!(store.orders(&OrderFilter::default(), 0, None).is_err());
    assert!(store
        .orders(&OrderFilter::default(), 10, Some("zz"))
        .is_err());
    assert!(store
        .orders(&OrderFilter::default(), 10, Some("abcd"))
        .is_err());

    let low = store.inventory(None, true, 1000, None).unwrap();
    assert!(low.items.iter().all(|i| i.low_stock));
    let every = store.inventory(None, false, 1000, None).unwrap();
    assert_eq!(every.items.len(), 80);
    let first_page = store.inventory(None, false, 30, None).unwrap();
    let second = store
        .inventory(None, false, 30, first_page.next.as_deref())
        .unwrap();
    assert_eq!(second.items[0], every.items[30]);
}

#[test]
fn generations_switch_atomically_and_leftovers_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read-models");
    let (journey_topic, _) = journey();
    let (generations, live, store) =
        projections::store::ProjectionDir::open(&path, Projector::default()).unwrap();
    assert_eq!(live, 1);
    store.fold(&journey_topic.records).unwrap();
    let expected = store.rows().unwrap();
    drop(store);
    // A rebuild fills generation 2 beside the live one; a crash before the switch leaves it.
    let next = generations.create(2, Projector::default()).unwrap();
    next.fold(&journey_topic.records[..3]).unwrap();
    drop(next);
    drop(generations);
    let reopen = |path: &std::path::Path| loop {
        match projections::store::ProjectionDir::open(path, Projector::default()) {
            Ok(opened) => return opened,
            Err(projections::StoreError::InUse(_)) => {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(error) => panic!("{error}"),
        }
    };
    let (generations, live, store) = reopen(&path);
    assert_eq!(live, 1, "an unfinished rebuild never becomes live");
    assert!(
        !path.join("gen-2").exists(),
        "the unfinished rebuild is removed"
    );
    assert_eq!(store.rows().unwrap(), expected);
    drop(store);
    // A finished one does.
    let next = generations.create(2, Projector::default()).unwrap();
    next.fold(&journey_topic.records).unwrap();
    next.flush().unwrap();
    drop(next);
    generations.switch(2).unwrap();
    drop(generations);
    let (_, live, store) = reopen(&path);
    assert_eq!(live, 2);
    assert!(!path.join("gen-1").exists());
    assert_eq!(store.rows().unwrap(), expected);
    std::fs::write(path.join("CURRENT"), "nonsense").unwrap();
    drop(store);
    assert!(matches!(
        projections::store::ProjectionDir::open(&path, Projector::default()),
        Err(projections::StoreError::Corrupt { .. })
    ));
}

/// Orders placed on four days in three channels, `Shipped` (or, every fifth, only `Paid`) after
/// a number of minutes of their own; returns the log and, per shipped order, its channel, day
/// of placement and minutes to shipping.
fn orders_shipped_after(count: u64) -> (Vec<StoredRecord>, Vec<(String, NaiveDate, i64)>) {
    use order_events::envelope::{ChainHead, CommandEnvelope};
    use order_events::testkit::samples;
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap();
    let mut records = Vec::new();
    let mut shipped = Vec::new();
    let mut next_offset = [0u64; 8];
    for n in 0..count {
        let id = OrderId(uuid::Uuid::from_u64_pair(0x5111, n));
        let channel = ["web", "app", "marketplace"][(n % 3) as usize];
        let placed_at = start + Duration::days((n % 4) as i64) + Duration::minutes(n as i64);
        let minutes = ((n * 7919) % 3000) as i64;
        let to = if n % 5 == 4 {
            OrderStatus::Paid
        } else {
            shipped.push((channel.to_owned(), placed_at.date_naive(), minutes));
            OrderStatus::Shipped
        };
        let mut events = samples::history_to(to);
        if let OrderEvent::OrderPlaced(placed) = &mut events[0] {
            placed.order_id = id;
            placed.channel = order_events::ids::Channel::new(channel);
            placed.placed_at = placed_at;
        }
        let command = CommandEnvelope {
            command_id: uuid::Uuid::from_u64_pair(0x5112, n),
            correlation_id: uuid::Uuid::from_u64_pair(0x5112, n),
            causation_id: None,
            actor: order_events::Actor::new(order_events::ActorKind::Service, "test"),
            issued_at: placed_at,
            command: order::OrderCommand::from(order::ExpireOrder { order_id: id }).into(),
        };
        let events = events.into_iter().map(Event::Order).collect();
        let recorded_at = placed_at + Duration::minutes(minutes);
        for sealed in order_events::codec::seal(&command, ChainHead::GENESIS, events, recorded_at) {
            let key = sealed.envelope.aggregate_id.as_bytes();
            let partition = event_log::partition_for(key, 8);
            let offset = next_offset[partition as usize];
            records.push(stored(sealed, partition, offset, recorded_at));
            next_offset[partition as usize] += 1;
        }
    }
    (records, shipped)
}

/// The p-quantile of `minutes` as the report defines it (nearest rank), in hours.
fn nearest_rank_hours(minutes: &mut [i64], q: f64) -> Option<f64> {
    minutes.sort_unstable();
    let rank = ((q * minutes.len() as f64).ceil() as usize).clamp(1, minutes.len());
    minutes.get(rank - 1).map(|m| *m as f64 / 60.0)
}

#[test]
fn processing_times_in_the_report_match_the_log_by_channel_and_day() {
    let (records, shipped) = orders_shipped_after(400);
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    fold_interleaved(&store, &records, 0x5eed_0007);

    let expect = |channel: Option<&str>, day: Option<NaiveDate>| {
        let mut minutes: Vec<i64> = shipped
            .iter()
            .filter(|(c, d, _)| channel.is_none_or(|ch| ch == c) && day.is_none_or(|x| x == *d))
            .map(|(_, _, m)| *m)
            .collect();
        (
            nearest_rank_hours(&mut minutes, 0.50),
            nearest_rank_hours(&mut minutes, 0.95),
        )
    };
    let quantiles = |report: projections::model::ReportView| {
        (report.processing_hours_p50, report.processing_hours_p95)
    };
    assert_eq!(
        quantiles(store.report(None, None, None).unwrap()),
        expect(None, None)
    );
    for channel in ["web", "app", "marketplace"] {
        assert_eq!(
            quantiles(store.report(None, None, Some(channel)).unwrap()),
            expect(Some(channel), None),
            "channel {channel}"
        );
    }
    let days: std::collections::BTreeSet<NaiveDate> = shipped.iter().map(|(_, d, _)| *d).collect();
    assert_eq!(days.len(), 4);
    // Each placement day of the whole report carries that day's quantiles (over its channels).
    let whole = store.report(None, None, None).unwrap();
    let dates: Vec<NaiveDate> = whole.dates.iter().map(|d| d.date).collect();
    assert_eq!(dates, days.iter().copied().collect::<Vec<_>>());
    // Orders by status: every order once, in the status the orders listing shows it in.
    assert_eq!(whole.by_status.values().sum::<u64>(), whole.orders);
    for (status, count) in &whole.by_status {
        let filter = projections::query::OrderFilter {
            status: Some(*status),
            ..Default::default()
        };
        let listed = store.orders(&filter, 1000, None).unwrap();
        assert!(listed.next.is_none());
        assert_eq!(listed.items.len() as u64, *count, "{status:?}");
    }
    for date in &whole.dates {
        assert_eq!(
            (date.processing_hours_p50, date.processing_hours_p95),
            expect(None, Some(date.date)),
            "the report's dates[{}]",
            date.date
        );
    }
    for day in days {
        assert_eq!(
            quantiles(store.report(Some(day), Some(day), None).unwrap()),
            expect(None, Some(day)),
            "day {day}"
        );
        // A day nobody shipped from: no processing time at all.
        let quiet = day + Duration::days(30);
        assert_eq!(
            quantiles(store.report(Some(quiet), Some(quiet), None).unwrap()),
            (None, None)
        );
    }
}

/// The sample order's `events`, recorded at `at` in one chain, as the events topic holds them.
fn sample_records(events: Vec<OrderEvent>, at: chrono::DateTime<Utc>) -> Vec<StoredRecord> {
    use order_events::envelope::{ChainHead, CommandEnvelope};
    let order_id = order_events::testkit::samples::order_id();
    let command = CommandEnvelope {
        command_id: uuid::Uuid::from_u64_pair(0x5113, 1),
        correlation_id: uuid::Uuid::from_u64_pair(0x5113, 1),
        causation_id: None,
        actor: order_events::Actor::new(order_events::ActorKind::Service, "test"),
        issued_at: at,
        command: order::OrderCommand::from(order::ExpireOrder { order_id }).into(),
    };
    let events = events.into_iter().map(Event::Order).collect();
    let sealed = order_events::codec::seal(&command, ChainHead::GENESIS, events, at);
    sealed
        .into_iter()
        .enumerate()
        .map(|(offset, sealed)| stored(sealed, 0, offset as u64, at))
        .collect()
}

/// A sealed event as the events topic holds it at `partition`/`offset`, written at `at`.
fn stored(
    sealed: order_events::codec::SealedEvent,
    partition: u32,
    offset: u64,
    at: chrono::DateTime<Utc>,
) -> StoredRecord {
    let mut record = projections::testing::stored_event("test.events", sealed, partition, offset);
    record.timestamp_ms = at.timestamp_millis();
    record
}

#[test]
fn a_refund_owed_after_a_refusal_is_an_exception_until_it_is_paid() {
    use order_events::testkit::samples;
    let mut history = samples::history_to(OrderStatus::Shipped);
    history.extend([
        samples::delivery_refused("rts-S1", "", 3000),
        order::OrderCancelled {
            reason: order::CancelReason::DeliveryRefused,
            note: String::new(),
            refund_due: samples::amount(samples::TOTAL),
        }
        .into(),
    ]);
    let at = common::start();
    let slas = projections::model::Slas::default();
    let store = open(&tempfile::tempdir().unwrap());
    store.fold(&sample_records(history.clone(), at)).unwrap();
    let queue = store.exceptions(at, &slas, 10).unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(queue[0].kind, projections::model::ExceptionKind::RefundDue);
    // Asked a day before it was recorded (a clock behind the log's): waiting 0 hours, not -24.
    let early = store.exceptions(at - Duration::days(1), &slas, 10).unwrap();
    assert_eq!(early[0].hours_in_status, 0);
    let view = store.order(samples::order_id()).unwrap().unwrap();
    assert_eq!(view.refund_owed, samples::amount(samples::TOTAL));
    assert_eq!(
        view.returns.len(),
        1,
        "the parcel travels back as a return case"
    );
    let report = store.report(None, None, None).unwrap();
    assert_eq!((report.refused, report.cash_on_delivery), (1, 0));

    // Part of it refunded: still owed; all of it: off the queue.
    history.push(samples::refund_issued("RF1", "50.00"));
    let store = open(&tempfile::tempdir().unwrap());
    store.fold(&sample_records(history.clone(), at)).unwrap();
    assert_eq!(store.exceptions(at, &slas, 10).unwrap().len(), 1);
    history.push(samples::refund_issued("RF2", "4.38"));
    let store = open(&tempfile::tempdir().unwrap());
    store.fold(&sample_records(history, at)).unwrap();
    assert!(store.exceptions(at, &slas, 10).unwrap().is_empty());
    let view = store.order(samples::order_id()).unwrap().unwrap();
    assert_eq!(view.refund_owed, Amount::ZERO);
    assert_eq!(view.status, OrderStatus::Refunded);
}

/// `line` (a JSON command) submitted to the journey's ledger at its `issued_at`.
fn submit(
    topic: &mut common::EventsTopic,
    ledger: &mut order_events::ledger::MemoryLedger,
    line: &str,
) {
    let command = order_events::codec::json::decode_command_json(line.as_bytes()).unwrap();
    let steps = ledger.submit_with_process(&command, command.issued_at);
    assert!(
        steps.iter().all(|(_, outcome)| outcome.is_ok()),
        "{line}: {steps:?}"
    );
    topic.append(steps);
}

#[test]
fn an_open_claim_past_its_sla_is_an_exception_until_it_is_resolved() {
    let (mut topic, mut ledger) = journey();
    let order = "a9e4826c-e1fa-5275-b07b-412038fc6c3a";
    submit(
        &mut topic,
        &mut ledger,
        &format!(
            r#"{{"command_id":"00000000-0000-4000-a000-0000000000c1","type":"OpenClaim","actor":{{"kind":"customer","id":"cust-77"}},"issued_at":"2026-11-23T10:00:00Z","payload":{{"order_id":"{order}","claim_id":"c-1","kind":"damaged","text":"seam torn"}}}}"#
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    store.fold(&topic.records).unwrap();
    let slas = projections::model::Slas {
        statuses: BTreeMap::new(),
        claim_hours: 48,
    };
    let opened = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let queue = |hours| {
        store
            .exceptions(opened + Duration::hours(hours), &slas, 10)
            .unwrap()
    };
    assert!(queue(47).is_empty(), "{:?}", queue(47));
    let late = queue(49);
    assert_eq!(late.len(), 1, "{late:?}");
    assert_eq!(late[0].kind, projections::model::ExceptionKind::ClaimOpen);
    assert_eq!(late[0].claim_hours_open, Some(49));
    assert_eq!(
        late[0]
            .claim
            .as_ref()
            .and_then(|c| c.claim_id.as_ref())
            .map(|id| id.as_str()),
        Some("c-1")
    );
    let report = store.report(None, None, None).unwrap();
    assert_eq!(report.defects.claims, 1);

    submit(
        &mut topic,
        &mut ledger,
        &format!(
            r#"{{"command_id":"00000000-0000-4000-a000-0000000000c2","type":"ResolveClaim","actor":{{"kind":"staff","id":"cs-mia"}},"issued_at":"2026-11-26T10:00:00Z","payload":{{"order_id":"{order}","claim_id":"c-1","resolution":{{"rejected":{{"reason":"wear, not a fault"}}}}}}}}"#
        ),
    );
    let store = open(&tempfile::tempdir().unwrap());
    store.fold(&topic.records).unwrap();
    assert!(store
        .exceptions(opened + Duration::hours(200), &slas, 10)
        .unwrap()
        .is_empty());
    let view = store
        .order(OrderId(order.parse().unwrap()))
        .unwrap()
        .unwrap();
    assert!(view.claims[0].resolution.is_some(), "{:?}", view.claims);
    // A claim counts toward the defect rate however it was resolved.
    assert_eq!(store.report(None, None, None).unwrap().defects.claims, 1);
}

/// Every notification of the outbox from `after` on, read `limit` at a time; the cursor after.
fn read_notifications(
    store: &ProjectionStore,
    mut after: projections::query::NotificationCursor,
    limit: usize,
) -> (
    Vec<order_events::notification::Notification>,
    projections::query::NotificationCursor,
) {
    let mut all = Vec::new();
    loop {
        let page = store.notifications(&after, limit).unwrap();
        let read = page.items.len();
        all.extend(page.items);
        after = projections::query::notification_cursor(&page.next).unwrap();
        if read < limit {
            return (all, after);
        }
    }
}

#[test]
fn the_outbox_holds_one_notification_per_customer_facing_event_and_a_reader_misses_none() {
    use order_events::notification::Notice;
    let seed = 0x5eed_0002;
    let (topic, _) = shop_run(seed, 200);
    // Folded in two halves, partitions interleaved; a reader reads between them and on.
    let half = topic.records.len() / 2;
    let store = open(&tempfile::tempdir().unwrap());
    fold_interleaved(&store, &topic.records[..half], seed);
    let (first, cursor) = read_notifications(&store, Default::default(), 7);
    fold_interleaved(&store, &topic.records[half..], seed + 1);
    let (rest, _) = read_notifications(&store, cursor, 7);
    let read: Vec<_> = first.into_iter().chain(rest).collect();
    let ids: std::collections::BTreeSet<_> = read.iter().map(|n| n.notification_id).collect();
    assert_eq!(ids.len(), read.len(), "no notification read twice");
    let (everything, _) = read_notifications(&store, Default::default(), 1000);
    assert_eq!(
        everything.len(),
        read.len(),
        "the paging reader missed none"
    );

    // Counted against the events by this test's own reading of what customers are told.
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    let mut orders: HashMap<OrderId, Order> = HashMap::new();
    for record in &topic.records {
        let envelope = decode_event(&record.payload).unwrap();
        let Event::Order(event) = envelope.event else {
            continue;
        };
        let order = orders
            .entry(OrderId(envelope.aggregate_id.parse().unwrap()))
            .or_default();
        order::apply(order, &event);
        let kind = match &event {
            OrderEvent::PaymentCaptured(_) if order.status == OrderStatus::Paid => {
                "order_confirmed"
            }
            OrderEvent::StockReservationConfirmed(_)
                if order.status == OrderStatus::ReadyToShip =>
            {
                "order_confirmed"
            }
            OrderEvent::OrderCancelled(e) if e.reason == order::CancelReason::DeliveryRefused => {
                "delivery_refused"
            }
            OrderEvent::StockShortRecorded(_) => "shortage",
            OrderEvent::ShipmentDispatched(_) => "shipped",
            OrderEvent::CarrierExceptionRecorded(_) => "delivery_exception",
            OrderEvent::ShipmentDelivered(_) => "delivered",
            OrderEvent::ReceiptConfirmed(e) if e.automatic => "receipt_confirmed",
            OrderEvent::ReturnRequested(_) | OrderEvent::ExchangeRequested(_) => "return_approved",
            OrderEvent::RefundIssued(_) => "refund_issued",
            _ => continue,
        };
        *expected.entry(kind).or_default() += 1;
    }
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for notification in &everything {
        *found.entry(notification.notice.kind()).or_default() += 1;
        let order = &orders[&notification.order_id];
        assert_eq!(
            notification.customer_id,
            order.header.as_ref().unwrap().customer_id
        );
        if let Notice::Shipped {
            tracking_number, ..
        } = &notification.notice
        {
            assert!(!tracking_number.is_empty());
        }
    }
    assert_eq!(found, expected);
    assert!(
        expected.len() >= 7,
        "the shop run tells of most kinds: {expected:?}"
    );
}
