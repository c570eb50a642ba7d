//! Where the read models' rows live: a local sled tree (the default), or a table in
//! PostgreSQL (`postgres.rs`). Both hold the same rows — binary keys in byte order, encoded
//! values — written one atomic step at a time, checkpoints included, so the fold and the
//! queries are one code over either, and the two cannot disagree by construction.

use std::ops::Bound;

use crate::postgres::{PgRows, PgStep};
pub use crate::row::{Entry, Row, Write};
use crate::StoreError;

pub(crate) fn storage(error: sled::Error) -> StoreError {
    StoreError::Storage(error.to_string())
}

/// The rows of one store.
pub enum Backend {
    Sled { db: sled::Db, tree: sled::Tree },
    Postgres(PgRows),
}

impl Backend {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Sled { tree, .. } => Ok(tree.get(key).map_err(storage)?.map(|v| v.to_vec())),
            Backend::Postgres(rows) => rows.get(key),
        }
    }

    /// The values of `keys`, in their order (each `None` when absent): one request on
    /// PostgreSQL, where a listing would otherwise make a round trip per row.
    pub fn get_many(&self, keys: Vec<Vec<u8>>) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        match self {
            Backend::Sled { .. } => keys.iter().map(|key| self.get(key)).collect(),
            Backend::Postgres(rows) => Ok(rows
                .get_many(keys)?
                .into_iter()
                .map(|(_, value)| value)
                .collect()),
        }
    }

    /// The rows of each range `[start, end)`, in key order: one request on PostgreSQL for
    /// all of them. Each range is read whole: for ranges that fit in memory.
    pub fn ranges(&self, ranges: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Vec<Vec<Row>>, StoreError> {
        match self {
            Backend::Sled { tree, .. } => ranges
                .into_iter()
                .map(|(start, end)| {
                    tree.range(start..end)
                        .map(|entry| {
                            entry
                                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                                .map_err(storage)
                        })
                        .collect()
                })
                .collect(),
            Backend::Postgres(rows) => rows.ranges(ranges),
        }
    }

    /// Begins a fold step: what it reads goes through this, and its writes are committed by
    /// [`Step::commit`] as one atomic change. `alone`: no other process's step runs meanwhile
    /// (PostgreSQL; see [`PgRows::begin_step`]).
    pub fn begin_step(&self, alone: bool) -> Result<Step<'_>, StoreError> {
        Ok(match self {
            Backend::Sled { tree, .. } => Step::Sled(tree),
            Backend::Postgres(rows) => Step::Postgres(rows.begin_step(alone)?),
        })
    }

    /// The rows with keys in `(start, end)`, in key order, read lazily.
    pub fn range(
        &self,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
    ) -> Box<dyn Iterator<Item = Entry> + '_> {
        match self {
            Backend::Sled { tree, .. } => Box::new(tree.range((start, end)).map(|entry| {
                entry
                    .map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(storage)
            })),
            Backend::Postgres(rows) => Box::new(rows.range(start, end)),
        }
    }

    /// The rows whose keys start with `prefix`, in key order.
    pub fn scan_prefix(&self, prefix: &[u8]) -> Box<dyn Iterator<Item = Entry> + '_> {
        let end = match crate::keys::successor(prefix) {
            Some(end) => Bound::Excluded(end),
            None => Bound::Unbounded,
        };
        self.range(Bound::Included(prefix.to_vec()), end)
    }

    /// Applies `writes` atomically: all of them or, on an error, none.
    pub fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.begin_step(false)?.commit(writes)
    }

    /// Removes every row.
    pub fn clear(&self) -> Result<(), StoreError> {
        match self {
            Backend::Sled { tree, .. } => tree.clear().map_err(storage),
            Backend::Postgres(rows) => rows.clear(),
        }
    }

    /// Makes every applied step durable (PostgreSQL's commits already are).
    pub fn flush(&self) -> Result<(), StoreError> {
        match self {
            Backend::Sled { db, .. } => db.flush().map(|_| ()).map_err(storage),
            Backend::Postgres(_) => Ok(()),
        }
    }
}

/// One fold step's view of the rows. On sled, steps are one at a time in one process and
/// read the tree itself; on PostgreSQL, a step is a REPEATABLE READ transaction
/// ([`PgRows::begin_step`]), since workers of other processes fold into the same rows.
pub enum Step<'a> {
    Sled(&'a sled::Tree),
    Postgres(PgStep<'a>),
}

impl Step<'_> {
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Step::Sled(tree) => Ok(tree.get(key).map_err(storage)?.map(|v| v.to_vec())),
            Step::Postgres(step) => step.get(key),
        }
    }

    /// The step's transaction, when the store is a round trip away and reads of many keys are
    /// worth making in one request; `None` for sled, whose single reads cost no more.
    pub fn bulk_reader(&self) -> Option<&PgStep<'_>> {
        match self {
            Step::Sled(_) => None,
            Step::Postgres(step) => Some(step),
        }
    }

    /// The rows whose keys start with `prefix`, in key order, all at once (few rows only).
    pub fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<Row>, StoreError> {
        match self {
            Step::Sled(tree) => tree
                .scan_prefix(prefix)
                .map(|entry| {
                    entry
                        .map(|(k, v)| (k.to_vec(), v.to_vec()))
                        .map_err(storage)
                })
                .collect(),
            Step::Postgres(step) => step.scan_prefix(prefix),
        }
    }

    /// Writes `writes` as one atomic change: all of them or, on an error, none.
    pub fn commit(self, writes: Vec<Write>) -> Result<(), StoreError> {
        match self {
            Step::Sled(tree) => {
                let mut batch = sled::Batch::default();
                for (key, value) in writes {
                    match value {
                        Some(value) => batch.insert(key, value),
                        None => batch.remove(key),
                    }
                }
                tree.apply_batch(batch).map_err(storage)
            }
            Step::Postgres(step) => step.commit(writes),
        }
    }
}
