//! What a store of rows hands back and takes, whichever it is (`backend.rs`), and how a fold
//! step reads and writes rows ([`Rows`], and the typed `get`/`put`/`take`/`keep` over it).

use std::collections::BTreeMap;

use order_events::codec::{decode_cache_value, encode_cache_value};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::StoreError;

/// A row read back: its key and value, or why it could not be read.
pub type Entry = Result<(Vec<u8>, Vec<u8>), StoreError>;

/// One row's change in an atomic step: `None` removes it. Also a row as looked up: `None`
/// when absent.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// A row as read: its key and value.
pub type Row = (Vec<u8>, Vec<u8>);

/// Read and write access to the store's rows during a fold step.
pub trait Rows {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// [`put`](Self::put) of a key the caller knows the rows did not hold when the step
    /// began, unless the step removed it since: an index entry or a moved row. A store may
    /// then drop the key's write altogether when the same step removes it again, as an order
    /// that passes through several statuses in one step does with its status entries.
    fn put_new(&mut self, key: Vec<u8>, value: Vec<u8>);
    fn remove(&mut self, key: Vec<u8>);
    /// The decoded row [`keep_decoded`](Self::keep_decoded) left at `key` in this step, taken
    /// out to change; `None` when there is none (then the caller decodes what `get` reads).
    fn take_decoded(&mut self, key: &[u8]) -> Option<Decoded>;
    /// Writes `row` kept decoded, so the next event of the step that changes it does not decode
    /// it again; a store may encode it only when the step ends.
    fn keep_decoded(&mut self, key: Vec<u8>, row: Decoded);
}

/// A row kept decoded through a fold step, with how to encode it.
pub struct Decoded {
    pub row: Box<dyn std::any::Any + Send>,
    pub encode: fn(&dyn std::any::Any) -> Vec<u8>,
}

impl Decoded {
    fn new<T: Serialize + Send + 'static>(row: T) -> Decoded {
        fn encode<T: Serialize + 'static>(row: &dyn std::any::Any) -> Vec<u8> {
            let row = row
                .downcast_ref::<T>()
                .expect("a kept row encodes as its own type");
            encode_cache_value(row)
        }
        Decoded {
            row: Box::new(row),
            encode: encode::<T>,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        (self.encode)(self.row.as_ref())
    }
}

/// Rows in memory: the reference the sled store is tested against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryRows(pub BTreeMap<Vec<u8>, Vec<u8>>);

impl Rows for MemoryRows {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.get(key).cloned())
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.0.insert(key, value);
    }

    /// Checks the caller's promise: the reference holds no such key (it has no steps, so the
    /// promise is about its rows now).
    fn put_new(&mut self, key: Vec<u8>, value: Vec<u8>) {
        let before = self.0.insert(key, value);
        assert!(before.is_none(), "put_new of a key the rows hold already");
    }

    fn remove(&mut self, key: Vec<u8>) {
        self.0.remove(&key);
    }

    fn take_decoded(&mut self, _key: &[u8]) -> Option<Decoded> {
        None
    }

    fn keep_decoded(&mut self, key: Vec<u8>, row: Decoded) {
        self.0.insert(key, row.encode());
    }
}

/// A row to change and write back with [`keep`]: decoded from the rows unless the step kept
/// it decoded.
pub(crate) fn take<T: DeserializeOwned + 'static>(
    rows: &mut dyn Rows,
    key: &[u8],
    what: &str,
) -> Result<Option<T>, StoreError> {
    match rows.take_decoded(key) {
        Some(decoded) => match decoded.row.downcast::<T>() {
            Ok(row) => Ok(Some(*row)),
            Err(_) => Err(StoreError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                reason: format!("read as {what}, kept as another kind of row"),
            }),
        },
        None => get(rows, key, what),
    }
}

pub(crate) fn keep<T: Serialize + Send + 'static>(rows: &mut dyn Rows, key: Vec<u8>, row: T) {
    rows.keep_decoded(key, Decoded::new(row));
}

pub(crate) fn get<T: DeserializeOwned>(
    rows: &dyn Rows,
    key: &[u8],
    what: &str,
) -> Result<Option<T>, StoreError> {
    match rows.get(key)? {
        None => Ok(None),
        Some(bytes) => {
            decode_cache_value(what, &bytes)
                .map(Some)
                .map_err(|error| StoreError::Corrupt {
                    key: String::from_utf8_lossy(key).into_owned(),
                    reason: error.to_string(),
                })
        }
    }
}

pub(crate) fn put<T: Serialize>(rows: &mut dyn Rows, key: Vec<u8>, value: &T) {
    rows.put(key, encode_cache_value(value));
}
