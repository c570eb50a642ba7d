//! What a store of rows hands back and takes, whichever it is (`backend.rs`).

use crate::StoreError;

/// A row read back: its key and value, or why it could not be read.
pub type Entry = Result<(Vec<u8>, Vec<u8>), StoreError>;

/// One row's change in an atomic step: `None` removes it. Also a row as looked up: `None`
/// when absent.
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// A row as read: its key and value.
pub type Row = (Vec<u8>, Vec<u8>);
