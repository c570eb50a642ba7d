//! Merchant payouts through a month of a seeded shop: every day finance tries to pay each
//! merchant a cent more than is available (refused), then exactly what is available
//! (accepted). What the merchant's account says is available is checked against a figure
//! worked out here independently — the read side's payable less the policy's share of the
//! open orders' earnings, from the orders themselves — and the books, folded as the log grows,
//! balance after every event.
//! Only part of the open orders' earnings is held back, so a refund after a payout can leave a
//! merchant owing: then nothing is paid until new earnings cover it.

mod common;

use std::collections::BTreeSet;

use chrono::Duration;
use common::{shop_policy, start, EventsTopic};
use order_events::account::{merchant_account, AccountEvent, PayoutMerchant};
use order_events::codec::{decode_cache_value, decode_event};
use order_events::envelope::{CommandEnvelope, Event};
use order_events::ids::{MerchantId, OrderId};
use order_events::ledger::{MemoryLedger, Step};
use order_events::money::{Amount, Currency};
use order_events::order::{Order, OrderEvent};
use order_events::settlement::{CommissionSoFar, SettlementRules};
use order_events::simulation::{Shop, ShopConfig};
use order_events::{Actor, ActorKind, Policy, Rule};
use projections::model::{MerchantTotals, Part};
use projections::{keys, MemoryRows, ProjectionStore, Projector};
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

/// What one order has earned its merchant: captures less commission, less refunds plus the
/// commission given back — worked out from the order's own payments and refunds.
fn earned_by(order: &Order, rules: &SettlementRules) -> Amount {
    let header = order.header.as_ref().expect("placed");
    let rate = rules.rate_of(&header.merchant_id);
    let mut commission = CommissionSoFar::default();
    for captured in order.payments.iter().filter_map(|p| p.captured) {
        commission.charge(captured, rate, header.currency);
    }
    for refund in &order.refunds {
        commission.reverse(refund.amount, rate, header.currency);
    }
    order.captured() - order.refunded() - commission.charged + commission.reversed
}

/// Rounded up to cents.
fn up(value: Decimal) -> Amount {
    Amount(value.round_dp_with_strategy(2, RoundingStrategy::AwayFromZero))
}

struct Finance {
    ledger: MemoryLedger,
    topic: EventsTopic,
    /// The read models, folded as the log grows: in memory (the trial balance after every
    /// event) and in a store (the merchant balances finance reads).
    rows: MemoryRows,
    store: ProjectionStore,
    _dir: tempfile::TempDir,
    folded: usize,
    merchants: BTreeSet<(MerchantId, Currency)>,
    orders: BTreeSet<OrderId>,
    policy: Policy,
    commands: u128,
    paid: Amount,
    payouts: u32,
}

impl Finance {
    fn record(&mut self, steps: Vec<Step>) {
        for (_, outcome) in &steps {
            for sealed in outcome.iter().flatten() {
                match &sealed.envelope.event {
                    Event::Account(AccountEvent::MerchantEarningsAccrued(e)) => {
                        self.merchants.insert((e.merchant_id.clone(), e.currency));
                    }
                    Event::Order(OrderEvent::OrderPlaced(placed)) => {
                        self.orders.insert(placed.order_id);
                    }
                    _ => {}
                }
            }
        }
        self.topic.append(steps);
        self.fold();
    }

    /// Folds the new records; the trial balance must be zero after each.
    fn fold(&mut self) {
        let projector = Projector::default();
        for record in &self.topic.records[self.folded..] {
            let envelope = decode_event(&record.payload).unwrap();
            projector
                .fold(&mut self.rows, record.partition, record.offset, &envelope)
                .unwrap();
            assert_eq!(
                common::sum_of_balances(&self.rows),
                Decimal::ZERO,
                "trial balance after {}@{}",
                record.partition,
                record.offset
            );
        }
        self.store.fold(&self.topic.records[self.folded..]).unwrap();
        self.folded = self.topic.records.len();
    }

    /// The merchant's totals: the sum of their parts, one per partition.
    fn merchant_totals(&self, merchant: &MerchantId, currency: Currency) -> MerchantTotals {
        let whole = keys::whole(&keys::merchant(currency, merchant.as_str(), 0))
            .unwrap()
            .to_vec();
        let mut totals = MerchantTotals::default();
        for (key, value) in self.rows.0.range(whole.clone()..) {
            if !key.starts_with(&whole) {
                break;
            }
            totals.add(&decode_cache_value::<MerchantTotals>("merchant totals", value).unwrap());
        }
        totals
    }

    /// Available, worked out without the account: the books' payable less the policy's share
    /// of the earnings of the merchant's orders whose return window is open or not begun.
    fn expected_available(
        &self,
        merchant: &MerchantId,
        currency: Currency,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Amount {
        let rules = SettlementRules::default();
        let open: Decimal = self
            .orders
            .iter()
            .filter_map(|id| self.ledger.order(id))
            .filter(|order| {
                let header = order.header.as_ref().expect("placed");
                &header.merchant_id == merchant && header.currency == currency
            })
            .filter(|order| {
                order
                    .delivered_at
                    .is_none_or(|at| now < at + self.policy.return_window())
            })
            .map(|order| earned_by(order, &rules).0.max(Decimal::ZERO))
            .sum();
        let share_held = Decimal::from(self.policy.payout_holdback_percent) / Decimal::ONE_HUNDRED;
        self.merchant_totals(merchant, currency).payable() - up(open * share_held)
    }

    fn payout(
        &mut self,
        merchant: &MerchantId,
        currency: Currency,
        amount: Amount,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Step {
        self.commands += 1;
        let command = PayoutMerchant {
            merchant_id: merchant.clone(),
            currency,
            amount,
            payout_reference: format!("PO-{}", self.commands),
        };
        let envelope = CommandEnvelope {
            command_id: Uuid::from_u128(0xf1_0000_0000_4000_8000_0000_0000_0000 | self.commands),
            correlation_id: Uuid::from_u128(self.commands),
            causation_id: None,
            actor: Actor::new(ActorKind::Staff, "finance"),
            issued_at: now,
            command: command.into(),
        };
        let mut steps = self.ledger.submit_with_process(&envelope, now);
        assert_eq!(steps.len(), 1, "a payout has no reactions");
        steps.remove(0)
    }

    /// Tries a cent more than each merchant's available balance, then pays exactly that.
    fn pay_everyone(&mut self, now: chrono::DateTime<chrono::Utc>) {
        let cent = Amount(Decimal::new(1, 2));
        for (merchant, currency) in self.merchants.clone() {
            let account = self
                .ledger
                .account(&merchant_account(merchant.as_str(), currency))
                .expect("a noted merchant has an account");
            // Below zero when refunds came after a payout: the merchant owes the platform.
            let available = account.merchant.available(now, &self.policy, currency);
            assert_eq!(
                available,
                self.expected_available(&merchant, currency, now),
                "available to {merchant} at {now}"
            );
            let shown = self
                .store
                .merchant_balances(Some(currency), Some(merchant.as_str()), now, &self.policy)
                .unwrap();
            assert_eq!(
                shown[0].available, available,
                "the merchant balance finance reads, {merchant} at {now}"
            );
            let (_, outcome) =
                self.payout(&merchant, currency, available.max(Amount::ZERO) + cent, now);
            let rejection = outcome.expect_err("a cent more than available is refused");
            assert_eq!(rejection.rule, Rule::PayoutExceedsAvailable, "{rejection}");
            if available.is_positive() {
                let step = self.payout(&merchant, currency, available, now);
                assert!(
                    step.1.is_ok(),
                    "the available balance is paid: {:?}",
                    step.1
                );
                self.paid += available;
                self.payouts += 1;
                self.record(vec![step]);
            }
        }
    }
}

#[test]
fn daily_payouts_never_exceed_the_available_balance_and_the_books_stay_balanced() {
    let config = ShopConfig {
        orders: 200,
        wave_size: 10,
        wave_minutes: 24 * 60,
        ..ShopConfig::default()
    };
    let policy = Policy {
        payout_holdback_percent: 60,
        ..shop_policy()
    };
    let mut shop = Shop::new(0x5eed_00f1, config, start());
    let dir = tempfile::tempdir().unwrap();
    let mut finance = Finance {
        ledger: MemoryLedger::new(policy.clone()),
        topic: EventsTopic::default(),
        rows: MemoryRows::default(),
        store: ProjectionStore::open(&dir.path().join("read-models"), Projector::default())
            .unwrap(),
        _dir: dir,
        folded: 0,
        merchants: BTreeSet::new(),
        orders: BTreeSet::new(),
        policy,
        commands: 0,
        paid: Amount::ZERO,
        payouts: 0,
    };
    let mut now = shop.start();
    for command in shop.opening_stock(now) {
        let steps = finance.ledger.submit_with_process(&command, now);
        finance.record(steps);
    }
    let mut last_payday = now.date_naive();
    while let Some(next) = shop.next_time() {
        now = next;
        let fired = finance.ledger.fire_timers(now);
        finance.record(fired);
        for command in shop.step(now, &|id| finance.ledger.order(&id).cloned()) {
            let steps = finance.ledger.submit_with_process(&command, now);
            finance.record(steps);
        }
        if now.date_naive() > last_payday {
            last_payday = now.date_naive();
            finance.pay_everyone(now);
        }
    }
    // Three weeks more of paydays: every return window closes, the rest is paid.
    for _ in 0..21 {
        now += Duration::days(1);
        let fired = finance.ledger.fire_timers(now);
        finance.record(fired);
        finance.pay_everyone(now);
    }
    eprintln!(
        "{} merchants, {} payouts of {} in all, {} events",
        finance.merchants.len(),
        finance.payouts,
        finance.paid,
        finance.topic.records.len()
    );
    assert!(finance.merchants.len() > 1, "{:?}", finance.merchants);
    assert!(finance.payouts > 20, "only {} payouts", finance.payouts);

    // The read side's payable of each merchant is what its account says is earned and not
    // paid out.
    let mut paid_on_the_books = Amount::ZERO;
    for (merchant, currency) in &finance.merchants {
        let account = finance
            .ledger
            .account(&merchant_account(merchant.as_str(), *currency))
            .unwrap();
        let totals = finance.merchant_totals(merchant, *currency);
        assert_eq!(totals.payouts, account.merchant.paid_out, "{merchant}");
        assert_eq!(
            totals.payable(),
            account.merchant.earned - account.merchant.paid_out,
            "{merchant} {currency}"
        );
        paid_on_the_books += totals.payouts;
    }
    assert_eq!(paid_on_the_books, finance.paid);
}
