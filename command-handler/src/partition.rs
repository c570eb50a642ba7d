//! What the handler holds for each partition it is assigned: the aggregates in memory, the
//! state store behind them, and what was committed since the store's last write.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use order_events::envelope::AggregateRef;
use order_events::ids::{OrderId, Sku, StockKey, WarehouseId};
use order_events::ledger::{AggregateState, MemoryLedger};
use order_events::process::{StockView, TimerKind};
use uuid::Uuid;

use crate::result::CommandResult;
use crate::store::{CommandKey, PartitionStore, StoreError, Write};

/// What the handler holds for one assigned partition.
pub(crate) struct PartitionState {
    /// The working set: the aggregates recently used, folded up to the log's end.
    pub(crate) ledger: MemoryLedger,
    /// Everything else, and the decided commands (deduplication), on disk.
    pub(crate) store: PartitionStore,
    /// Use order of the aggregates in `ledger`, least recent first out.
    pub(crate) recent: lru::LruCache<AggregateRef, ()>,
    /// The next command offset not yet committed, once known.
    pub(crate) committed_next: Option<u64>,
    /// Timer commands published and not yet seen decided: not fired again meanwhile.
    pub(crate) fired: HashSet<Uuid>,
    /// Committed since the last write of the store: the aggregates changed (held in memory
    /// until written), the results, the checkpoints reached and the events counted.
    pub(crate) dirty: HashSet<AggregateRef>,
    pub(crate) pending_results: HashMap<CommandKey, (CommandResult, u64)>,
    /// Every warehouse known to hold stock on this partition (the process asks them for a SKU
    /// its stock view does not place yet).
    pub(crate) warehouses: BTreeSet<WarehouseId>,
    pub(crate) pending_events_next: Option<u64>,
    pub(crate) pending_results_next: Option<u64>,
    pub(crate) pending_events: usize,
    /// The latest `recorded_at` of the partition's events: the earliest time the next one may
    /// be stamped with.
    pub(crate) recorded_until: Option<DateTime<Utc>>,
}

/// The stock items of every partition this instance holds: what the order process plans
/// with. With several instances it is partial; the warehouse table (and the stock items'
/// own answers) cover the rest.
pub(crate) struct OwnedStock<'a>(pub(crate) &'a BTreeMap<u32, PartitionState>);

impl StockView for OwnedStock<'_> {
    fn warehouses(&self) -> Vec<WarehouseId> {
        let all: BTreeSet<WarehouseId> = self
            .0
            .values()
            .flat_map(|state| state.warehouses.iter().cloned())
            .collect();
        all.into_iter().collect()
    }

    fn stocked(&self, sku: &Sku) -> Vec<(WarehouseId, u64)> {
        let mut found: BTreeMap<WarehouseId, u64> = BTreeMap::new();
        for state in self.0.values() {
            found.extend(state.ledger.stocked(sku));
            // Items not in memory: their snapshots say what is available.
            let stored = match state.store.stocked(sku) {
                Ok(warehouses) => warehouses,
                Err(error) => {
                    tracing::warn!(%error, %sku, "reading the stock index failed; planning without it");
                    continue;
                }
            };
            for warehouse in stored {
                if found.contains_key(&warehouse) {
                    continue;
                }
                let aggregate = AggregateRef::stock_item(&StockKey {
                    sku: sku.clone(),
                    warehouse: warehouse.clone(),
                });
                if let Ok(Some((AggregateState::StockItem(item), _))) = state.store.peek(&aggregate)
                {
                    found.insert(warehouse, item.available());
                }
            }
        }
        found.into_iter().collect()
    }
}

/// How a command was decided before.
pub(crate) enum Decided {
    /// Committed since the state store's last write: the result is still in memory.
    Pending(CommandResult),
    /// The offset of its result in the results partition.
    At(u64),
}

impl PartitionState {
    /// Whether the command id was decided on this aggregate before, and where its answer is.
    pub(crate) fn decided(&self, command: &CommandKey) -> Result<Option<Decided>, StoreError> {
        if let Some((result, _)) = self.pending_results.get(command) {
            return Ok(Some(Decided::Pending(result.clone())));
        }
        Ok(self.store.result_offset(command)?.map(Decided::At))
    }

    /// Makes sure the aggregate is in the working set (from its snapshot, if it has one) and
    /// marks it most recently used.
    pub(crate) fn load(&mut self, aggregate: &AggregateRef) -> Result<(), StoreError> {
        if !self.ledger.holds(aggregate) {
            if let Some((state, head)) = self.store.load(aggregate)? {
                self.ledger.restore(aggregate, state, head);
            }
        }
        self.recent.put(aggregate.clone(), ());
        Ok(())
    }

    /// Evicts the least recently used aggregates beyond `max`. An aggregate changed since the
    /// last write of the store is written first (with everything else pending), never lost.
    pub(crate) fn trim(&mut self, max: usize) -> Result<(), StoreError> {
        while self.recent.len() > max.max(1) {
            let Some((aggregate, ())) = self.recent.pop_lru() else {
                break;
            };
            if self.dirty.contains(&aggregate) {
                self.flush()?;
            }
            self.ledger.evict(&aggregate);
            self.store.forget(&aggregate);
        }
        Ok(())
    }

    /// Writes what was committed since the last write: snapshots, results, checkpoints.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty()
            && self.pending_results.is_empty()
            && self.pending_events_next.is_none()
            && self.pending_results_next.is_none()
        {
            return Ok(());
        }
        let write = Write {
            aggregates: self.dirty.drain().collect(),
            results: self
                .pending_results
                .iter()
                .map(|(key, (_, offset))| (key.clone(), *offset))
                .collect(),
            events_next: self.pending_events_next.take(),
            results_next: self.pending_results_next.take(),
        };
        self.store.write(&self.ledger, &write)?;
        self.pending_results.clear();
        self.pending_events = 0;
        Ok(())
    }

    /// Every deadline due at `now`: from the store, except for orders changed since its last
    /// write, whose deadlines are taken from memory (the ledger's index by time).
    pub(crate) fn due(&self, now: DateTime<Utc>) -> Result<Vec<(OrderId, TimerKind)>, StoreError> {
        let changed = |order_id: &OrderId| self.dirty.contains(&AggregateRef::order(*order_id));
        let mut due: Vec<(OrderId, TimerKind)> = self
            .store
            .due(now)?
            .into_iter()
            .filter(|(order_id, _)| !changed(order_id))
            .collect();
        due.extend(
            self.ledger
                .due_deadlines(now)
                .filter(|(order_id, _)| changed(order_id)),
        );
        Ok(due)
    }
}
