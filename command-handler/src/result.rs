//! The answer to every command, on `<prefix>.command-results`: keyed by command id, placed on
//! the command's own partition (so a submitter who knows the aggregate id knows where to look,
//! and a handler catching up a partition finds the results of its commands there). The data
//! types, and the published schema, are `order_events::result`'s; this module puts them in
//! records and reads them back.

use event_log::{Headers, OutgoingRecord, StoredRecord, CONTENT_TYPE_JSON};
pub use order_events::result::{
    CommandResult, EventRef, Outcome, RESULT_MESSAGE_TYPE, RESULT_SCHEMA_VERSION,
};

/// A command result as a record of the results topic, and back.
pub trait ResultRecord: Sized {
    fn to_record(&self, topic: &str, partition: u32) -> OutgoingRecord;

    /// Reads a result record; `None` for anything else on the topic.
    fn from_record(record: &StoredRecord) -> Option<Self>;
}

impl ResultRecord for CommandResult {
    fn to_record(&self, topic: &str, partition: u32) -> OutgoingRecord {
        let payload = serde_json::to_vec(self).expect("results serialize");
        let headers = Headers::for_message(
            CONTENT_TYPE_JSON,
            RESULT_MESSAGE_TYPE,
            RESULT_SCHEMA_VERSION,
        );
        OutgoingRecord::new(topic, self.command_id.to_string(), headers, payload)
            .on_partition(partition)
    }

    fn from_record(record: &StoredRecord) -> Option<CommandResult> {
        let meta = record.headers.message_meta().ok()?;
        if meta.message_type != RESULT_MESSAGE_TYPE {
            return None;
        }
        serde_json::from_slice(&record.payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_read_back_from_their_records() {
        use chrono::DateTime;
        use uuid::Uuid;
        let result = CommandResult {
            command_id: Uuid::from_u128(7),
            command_type: "Refund".to_owned(),
            aggregate_kind: "order".to_owned(),
            aggregate_id: "o-1".to_owned(),
            outcome: Outcome::Rejected {
                rule: "refund_exceeds_captured".to_owned(),
                detail: "too much".to_owned(),
            },
            decided_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            command_digest: Some("ab".repeat(32)),
        };
        let record = result.to_record("orders.command-results", 3);
        assert_eq!(record.partition, Some(3));
        let json: serde_json::Value = serde_json::from_slice(&record.payload).unwrap();
        assert_eq!(json["outcome"], "rejected");
        assert_eq!(json["rule"], "refund_exceeds_captured");
        let stored = StoredRecord {
            topic: record.topic.clone(),
            partition: 3,
            offset: 0,
            key: Some(record.key.clone().into_bytes()),
            headers: record.headers.clone(),
            payload: record.payload.clone(),
            timestamp_ms: 0,
        };
        assert_eq!(CommandResult::from_record(&stored), Some(result));
    }
}
