//! The merchant and carrier accounts: what a payout may take, what a carrier invoice is
//! checked against.

use order_events::account::*;
use order_events::ids::{MerchantId, OrderId, PaymentId, RefundId};
use order_events::testkit::samples::{self, amount, order_id};
use order_events::testkit::{at, context, given, Given};
use order_events::{Actor, ActorKind, Context, Policy, Rule};

const DAY: i64 = 1440;

fn system() -> Actor {
    Actor::system()
}

fn finance() -> Actor {
    Actor::new(ActorKind::Staff, "finance-1")
}

/// Decides each command on the state so far; returns the state and every event.
fn run(
    commands: impl IntoIterator<Item = (AccountCommand, Context)>,
) -> (Account, Vec<AccountEvent>) {
    let mut state = Account::default();
    let mut all = Vec::new();
    for (command, context) in commands {
        let events = decide(&state, &command, &context)
            .unwrap_or_else(|rejection| panic!("{} rejected: {rejection}", command.type_name()));
        for event in &events {
            apply(&mut state, event);
        }
        all.extend(events);
    }
    (state, all)
}

fn by(actor: Actor, minute: i64) -> Context {
    let mut context = context();
    context.actor = actor;
    context.now = at(minute);
    context
}

fn with_holdback(percent: u32, actor: Actor, minute: i64) -> Context {
    let mut context = by(actor, minute);
    context.policy = Policy {
        payout_holdback_percent: percent,
        ..Policy::default()
    };
    context
}

fn payout(value: &str, reference: &str) -> PayoutMerchant {
    PayoutMerchant {
        amount: amount(value),
        payout_reference: reference.to_owned(),
        ..samples::payout_merchant()
    }
}

fn history(events: impl IntoIterator<Item = AccountEvent>) -> Given<Account> {
    given(events)
}

/// The sample order captured (54.38, 5.44 commission: 48.94 earned) and nothing else.
fn captured() -> Given<Account> {
    history([samples::account_events()[0].clone()])
}

#[test]
fn the_sample_commands_record_the_sample_events() {
    let (state, events) = run([
        (samples::accrue_merchant_earnings().into(), by(system(), 0)),
        (samples::charge_merchant_refund().into(), by(system(), 10)),
        (samples::start_return_window().into(), by(system(), DAY)),
        (samples::payout_merchant().into(), by(finance(), 20 * DAY)),
        (samples::accrue_carrier_freight().into(), by(system(), 0)),
        (samples::record_carrier_invoice().into(), by(finance(), 30)),
        (samples::pay_carrier().into(), by(finance(), 40)),
    ]);
    assert_eq!(events, samples::account_events());
    // 54.38 − 5.44 − 9.50 + 0.95, all paid out but 0.39; the order's window closed at day 15
    // and the payout at day 20 forgot it.
    assert_eq!(state.merchant.earned, amount("40.39"));
    assert_eq!(state.merchant.paid_out, amount("40.00"));
    assert!(state.merchant.open_orders.is_empty());
    assert!(state.carrier.uninvoiced.is_empty());
    assert_eq!(state.carrier.invoices["DHL-INV-77"].paid, amount("5.15"));
}

#[test]
fn an_undelivered_order_is_held_back_entirely_by_default() {
    let rejection = captured()
        .by(finance())
        .when(payout("0.01", "PO-1"))
        .then_rejects(Rule::PayoutExceedsAvailable);
    assert!(
        rejection.detail.contains("0.00 available") && rejection.detail.contains("held back 48.94"),
        "{}",
        rejection.detail
    );
}

#[test]
fn the_policy_share_is_held_back_while_the_return_window_is_open() {
    // 25 % of 48.94 is 12.235, held back rounded up: 12.24; available 36.70.
    let delivered: [AccountEvent; 2] = [
        samples::account_events()[0].clone(),
        samples::account_events()[2].clone(),
    ];
    let open_window = with_holdback(25, finance(), 10 * DAY);
    history(delivered.clone())
        .in_context(open_window.clone())
        .when(payout("36.71", "PO-1"))
        .then_rejects(Rule::PayoutExceedsAvailable);
    let state: Account = history(delivered.clone())
        .in_context(open_window)
        .when(payout("36.70", "PO-1"))
        .then_accepts();
    assert_eq!(state.merchant.paid_out, amount("36.70"));
    // The window (delivered day 1 + 14 days) is open until day 15, then nothing is held.
    history(delivered.clone())
        .by(finance())
        .at_minute(15 * DAY - 1)
        .when(payout("0.01", "PO-1"))
        .then_rejects(Rule::PayoutExceedsAvailable);
    let state: Account = history(delivered)
        .by(finance())
        .at_minute(15 * DAY)
        .when(payout("48.94", "PO-1"))
        .then_accepts();
    assert!(
        state.merchant.open_orders.is_empty(),
        "a payout forgets the orders whose window closed"
    );
}

#[test]
fn refunds_reduce_what_is_earned_and_give_back_at_most_the_commission_charged() {
    let state = captured()
        .by(system())
        .when(ChargeMerchantRefund {
            refunded: amount("54.38"),
            commission_share: amount("6.00"),
            ..samples::charge_merchant_refund()
        })
        .then_events([MerchantRefundCharged {
            merchant_id: MerchantId::from(samples::MERCHANT),
            currency: order_events::Currency::EUR,
            order_id: order_id(),
            refund_id: RefundId::from("RF1"),
            refunded: amount("54.38"),
            // Only the 5.44 charged comes back.
            commission_reversed: amount("5.44"),
        }
        .into()]);
    assert_eq!(state.merchant.earned, amount("0.00"));
    assert!(
        state.merchant.open_orders.is_empty(),
        "a fully refunded order has nothing left to hold"
    );
}

#[test]
fn a_payout_is_idempotent_by_its_reference() {
    let paid: Given<Account> = history([
        samples::account_events()[0].clone(),
        samples::account_events()[2].clone(),
        samples::account_events()[3].clone(),
    ]);
    // The same payout again (a retry): accepted, nothing new.
    let state: Account = paid
        .by(finance())
        .at_minute(21 * DAY)
        .when(samples::payout_merchant())
        .then_events([]);
    assert_eq!(state.merchant.paid_out, amount("40.00"));
    // The reference with another amount: refused, whatever is available.
    history([
        samples::account_events()[0].clone(),
        samples::account_events()[3].clone(),
    ])
    .by(finance())
    .at_minute(21 * DAY)
    .when(payout("1.00", "PO-2026-11-001"))
    .then_rejects(Rule::TransferReferenceReused);
}

#[test]
fn only_the_order_process_accrues_and_customers_move_no_money() {
    for actor in [finance(), Actor::new(ActorKind::Service, "checkout")] {
        history([])
            .by(actor)
            .when(samples::accrue_merchant_earnings())
            .then_rejects(Rule::ActorNotPermitted);
    }
    history([])
        .by(finance())
        .when(samples::accrue_carrier_freight())
        .then_rejects(Rule::ActorNotPermitted);
    let customer = Actor::new(ActorKind::Customer, "c-1");
    captured()
        .by(customer.clone())
        .at_minute(30 * DAY)
        .when(samples::payout_merchant())
        .then_rejects(Rule::ActorNotPermitted);
    history([])
        .by(customer)
        .when(samples::record_carrier_invoice())
        .then_rejects(Rule::ActorNotPermitted);
}

#[test]
fn finance_commands_are_for_the_finance_actors_the_policy_names() {
    let mut context = by(finance(), 30 * DAY);
    context.policy.finance_actors = vec!["staff:fin-ann".to_owned()];
    let rejection = history([samples::account_events()[0].clone()])
        .in_context(context.clone())
        .when(samples::payout_merchant())
        .then_rejects(Rule::ActorNotPermitted);
    assert!(
        rejection.detail.contains("staff:finance-1") && rejection.detail.contains("staff:fin-ann"),
        "{}",
        rejection.detail
    );
    context.actor = Actor::new(ActorKind::Staff, "fin-ann");
    let delivered = [
        samples::account_events()[0].clone(),
        samples::account_events()[2].clone(),
    ];
    history(delivered)
        .in_context(context)
        .when(samples::payout_merchant())
        .then_accepts();
    // With no list, staff and services may; the system may not move money out.
    history([samples::account_events()[0].clone()])
        .by(system())
        .at_minute(30 * DAY)
        .when(samples::payout_merchant())
        .then_rejects(Rule::ActorNotPermitted);
}

#[test]
fn earnings_of_several_orders_add_up_and_each_is_held_by_its_own_window() {
    let other = OrderId::for_external_reference("web", "W-1002");
    let (state, _) = run([
        (samples::accrue_merchant_earnings().into(), by(system(), 0)),
        (
            AccrueMerchantEarnings {
                order_id: other,
                payment_id: PaymentId::from("P9"),
                captured: amount("100.00"),
                commission: amount("10.00"),
                ..samples::accrue_merchant_earnings()
            }
            .into(),
            by(system(), 0),
        ),
        (samples::start_return_window().into(), by(system(), DAY)),
    ]);
    // Day 16: the sample order's window closed (48.94 free); the other is undelivered (90.00
    // held).
    let now = at(16 * DAY);
    let policy = Policy::default();
    let currency = order_events::Currency::EUR;
    assert_eq!(state.merchant.held(now, &policy, currency), amount("90.00"));
    assert_eq!(
        state.merchant.available(now, &policy, currency),
        amount("48.94")
    );
}

#[test]
fn a_carrier_invoice_is_checked_against_the_freight_charged_per_parcel() {
    let accrued: Given<Account> = history([samples::account_events()[4].clone()]);
    let state: Account = accrued
        .by(finance())
        .when(samples::record_carrier_invoice())
        .then_events([samples::account_events()[5].clone()]);
    let AccountEvent::CarrierInvoiceRecorded(invoice) = &samples::account_events()[5] else {
        panic!("the sixth sample is the invoice");
    };
    assert_eq!(invoice.variance(), amount("0.25"));
    assert!(state.carrier.uninvoiced.is_empty());

    // A parcel not charged, or already invoiced, is not on the invoice.
    let mut unknown = samples::record_carrier_invoice();
    unknown.invoice_reference = "DHL-INV-78".to_owned();
    history([
        samples::account_events()[4].clone(),
        samples::account_events()[5].clone(),
    ])
    .by(finance())
    .when(unknown)
    .then_rejects(Rule::InvoiceParcelNotOpen);

    // Paid in parts, never beyond the invoice; a retried payment changes nothing.
    let invoiced = || {
        history([
            samples::account_events()[4].clone(),
            samples::account_events()[5].clone(),
        ])
        .by(finance())
    };
    let part = |value: &str, reference: &str| PayCarrier {
        amount: amount(value),
        payment_reference: reference.to_owned(),
        ..samples::pay_carrier()
    };
    let mut account = invoiced().when(part("5.00", "T-1")).then_accepts();
    let finance_now = by(finance(), 0);
    let retried = decide(&account, &part("5.00", "T-1").into(), &finance_now).unwrap();
    assert!(retried.is_empty());
    let too_much = decide(&account, &part("0.16", "T-2").into(), &finance_now).unwrap_err();
    assert_eq!(too_much.rule, Rule::CarrierPaymentExceedsInvoice);
    for event in decide(&account, &part("0.15", "T-2").into(), &finance_now).unwrap() {
        apply(&mut account, &event);
    }
    assert_eq!(account.carrier.invoices["DHL-INV-77"].paid, amount("5.15"));
}

mod random_sequences {
    //! Random sequences of account commands, by any actor at any time: no panic, the
    //! invariants hold after every step, an accepted payout never leaves less than nothing
    //! available, and folding every event from scratch gives the state built step by step.

    use super::*;
    use order_events::Aggregate;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn cents(value: i64) -> order_events::Amount {
        order_events::Amount(Decimal::new(value, 2))
    }

    fn order(index: u8) -> OrderId {
        OrderId::for_external_reference("web", &format!("R-{index}"))
    }

    /// The system half the time, so the accruals a payout needs get through.
    fn actor(kind: u8) -> Actor {
        match kind % 6 {
            0..=2 => Actor::system(),
            3 => finance(),
            4 => Actor::new(ActorKind::Service, "bridge"),
            _ => Actor::new(ActorKind::Customer, "c-1"),
        }
    }

    /// One command with small ids, so repeats and collisions happen.
    fn command() -> impl Strategy<Value = AccountCommand> {
        let merchant = samples::accrue_merchant_earnings();
        prop_oneof![
            (0..4u8, 0..3u8, 1..20_000i64, 0..2_500i64).prop_map({
                let merchant = merchant.clone();
                move |(o, p, captured, commission)| {
                    AccrueMerchantEarnings {
                        order_id: order(o),
                        payment_id: PaymentId::from(format!("P{p}").as_str()),
                        captured: cents(captured),
                        commission: cents(commission),
                        ..merchant.clone()
                    }
                    .into()
                }
            }),
            (0..4u8, 0..3u8, 1..20_000i64, 0..2_500i64).prop_map(|(o, r, refunded, share)| {
                ChargeMerchantRefund {
                    order_id: order(o),
                    refund_id: RefundId::from(format!("RF{r}").as_str()),
                    refunded: cents(refunded),
                    commission_share: cents(share),
                    ..samples::charge_merchant_refund()
                }
                .into()
            }),
            (0..4u8, 0..40i64).prop_map(|(o, day)| {
                StartReturnWindow {
                    order_id: order(o),
                    delivered_at: at(day * DAY),
                    ..samples::start_return_window()
                }
                .into()
            }),
            (0..4u8, 0..30_000i64).prop_map(|(reference, amount)| {
                PayoutMerchant {
                    amount: cents(amount),
                    payout_reference: format!("PO-{reference}"),
                    ..samples::payout_merchant()
                }
                .into()
            }),
            (0..4u8, 1..1_000i64).prop_map(|(parcel, freight)| {
                AccrueCarrierFreight {
                    tracking_number: format!("T-{parcel}"),
                    freight: cents(freight),
                    ..samples::accrue_carrier_freight()
                }
                .into()
            }),
            (0..3u8, prop::collection::vec((0..5u8, 0..1_200i64), 0..3)).prop_map(
                |(invoice, lines)| {
                    RecordCarrierInvoice {
                        invoice_reference: format!("INV-{invoice}"),
                        lines: lines
                            .into_iter()
                            .map(|(parcel, freight)| CarrierInvoiceLine {
                                tracking_number: format!("T-{parcel}"),
                                freight: cents(freight),
                            })
                            .collect(),
                        ..samples::record_carrier_invoice()
                    }
                    .into()
                }
            ),
            (0..3u8, 0..3u8, 1..1_500i64).prop_map(|(invoice, reference, amount)| {
                PayCarrier {
                    invoice_reference: format!("INV-{invoice}"),
                    payment_reference: format!("PAY-{reference}"),
                    amount: cents(amount),
                    ..samples::pay_carrier()
                }
                .into()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn accounts_hold_their_invariants_under_any_sequence(
            steps in prop::collection::vec((command(), 0..6u8, 0..50i64, 0..101u32), 1..60)
        ) {
            let mut state = Account::default();
            let mut history = Vec::new();
            for (command, who, day, holdback) in steps {
                let mut context = by(actor(who), day * DAY);
                context.policy.payout_holdback_percent = holdback;
                let Ok(events) = decide(&state, &command, &context) else {
                    continue;
                };
                for event in &events {
                    apply(&mut state, event);
                }
                prop_assert!(state.check_invariants().is_ok(), "{:?}", state.check_invariants());
                if let (AccountCommand::PayoutMerchant(c), false) = (&command, events.is_empty()) {
                    let after = state.merchant.available(context.now, &context.policy, c.currency);
                    prop_assert!(!after.is_negative(), "a payout left {after} available");
                }
                history.extend(events);
            }
            let mut replayed = Account::default();
            for event in &history {
                apply(&mut replayed, event);
            }
            prop_assert_eq!(replayed, state);
        }
    }
}
