//! Matching a provider's report against the ledger's captures and refunds.
//!
//! Each capture, refund or payout line is matched to one ledger event of the same kind (a
//! payout to a recorded settlement batch, by its bank reference): by PSP
//! reference first, then by order id and payment (or refund) id when the provider echoes
//! them, then by amount and currency within a window of days around the line's date (the
//! closest in time wins). A matched pair can still break: a different currency or amount, a
//! fee that does not add up, or a date on the other side of the period's end than the ledger's
//! (money in transit: the only break that counts as explained). What stays unmatched breaks
//! as missing on one side. The same inputs always give the same report.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use order_events::money::{Amount, Currency};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ledger::{LedgerMoney, MoneyKind};
use crate::psp::{LineKind, PspLine, RowError};

/// The period and how far apart a line's and the ledger's dates may be for an amount match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// First day of the period (inclusive) [default: the report's first date].
    pub from: Option<NaiveDate>,
    /// Last day of the period (inclusive) [default: the report's last date].
    pub to: Option<NaiveDate>,
    pub window_days: u32,
    /// A carrier's cash-on-delivery report (its collections, `cod` lines, and remittances,
    /// `payout` lines) is reconciled against that carrier's money; `None`: a payment
    /// provider's report, against the rest.
    pub carrier: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            from: None,
            to: None,
            window_days: 3,
            carrier: None,
        }
    }
}

/// What kind of break.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The provider reports a capture or refund the ledger does not have.
    MissingInLedger,
    /// The ledger has a capture or refund in the period the provider does not report.
    MissingAtProvider,
    AmountMismatch,
    /// The line's net is not its gross less (or, for refunds, plus) its fee.
    FeeMismatch,
    /// A line whose reference was already reported, or whose ledger event another line matched.
    Duplicate,
    CurrencyMismatch,
    /// Matched, but dated on the other side of the period's end than the ledger's event.
    Timing,
    ChargebackNotInLedger,
    /// A line that could not be read.
    Malformed,
}

impl BreakKind {
    /// Explained breaks need no one's attention: money in transit settles next period.
    pub fn explained(self) -> bool {
        self == BreakKind::Timing
    }

    pub fn code(self) -> &'static str {
        match self {
            BreakKind::MissingInLedger => "missing_in_ledger",
            BreakKind::MissingAtProvider => "missing_at_provider",
            BreakKind::AmountMismatch => "amount_mismatch",
            BreakKind::FeeMismatch => "fee_mismatch",
            BreakKind::Duplicate => "duplicate",
            BreakKind::CurrencyMismatch => "currency_mismatch",
            BreakKind::Timing => "timing",
            BreakKind::ChargebackNotInLedger => "chargeback_not_in_ledger",
            BreakKind::Malformed => "malformed",
        }
    }
}

/// One break, with what each side says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Break {
    pub kind: BreakKind,
    /// The report's line, if the break has one.
    pub line: Option<u64>,
    pub psp_reference: String,
    pub currency: Option<Currency>,
    pub provider_amount: Option<Amount>,
    pub ledger_amount: Option<Amount>,
    pub ledger_event: Option<Uuid>,
    pub order_id: Option<String>,
    pub detail: String,
}

/// The totals of one currency over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CurrencySummary {
    pub currency: Currency,
    pub ledger_captures: Amount,
    pub ledger_refunds: Amount,
    /// The provider's fees on the period's lines (fee lines included).
    pub fees: Amount,
    /// Ledger captures − refunds − the provider's fees.
    pub expected_net: Amount,
    /// The provider's net over the period's lines, payouts left out.
    pub reported_net: Amount,
    /// reported − expected.
    pub variance: Amount,
}

/// A reconciliation's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Capture, refund and payout lines dated in the period.
    pub transaction_lines: u64,
    /// Of those, matched without any break.
    pub auto_matched: u64,
    /// auto_matched / transaction_lines; `None` without transaction lines.
    pub auto_match_rate: Option<f64>,
    /// Lines outside the period that matched nothing in it: left for their own period.
    pub outside_period: u64,
    pub currencies: Vec<CurrencySummary>,
    pub breaks: Vec<Break>,
    /// Breaks that are not explained (everything but timing).
    pub unexplained: u64,
}

impl Report {
    /// No break needs anyone's attention.
    pub fn is_clean(&self) -> bool {
        self.unexplained == 0
    }
}

/// A break's amounts with their currency's minor units (`"0.00"`), except one with more digits
/// than the currency has, which is shown as the provider wrote it.
fn show_in_minor_units(line: &mut Break) {
    let Some(currency) = line.currency else {
        return;
    };
    for amount in [&mut line.provider_amount, &mut line.ledger_amount]
        .into_iter()
        .flatten()
    {
        if amount.0.scale() <= currency.minor_units() {
            *amount = amount.in_minor_units(currency);
        }
    }
}

fn money_kind(kind: LineKind) -> Option<MoneyKind> {
    match kind {
        LineKind::Capture => Some(MoneyKind::Capture),
        LineKind::Refund => Some(MoneyKind::Refund),
        LineKind::Payout => Some(MoneyKind::Payout),
        LineKind::CashOnDelivery => Some(MoneyKind::CashOnDelivery),
        LineKind::Chargeback | LineKind::Fee => None,
    }
}

#[derive(Default)]
struct Totals {
    captures: Amount,
    refunds: Amount,
    fees: Amount,
    reported_net: Amount,
}

/// Reconciles `lines` (and the rows that could not be read, `errors`) against `ledger`.
pub fn reconcile(
    ledger: &[LedgerMoney],
    lines: &[PspLine],
    errors: &[RowError],
    options: &Options,
) -> Report {
    let ledger: Vec<LedgerMoney> = ledger
        .iter()
        .filter(|money| money.carrier == options.carrier)
        .cloned()
        .collect();
    let ledger = &ledger[..];
    let from = options.from.or_else(|| lines.iter().map(|l| l.date).min());
    let to = options.to.or_else(|| lines.iter().map(|l| l.date).max());
    let in_period =
        |date: NaiveDate| from.is_none_or(|from| date >= from) && to.is_none_or(|to| date <= to);

    let mut by_reference: HashMap<(MoneyKind, &str), Vec<usize>> = HashMap::new();
    let mut by_id: HashMap<(MoneyKind, &str, &str), usize> = HashMap::new();
    let mut by_amount: HashMap<(MoneyKind, Currency, Amount), Vec<usize>> = HashMap::new();
    for (index, money) in ledger.iter().enumerate() {
        by_reference
            .entry((money.kind, money.psp_reference.as_str()))
            .or_default()
            .push(index);
        by_id.insert((money.kind, &money.order_id, &money.id), index);
        by_amount
            .entry((money.kind, money.currency, money.amount))
            .or_default()
            .push(index);
    }
    let mut matched_by: Vec<Option<u64>> = vec![None; ledger.len()];
    let mut reported: HashMap<(LineKind, &str), u64> = HashMap::new();
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    let mut breaks = Vec::new();
    let (mut transaction_lines, mut auto_matched, mut outside_period) = (0, 0, 0);

    let mut ordered: Vec<&PspLine> = lines.iter().collect();
    ordered.sort_by_key(|l| l.line);
    for line in ordered {
        let here = in_period(line.date);
        let line_break = |kind: BreakKind, detail: String| Break {
            kind,
            line: Some(line.line),
            psp_reference: line.psp_reference.clone(),
            currency: Some(line.currency),
            provider_amount: Some(line.gross),
            ledger_amount: None,
            ledger_event: None,
            order_id: line.order_id.clone(),
            detail,
        };
        if here && line.kind != LineKind::Payout {
            let total = totals.entry(line.currency).or_default();
            total.fees += line.fee;
            total.reported_net += line.signed_net();
        }
        if here && !line.fee_adds_up() {
            breaks.push(line_break(
                BreakKind::FeeMismatch,
                format!(
                    "gross {} and fee {} do not make net {}",
                    line.gross, line.fee, line.net
                ),
            ));
        }
        let Some(kind) = money_kind(line.kind) else {
            if here && line.kind == LineKind::Chargeback {
                breaks.push(line_break(
                    BreakKind::ChargebackNotInLedger,
                    "the ledger records no chargeback".into(),
                ));
            }
            continue;
        };
        if here {
            transaction_lines += 1;
        }
        if let Some(first) = reported.get(&(line.kind, line.psp_reference.as_str())) {
            breaks.push(line_break(
                BreakKind::Duplicate,
                format!("reference already reported on line {first}"),
            ));
            continue;
        }
        reported.insert((line.kind, &line.psp_reference), line.line);

        let unmatched = |index: &usize| matched_by[*index].is_none();
        let found = by_reference
            .get(&(kind, line.psp_reference.as_str()))
            .and_then(|candidates| candidates.iter().copied().find(unmatched))
            .or_else(|| {
                let (order, id) = (line.order_id.as_deref()?, line.payment_id.as_deref()?);
                by_id.get(&(kind, order, id)).copied().filter(unmatched)
            })
            .or_else(|| {
                by_amount
                    .get(&(kind, line.currency, line.gross))?
                    .iter()
                    .copied()
                    .filter(unmatched)
                    .map(|index| {
                        let days = (ledger[index].at.date_naive() - line.date).num_days().abs();
                        (days, index)
                    })
                    .filter(|(days, _)| *days <= i64::from(options.window_days))
                    .min()
                    .map(|(_, index)| index)
            });
        let Some(index) = found else {
            let taken = by_reference
                .get(&(kind, line.psp_reference.as_str()))
                .and_then(|candidates| candidates.first())
                .and_then(|index| matched_by[*index]);
            match taken {
                Some(other) => breaks.push(line_break(
                    BreakKind::Duplicate,
                    format!("the ledger's event for this reference was matched by line {other}"),
                )),
                None if here => breaks.push(line_break(
                    BreakKind::MissingInLedger,
                    format!("no {kind:?} in the ledger matches it").to_lowercase(),
                )),
                None => outside_period += 1,
            }
            continue;
        };
        matched_by[index] = Some(line.line);
        let money = &ledger[index];
        let ledger_here = in_period(money.at.date_naive());
        if !here && !ledger_here {
            outside_period += 1;
            continue;
        }
        let pair_break = |kind: BreakKind, detail: String| Break {
            ledger_amount: Some(money.amount),
            ledger_event: Some(money.event_id),
            order_id: Some(money.order_id.clone()),
            ..line_break(kind, detail)
        };
        let before = breaks.len();
        if money.currency != line.currency {
            breaks.push(pair_break(
                BreakKind::CurrencyMismatch,
                format!(
                    "the ledger has {}, the provider {}",
                    money.currency, line.currency
                ),
            ));
        } else if money.amount != line.gross {
            breaks.push(pair_break(
                BreakKind::AmountMismatch,
                format!(
                    "the ledger has {}, the provider {}",
                    money.amount, line.gross
                ),
            ));
        }
        if here != ledger_here {
            breaks.push(pair_break(
                BreakKind::Timing,
                format!(
                    "recorded {} in the ledger, {} at the provider: in transit across the period's end",
                    money.at.date_naive(),
                    line.date
                ),
            ));
        }
        let fee_broke = here && !line.fee_adds_up();
        if here && breaks.len() == before && !fee_broke {
            auto_matched += 1;
        }
    }

    for (money, matched) in ledger.iter().zip(&matched_by) {
        let date = money.at.date_naive();
        if !in_period(date) {
            continue;
        }
        let total = totals.entry(money.currency).or_default();
        match money.kind {
            MoneyKind::Capture | MoneyKind::CashOnDelivery => total.captures += money.amount,
            MoneyKind::Refund => total.refunds += money.amount,
            MoneyKind::Payout => {}
        }
        if matched.is_none() {
            breaks.push(Break {
                kind: BreakKind::MissingAtProvider,
                line: None,
                psp_reference: money.psp_reference.clone(),
                currency: Some(money.currency),
                provider_amount: None,
                ledger_amount: Some(money.amount),
                ledger_event: Some(money.event_id),
                order_id: Some(money.order_id.clone()),
                detail: format!("{:?} {} recorded {date}", money.kind, money.id).to_lowercase(),
            });
        }
    }
    for error in errors {
        breaks.push(Break {
            kind: BreakKind::Malformed,
            line: Some(error.line),
            psp_reference: String::new(),
            currency: None,
            provider_amount: None,
            ledger_amount: None,
            ledger_event: None,
            order_id: None,
            detail: error.reason.clone(),
        });
    }
    breaks.sort_by(|a, b| {
        (a.line.unwrap_or(u64::MAX), a.kind, a.ledger_event).cmp(&(
            b.line.unwrap_or(u64::MAX),
            b.kind,
            b.ledger_event,
        ))
    });
    for line in &mut breaks {
        show_in_minor_units(line);
    }
    let unexplained = breaks.iter().filter(|b| !b.kind.explained()).count() as u64;
    let currencies = totals
        .into_iter()
        .map(|(currency, t)| {
            let expected_net = t.captures - t.refunds - t.fees;
            let shown = |amount: Amount| amount.in_minor_units(currency);
            CurrencySummary {
                currency,
                ledger_captures: shown(t.captures),
                ledger_refunds: shown(t.refunds),
                fees: shown(t.fees),
                expected_net: shown(expected_net),
                reported_net: shown(t.reported_net),
                variance: shown(t.reported_net - expected_net),
            }
        })
        .collect();
    Report {
        from,
        to,
        transaction_lines,
        auto_matched,
        auto_match_rate: (transaction_lines > 0)
            .then(|| auto_matched as f64 / transaction_lines as f64),
        outside_period,
        currencies,
        breaks,
        unexplained,
    }
}
