//! The reconciliation run aggregate: finance's record that a payment provider's report was
//! reconciled against the ledger — which report (its SHA-256), which period, what came out —
//! so auditors see who reconciled what and when (the actor and time are on the envelope).
//!
//! One aggregate per run id; a run is recorded once. The figures are what the reconciliation
//! computed: the domain checks they are consistent, not that they are right (the report file
//! and the log they were computed from are both kept, and the run can be repeated).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::message::message_set;
use crate::money::{Amount, Currency};
use crate::rejection::{ensure, Rejection, Rule};
use crate::validate::{self, SHORT_TEXT_MAX};

macro_rules! reconciliation_message {
    ($($item:item)+) => {
        $(
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
            #[serde(deny_unknown_fields)]
            $item
        )+
    };
}

/// The totals of one currency in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciledCurrency {
    pub currency: Currency,
    pub expected_net: Amount,
    pub reported_net: Amount,
    pub variance: Amount,
}

/// What a reconciliation run compared and what came out of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationOutcome {
    /// Which payment provider's report.
    pub provider: String,
    /// SHA-256 of the report file, lower-case hex.
    pub report_sha256: String,
    pub period_from: Option<NaiveDate>,
    pub period_to: Option<NaiveDate>,
    /// Capture and refund lines in the period.
    pub transaction_lines: u64,
    /// Of those, matched without a break.
    pub auto_matched: u64,
    /// Breaks by kind (`missing_in_ledger`, `timing`, ...).
    pub breaks: BTreeMap<String, u64>,
    /// Breaks that are not explained.
    pub unexplained: u64,
    pub currencies: Vec<ReconciledCurrency>,
}

reconciliation_message! {
    /// Record a reconciliation run and its outcome.
    pub struct RecordReconciliation {
        /// The run's id: 1-64 of `A-Z a-z 0-9 . _ -`; the aggregate's id.
        pub run_id: String,
        pub outcome: ReconciliationOutcome,
    }

    /// A reconciliation run, as recorded.
    pub struct ReconciliationRecorded {
        pub outcome: ReconciliationOutcome,
    }
}

message_set! {
    /// Every command of the reconciliation run aggregate.
    pub enum ReconciliationCommand {
        RecordReconciliation = 1,
    }
}

message_set! {
    /// Every event of the reconciliation run aggregate, with its current schema version.
    pub enum ReconciliationEvent {
        ReconciliationRecorded = 1,
    }
}

impl ReconciliationCommand {
    /// The run the command addresses.
    pub fn run_id(&self) -> &str {
        match self {
            ReconciliationCommand::RecordReconciliation(c) => &c.run_id,
        }
    }
}

/// A run's state: recorded or not yet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReconciliationRun {
    pub recorded: Option<ReconciliationRecorded>,
}

/// Whether `id` is a run id: 1-64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_run_id(id: &str) -> bool {
    validate::identifier(id)
}

/// Decides a command against the run's state.
pub fn decide(
    state: &ReconciliationRun,
    command: &ReconciliationCommand,
    context: &Context,
) -> Result<Vec<ReconciliationEvent>, Rejection> {
    let ReconciliationCommand::RecordReconciliation(command) = command;
    crate::account::finance_only(context, "record a reconciliation")?;
    let (run_id, c) = (&command.run_id, &command.outcome);
    ensure(valid_run_id(run_id), Rule::RunIdInvalid, || {
        format!(
            "run id '{}' is not 1-64 of A-Z a-z 0-9 . _ -",
            validate::printable(run_id)
        )
    })?;
    ensure(
        state.recorded.is_none(),
        Rule::ReconciliationAlreadyRecorded,
        || format!("run {run_id} is already recorded"),
    )?;
    validate::required_text("provider", &c.provider, SHORT_TEXT_MAX)?;
    ensure(
        c.report_sha256.len() == 64
            && c.report_sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        Rule::ReconciliationInconsistent,
        || "report_sha256 is not 64 lower-case hex digits".to_owned(),
    )?;
    if let (Some(from), Some(to)) = (c.period_from, c.period_to) {
        ensure(from <= to, Rule::ReconciliationInconsistent, || {
            format!("the period runs from {from} to an earlier {to}")
        })?;
    }
    ensure(
        c.auto_matched <= c.transaction_lines,
        Rule::ReconciliationInconsistent,
        || {
            format!(
                "{} lines matched of {} transaction lines",
                c.auto_matched, c.transaction_lines
            )
        },
    )?;
    let total_breaks = c
        .breaks
        .values()
        .try_fold(0u64, |total, count| total.checked_add(*count));
    ensure(
        total_breaks.is_some_and(|total| c.unexplained <= total),
        Rule::ReconciliationInconsistent,
        || format!("{} unexplained breaks of {:?}", c.unexplained, c.breaks),
    )?;
    for kind in c.breaks.keys() {
        validate::required_text("break kind", kind, SHORT_TEXT_MAX)?;
    }
    for totals in &c.currencies {
        for (field, value) in [
            ("expected_net", totals.expected_net),
            ("reported_net", totals.reported_net),
            ("variance", totals.variance),
        ] {
            // Nets and variances may be negative; their size and precision are checked.
            let size = Amount(value.0.abs());
            validate::amount(field, size, totals.currency, false)?;
        }
        ensure(
            totals.reported_net - totals.expected_net == totals.variance,
            Rule::ReconciliationInconsistent,
            || {
                format!(
                    "{}: reported {} − expected {} is not the variance {}",
                    totals.currency, totals.reported_net, totals.expected_net, totals.variance
                )
            },
        )?;
    }
    Ok(vec![ReconciliationRecorded { outcome: c.clone() }.into()])
}

/// Applies an event to the run's state.
pub fn apply(state: &mut ReconciliationRun, event: &ReconciliationEvent) {
    let ReconciliationEvent::ReconciliationRecorded(recorded) = event;
    state.recorded = Some(recorded.clone());
}

impl crate::Aggregate for ReconciliationRun {
    type Command = ReconciliationCommand;
    type Event = ReconciliationEvent;
    const KIND: crate::AggregateKind = crate::AggregateKind::Reconciliation;

    fn decide(
        &self,
        command: &ReconciliationCommand,
        context: &Context,
    ) -> Result<Vec<ReconciliationEvent>, Rejection> {
        decide(self, command, context)
    }

    fn apply(&mut self, event: &ReconciliationEvent) {
        apply(self, event)
    }

    /// A run holds no derived figures: nothing to break.
    fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }
}
