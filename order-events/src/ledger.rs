//! An in-memory ledger: the state and chain head of every aggregate, deciding commands one
//! after another. Pure like the rest of the crate — the caller supplies time and policy.
//!
//! It is what `ledger validate` runs a command file through, what the benchmarks measure, and
//! the reference the command handler's storage-backed version must agree with.

use std::collections::HashMap;

use crate::codec::{self, SealedEvent};
use crate::context::{Context, Policy};
use crate::envelope::{AggregateRef, ChainHead, Command, CommandEnvelope, Event, EventEnvelope};
use crate::ids::{OrderId, StockKey};
use crate::order::{self, Order};
use crate::rejection::Rejection;
use crate::stock::{self, StockItem};

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

#[derive(Debug, Default, Clone)]
pub struct MemoryLedger {
    orders: HashMap<OrderId, Order>,
    stock: HashMap<StockKey, StockItem>,
    heads: HashMap<AggregateRef, ChainHead>,
    policy: Policy,
}

impl MemoryLedger {
    pub fn new(policy: Policy) -> MemoryLedger {
        MemoryLedger {
            policy,
            ..MemoryLedger::default()
        }
    }

    pub fn order(&self, order_id: &OrderId) -> Option<&Order> {
        self.orders.get(order_id)
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
        let events: Vec<Event> = match &command.command {
            Command::Order(c) => {
                let state = self.orders.get(&c.order_id()).cloned().unwrap_or_default();
                order::decide(&state, c, &context)?
                    .into_iter()
                    .map(Event::Order)
                    .collect()
            }
            Command::Stock(c) => {
                let state = self.stock.get(c.item()).cloned().unwrap_or_default();
                stock::decide(&state, c, &context)?
                    .into_iter()
                    .map(Event::Stock)
                    .collect()
            }
        };
        let target = command.command.target();
        let sealed = codec::seal(command, self.head(&target), events, now);
        for event in &sealed {
            self.fold(&command.command, &event.envelope);
        }
        Ok(sealed)
    }

    fn fold(&mut self, command: &Command, envelope: &EventEnvelope) {
        match (command, &envelope.event) {
            (Command::Order(c), Event::Order(e)) => {
                order::apply(self.orders.entry(c.order_id()).or_default(), e)
            }
            (Command::Stock(c), Event::Stock(e)) => {
                stock::apply(self.stock.entry(c.item().clone()).or_default(), e)
            }
            _ => unreachable!("seal asserts events belong to the command's aggregate"),
        }
        let target = command.target();
        self.heads.insert(target, envelope.head());
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
                let id = envelope.aggregate_id.parse().map_err(|_| wrong("order"))?;
                order::apply(self.orders.entry(OrderId(id)).or_default(), e);
            }
            Event::Stock(e) => {
                let (sku, warehouse) = envelope
                    .aggregate_id
                    .split_once('@')
                    .ok_or_else(|| wrong("stock item"))?;
                let key = StockKey::new(sku, warehouse);
                stock::apply(self.stock.entry(key).or_default(), e);
            }
        }
        self.heads.insert(aggregate, envelope.head());
        Ok(())
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
