//! Records as the log carries them: key, headers, payload, and where they landed.

use std::borrow::Cow;

use crate::topic::TopicPartition;

/// Header names; stable, part of the wire contract with other services.
pub const HEADER_CONTENT_TYPE: &str = "content-type";
pub const HEADER_MESSAGE_TYPE: &str = "message-type";
pub const HEADER_SCHEMA_VERSION: &str = "schema-version";

/// Content types the ledger reads and writes.
pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_BINCODE: &str = "application/x-bincode";

/// Record headers, in order; names may repeat as Kafka allows. The ledger's own header names
/// and their common values are shared, not copied: every record read carries three headers,
/// and their copies were a third of the allocations of reading a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(Cow<'static, str>, Cow<'static, [u8]>)>);

/// The header names the ledger writes on every message.
const SHARED_NAMES: [&str; 3] = [
    HEADER_CONTENT_TYPE,
    HEADER_MESSAGE_TYPE,
    HEADER_SCHEMA_VERSION,
];

/// Header values most messages carry.
const SHARED_VALUES: [&str; 3] = [CONTENT_TYPE_JSON, CONTENT_TYPE_BINCODE, "1"];

fn shared_name(name: &str) -> Cow<'static, str> {
    match SHARED_NAMES.iter().find(|shared| **shared == name) {
        Some(shared) => Cow::Borrowed(shared),
        None => Cow::Owned(name.to_owned()),
    }
}

fn shared_value(value: &[u8]) -> Cow<'static, [u8]> {
    match SHARED_VALUES
        .iter()
        .find(|shared| shared.as_bytes() == value)
    {
        Some(shared) => Cow::Borrowed(shared.as_bytes()),
        None => Cow::Owned(value.to_vec()),
    }
}

impl Headers {
    /// The three headers every ledger message carries, so consumers can route on them without
    /// decoding the payload.
    pub fn for_message(content_type: &str, message_type: &str, schema_version: u16) -> Headers {
        let version = schema_version.to_string();
        Headers(vec![
            (
                Cow::Borrowed(HEADER_CONTENT_TYPE),
                shared_value(content_type.as_bytes()),
            ),
            (
                Cow::Borrowed(HEADER_MESSAGE_TYPE),
                Cow::Owned(message_type.as_bytes().to_vec()),
            ),
            (
                Cow::Borrowed(HEADER_SCHEMA_VERSION),
                shared_value(version.as_bytes()),
            ),
        ])
    }

    pub fn with(mut self, name: &str, value: impl Into<Vec<u8>>) -> Headers {
        self.0.push((shared_name(name), Cow::Owned(value.into())));
        self
    }

    /// Adds a header as read from storage or the wire.
    pub fn push_read(&mut self, name: &str, value: &[u8]) {
        self.0.push((shared_name(name), shared_value(value)));
    }

    /// The last value of header `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_ref())
    }

    fn text(&self, name: &'static str) -> Result<&str, RecordError> {
        let value = self.get(name).ok_or(RecordError::MissingHeader(name))?;
        std::str::from_utf8(value).map_err(|_| RecordError::InvalidHeader {
            name,
            reason: "not UTF-8".to_owned(),
        })
    }

    /// Reads and checks the routing headers.
    pub fn message_meta(&self) -> Result<MessageMeta, RecordError> {
        let content_type = match self.text(HEADER_CONTENT_TYPE)? {
            CONTENT_TYPE_JSON => CONTENT_TYPE_JSON,
            CONTENT_TYPE_BINCODE => CONTENT_TYPE_BINCODE,
            other => {
                return Err(RecordError::InvalidHeader {
                    name: HEADER_CONTENT_TYPE,
                    reason: format!(
                        "unknown content type '{}'",
                        other.chars().take(80).collect::<String>()
                    ),
                })
            }
        };
        let message_type = self.text(HEADER_MESSAGE_TYPE)?.to_owned();
        let version = self.text(HEADER_SCHEMA_VERSION)?;
        let schema_version = version.parse().map_err(|_| RecordError::InvalidHeader {
            name: HEADER_SCHEMA_VERSION,
            reason: format!(
                "'{}' is not a version number",
                version.chars().take(20).collect::<String>()
            ),
        })?;
        Ok(MessageMeta {
            content_type,
            message_type,
            schema_version,
        })
    }
}

/// What the headers say about a record's payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// One of [`CONTENT_TYPE_JSON`] and [`CONTENT_TYPE_BINCODE`].
    pub content_type: &'static str,
    pub message_type: String,
    pub schema_version: u16,
}

/// Why a record is not a ledger message. The caller dead-letters such records and goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("header '{0}' is missing")]
    MissingHeader(&'static str),
    #[error("header '{name}' is invalid: {reason}")]
    InvalidHeader { name: &'static str, reason: String },
    #[error("the record has no key")]
    MissingKey,
}

/// A record to append. The log chooses its partition from the key ([`crate::partition_for`])
/// unless `partition` names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    pub topic: String,
    /// The aggregate id (or command id on the results topic).
    pub key: String,
    /// An explicit partition, for records that must sit beside others whose key differs (a
    /// command's result goes to its command's partition, keyed by command id).
    pub partition: Option<u32>,
    pub headers: Headers,
    pub payload: Vec<u8>,
}

impl OutgoingRecord {
    pub fn new(
        topic: impl Into<String>,
        key: impl Into<String>,
        headers: Headers,
        payload: Vec<u8>,
    ) -> OutgoingRecord {
        OutgoingRecord {
            topic: topic.into(),
            key: key.into(),
            partition: None,
            headers,
            payload,
        }
    }

    /// Places the record on `partition` instead of the key's partition.
    pub fn on_partition(mut self, partition: u32) -> OutgoingRecord {
        self.partition = Some(partition);
        self
    }

    /// The record's partition, given every topic's partition count: the explicit one, or the
    /// key's. Both backends place records through here.
    pub fn partition_in(
        &self,
        partitions: &std::collections::BTreeMap<String, u32>,
    ) -> Result<u32, crate::LogError> {
        let count = *partitions
            .get(&self.topic)
            .ok_or_else(|| crate::LogError::UnknownPartition(self.topic.clone()))?;
        match self.partition {
            Some(partition) if partition < count => Ok(partition),
            Some(partition) => Err(crate::LogError::UnknownPartition(format!(
                "{}[{partition}]",
                self.topic
            ))),
            None => Ok(crate::partition_for(self.key.as_bytes(), count)),
        }
    }
}

/// A record read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    /// As produced; other services may send none, or bytes that are not UTF-8.
    pub key: Option<Vec<u8>>,
    pub headers: Headers,
    pub payload: Vec<u8>,
    /// Milliseconds since the Unix epoch, as the log recorded it.
    pub timestamp_ms: i64,
}

impl StoredRecord {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }

    /// The position right after this record: what a consumer commits once it is processed.
    pub fn next_offset(&self) -> u64 {
        self.offset + 1
    }
}

/// Where an appended record landed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_meta_is_read_and_checked() {
        let headers = Headers::for_message(CONTENT_TYPE_BINCODE, "OrderPlaced", 1);
        let meta = headers.message_meta().unwrap();
        assert_eq!(
            (
                meta.content_type,
                meta.message_type.as_str(),
                meta.schema_version
            ),
            (CONTENT_TYPE_BINCODE, "OrderPlaced", 1)
        );
        assert_eq!(
            Headers::default().message_meta(),
            Err(RecordError::MissingHeader(HEADER_CONTENT_TYPE))
        );
        let bad = Headers::for_message("text/csv", "X", 1);
        assert!(matches!(
            bad.message_meta(),
            Err(RecordError::InvalidHeader { .. })
        ));
        let bad = Headers::for_message(CONTENT_TYPE_JSON, "X", 1).with(HEADER_SCHEMA_VERSION, "v2");
        assert!(matches!(
            bad.message_meta(),
            Err(RecordError::InvalidHeader {
                name: HEADER_SCHEMA_VERSION,
                ..
            })
        ));
    }

    #[test]
    fn headers_read_back_share_the_ledgers_names_and_common_values() {
        let written =
            Headers::for_message(CONTENT_TYPE_BINCODE, "OrderPlaced", 1).with("trace", "x");
        let mut read = Headers::default();
        for (name, value) in &written.0 {
            read.push_read(name, value);
        }
        assert_eq!(read, written);
        let borrowed: Vec<bool> = read
            .0
            .iter()
            .map(|(name, value)| {
                (
                    matches!(name, Cow::Borrowed(_)),
                    matches!(value, Cow::Borrowed(_)),
                ) == (true, true)
            })
            .collect();
        // content-type and schema-version are shared whole; the message type's value and the
        // unknown header are the record's own.
        assert_eq!(borrowed, [true, false, true, false]);
        assert!(matches!(read.0[3].0, Cow::Owned(_)));
        assert_eq!(read.get("trace"), Some(&b"x"[..]));
        assert_eq!(read.message_meta().unwrap().message_type, "OrderPlaced");
    }
}
