//! What the read-side benches share: a sealed event stored as the log stores it.

use event_log::{Headers, StoredRecord, CONTENT_TYPE_BINCODE};
use order_events::codec::SealedEvent;

/// The record of `sealed` at `offset` of `partition`, keyed by its aggregate.
pub fn stored(sealed: SealedEvent, partition: u32, offset: u64, key: Vec<u8>) -> StoredRecord {
    StoredRecord {
        topic: "bench.events".into(),
        partition,
        offset,
        key: Some(key),
        headers: Headers::for_message(
            CONTENT_TYPE_BINCODE,
            sealed.envelope.event.type_name(),
            sealed.envelope.event.schema_version(),
        ),
        payload: sealed.record,
        timestamp_ms: 0,
    }
}
