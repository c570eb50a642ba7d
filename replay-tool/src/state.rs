//! An aggregate's state as the auditor's tool folds it, whatever its kind, and the checked
//! fold of one event into it: what `verify` follows, `follow` keeps and `history` shows.

use order_events::account::{self, Account};
use order_events::envelope::{AggregateKind, Event};
use order_events::order::{self, Order};
use order_events::reconciliation::{self, ReconciliationRun};
use order_events::stock::{self, StockItem};
use order_events::wave::{self, Wave};
use serde::Serialize;

/// An aggregate's state as `verify` folds it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) enum State {
    Order(Box<Order>),
    Stock(StockItem),
    Reconciliation(ReconciliationRun),
    Account(Account),
    Wave(Wave),
}

impl State {
    /// The state of an aggregate of `kind` before its first event.
    pub(crate) fn initial(kind: AggregateKind) -> State {
        match kind {
            AggregateKind::Order => State::Order(Box::default()),
            AggregateKind::StockItem => State::Stock(StockItem::default()),
            AggregateKind::Reconciliation => State::Reconciliation(ReconciliationRun::default()),
            AggregateKind::Account => State::Account(Account::default()),
            AggregateKind::Wave => State::Wave(Wave::default()),
        }
    }
}

/// Why an event did not fold into the state before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Misfit {
    /// It is no legal transition from that state.
    Illegal(String),
    /// It folded, and broke one of the domain's invariants.
    Invariant(String),
}

/// `kind:id`, the name an aggregate is followed and digested under. (Built without the
/// formatting machinery: it runs once per event.)
pub(crate) fn aggregate_name(kind: AggregateKind, id: &str) -> String {
    let code = kind.code();
    let mut name = String::with_capacity(code.len() + 1 + id.len());
    name.push_str(code);
    name.push(':');
    name.push_str(id);
    name
}

/// Folds `event` into `state` through the domain's checked fold: an event that does not fit is
/// a finding, reported, not the end of the run.
pub(crate) fn fold(state: &State, event: &Event) -> Result<State, Misfit> {
    let mut next = state.clone();
    fold_in_place(&mut next, event)?;
    Ok(next)
}

/// [`fold`] without the copy: on an error the state is left half-changed, which is fine for a
/// caller that then forgets it (`verify` does: after a break the state is unknowable).
pub(crate) fn fold_in_place(next: &mut State, event: &Event) -> Result<(), Misfit> {
    let folded = match (&mut *next, event) {
        (State::Order(order), Event::Order(e)) => order::try_apply(order, e),
        (State::Stock(item), Event::Stock(e)) => stock::try_apply(item, e),
        (State::Reconciliation(run), Event::Reconciliation(e)) => {
            reconciliation::apply(run, e);
            Ok(())
        }
        (State::Account(account), Event::Account(e)) => account::try_apply(account, e),
        (State::Wave(state), Event::Wave(e)) => wave::try_apply(state, e),
        _ => Err("an event of another aggregate kind".to_owned()),
    };
    folded.map_err(Misfit::Illegal)?;
    let invariants = match &*next {
        State::Order(order) => order.check_invariants(),
        State::Stock(item) => item.check_invariants(),
        State::Reconciliation(_) => Ok(()),
        State::Account(account) => order_events::Aggregate::check_invariants(account),
        State::Wave(state) => order_events::Aggregate::check_invariants(state),
    };
    invariants.map_err(Misfit::Invariant)
}
