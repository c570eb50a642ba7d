//! An in-memory ledger: the state and chain head of every aggregate, deciding commands one
//! after another. Pure like the rest of the crate — the caller supplies time and policy.
//!
//! It is what `ledger validate` runs a command file through, what the benchmarks measure, and
//! the reference the command handler's storage-backed version must agree with.

use std::collections::{BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};

use crate::account::{self, Account, AccountEvent};
use crate::codec::{self, EventFormat, SealedEvent};
use crate::context::{Actor, Context, Policy};
use crate::envelope::{AggregateRef, ChainHead, Command, CommandEnvelope, Event, EventEnvelope};
use crate::ids::{OrderId, Sku, StockKey, WarehouseId};
use crate::order::{self, Order};
use crate::process::{self, ProcessRules, StockView, TimerKind};
use crate::reconciliation::{self, ReconciliationEvent, ReconciliationRun};
use crate::rejection::Rejection;
use crate::stock::{self, StockCommand, StockItem};
use crate::wave::{self, Wave, WaveEvent};

/// Why an event cannot be folded onto the history held so far.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("{aggregate}: expected sequence {expected}, found {found}")]
    SequenceGap {
        aggregate: String,
        expected: u64,
        found: u64,
    },
    #[error("{aggregate} sequence {sequence}: prev_hash {found} does not match the previous event's hash {expected}")]
    HashLink {
        aggregate: String,
        sequence: u64,
        expected: String,
        found: String,
    },
    #[error("{aggregate} sequence {sequence}: a {kind} event on an aggregate id that is not one")]
    WrongAggregate {
        aggregate: String,
        sequence: u64,
        kind: &'static str,
    },
}

/// One aggregate's state, as kept in a snapshot.
// Built once per load or write of a snapshot and moved straight on; boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AggregateState {
    Order(Order),
    StockItem(StockItem),
    Reconciliation(ReconciliationRun),
    Account(Account),
    Wave(Wave),
}

/// What one command did, when the process runs: the command and its events or rejection.
pub type Step = (CommandEnvelope, Result<Vec<SealedEvent>, Rejection>);

#[derive(Debug, Default, Clone)]
pub struct MemoryLedger {
    orders: HashMap<OrderId, Order>,
    stock: HashMap<StockKey, StockItem>,
    reconciliations: HashMap<String, ReconciliationRun>,
    accounts: HashMap<String, Account>,
    waves: HashMap<String, Wave>,
    heads: HashMap<AggregateRef, ChainHead>,
    policy: Policy,
    rules: ProcessRules,
    /// Warehouses holding each SKU, for the process's stock view.
    stocked: HashMap<Sku, BTreeSet<WarehouseId>>,
    /// Every order's pending deadline, by time.
    timers: BTreeSet<(DateTime<Utc>, OrderId, TimerKind)>,
    timer_of: HashMap<OrderId, (DateTime<Utc>, TimerKind)>,
    /// The format new event records are written in.
    event_format: EventFormat,
}

/// `decide` on the state of `key` in `states`, or on a new aggregate's if there is none; the
/// events as ledger events (`wrap`).
fn decide_on<K, Q, S, E>(
    states: &HashMap<K, S>,
    key: &Q,
    wrap: fn(E) -> Event,
    decide: impl FnOnce(&S) -> Result<Vec<E>, Rejection>,
) -> Result<Vec<Event>, Rejection>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
    S: Default,
{
    let events = match states.get(key) {
        Some(state) => decide(state)?,
        None => decide(&S::default())?,
    };
    Ok(events.into_iter().map(wrap).collect())
}

impl MemoryLedger {
    pub fn new(policy: Policy) -> MemoryLedger {
        MemoryLedger::with_rules(policy, ProcessRules::default())
    }

    /// A ledger deciding with `policy` and running the process with `rules`, whose catalog and
    /// carrier table the decisions see as the policy's `shipping`.
    pub fn with_rules(mut policy: Policy, rules: ProcessRules) -> MemoryLedger {
        policy.shipping = std::sync::Arc::new(crate::shipping::Shipping {
            catalog: rules.catalog.clone(),
            carriers: rules.carriers.clone(),
        });
        MemoryLedger {
            policy,
            rules,
            ..MemoryLedger::default()
        }
    }

    /// This ledger, writing its event records in `format`.
    pub fn writing(mut self, format: EventFormat) -> MemoryLedger {
        self.event_format = format;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Aggregates held (orders and stock items).
    pub fn loaded(&self) -> usize {
        self.orders.len() + self.stock.len()
    }

    /// Whether the aggregate's state is held here (one never seen is not).
    pub fn holds(&self, aggregate: &AggregateRef) -> bool {
        self.heads.contains_key(aggregate)
    }

    /// The aggregate's state and chain head, for a snapshot; `None` when not held.
    pub fn snapshot(&self, aggregate: &AggregateRef) -> Option<(AggregateState, ChainHead)> {
        let head = *self.heads.get(aggregate)?;
        let state = match aggregate.kind {
            crate::AggregateKind::Order => {
                AggregateState::Order(self.orders.get(&aggregate.order_id()?)?.clone())
            }
            crate::AggregateKind::StockItem => {
                AggregateState::StockItem(self.stock.get(&aggregate.stock_key()?)?.clone())
            }
            crate::AggregateKind::Reconciliation => {
                AggregateState::Reconciliation(self.reconciliations.get(&aggregate.id)?.clone())
            }
            crate::AggregateKind::Account => {
                AggregateState::Account(self.accounts.get(&aggregate.id)?.clone())
            }
            crate::AggregateKind::Wave => {
                AggregateState::Wave(self.waves.get(&aggregate.id)?.clone())
            }
        };
        Some((state, head))
    }

    /// Puts a snapshot back (the aggregate must not be held), with its indexes.
    pub fn restore(&mut self, aggregate: &AggregateRef, state: AggregateState, head: ChainHead) {
        assert!(
            !self.holds(aggregate),
            "{} restored while held",
            aggregate.id
        );
        match state {
            AggregateState::Order(order) => {
                let id = aggregate
                    .order_id()
                    .expect("an order snapshot under an order id");
                self.orders.insert(id, order);
                self.reindex_order(id);
            }
            AggregateState::StockItem(item) => {
                let key = aggregate
                    .stock_key()
                    .expect("a stock snapshot under a stock key");
                self.index_stock(&key);
                self.stock.insert(key, item);
            }
            AggregateState::Reconciliation(run) => {
                self.reconciliations.insert(aggregate.id.clone(), run);
            }
            AggregateState::Account(account) => {
                self.accounts.insert(aggregate.id.clone(), account);
            }
            AggregateState::Wave(state) => {
                self.waves.insert(aggregate.id.clone(), state);
            }
        }
        self.heads.insert(aggregate.clone(), head);
    }

    /// Forgets an aggregate (its snapshot lives elsewhere), with its indexes.
    pub fn evict(&mut self, aggregate: &AggregateRef) {
        self.heads.remove(aggregate);
        match aggregate.kind {
            crate::AggregateKind::Order => {
                if let Some(id) = aggregate.order_id() {
                    self.orders.remove(&id);
                    if let Some((at, kind)) = self.timer_of.remove(&id) {
                        self.timers.remove(&(at, id, kind));
                    }
                }
            }
            crate::AggregateKind::StockItem => {
                if let Some(key) = aggregate.stock_key() {
                    self.stock.remove(&key);
                    if let Some(warehouses) = self.stocked.get_mut(&key.sku) {
                        warehouses.remove(&key.warehouse);
                        if warehouses.is_empty() {
                            self.stocked.remove(&key.sku);
                        }
                    }
                }
            }
            crate::AggregateKind::Reconciliation => {
                self.reconciliations.remove(&aggregate.id);
            }
            crate::AggregateKind::Account => {
                self.accounts.remove(&aggregate.id);
            }
            crate::AggregateKind::Wave => {
                self.waves.remove(&aggregate.id);
            }
        }
    }

    /// The deadline a held order waits for.
    pub fn deadline_of(&self, order_id: &OrderId) -> Option<(DateTime<Utc>, TimerKind)> {
        self.timer_of.get(order_id).copied()
    }

    pub fn order(&self, order_id: &OrderId) -> Option<&Order> {
        self.orders.get(order_id)
    }

    /// A finance account, by id (`merchant:m-1:EUR`).
    pub fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }

    pub fn stock_item(&self, key: &StockKey) -> Option<&StockItem> {
        self.stock.get(key)
    }

    pub fn head(&self, aggregate: &AggregateRef) -> ChainHead {
        self.heads
            .get(aggregate)
            .copied()
            .unwrap_or(ChainHead::GENESIS)
    }

    /// Decides a command at `now` (the actor comes from the envelope) and, when accepted,
    /// folds its events in and returns them sealed onto the aggregate's chain.
    pub fn submit(
        &mut self,
        command: &CommandEnvelope,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<SealedEvent>, Rejection> {
        let context = Context {
            now,
            actor: command.actor.clone(),
            policy: self.policy.clone(),
        };
        // Decided against the state in place: an aggregate's state can be large (a merchant's
        // account holds every order whose return window is open), so it is never copied.
        let events: Vec<Event> = match &command.command {
            Command::Order(c) => decide_on(&self.orders, &c.order_id(), Event::Order, |state| {
                order::decide(state, c, &context)
            })?,
            Command::Stock(c) => decide_on(&self.stock, c.item(), Event::Stock, |state| {
                stock::decide(state, c, &context)
            })?,
            Command::Reconciliation(c) => decide_on(
                &self.reconciliations,
                c.run_id(),
                Event::Reconciliation,
                |state| reconciliation::decide(state, c, &context),
            )?,
            Command::Account(c) => {
                decide_on(&self.accounts, &c.account_id(), Event::Account, |state| {
                    account::decide(state, c, &context)
                })?
            }
            Command::Wave(c) => {
                decide_on(&self.waves, c.wave_id().as_str(), Event::Wave, |state| {
                    wave::decide(state, c, &context)
                })?
            }
        };
        let order_currency = match &command.command {
            Command::Order(c) => self
                .orders
                .get(&c.order_id())
                .and_then(|order| order.header.as_ref())
                .map(|header| header.currency),
            _ => None,
        };
        let events = events
            .into_iter()
            .map(|event| crate::minor_units::in_minor_units(event, order_currency))
            .collect();
        let target = command.command.target();
        let sealed = codec::seal_as(self.event_format, command, self.head(&target), events, now);
        for event in &sealed {
            self.fold(&command.command, &event.envelope);
        }
        Ok(sealed)
    }

    fn fold(&mut self, command: &Command, envelope: &EventEnvelope) {
        match (command, &envelope.event) {
            (Command::Order(c), Event::Order(e)) => self.fold_order(c.order_id(), e),
            (Command::Stock(c), Event::Stock(e)) => self.fold_stock(c.item().clone(), e),
            (Command::Reconciliation(c), Event::Reconciliation(e)) => {
                self.fold_reconciliation(c.run_id(), e)
            }
            (Command::Account(c), Event::Account(e)) => self.fold_account(&c.account_id(), e),
            (Command::Wave(c), Event::Wave(e)) => self.fold_wave(c.wave_id().as_str(), e),
            _ => unreachable!("seal asserts events belong to the command's aggregate"),
        }
        let target = command.target();
        self.heads.insert(target, envelope.head());
    }

    fn fold_account(&mut self, account_id: &str, event: &AccountEvent) {
        let state = self.accounts.entry(account_id.to_owned()).or_default();
        account::apply(state, event);
    }

    fn fold_wave(&mut self, wave_id: &str, event: &WaveEvent) {
        let state = self.waves.entry(wave_id.to_owned()).or_default();
        wave::apply(state, event);
    }

    fn fold_reconciliation(&mut self, run_id: &str, event: &ReconciliationEvent) {
        let state = self.reconciliations.entry(run_id.to_owned()).or_default();
        reconciliation::apply(state, event);
    }

    fn fold_order(&mut self, order_id: OrderId, event: &order::OrderEvent) {
        let state = self.orders.entry(order_id).or_default();
        order::apply(state, event);
        self.reindex_order(order_id);
    }

    fn reindex_order(&mut self, order_id: OrderId) {
        let Some(state) = self.orders.get(&order_id) else {
            return;
        };
        let timer = process::timer(state, &self.policy);
        if self.timer_of.get(&order_id) != timer.as_ref() {
            if let Some((at, kind)) = self.timer_of.remove(&order_id) {
                self.timers.remove(&(at, order_id, kind));
            }
            if let Some((at, kind)) = timer {
                self.timers.insert((at, order_id, kind));
                self.timer_of.insert(order_id, (at, kind));
            }
        }
    }

    fn fold_stock(&mut self, key: StockKey, event: &stock::StockEvent) {
        self.index_stock(&key);
        stock::apply(self.stock.entry(key).or_default(), event);
    }

    fn index_stock(&mut self, key: &StockKey) {
        if !self
            .stocked
            .get(&key.sku)
            .is_some_and(|w| w.contains(&key.warehouse))
        {
            self.stocked
                .entry(key.sku.clone())
                .or_default()
                .insert(key.warehouse.clone());
        }
    }

    /// The commands the order process issues after `command` was decided with `outcome`
    /// (this ledger already holds the state after it). Issued at `now`, by the system, with
    /// the trigger's correlation id. Plans with this ledger's stock as the view.
    pub fn reactions(
        &self,
        command: &CommandEnvelope,
        outcome: Result<&[SealedEvent], &Rejection>,
        now: DateTime<Utc>,
    ) -> Vec<CommandEnvelope> {
        self.reactions_with_view(command, outcome, now, self)
    }

    /// The units a granted reservation holds: its event's, or for a repeat (no events) what
    /// the stock item already holds for the order.
    fn held_by(&self, reserve: &stock::ReserveStock, events: &[SealedEvent]) -> u32 {
        let granted = events.iter().find_map(|event| match &event.envelope.event {
            Event::Stock(stock::StockEvent::StockReserved(reserved)) => Some(reserved.quantity),
            _ => None,
        });
        granted
            .or_else(|| {
                let item = self.stock.get(&reserve.item)?;
                Some(item.reservations.get(&reserve.order_id)?.quantity)
            })
            .expect("a granted reservation is held by its stock item")
    }

    /// [`MemoryLedger::reactions`], planning with another view of the stock (a handler that
    /// holds several partitions sees the stock items of all of them).
    pub fn reactions_with_view(
        &self,
        command: &CommandEnvelope,
        outcome: Result<&[SealedEvent], &Rejection>,
        now: DateTime<Utc>,
        view: &dyn StockView,
    ) -> Vec<CommandEnvelope> {
        let mut reactions = Vec::new();
        match (&command.command, outcome) {
            (Command::Stock(StockCommand::ReserveStock(reserve)), outcome)
                if command.actor.kind == crate::ActorKind::System
                    && command.causation_id.is_some() =>
            {
                let held = outcome.ok().map(|events| self.held_by(reserve, events));
                reactions.push(process::react_to_reservation(
                    command.command_id,
                    reserve,
                    held,
                ));
            }
            (Command::Order(c), Ok(events)) => {
                let order_id = c.order_id();
                let Some(order) = self.orders.get(&order_id) else {
                    return Vec::new();
                };
                for event in events {
                    if let Event::Order(e) = &event.envelope.event {
                        reactions.extend(process::react_to_order_event(
                            order_id,
                            order,
                            event.envelope.event_id,
                            e,
                            &self.rules,
                            view,
                        ));
                    }
                }
            }
            (Command::Wave(c), Ok(events)) => {
                let Some(wave) = self.waves.get(c.wave_id().as_str()) else {
                    return Vec::new();
                };
                for event in events {
                    if let Event::Wave(e) = &event.envelope.event {
                        reactions.extend(process::react_to_wave_event(
                            c.wave_id(),
                            wave,
                            event.envelope.event_id,
                            e,
                        ));
                    }
                }
            }
            _ => {}
        }
        reactions
            .into_iter()
            .map(|reaction| CommandEnvelope {
                command_id: reaction.command_id,
                correlation_id: command.correlation_id,
                causation_id: Some(reaction.causation_id),
                actor: Actor::system(),
                issued_at: now,
                command: reaction.command,
            })
            .collect()
    }

    /// The commands of every deadline due at `now`: expiries and automatic confirmations.
    pub fn due_timers(&self, now: DateTime<Utc>) -> Vec<CommandEnvelope> {
        self.due_deadlines(now)
            .filter_map(|(order_id, kind)| {
                let order = self.orders.get(&order_id)?;
                let (command_id, command) =
                    process::timer_command(order_id, order, kind, &self.rules, self);
                Some(CommandEnvelope {
                    command_id,
                    correlation_id: command_id,
                    causation_id: None,
                    actor: Actor::system(),
                    issued_at: now,
                    command,
                })
            })
            .collect()
    }

    /// The rule tables the process plans with.
    pub fn rules(&self) -> &ProcessRules {
        &self.rules
    }

    /// The deadlines of held orders due at `now`, earliest first.
    pub fn due_deadlines(
        &self,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = (OrderId, TimerKind)> + '_ {
        self.timers
            .iter()
            .take_while(move |(at, _, _)| *at <= now)
            .map(|&(_, order_id, kind)| (order_id, kind))
    }

    /// The earliest pending deadline.
    pub fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Decides `command` and then every reaction of the order process, in the order they
    /// arise, until there are none: what the deployed handler does, in memory.
    pub fn submit_with_process(
        &mut self,
        command: &CommandEnvelope,
        now: DateTime<Utc>,
    ) -> Vec<Step> {
        let mut queue = VecDeque::from([command.clone()]);
        let mut steps = Vec::new();
        while let Some(next) = queue.pop_front() {
            let outcome = self.submit(&next, now);
            let reactions = match &outcome {
                Ok(events) => self.reactions(&next, Ok(events), now),
                Err(rejection) => self.reactions(&next, Err(rejection), now),
            };
            queue.extend(reactions);
            steps.push((next, outcome));
        }
        steps
    }

    /// Fires every timer due at `now` through [`MemoryLedger::submit_with_process`].
    pub fn fire_timers(&mut self, now: DateTime<Utc>) -> Vec<Step> {
        let due = self.due_timers(now);
        due.iter()
            .flat_map(|command| self.submit_with_process(command, now))
            .collect()
    }

    /// Folds an event from a stored history, checking that it continues its aggregate's chain.
    pub fn replay(&mut self, envelope: &EventEnvelope) -> Result<(), ChainError> {
        let aggregate = AggregateRef {
            kind: envelope.aggregate_kind,
            id: envelope.aggregate_id.clone(),
        };
        let head = self.head(&aggregate);
        if envelope.sequence != head.sequence + 1 {
            return Err(ChainError::SequenceGap {
                aggregate: aggregate.id,
                expected: head.sequence + 1,
                found: envelope.sequence,
            });
        }
        if envelope.prev_hash != head.hash {
            return Err(ChainError::HashLink {
                aggregate: aggregate.id,
                sequence: envelope.sequence,
                expected: head.hash.to_hex(),
                found: envelope.prev_hash.to_hex(),
            });
        }
        let wrong = |kind| ChainError::WrongAggregate {
            aggregate: envelope.aggregate_id.clone(),
            sequence: envelope.sequence,
            kind,
        };
        match &envelope.event {
            Event::Order(e) => {
                let id = aggregate.order_id().ok_or_else(|| wrong("order"))?;
                self.fold_order(id, e);
            }
            Event::Stock(e) => {
                let key = aggregate.stock_key().ok_or_else(|| wrong("stock item"))?;
                self.fold_stock(key, e);
            }
            Event::Reconciliation(e) => {
                if aggregate.kind != crate::AggregateKind::Reconciliation {
                    return Err(wrong("reconciliation run"));
                }
                self.fold_reconciliation(&aggregate.id, e);
            }
            Event::Account(e) => {
                if aggregate.kind != crate::AggregateKind::Account {
                    return Err(wrong("account"));
                }
                self.fold_account(&aggregate.id, e);
            }
            Event::Wave(e) => {
                if aggregate.kind != crate::AggregateKind::Wave {
                    return Err(wrong("wave"));
                }
                self.fold_wave(&aggregate.id, e);
            }
        }
        self.heads.insert(aggregate, envelope.head());
        Ok(())
    }
}

impl StockView for MemoryLedger {
    fn stocked(&self, sku: &Sku) -> Vec<(WarehouseId, u64)> {
        let Some(warehouses) = self.stocked.get(sku) else {
            return Vec::new();
        };
        warehouses
            .iter()
            .map(|warehouse| {
                let key = StockKey {
                    sku: sku.clone(),
                    warehouse: warehouse.clone(),
                };
                let available = self.stock.get(&key).map_or(0, StockItem::available);
                (warehouse.clone(), available)
            })
            .collect()
    }

    fn warehouses(&self) -> Vec<WarehouseId> {
        let mut all: Vec<WarehouseId> = self.stocked.values().flatten().cloned().collect();
        all.sort();
        all.dedup();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::OrderCommand;
    use crate::testkit::{at, samples};

    #[test]
    fn a_replayed_history_reaches_the_same_state_and_breaks_are_named() {
        let mut live = MemoryLedger::default();
        let place = samples::envelope(OrderCommand::from(samples::place_order()), 1);
        let mut history = live.submit(&place, at(0)).unwrap();
        let discount = samples::envelope(
            OrderCommand::from(crate::order::ApplyDiscount {
                order_id: samples::order_id(),
                discount: crate::order::Discount {
                    code: "WELCOME5".to_owned(),
                    amount: samples::amount("5.00"),
                },
            }),
            2,
        );
        history.extend(live.submit(&discount, at(1)).unwrap());

        let mut replayed = MemoryLedger::default();
        for event in &history {
            replayed.replay(&event.envelope).unwrap();
        }
        let id = samples::order_id();
        assert_eq!(replayed.order(&id), live.order(&id));

        let mut gap = MemoryLedger::default();
        let error = gap.replay(&history[1].envelope).unwrap_err();
        assert!(
            matches!(
                error,
                ChainError::SequenceGap {
                    expected: 1,
                    found: 2,
                    ..
                }
            ),
            "{error}"
        );

        let mut relinked = history[1].envelope.clone();
        relinked.prev_hash = crate::EventHash([9; 32]);
        let mut broken = MemoryLedger::default();
        broken.replay(&history[0].envelope).unwrap();
        assert!(matches!(
            broken.replay(&relinked),
            Err(ChainError::HashLink { sequence: 2, .. })
        ));
    }
}
