//! The handler's metrics: each family's name, and what it counts (`describe`, which gives the
//! Prometheus text its `# HELP` lines). Counted through the `metrics` facade, a no-op until a
//! process installs a recorder.

use metrics::Unit;

pub const COMMANDS: &str = "ledger_commands_total";
pub const REJECTIONS: &str = "ledger_rejections_total";
pub const DEAD_LETTERS: &str = "ledger_dead_letters_total";
pub const TRANSACTIONS: &str = "ledger_transactions_total";
pub const PROCESS_COMMANDS: &str = "ledger_process_commands_total";
pub const TIMERS_FIRED: &str = "ledger_timers_fired_total";
pub const RECOVERIES: &str = "ledger_recoveries_total";
pub const BATCH_SIZE: &str = "ledger_batch_size";
pub const DECIDE_SECONDS: &str = "ledger_decide_seconds";
pub const CATCH_UP_SECONDS: &str = "ledger_catch_up_seconds";

/// Registers every family's description and unit with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        COMMANDS,
        "Commands decided, by command type and outcome (accepted, rejected, duplicate)"
    );
    describe_counter!(REJECTIONS, "Commands rejected, by the rule's code");
    describe_counter!(DEAD_LETTERS, "Records of the commands topic dead-lettered");
    describe_counter!(TRANSACTIONS, "Handler transactions committed");
    describe_counter!(
        PROCESS_COMMANDS,
        "Commands the order process issued (reactions and fired timers)"
    );
    describe_counter!(TIMERS_FIRED, "Order deadlines that fired a command");
    describe_counter!(
        RECOVERIES,
        "Failed transactions after which partitions were rebuilt from the log"
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "Commands decided per transaction");
    describe_histogram!(
        DECIDE_SECONDS,
        Unit::Seconds,
        "Time to decide a transaction's commands, results included"
    );
    describe_histogram!(
        CATCH_UP_SECONDS,
        Unit::Seconds,
        "Time to catch a newly assigned partition up with the log"
    );
}
