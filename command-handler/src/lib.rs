//! # command-handler: decide every command exactly once
//!
//! Consumes `<prefix>.commands` in a consumer group. On assignment of a partition it catches
//! up — folds the partition's events into its aggregates and reads the results of the commands
//! already decided there — before deciding anything. Each chunk of commands is one
//! transaction: the events, one result per command (on `<prefix>.command-results`, keyed by
//! command id, on the command's partition), dead letters for undecodable records, and the input
//! offsets. A command id seen before gets its original result again and appends nothing.

pub mod client;
mod clock;
mod dead_letter;
mod handler;
pub mod inbox;
pub mod metrics;
mod partition;
mod result;
mod shutdown;
mod store;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dead_letter::{dead_letter, HEADER_REASON, HEADER_REASON_CODE, HEADER_SOURCE};
pub use handler::{Handler, HandlerConfig, HandlerError, HandlerStats};
pub use result::{
    CommandResult, EventRef, Outcome, ResultRecord, RESULT_MESSAGE_TYPE, RESULT_SCHEMA_VERSION,
};
