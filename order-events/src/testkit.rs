//! Test support shared by this crate's tests, benchmarks and the crates above it.
//!
//! The given / when / then helper reads like the rules it tests:
//! ```
//! use order_events::testkit::{given, at};
//! use order_events::order::Order;
//! # use order_events::testkit::samples;
//! given::<Order>([])
//!     .when(samples::place_order())
//!     .then_accepts();
//! ```

pub mod every;
pub mod samples;
pub mod warehouse;

use chrono::{DateTime, TimeZone, Utc};

use crate::context::{Actor, ActorKind, Context};
use crate::rejection::{Rejection, Rule};
use crate::Aggregate;

/// A stock view with fixed counts, `(sku, warehouse, available)`: what the order process's view
/// held when it planned, behind or ahead of the stock items themselves.
pub struct Shelf(pub Vec<(&'static str, &'static str, u64)>);

impl crate::process::StockView for Shelf {
    fn stocked(&self, sku: &crate::ids::Sku) -> Vec<(crate::ids::WarehouseId, u64)> {
        self.0
            .iter()
            .filter(|(s, _, _)| *s == sku.as_str())
            .map(|(_, w, n)| (crate::ids::WarehouseId::from(*w), *n))
            .collect()
    }
}

/// A fixed instant `minutes` after 2026-01-01T00:00:00Z: tests never read the clock.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::minutes(minutes)
}

/// The context tests decide in unless they say otherwise: at minute 0, by a service.
pub fn context() -> Context {
    Context::new(at(0), Actor::new(ActorKind::Service, "test"))
}

/// A scenario: the events so far.
pub struct Given<A: Aggregate> {
    state: A,
    context: Context,
}

/// Starts a scenario from past events.
pub fn given<A: Aggregate>(events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let mut state = A::default();
    for event in events {
        state.apply(&event);
    }
    Given {
        state,
        context: context(),
    }
}

impl<A: Aggregate> Given<A>
where
    A::Event: PartialEq + std::fmt::Debug,
{
    /// Decides at another context (time, actor, policy).
    pub fn in_context(mut self, context: Context) -> Given<A> {
        self.context = context;
        self
    }

    /// Decides under `policy`.
    pub fn with_policy(mut self, policy: crate::Policy) -> Given<A> {
        self.context.policy = policy;
        self
    }

    /// Decides at `minutes` past the test epoch.
    pub fn at_minute(mut self, minutes: i64) -> Given<A> {
        self.context.now = at(minutes);
        self
    }

    pub fn by(mut self, actor: Actor) -> Given<A> {
        self.context.actor = actor;
        self
    }

    pub fn state(&self) -> &A {
        &self.state
    }

    /// Decides a command.
    pub fn when(self, command: impl Into<A::Command>) -> Then<A> {
        let command = command.into();
        let outcome = self.state.decide(&command, &self.context);
        Then {
            state: self.state,
            outcome,
        }
    }
}

/// The outcome of a scenario.
pub struct Then<A: Aggregate> {
    state: A,
    outcome: Result<Vec<A::Event>, Rejection>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq + std::fmt::Debug,
{
    /// What the decision came to, for a test to look into.
    pub fn outcome(&self) -> &Result<Vec<A::Event>, Rejection> {
        &self.outcome
    }

    /// Asserts exactly these events.
    pub fn then_events(self, expected: impl IntoIterator<Item = A::Event>) -> A {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.outcome {
            Ok(events) => {
                assert_eq!(events, expected, "decided events differ");
                apply_checked(self.state, events)
            }
            Err(rejection) => panic!("expected {expected:?}, got rejection {rejection}"),
        }
    }

    /// Asserts the command was accepted; returns the state after its events, invariants checked.
    pub fn then_accepts(self) -> A {
        match self.outcome {
            Ok(events) => apply_checked(self.state, events),
            Err(rejection) => panic!("expected acceptance, got rejection {rejection}"),
        }
    }

    /// Asserts a rejection for `rule`; returns it for further checks on the detail.
    pub fn then_rejects(self, rule: Rule) -> Rejection {
        match self.outcome {
            Ok(events) => panic!("expected rejection {rule}, got events {events:?}"),
            Err(rejection) => {
                assert_eq!(rejection.rule, rule, "wrong rule: {rejection}");
                assert!(
                    !rejection.detail.is_empty(),
                    "rejection {rule} has no detail"
                );
                rejection
            }
        }
    }
}

/// Applies decided events and checks the invariants after them.
fn apply_checked<A: Aggregate>(mut state: A, events: Vec<A::Event>) -> A
where
    A::Event: std::fmt::Debug,
{
    for event in &events {
        state.apply(event);
    }
    if let Err(broken) = state.check_invariants() {
        panic!("invariant broken after {events:?}: {broken}");
    }
    state
}
