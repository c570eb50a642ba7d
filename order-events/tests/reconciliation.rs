//! The reconciliation run aggregate: a run is recorded once, with figures that agree.

use order_events::envelope::{Command, Event};
use order_events::ledger::MemoryLedger;
use order_events::reconciliation::RecordReconciliation;
use order_events::testkit::{at, samples};
use order_events::{Policy, Rule};

fn submit(
    ledger: &mut MemoryLedger,
    command: RecordReconciliation,
    seed: u128,
) -> Result<Vec<Event>, Rule> {
    ledger
        .submit(&samples::envelope(Command::from(command), seed), at(0))
        .map(|sealed| sealed.into_iter().map(|s| s.envelope.event).collect())
        .map_err(|rejection| rejection.rule)
}

#[test]
fn a_run_is_recorded_once() {
    let mut ledger = MemoryLedger::new(Policy::default());
    let events = submit(&mut ledger, samples::record_reconciliation(), 1).unwrap();
    assert_eq!(
        events,
        vec![Event::Reconciliation(
            samples::reconciliation_recorded().into()
        )]
    );
    assert_eq!(
        submit(&mut ledger, samples::record_reconciliation(), 2),
        Err(Rule::ReconciliationAlreadyRecorded)
    );
    let mut other = samples::record_reconciliation();
    other.run_id = "psp-2026-11".into();
    assert!(submit(&mut ledger, other, 3).is_ok());
}

#[test]
fn figures_that_disagree_are_refused() {
    type Change = fn(&mut RecordReconciliation);
    let cases: [(&str, Change, Rule); 8] = [
        (
            "run id with a slash",
            |c| c.run_id = "a/b".into(),
            Rule::RunIdInvalid,
        ),
        ("empty run id", |c| c.run_id.clear(), Rule::RunIdInvalid),
        (
            "no provider",
            |c| c.outcome.provider.clear(),
            Rule::RequiredFieldMissing,
        ),
        (
            "short digest",
            |c| c.outcome.report_sha256 = "abc".into(),
            Rule::ReconciliationInconsistent,
        ),
        (
            "period ends before it starts",
            |c| std::mem::swap(&mut c.outcome.period_from, &mut c.outcome.period_to),
            Rule::ReconciliationInconsistent,
        ),
        (
            "more matched than lines",
            |c| c.outcome.auto_matched = 121,
            Rule::ReconciliationInconsistent,
        ),
        (
            "more unexplained than breaks",
            |c| c.outcome.unexplained = 3,
            Rule::ReconciliationInconsistent,
        ),
        (
            "variance that is not reported − expected",
            |c| c.outcome.currencies[0].variance = samples::amount("41.99"),
            Rule::ReconciliationInconsistent,
        ),
    ];
    for (what, change, rule) in cases {
        let mut ledger = MemoryLedger::new(Policy::default());
        let mut command = samples::record_reconciliation();
        change(&mut command);
        assert_eq!(submit(&mut ledger, command, 1), Err(rule), "{what}");
    }
    let mut ledger = MemoryLedger::new(Policy::default());
    let mut precise = samples::record_reconciliation();
    precise.outcome.currencies[0].expected_net = samples::amount("4200.001");
    precise.outcome.currencies[0].variance = samples::amount("41.999");
    assert_eq!(
        submit(&mut ledger, precise, 1),
        Err(Rule::AmountPrecisionExceedsCurrency)
    );
}

#[test]
fn a_run_travels_as_json_like_any_command() {
    let envelope = samples::envelope(Command::from(samples::record_reconciliation()), 9);
    let text = order_events::codec::json::encode_command_json(&envelope);
    assert!(text.contains(r#""type":"RecordReconciliation""#), "{text}");
    assert_eq!(
        order_events::codec::json::decode_command_json(text.as_bytes()).unwrap(),
        envelope
    );
    assert_eq!(envelope.command.target().id, samples::RUN_ID);
}
