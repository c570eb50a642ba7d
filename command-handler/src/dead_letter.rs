//! Records the handler cannot take as commands go to `<prefix>.dead-letter`, byte for byte,
//! with why and where they came from in headers. Consumption goes on past them.

use event_log::{Headers, OutgoingRecord, StoredRecord};

pub const HEADER_REASON_CODE: &str = "dead-letter-code";
pub const HEADER_REASON: &str = "dead-letter-reason";
/// `topic/partition/offset` of the original record.
pub const HEADER_SOURCE: &str = "dead-letter-source";

/// The dead-letter record for `original`: its key, headers and payload unchanged, plus the
/// reason and source headers.
pub fn dead_letter(
    topic: &str,
    original: &StoredRecord,
    code: &str,
    reason: &str,
) -> OutgoingRecord {
    let headers = Headers(original.headers.0.clone())
        .with(HEADER_REASON_CODE, code)
        .with(HEADER_REASON, reason)
        .with(
            HEADER_SOURCE,
            format!(
                "{}/{}/{}",
                original.topic, original.partition, original.offset
            ),
        );
    let key = original
        .key
        .as_deref()
        .map(|key| String::from_utf8_lossy(key).into_owned())
        .unwrap_or_default();
    OutgoingRecord::new(topic, key, headers, original.payload.clone())
}
