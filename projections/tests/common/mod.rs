//! Event logs for the read-side tests, made by the domain's in-memory ledger (with the order
//! process and timers) from the seeded shop or from the example journey.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use event_log::{partition_for, StoredRecord};
use order_events::codec::json;
use order_events::envelope::CommandEnvelope;
use order_events::ledger::{MemoryLedger, Step};
use order_events::simulation::{Shop, ShopConfig};
use order_events::Policy;

pub const PARTITIONS: u32 = 8;

/// An events topic being written: records with their partition offsets, in log order.
#[derive(Default)]
pub struct EventsTopic {
    pub records: Vec<StoredRecord>,
    /// Refused commands by type and rule.
    pub rejections: std::collections::BTreeMap<String, u64>,
    next: [u64; PARTITIONS as usize],
}

impl EventsTopic {
    pub fn append(&mut self, steps: Vec<Step>) {
        for (command, outcome) in steps {
            let events = match outcome {
                Ok(events) => events,
                Err(rejection) => {
                    *self
                        .rejections
                        .entry(format!(
                            "{} {}",
                            command.command.type_name(),
                            rejection.rule.code()
                        ))
                        .or_default() += 1;
                    continue;
                }
            };
            for sealed in events {
                let key = sealed.envelope.aggregate_id.clone().into_bytes();
                let partition = partition_for(&key, PARTITIONS);
                let offset = self.next[partition as usize];
                self.next[partition as usize] += 1;
                self.records.push(projections::testing::stored_event(
                    "test.events",
                    sealed,
                    partition,
                    offset,
                ));
            }
        }
    }
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

/// A seeded shop run to its end through the in-memory ledger; returns the event log.
pub fn shop_run(seed: u64, orders: u32) -> (EventsTopic, MemoryLedger) {
    let config = ShopConfig {
        orders,
        wave_size: 40,
        cash_on_delivery_max: Some(cod_max()),
        warehouse_flow: true,
        ..ShopConfig::default()
    };
    let mut shop = Shop::new(seed, config, start());
    let rules = order_events::process::ProcessRules {
        catalog: shop.catalog(),
        carriers: Shop::carriers(),
        ..Default::default()
    };
    let mut ledger = MemoryLedger::with_rules(shop_policy(), rules);
    let mut topic = EventsTopic::default();
    let mut now = shop.start();
    for command in shop.opening_stock(now) {
        topic.append(ledger.submit_with_process(&command, now));
    }
    let mut ticks = 0;
    while let Some(next) = shop.next_time() {
        now = next;
        topic.append(ledger.fire_timers(now));
        let mut commands = shop.step(now, &|id| ledger.order(&id).cloned());
        commands.extend(
            shop.warehouse_step(now, &|id| ledger.order(&id).cloned(), &|key| {
                ledger.stock_item(key).cloned()
            }),
        );
        for command in commands {
            topic.append(ledger.submit_with_process(&command, now));
        }
        ticks += 1;
        if ticks > 5000 {
            let stuck: Vec<_> = shop
                .pending()
                .into_iter()
                .take(5)
                .map(|(id, at)| (id, at, ledger.order(&id).map(|o| o.status)))
                .collect();
            panic!("the shop never finished (seed {seed}): {stuck:?}");
        }
    }
    eprintln!("seed {seed:#x}: rejections {:?}", topic.rejections);
    // Let every pending timer (auto-confirm, expiry) fire; the carriers remit their cash.
    let end = now + chrono::Duration::days(30);
    topic.append(ledger.fire_timers(end));
    for command in shop.cod_remittances(end, &|id| ledger.order(&id).cloned()) {
        topic.append(ledger.submit_with_process(&command, end));
    }
    (topic, ledger)
}

/// The largest order the shop's carriers collect cash for.
pub fn cod_max() -> order_events::Amount {
    "150.00".parse().expect("an amount")
}

/// The shop's customers pay within two hours (the default window is 30 minutes).
pub fn shop_policy() -> Policy {
    Policy {
        payment_window_minutes: 120,
        cash_on_delivery: vec![order_events::CashOnDeliveryOffer {
            channel: None,
            merchant: None,
            currency: order_events::Currency::EUR,
            max_order_value: cod_max(),
        }],
        ..Policy::default()
    }
}

/// The example journey, as the README runs it.
pub fn journey() -> (EventsTopic, MemoryLedger) {
    let text = include_str!("../../../examples/order-journey.jsonl");
    let mut ledger = MemoryLedger::new(Policy::default());
    let mut topic = EventsTopic::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let command: CommandEnvelope = json::decode_command_json(line.as_bytes()).unwrap();
        let now = command.issued_at;
        topic.append(ledger.fire_timers(now));
        topic.append(ledger.submit_with_process(&command, now));
    }
    (topic, ledger)
}

/// Debits minus credits over every account of every currency in `rows`: zero when the books
/// balance.
pub fn sum_of_balances(rows: &projections::MemoryRows) -> rust_decimal::Decimal {
    let accounts = vec![projections::keys::ACCOUNT]..vec![projections::keys::ACCOUNT + 1];
    rows.0
        .range(accounts)
        .map(|(_, value)| {
            order_events::codec::decode_cache_value::<projections::model::AccountBalance>(
                "account", value,
            )
            .expect("an account balance row")
            .balance()
            .0
        })
        .sum()
}
