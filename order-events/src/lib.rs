//! # order-events: the pure domain core of order-ledger
//!
//! Orders, stock, money and the rules between them, as pure functions over events:
//!
//! ```text
//! decide(state, command, context) -> Result<Vec<Event>, Rejection>
//! apply(&mut state, &event)                       // infallible
//! ```
//!
//! Five aggregates: [`order::Order`] (key: order id), [`stock::StockItem`] (key: SKU and
//! warehouse), the warehouse's [`wave::Wave`] (key: wave id), and finance's
//! [`account::Account`] (key: `<kind>:<name>:<currency>`) and
//! [`reconciliation::ReconciliationRun`] (key: run id). [`envelope`] wraps commands and events with ids, actor, time, sequence and the
//! hash chain; [`codec`] is the persistent binary and JSON format; [`schema`] publishes JSON
//! Schemas; [`upcast`] reads older event versions.
//!
//! **Architecture invariant:** nothing here does IO, reads a clock or draws a random number.
//! Time and ids come in through [`Context`] and the command envelope, so the same inputs
//! always give the same events (replay and simulation depend on it).

pub mod account;
pub mod codec;
pub mod context;
pub mod envelope;
pub mod idempotency;
pub mod ids;
pub mod ledger;
pub mod merkle;
mod message;
pub mod minor_units;
pub mod money;
pub mod notification;
pub mod order;
pub mod process;
pub mod reconciliation;
pub mod rejection;
pub mod result;
pub mod schema;
pub mod settlement;
pub mod shipping;
pub mod simulation;
pub mod stock;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod upcast;
mod validate;
pub mod wave;
mod wire;

pub use context::{Actor, ActorKind, CashOnDeliveryOffer, Context, OverweightHandling, Policy};
pub use envelope::{
    AggregateKind, AggregateRef, ChainHead, Command, CommandEnvelope, Event, EventEnvelope,
    EventHash,
};
pub use money::{Amount, Currency};
pub use rejection::{Rejection, Rule};

/// The shape every aggregate has. The free functions `order::decide`/`order::apply` and
/// `stock::decide`/`stock::apply` are the same functions; the trait lets generic code (the
/// command handler, replays, tests) treat aggregates alike.
pub trait Aggregate: Default + Clone + PartialEq + std::fmt::Debug {
    type Command;
    type Event;
    const KIND: AggregateKind;

    /// The events that follow from `command` in this state, or the rule it breaks.
    fn decide(
        &self,
        command: &Self::Command,
        context: &Context,
    ) -> Result<Vec<Self::Event>, Rejection>;

    /// Folds one event in. Never fails: an event that does not fit is a bug and panics.
    fn apply(&mut self, event: &Self::Event);

    /// Every invariant of the state; the first broken one, described.
    fn check_invariants(&self) -> Result<(), String>;

    /// The state after all `events`, from the empty state.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        let mut state = Self::default();
        for event in events {
            state.apply(event);
        }
        state
    }
}

/// The checked fold's test: `Ok` when `holds`, else the broken expectation, described. Each
/// aggregate's `try_apply` is written with it, and its `apply` panics with the same words.
pub(crate) fn fits(holds: bool, broken: impl FnOnce() -> String) -> Result<(), String> {
    if holds {
        Ok(())
    } else {
        Err(broken())
    }
}
