//! The read side's metrics: each family's name, and what it counts (`describe`, which gives
//! the Prometheus text its `# HELP` lines).

use metrics::Unit;

pub const EVENTS_APPLIED: &str = "ledger_projection_events_applied_total";
pub const STEP_SECONDS: &str = "ledger_projection_step_seconds";
pub const GAPS: &str = "ledger_projection_gaps_total";
pub const UNDECODABLE: &str = "ledger_projection_undecodable_total";
pub const LAG: &str = "ledger_projection_lag";
pub const CONFLICTS: &str = "ledger_projection_step_conflicts_total";

/// Registers every family's description and unit with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS_APPLIED, "Events folded into the read models");
    describe_histogram!(
        STEP_SECONDS,
        Unit::Seconds,
        "Time to fold one polled batch of events and write it to the store"
    );
    describe_counter!(
        GAPS,
        "Events that arrived after a gap in their aggregate's sequence (the aggregate's read models freeze)"
    );
    describe_counter!(UNDECODABLE, "Records of the events topic that are no event");
    describe_counter!(
        CONFLICTS,
        "Fold steps folded again after meeting another process's over the same rows (PostgreSQL)"
    );
    describe_gauge!(
        LAG,
        Unit::Count,
        "Events on the events topic not yet folded, by partition"
    );
}
