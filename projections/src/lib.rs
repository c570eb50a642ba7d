//! The read side: projection workers fold the events topic into read models in a local sled
//! store — order status, inventory levels, settlement balances (double-entry, per currency)
//! and reports — exactly once, and answer queries over them.
//!
//! - [`fold`]: what one event does to the read models, over any [`fold::Rows`].
//! - [`store`]: the sled store; one atomic batch per fold step, checkpoints included.
//! - [`query`]: listings, lookups, balances, trial balance, reports, exception queue.
//! - [`warehouse`]: pick waves and sales by day as rows, replenishment's figures;
//!   [`warehouse_queries`]: waves, replenishment and the wave planner as queries.
//! - [`worker`]: the async loop that follows the events topic, with lag and progress.

pub mod backend;
pub mod fold;
pub mod keys;
mod known;
pub mod metrics;
pub mod model;
pub mod postgres;
pub mod query;
pub mod row;
pub mod store;
pub mod tables;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod warehouse;
pub mod warehouse_queries;
pub mod worker;

pub use fold::{CommissionSoFar, MemoryRows, Projector, SettlementRules};
pub use store::{ProjectionStore, StepStats};

/// The read-model store failing. Not a business answer: the worker stops (or retries) on it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("read-model storage: {0}")]
    Storage(String),
    #[error("the read-model store in {0} is in use by another process")]
    InUse(String),
    /// A step's transaction met another's over the same rows (PostgreSQL's serialization
    /// failure or deadlock): nothing of it was written, and it is tried again.
    #[error("read-model step conflicted with another: {0}")]
    Conflict(String),
    #[error("corrupt read-model row {key}: {reason}")]
    Corrupt { key: String, reason: String },
}
