//! The handler's local state store: snapshots of aggregates, the decided commands, the order
//! deadlines and the stock index of each partition it has held, in sled — so memory holds only
//! a bounded working set and a catch-up reads only the log's tail.
//!
//! It is a cache of the log, never the truth: it is written only after a transaction commits,
//! every snapshot carries its aggregate's chain head (so an event already folded is skipped, not
//! folded twice), and the checkpoints say where in the events and results partitions the tail
//! starts. A missing, stale or foreign-format store is rebuilt from the log.
//!
//! One tree per partition, keys by prefix:
//! - `m:events-next`, `m:results-next` — the checkpoints (u64 big-endian); `m:format`.
//! - `a:` + aggregate kind + `:` + id → the snapshot (binary codec: state, chain head,
//!   deadline key).
//! - `t:` + deadline (sortable millis) + order id + kind → `` (the timer index).
//! - `s:` + SKU + `\0` + warehouse → `` (the warehouses holding a SKU).
//! - `r:` + command id + aggregate key (as `a:` has it) → where the command's result is in the
//!   results partition (u64 big-endian offset). A command id is scoped to its aggregate
//!   (`order_events::idempotency`): deduplication asks only "seen on this aggregate?", and
//!   reads the result back from the log for the rare repeat.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, TimeZone, Utc};
use order_events::envelope::AggregateRef;
use order_events::ids::{OrderId, Sku, WarehouseId};
use order_events::ledger::{AggregateState, MemoryLedger};
use order_events::process::TimerKind;
use order_events::{AggregateKind, ChainHead};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use order_events::codec;

/// Bumped when the layout changes; a store in another format is cleared and rebuilt.
const FORMAT: &[u8] = b"10";

#[derive(Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(String);

fn storage(error: impl std::fmt::Display) -> StoreError {
    StoreError(error.to_string())
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    state: AggregateState,
    head: ChainHead,
    /// The timer index key the order had when written, to remove it when it changes.
    timer_key: Option<Vec<u8>>,
}

/// The store of one handler instance.
#[derive(Clone)]
pub struct StateStore {
    db: sled::Db,
}

impl StateStore {
    /// Opens the store in `path`, or a temporary one (deleted on drop) for `None`.
    pub fn open(path: Option<&Path>) -> Result<StateStore, StoreError> {
        let config = match path {
            Some(path) => sled::Config::new().path(path),
            None => sled::Config::new().temporary(true),
        };
        Ok(StateStore {
            db: config.open().map_err(storage)?,
        })
    }

    pub fn partition(&self, partition: u32) -> Result<PartitionStore, StoreError> {
        let tree = self
            .db
            .open_tree(format!("partition-{partition}"))
            .map_err(storage)?;
        if tree.get(b"m:format").map_err(storage)?.as_deref() != Some(FORMAT) {
            tree.clear().map_err(storage)?;
            tree.insert(b"m:format", FORMAT).map_err(storage)?;
        }
        Ok(PartitionStore {
            tree,
            stored: HashMap::new(),
        })
    }
}

/// One partition's part of the store.
#[derive(Clone)]
pub struct PartitionStore {
    tree: sled::Tree,
    /// For the aggregates held in memory that have a snapshot here: the deadline key that
    /// snapshot carries. Saves reading a snapshot back before overwriting it.
    stored: HashMap<AggregateRef, Option<Vec<u8>>>,
}

fn kind_code(kind: AggregateKind) -> &'static str {
    match kind {
        AggregateKind::Order => "o",
        AggregateKind::StockItem => "s",
        AggregateKind::Reconciliation => "r",
        AggregateKind::Account => "f",
        AggregateKind::Wave => "w",
    }
}

fn aggregate_key(aggregate: &AggregateRef) -> Vec<u8> {
    format!("a:{}:{}", kind_code(aggregate.kind), aggregate.id).into_bytes()
}

/// A decided command as deduplication knows it: its id on the aggregate it addressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandKey {
    pub aggregate: AggregateRef,
    pub command_id: Uuid,
}

fn timer_key(at: DateTime<Utc>, order_id: OrderId, kind: TimerKind) -> Vec<u8> {
    // Flipping the sign bit makes signed millis sort as unsigned bytes.
    let millis = (at.timestamp_millis() as u64) ^ (1 << 63);
    let mut key = b"t:".to_vec();
    key.extend_from_slice(&millis.to_be_bytes());
    key.extend_from_slice(order_id.0.as_bytes());
    key.push(match kind {
        TimerKind::Expire => 1,
        TimerKind::AutoConfirm => 2,
        TimerKind::Replan => 3,
    });
    key
}

fn parse_timer_key(key: &[u8]) -> Option<(DateTime<Utc>, OrderId, TimerKind)> {
    let rest = key.strip_prefix(b"t:")?;
    if rest.len() != 8 + 16 + 1 {
        return None;
    }
    let millis = u64::from_be_bytes(rest[..8].try_into().ok()?) ^ (1 << 63);
    let at = Utc.timestamp_millis_opt(millis as i64).single()?;
    let order_id = OrderId(Uuid::from_slice(&rest[8..24]).ok()?);
    let kind = match rest[24] {
        1 => TimerKind::Expire,
        2 => TimerKind::AutoConfirm,
        3 => TimerKind::Replan,
        _ => return None,
    };
    Some((at, order_id, kind))
}

fn stocked_prefix(sku: &Sku) -> Vec<u8> {
    let mut key = b"s:".to_vec();
    key.extend_from_slice(sku.as_str().as_bytes());
    key.push(0);
    key
}

fn result_key(command: &CommandKey) -> Vec<u8> {
    let mut key = b"r:".to_vec();
    key.extend_from_slice(command.command_id.as_bytes());
    key.extend_from_slice(kind_code(command.aggregate.kind).as_bytes());
    key.push(b':');
    key.extend_from_slice(command.aggregate.id.as_bytes());
    key
}

fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, StoreError> {
    codec::decode_cache_value("a state store snapshot", bytes).map_err(storage)
}

fn read_u64(value: Option<sled::IVec>) -> u64 {
    value
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

/// What one write puts in the store: snapshots of the aggregates changed since the last one,
/// new results, and the checkpoints reached.
#[derive(Default)]
pub struct Write {
    pub aggregates: Vec<AggregateRef>,
    /// Decided commands and their results' offsets in the results partition.
    pub results: Vec<(CommandKey, u64)>,
    pub events_next: Option<u64>,
    pub results_next: Option<u64>,
}

impl PartitionStore {
    /// Where the tails start: the next events offset and results offset not yet in the store.
    pub fn checkpoints(&self) -> Result<(u64, u64), StoreError> {
        Ok((
            read_u64(self.tree.get(b"m:events-next").map_err(storage)?),
            read_u64(self.tree.get(b"m:results-next").map_err(storage)?),
        ))
    }

    /// An aggregate's snapshot, to hold in memory: what it was written with is remembered
    /// until [`PartitionStore::forget`].
    pub fn load(
        &mut self,
        aggregate: &AggregateRef,
    ) -> Result<Option<(AggregateState, ChainHead)>, StoreError> {
        let Some(snapshot) = self.read(aggregate)? else {
            return Ok(None);
        };
        self.stored
            .insert(aggregate.clone(), snapshot.timer_key.clone());
        Ok(Some((snapshot.state, snapshot.head)))
    }

    /// An aggregate's snapshot, only to look at.
    pub fn peek(
        &self,
        aggregate: &AggregateRef,
    ) -> Result<Option<(AggregateState, ChainHead)>, StoreError> {
        Ok(self.read(aggregate)?.map(|s| (s.state, s.head)))
    }

    fn read(&self, aggregate: &AggregateRef) -> Result<Option<Snapshot>, StoreError> {
        match self.tree.get(aggregate_key(aggregate)).map_err(storage)? {
            Some(bytes) => Ok(Some(decode_snapshot(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The aggregate left memory.
    pub fn forget(&mut self, aggregate: &AggregateRef) {
        self.stored.remove(aggregate);
    }

    /// Where a decided command's result is in the results partition.
    pub fn result_offset(&self, command: &CommandKey) -> Result<Option<u64>, StoreError> {
        Ok(self
            .tree
            .get(result_key(command))
            .map_err(storage)?
            .map(|value| read_u64(Some(value))))
    }

    /// Every warehouse holding any SKU on this partition (a scan of the stock index).
    pub fn warehouses(&self) -> Result<std::collections::BTreeSet<WarehouseId>, StoreError> {
        let mut all = std::collections::BTreeSet::new();
        for entry in self.tree.scan_prefix(b"s:") {
            let (key, _) = entry.map_err(storage)?;
            if let Some(at) = key.iter().position(|&b| b == 0) {
                let warehouse = String::from_utf8_lossy(&key[at + 1..]).into_owned();
                all.insert(WarehouseId::from(warehouse.as_str()));
            }
        }
        Ok(all)
    }

    /// Warehouses of this partition holding `sku`.
    pub fn stocked(&self, sku: &Sku) -> Result<Vec<WarehouseId>, StoreError> {
        let prefix = stocked_prefix(sku);
        self.tree
            .scan_prefix(&prefix)
            .keys()
            .map(|key| {
                let key = key.map_err(storage)?;
                let warehouse = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
                Ok(WarehouseId(warehouse))
            })
            .collect()
    }

    /// Every deadline of this partition due at `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Result<Vec<(OrderId, TimerKind)>, StoreError> {
        let mut due = Vec::new();
        for key in self.tree.scan_prefix(b"t:").keys() {
            let key = key.map_err(storage)?;
            let (at, order_id, kind) =
                parse_timer_key(&key).ok_or_else(|| StoreError("a malformed timer key".into()))?;
            if at > now {
                break;
            }
            due.push((order_id, kind));
        }
        Ok(due)
    }

    /// Writes snapshots of `write.aggregates` as `ledger` holds them, with their indexes, the
    /// results and the checkpoints, atomically.
    /// Every aggregate written must have been [`PartitionStore::load`]ed first (or be new).
    pub fn write(&mut self, ledger: &MemoryLedger, write: &Write) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let mut written = Vec::with_capacity(write.aggregates.len());
        for aggregate in &write.aggregates {
            let Some((state, head)) = ledger.snapshot(aggregate) else {
                continue;
            };
            let key = aggregate_key(aggregate);
            // `None`: no snapshot yet; `Some(key)`: the deadline key the last one carries.
            let previous: Option<Option<Vec<u8>>> = self.stored.get(aggregate).cloned();
            let mut timer = None;
            match &state {
                AggregateState::Order(_) => {
                    let order_id = aggregate
                        .order_id()
                        .ok_or_else(|| StoreError(format!("order id {}", aggregate.id)))?;
                    timer = ledger
                        .deadline_of(&order_id)
                        .map(|(at, kind)| timer_key(at, order_id, kind));
                }
                AggregateState::StockItem(_) if previous.is_none() => {
                    let key = aggregate
                        .stock_key()
                        .ok_or_else(|| StoreError(format!("stock key {}", aggregate.id)))?;
                    let mut index = stocked_prefix(&key.sku);
                    index.extend_from_slice(key.warehouse.as_str().as_bytes());
                    batch.insert(index, &[][..]);
                }
                AggregateState::StockItem(_)
                | AggregateState::Reconciliation(_)
                | AggregateState::Account(_)
                | AggregateState::Wave(_) => {}
            }
            if let Some(old) = previous.flatten() {
                if Some(&old) != timer.as_ref() {
                    batch.remove(old);
                }
            }
            if let Some(key) = &timer {
                batch.insert(key.clone(), &[][..]);
            }
            written.push((aggregate.clone(), timer.clone()));
            let snapshot = Snapshot {
                state,
                head,
                timer_key: timer,
            };
            batch.insert(key, codec::encode_cache_value(&snapshot));
        }
        for (command, offset) in &write.results {
            batch.insert(result_key(command), &offset.to_be_bytes()[..]);
        }
        if let Some(next) = write.events_next {
            batch.insert(&b"m:events-next"[..], &next.to_be_bytes()[..]);
        }
        if let Some(next) = write.results_next {
            batch.insert(&b"m:results-next"[..], &next.to_be_bytes()[..]);
        }
        self.tree.apply_batch(batch).map_err(storage)?;
        self.stored.extend(written);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_keys_sort_by_time_and_read_back() {
        let order = OrderId(Uuid::from_u128(7));
        let early = Utc.timestamp_millis_opt(-5).single().unwrap();
        let late = Utc
            .timestamp_millis_opt(1_800_000_000_000)
            .single()
            .unwrap();
        let a = timer_key(early, order, TimerKind::Expire);
        let b = timer_key(late, order, TimerKind::AutoConfirm);
        assert!(a < b);
        assert_eq!(parse_timer_key(&a), Some((early, order, TimerKind::Expire)));
        assert_eq!(
            parse_timer_key(&b),
            Some((late, order, TimerKind::AutoConfirm))
        );
        assert_eq!(parse_timer_key(b"t:short"), None);
    }
}
