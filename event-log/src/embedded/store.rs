//! The embedded log's record layout, written out by hand so it never depends on a codec crate.
//! The journal's record entries hold it, and so did the sled trees of older builds:
//!
//! ```text
//! tree "topics"              topic name            -> partitions (u32 BE)
//! tree "p/<topic>/<n>"       offset (u64 BE)       -> record (below)
//! tree "offsets"             group \0 topic \0 n   -> next offset (u64 BE)
//!
//! record: [layout 1: u8][timestamp ms: i64 BE][key flag: u8][key len: u32 BE][key]
//!         [header count: u16 BE]([name len: u16 BE][name][value len: u32 BE][value])*
//!         [payload: the rest]
//! ```

use crate::record::{Headers, StoredRecord};
use crate::topic::TopicPartition;

const LAYOUT_V1: u8 = 1;

pub(crate) fn partition_tree_name(partition: &TopicPartition) -> String {
    format!("p/{}/{}", partition.topic, partition.partition)
}

#[cfg(test)]
pub(crate) fn encode(
    timestamp_ms: i64,
    key: Option<&[u8]>,
    headers: &Headers,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + key.map_or(0, <[u8]>::len) + payload.len() + 64);
    encode_into(&mut out, timestamp_ms, key, headers, payload);
    out
}

/// Appends a record's bytes to `out`.
pub(crate) fn encode_into(
    out: &mut Vec<u8>,
    timestamp_ms: i64,
    key: Option<&[u8]>,
    headers: &Headers,
    payload: &[u8],
) {
    out.push(LAYOUT_V1);
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.push(u8::from(key.is_some()));
    let key = key.unwrap_or_default();
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    let count = u16::try_from(headers.0.len()).expect("fewer than 65536 headers");
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in &headers.0 {
        let name_len = u16::try_from(name.len()).expect("header names under 64 KiB");
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(payload);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!("needs {n} more bytes, {} left", self.bytes.len()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }
}

pub(crate) fn decode(
    partition: &TopicPartition,
    offset: u64,
    bytes: &[u8],
) -> Result<StoredRecord, String> {
    let mut reader = Reader { bytes };
    let [layout] = reader.array::<1>()?;
    if layout != LAYOUT_V1 {
        return Err(format!("unknown record layout {layout}"));
    }
    let timestamp_ms = i64::from_be_bytes(reader.array()?);
    let [has_key] = reader.array::<1>()?;
    let key_len = u32::from_be_bytes(reader.array()?) as usize;
    let key = reader.take(key_len)?.to_vec();
    let count = u16::from_be_bytes(reader.array()?);
    let mut headers = Headers(Vec::with_capacity(usize::from(count)));
    for _ in 0..count {
        let name_len = usize::from(u16::from_be_bytes(reader.array()?));
        let name = std::str::from_utf8(reader.take(name_len)?)
            .map_err(|_| "header name is not UTF-8".to_owned())?;
        let value_len = u32::from_be_bytes(reader.array()?) as usize;
        headers.push_read(name, reader.take(value_len)?);
    }
    Ok(StoredRecord {
        topic: partition.topic.clone(),
        partition: partition.partition,
        offset,
        key: (has_key == 1).then_some(key),
        headers,
        payload: reader.bytes.to_vec(),
        timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_an_error() {
        let partition = TopicPartition::new("orders.events", 3);
        let headers = Headers::for_message("application/json", "OrderPlaced", 1);
        let bytes = encode(1_700_000_000_000, Some(b"order-1"), &headers, b"{}");
        let record = decode(&partition, 42, &bytes).unwrap();
        assert_eq!(record.key.as_deref(), Some(&b"order-1"[..]));
        assert_eq!(record.headers, headers);
        assert_eq!(record.payload, b"{}");
        assert_eq!(
            (record.offset, record.timestamp_ms),
            (42, 1_700_000_000_000)
        );
        for cut in 0..bytes.len() - 2 {
            assert!(
                decode(&partition, 42, &bytes[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        let keyless = decode(&partition, 0, &encode(0, None, &Headers::default(), b"")).unwrap();
        assert_eq!(keyless.key, None);
    }
}
