//! Reconciliation against a generated month of shop activity: a provider report made from the
//! ledger's own money events, clean, and then with planted breaks of every kind.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use finance::ledger::{Collector, LedgerMoney, MoneyKind};
use finance::psp::{self, ColumnMap};
use finance::reconcile::{reconcile, BreakKind, Options, Report};
use order_events::ledger::MemoryLedger;
use order_events::money::Amount;
use order_events::simulation::{Shop, ShopConfig};
use order_events::Policy;
use rust_decimal::Decimal;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 10, 1, 8, 0, 0).unwrap()
}

/// A month of a seeded shop (ten orders a day) through the in-memory ledger; its money events.
fn month_of_activity(seed: u64) -> Vec<LedgerMoney> {
    month_of(seed, false)
}

/// The same, with cash on delivery offered up to 150.00 (`cod`), and the carriers' remittances
/// at the month's end.
fn month_of(seed: u64, cod: bool) -> Vec<LedgerMoney> {
    let cod_max: Amount = "150.00".parse().unwrap();
    let config = ShopConfig {
        orders: 300,
        wave_size: 10,
        wave_minutes: 24 * 60,
        cash_on_delivery_max: cod.then_some(cod_max),
        ..ShopConfig::default()
    };
    let mut shop = Shop::new(seed, config, start());
    let offers = vec![order_events::CashOnDeliveryOffer {
        channel: None,
        merchant: None,
        currency: order_events::Currency::EUR,
        max_order_value: cod_max,
    }];
    let mut ledger = MemoryLedger::new(Policy {
        payment_window_minutes: 120,
        cash_on_delivery: if cod { offers } else { Vec::new() },
        ..Policy::default()
    });
    let mut collector = Collector::default();
    let mut collect = |steps: Vec<order_events::ledger::Step>| {
        for (_, outcome) in steps {
            for sealed in outcome.into_iter().flatten() {
                collector.add(&sealed.envelope);
            }
        }
    };
    let mut now = shop.start();
    for command in shop.opening_stock(now) {
        collect(ledger.submit_with_process(&command, now));
    }
    while let Some(next) = shop.next_time() {
        now = next;
        collect(ledger.fire_timers(now));
        for command in shop.step(now, &|id| ledger.order(&id).cloned()) {
            collect(ledger.submit_with_process(&command, now));
        }
    }
    let end = now + Duration::days(30);
    collect(ledger.fire_timers(end));
    for command in shop.cod_remittances(end, &|id| ledger.order(&id).cloned()) {
        collect(ledger.submit_with_process(&command, end));
    }
    assert_eq!(collector.without_currency, 0);
    collector.finish()
}

/// The provider's fee on a capture: 1.4 % + 0.25, in cents.
fn fee_of(money: &LedgerMoney) -> Amount {
    match money.kind {
        MoneyKind::Capture => Amount(
            (money.amount.0 * Decimal::new(14, 3) + Decimal::new(25, 2))
                .round_dp(money.currency.minor_units()),
        ),
        // What the simulated carriers keep for collecting.
        MoneyKind::CashOnDelivery => Amount(Decimal::new(50, 2)),
        MoneyKind::Refund | MoneyKind::Payout => Amount::ZERO,
    }
}

/// One CSV row in the default layout.
struct Row {
    reference: String,
    kind: &'static str,
    gross: String,
    fee: String,
    net: String,
    currency: String,
    date: String,
    order_id: String,
    payment_id: String,
}

impl Row {
    fn of(money: &LedgerMoney) -> Row {
        let fee = fee_of(money);
        let (kind, net) = match money.kind {
            MoneyKind::Capture => ("capture", money.amount - fee),
            MoneyKind::Refund => ("refund", money.amount + fee),
            MoneyKind::Payout => ("payout", money.amount),
            MoneyKind::CashOnDelivery => ("cod", money.amount - fee),
        };
        Row {
            reference: money.psp_reference.clone(),
            kind,
            gross: money.amount.to_string(),
            fee: fee.to_string(),
            net: net.to_string(),
            currency: money.currency.to_string(),
            date: money.at.date_naive().to_string(),
            order_id: String::new(),
            payment_id: String::new(),
        }
    }

    fn csv(&self) -> String {
        [
            &self.reference,
            self.kind,
            &self.gross,
            &self.fee,
            &self.net,
            &self.currency,
            &self.date,
            &self.order_id,
            &self.payment_id,
        ]
        .map(|s| s.to_string())
        .join(",")
    }
}

const HEADER: &str = "psp_reference,type,gross,fee,net,currency,date,order_id,payment_id";

fn file_of(rows: &[Row], extra: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text.push_str(&row.csv());
        text.push('\n');
    }
    for line in extra {
        text.push_str(line);
        text.push('\n');
    }
    text
}

fn run(ledger: &[LedgerMoney], file: &str, options: &Options) -> Report {
    let (lines, errors) = psp::read(file.as_bytes(), &ColumnMap::default()).unwrap();
    reconcile(ledger, &lines, &errors, options)
}

fn october() -> Options {
    Options {
        from: NaiveDate::from_ymd_opt(2026, 10, 1),
        to: NaiveDate::from_ymd_opt(2026, 10, 31),
        window_days: 3,
        carrier: None,
    }
}

#[test]
fn cash_on_delivery_is_reconciled_against_the_carriers_report_not_the_providers() {
    let ledger = month_of(0xf1_0002, true);
    let carriers: BTreeSet<String> = ledger.iter().filter_map(|m| m.carrier.clone()).collect();
    assert!(!carriers.is_empty(), "the shop collected cash on delivery");
    // The provider's report holds none of it, and misses none of it.
    let provider: Vec<Row> = ledger
        .iter()
        .filter(|m| m.carrier.is_none())
        .map(Row::of)
        .collect();
    let everything = Options {
        to: NaiveDate::from_ymd_opt(2026, 12, 31),
        ..october()
    };
    let report = run(&ledger, &file_of(&provider, &[]), &everything);
    assert!(report.is_clean(), "{:#?}", report.breaks);
    for carrier in &carriers {
        let theirs: Vec<&LedgerMoney> = ledger
            .iter()
            .filter(|m| m.carrier.as_ref() == Some(carrier))
            .collect();
        let collected = theirs
            .iter()
            .filter(|m| m.kind == MoneyKind::CashOnDelivery)
            .count();
        let remitted = theirs
            .iter()
            .filter(|m| m.kind == MoneyKind::Payout)
            .count();
        assert!(
            collected > 0 && remitted == 1,
            "{carrier}: {collected} {remitted}"
        );
        let options = Options {
            carrier: Some(carrier.clone()),
            ..everything.clone()
        };
        let rows: Vec<Row> = theirs.iter().map(|m| Row::of(m)).collect();
        let report = run(&ledger, &file_of(&rows, &[]), &options);
        assert!(report.is_clean(), "{carrier}: {:#?}", report.breaks);
        assert_eq!(report.transaction_lines, theirs.len() as u64);
        // A collection the carrier does not report is missing at the carrier.
        let report = run(&ledger, &file_of(&rows[1..], &[]), &options);
        let kinds: Vec<BreakKind> = report.breaks.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [BreakKind::MissingAtProvider], "{carrier}");
    }
}

#[test]
fn a_report_that_agrees_with_the_ledger_reconciles_clean() {
    let ledger = month_of_activity(0xf1_0001);
    let in_october: Vec<&LedgerMoney> = ledger
        .iter()
        .filter(|m| m.at.date_naive() <= NaiveDate::from_ymd_opt(2026, 10, 31).unwrap())
        .collect();
    let captures = in_october
        .iter()
        .filter(|m| m.kind == MoneyKind::Capture)
        .count();
    let refunds = in_october.len() - captures;
    assert!(
        captures > 150 && refunds > 5,
        "{captures} captures, {refunds} refunds"
    );
    let rows: Vec<Row> = in_october.iter().map(|m| Row::of(m)).collect();
    let report = run(&ledger, &file_of(&rows, &[]), &october());
    assert!(
        report.breaks.is_empty(),
        "{:#?}",
        &report.breaks[..3.min(report.breaks.len())]
    );
    assert!(report.is_clean());
    assert_eq!(report.transaction_lines, in_october.len() as u64);
    assert_eq!(report.auto_match_rate, Some(1.0));
    let eur = &report.currencies[0];
    assert_eq!(eur.variance, Amount::ZERO);
    let captured: Amount = in_october
        .iter()
        .filter(|m| m.kind == MoneyKind::Capture)
        .map(|m| m.amount)
        .sum();
    assert_eq!(eur.ledger_captures, captured);
    let fees: Amount = in_october.iter().map(|m| fee_of(m)).sum();
    assert_eq!(eur.fees, fees);
    assert_eq!(eur.expected_net, captured - eur.ledger_refunds - fees);
}

#[test]
fn planted_breaks_of_every_kind_are_found_and_nothing_else() {
    let mut ledger = month_of_activity(0xf1_0002);
    let period_end = NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    ledger.retain(|m| m.at.date_naive() <= period_end);
    // A capture on the last day, which the provider books the day after (in transit).
    let mut last_day = ledger
        .iter()
        .find(|m| m.kind == MoneyKind::Capture)
        .unwrap()
        .clone();
    last_day.event_id = uuid::Uuid::from_u64_pair(0xf1, 1);
    last_day.psp_reference = "psp-last-day".into();
    last_day.at = Utc.with_ymd_and_hms(2026, 10, 31, 23, 50, 0).unwrap();
    ledger.push(last_day);

    // A refund the provider never reports.
    let missing = ledger
        .iter()
        .find(|m| m.kind == MoneyKind::Refund)
        .unwrap()
        .clone();
    let reported: Vec<&LedgerMoney> = ledger
        .iter()
        .filter(|m| m.event_id != missing.event_id)
        .collect();
    let mut rows: Vec<Row> = reported.iter().map(|m| Row::of(m)).collect();
    let captures: Vec<usize> = (0..rows.len())
        .filter(|i| rows[*i].kind == "capture")
        .collect();
    let line = |index: usize| index as u64 + 2; // the header is line 1
    let mut planted: BTreeSet<(BreakKind, Option<u64>)> = BTreeSet::new();
    planted.insert((BreakKind::MissingAtProvider, None));

    // The provider books the last-day capture on November 1st: timing, explained.
    let last = rows.len() - 1;
    rows[last].date = "2026-11-01".into();
    planted.insert((BreakKind::Timing, Some(line(last))));
    // A different amount (its fee and net consistent with it).
    let amount = captures[3];
    rows[amount].gross =
        (rows[amount].gross.parse::<Decimal>().unwrap() + Decimal::ONE).to_string();
    rows[amount].net = (rows[amount].net.parse::<Decimal>().unwrap() + Decimal::ONE).to_string();
    planted.insert((BreakKind::AmountMismatch, Some(line(amount))));
    // A net that is a cent off gross − fee.
    let fee = captures[5];
    rows[fee].net = (rows[fee].net.parse::<Decimal>().unwrap() - Decimal::new(1, 2)).to_string();
    planted.insert((BreakKind::FeeMismatch, Some(line(fee))));
    // Another currency on a known reference.
    let currency = captures[7];
    rows[currency].currency = "USD".into();
    planted.insert((BreakKind::CurrencyMismatch, Some(line(currency))));
    // A reference the provider does not know, but the order and payment ids it echoes match.
    let by_id = captures[9];
    rows[by_id].reference = "psp-renamed".into();
    rows[by_id].order_id = reported[by_id].order_id.clone();
    rows[by_id].payment_id = reported[by_id].id.clone();
    // A reference nobody knows, matched by amount and date alone.
    let by_amount = captures[11];
    rows[by_amount].reference = "psp-unknown-but-same-amount".into();
    // Appended lines: a repeat, an unknown capture, a chargeback, and two unreadable rows.
    let next = rows.len() as u64 + 2;
    let repeat = rows[captures[13]].csv();
    let extra = [
        repeat.as_str(),
        "psp-nobody,capture,42.00,0.84,41.16,EUR,2026-10-15,,",
        "psp-disputed,chargeback,19.99,15.00,34.99,EUR,2026-10-20,,",
        "psp-bad,capture,12,50,0.30,12.20,EUR,2026-10-20",
        "psp-odd,rebate,5.00,0.00,5.00,EUR,2026-10-20,,",
    ];
    planted.insert((BreakKind::Duplicate, Some(next)));
    planted.insert((BreakKind::MissingInLedger, Some(next + 1)));
    planted.insert((BreakKind::ChargebackNotInLedger, Some(next + 2)));
    planted.insert((BreakKind::Malformed, Some(next + 3)));
    planted.insert((BreakKind::Malformed, Some(next + 4)));

    let file = file_of(&rows, &extra);
    let report = run(&ledger, &file, &october());
    let found: BTreeSet<(BreakKind, Option<u64>)> =
        report.breaks.iter().map(|b| (b.kind, b.line)).collect();
    assert_eq!(found, planted, "{:#?}", report.breaks);
    assert_eq!(report.breaks.len(), planted.len());
    let missing_break = report
        .breaks
        .iter()
        .find(|b| b.kind == BreakKind::MissingAtProvider)
        .unwrap();
    assert_eq!(missing_break.ledger_event, Some(missing.event_id));
    assert_eq!(report.unexplained, planted.len() as u64 - 1);
    assert!(!report.is_clean());
    // Every capture and refund line in October, less the broken ones (amount, fee, currency,
    // duplicate, unknown), matched by itself.
    let broken = 5;
    assert_eq!(report.auto_matched, report.transaction_lines - broken);
    let malformed: Vec<&str> = report
        .breaks
        .iter()
        .filter(|b| b.kind == BreakKind::Malformed)
        .map(|b| b.detail.as_str())
        .collect();
    // "12,50" splits into two columns, so the currency column holds a number.
    assert!(malformed[0].contains("currency '12.20'"), "{malformed:?}");
    assert!(malformed[1].contains("rebate"), "{malformed:?}");

    // The same file gives the same report.
    assert_eq!(run(&ledger, &file, &october()), report);
}

#[test]
fn another_providers_layout_reads_through_a_column_mapping() {
    let ledger = month_of_activity(0xf1_0003);
    let money: Vec<&LedgerMoney> = ledger.iter().take(20).collect();
    let mut text = String::from("Booking date;Ref;Kind;Amount;Charge;Settled;Ccy\n");
    for m in &money {
        let row = Row::of(m);
        let date = m.at.date_naive().format("%d.%m.%Y");
        text.push_str(&format!(
            "{date};{};{};{};{};{};{}\n",
            row.reference,
            row.kind.to_uppercase(),
            row.gross,
            row.fee,
            row.net,
            row.currency
        ));
    }
    let mut map = ColumnMap::default();
    for mapping in [
        "psp_reference=Ref",
        "type=Kind",
        "gross=Amount",
        "fee=Charge",
        "net=Settled",
        "currency=Ccy",
        "date=Booking date",
        "date_format=%d.%m.%Y",
    ] {
        map.set(mapping).unwrap();
    }
    let text = text.replace(';', ",");
    let (lines, errors) = psp::read(text.as_bytes(), &map).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(lines.len(), money.len());
    let report = reconcile(&ledger[..20], &lines, &errors, &Options::default());
    assert!(report.is_clean(), "{:#?}", report.breaks);
    assert_eq!(report.auto_match_rate, Some(1.0));

    assert!(matches!(
        map.set("grossAmount"),
        Err(psp::PspError::BadMapping(_))
    ));
    assert!(matches!(
        map.set("tax=VAT"),
        Err(psp::PspError::BadMapping(_))
    ));
    let missing = psp::read("Ref,Kind\n".as_bytes(), &map).unwrap_err();
    assert!(
        matches!(missing, psp::PspError::MissingColumn { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("are: Ref, Kind"), "{missing}");
    assert_eq!(
        psp::read("".as_bytes(), &map).unwrap_err(),
        psp::PspError::NoHeader
    );
}

#[test]
fn payout_lines_match_recorded_settlement_batches_by_bank_reference() {
    let batch = |reference: &str, net: &str, day: u32| LedgerMoney {
        event_id: uuid::Uuid::from_u64_pair(0xba7c, u64::from(day)),
        kind: MoneyKind::Payout,
        psp_reference: reference.to_owned(),
        order_id: String::new(),
        id: "adyen".to_owned(),
        amount: net.parse().unwrap(),
        currency: order_events::money::Currency::EUR,
        at: Utc.with_ymd_and_hms(2026, 10, day, 9, 0, 0).unwrap(),
        carrier: None,
    };
    let ledger = [
        batch("SEPA-10", "985.70", 10),
        batch("SEPA-17", "1200.00", 17),
        batch("SEPA-24", "640.00", 24),
    ];
    let file = format!(
        "{HEADER}\n\
         SEPA-10,payout,985.70,0.00,985.70,EUR,2026-10-10,,\n\
         SEPA-17,payout,1200.10,0.00,1200.10,EUR,2026-10-17,,\n\
         SEPA-99,payout,50.00,0.00,50.00,EUR,2026-10-20,,\n"
    );
    let report = run(&ledger, &file, &october());
    let found: Vec<(BreakKind, Option<u64>)> =
        report.breaks.iter().map(|b| (b.kind, b.line)).collect();
    assert_eq!(
        found,
        [
            (BreakKind::AmountMismatch, Some(3)),
            (BreakKind::MissingInLedger, Some(4)),
            (BreakKind::MissingAtProvider, None),
        ],
        "{:#?}",
        report.breaks
    );
    assert_eq!(report.breaks[2].psp_reference, "SEPA-24");
    assert_eq!((report.transaction_lines, report.auto_matched), (3, 1));
    // Payouts move money between the provider and the bank: no capture or refund total moves.
    assert_eq!(report.currencies[0].ledger_captures, Amount::ZERO);
}
