//! Converts a log directory an older build wrote with sled into the journal.
//!
//! The old layout (`store.rs`): a sled tree "topics" (name → partition count), a tree per
//! topic-partition keyed by big-endian offset, and a tree "offsets" (group \0 topic \0
//! partition → next offset). The migration writes the same records, at the same offsets, with
//! the same timestamps, and the same consumer offsets into a journal built aside in
//! `.migrating/`; then it moves the journal in (the header last, since the header is what makes
//! the directory a journal) and sled's files into `sled-before-migration/`, which nothing reads
//! again and the operator may delete. A crash midway leaves the sled log as it was, and the
//! next writer starts over.

use std::path::Path;

use crate::port::LogError;
use crate::record::StoredRecord;
use crate::topic::TopicPartition;

use super::journal::{self, io_error, sync_dir, Appended, Journal};
use super::store;

const STAGING: &str = ".migrating";
const KEPT: &str = "sled-before-migration";
/// Records per frame while migrating.
const BATCH: usize = 1000;

/// Whether `path` holds a log in the old sled layout.
pub(super) fn is_sled_log(path: &Path) -> bool {
    path.join("conf").is_file() && path.join("db").is_file()
}

fn storage(path: &Path, doing: &str) -> impl Fn(sled::Error) -> LogError {
    let what = format!("{doing} the sled log in {}", path.display());
    move |error| LogError::Storage(format!("{what}: {error}"))
}

/// Migrates the sled log in `path` to the journal, in place.
pub(super) fn migrate(path: &Path) -> Result<(), LogError> {
    tracing::info!(path = %path.display(), "migrating the embedded log from sled to the journal");
    let db = sled::Config::new()
        .path(path)
        .open()
        .map_err(|error| match &error {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                LogError::InUse {
                    path: path.display().to_string(),
                }
            }
            _ => storage(path, "opening")(error),
        })?;
    let topics = read_topics(&db, path)?;
    let staging = path.join(STAGING);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io_error(&staging, "clearing"))?;
    }
    std::fs::create_dir_all(&staging).map_err(io_error(&staging, "creating"))?;
    Journal::create(&staging, topics.clone())?;
    let journal = Journal::open(&staging, true, &topics)?;
    let mut records = 0u64;
    for (name, count) in &topics {
        for partition in 0..*count {
            let tp = TopicPartition::new(name.clone(), partition);
            records += copy_partition(&db, &journal, &tp, path)?;
        }
    }
    copy_offsets(&db, &journal, path)?;
    drop(journal);
    drop(db);
    move_in(path, &staging)?;
    tracing::info!(path = %path.display(), records, "migrated; sled's files are kept in {KEPT}/");
    Ok(())
}

fn read_topics(db: &sled::Db, path: &Path) -> Result<Vec<(String, u32)>, LogError> {
    let meta = db.open_tree("topics").map_err(storage(path, "reading"))?;
    let mut topics = Vec::new();
    for entry in meta.iter() {
        let (name, count) = entry.map_err(storage(path, "reading"))?;
        let count: [u8; 4] = count.as_ref().try_into().map_err(|_| LogError::Corrupt {
            at: format!(
                "{} topics/{}",
                path.display(),
                String::from_utf8_lossy(&name)
            ),
            reason: "partition count is not 4 bytes".to_owned(),
        })?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| LogError::Corrupt {
            at: format!("{} topics", path.display()),
            reason: "a topic name that is not UTF-8".to_owned(),
        })?;
        topics.push((name, u32::from_be_bytes(count)));
    }
    Ok(topics)
}

/// Copies one partition's records in offset order; returns how many.
fn copy_partition(
    db: &sled::Db,
    journal: &Journal,
    tp: &TopicPartition,
    path: &Path,
) -> Result<u64, LogError> {
    let tree = db
        .open_tree(store::partition_tree_name(tp))
        .map_err(storage(path, "reading"))?;
    let mut batch: Vec<StoredRecord> = Vec::with_capacity(BATCH);
    let mut copied = 0;
    for entry in tree.iter() {
        let (key, value) = entry.map_err(storage(path, "reading"))?;
        let offset: [u8; 8] = key.as_ref().try_into().map_err(|_| LogError::Corrupt {
            at: format!("{} {tp}", path.display()),
            reason: "offset key is not 8 bytes".to_owned(),
        })?;
        let offset = u64::from_be_bytes(offset);
        if offset != copied {
            return Err(LogError::Corrupt {
                at: format!("{} {tp}@{offset}", path.display()),
                reason: format!("offset {offset} where {copied} was next"),
            });
        }
        let record = store::decode(tp, offset, &value).map_err(|reason| LogError::Corrupt {
            at: format!("{} {tp}@{offset}", path.display()),
            reason,
        })?;
        batch.push(record);
        copied += 1;
        if batch.len() == BATCH {
            append(journal, tp, &batch, &[])?;
            batch.clear();
        }
    }
    append(journal, tp, &batch, &[])?;
    Ok(copied)
}

fn append(
    journal: &Journal,
    tp: &TopicPartition,
    records: &[StoredRecord],
    offsets: &[(&str, &TopicPartition, u64)],
) -> Result<(), LogError> {
    let empty = Vec::new();
    let appended: Vec<Appended<'_>> = records
        .iter()
        .map(|record| Appended {
            partition: tp,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key: record.key.as_ref().unwrap_or(&empty),
            headers: &record.headers,
            payload: &record.payload,
        })
        .collect();
    match journal.frame(&appended, offsets)? {
        Some(frame) => journal.append(frame),
        None => Ok(()),
    }
}

fn copy_offsets(db: &sled::Db, journal: &Journal, path: &Path) -> Result<(), LogError> {
    let tree = db.open_tree("offsets").map_err(storage(path, "reading"))?;
    let mut offsets: Vec<(String, TopicPartition, u64)> = Vec::new();
    for entry in tree.iter() {
        let (key, value) = entry.map_err(storage(path, "reading"))?;
        let corrupt = |reason: &str| LogError::Corrupt {
            at: format!(
                "{} offsets/{}",
                path.display(),
                String::from_utf8_lossy(&key)
            ),
            reason: reason.to_owned(),
        };
        let mut parts = key.splitn(3, |&b| b == 0);
        let (Some(group), Some(topic), Some(partition)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("not group, topic and partition"));
        };
        let partition: [u8; 4] = partition
            .try_into()
            .map_err(|_| corrupt("partition is not 4 bytes"))?;
        let next: [u8; 8] = value
            .as_ref()
            .try_into()
            .map_err(|_| corrupt("offset is not 8 bytes"))?;
        let text =
            |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| corrupt("not UTF-8"));
        offsets.push((
            text(group)?,
            TopicPartition::new(text(topic)?, u32::from_be_bytes(partition)),
            u64::from_be_bytes(next),
        ));
    }
    let refs: Vec<(&str, &TopicPartition, u64)> = offsets
        .iter()
        .map(|(g, tp, n)| (g.as_str(), tp, *n))
        .collect();
    match journal.frame(&[], &refs)? {
        Some(frame) => journal.append(frame),
        None => Ok(()),
    }
}

/// Moves the staged journal into `path`, the header last (from then on the directory is a
/// journal), and then sled's files aside.
fn move_in(path: &Path, staging: &Path) -> Result<(), LogError> {
    let journal_dir = staging.join("journal");
    let to = path.join("journal");
    if to.exists() {
        std::fs::remove_dir_all(&to).map_err(io_error(&to, "clearing"))?;
    }
    std::fs::rename(&journal_dir, &to).map_err(io_error(&to, "moving the journal to"))?;
    let header = path.join(journal::HEADER_FILE);
    std::fs::rename(staging.join(journal::HEADER_FILE), &header)
        .map_err(io_error(&header, "moving the header to"))?;
    sync_dir(path)?;
    let kept = path.join(KEPT);
    std::fs::create_dir_all(&kept).map_err(io_error(&kept, "creating"))?;
    for entry in std::fs::read_dir(path).map_err(io_error(path, "listing"))? {
        let entry = entry.map_err(io_error(path, "listing"))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "conf" || name == "db" || name == "blobs" || name.starts_with("snap.") {
            let to = kept.join(&*name);
            std::fs::rename(entry.path(), &to).map_err(io_error(&to, "moving sled's file to"))?;
        }
    }
    std::fs::remove_dir_all(staging).map_err(io_error(staging, "removing"))?;
    sync_dir(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Headers;
    use crate::topic::{Topic, Topics};
    use crate::LogReader;

    /// A log as an older build wrote it: sled trees in `store.rs`'s layout.
    fn write_sled_log(path: &Path) {
        let db = sled::Config::new().path(path).open().unwrap();
        let topics = db.open_tree("topics").unwrap();
        for topic in [
            "m.commands",
            "m.events",
            "m.command-results",
            "m.dead-letter",
        ] {
            topics.insert(topic, &2u32.to_be_bytes()).unwrap();
        }
        let headers = Headers::for_message("application/json", "T", 1);
        for partition in 0..2u32 {
            let tp = TopicPartition::new("m.events", partition);
            let tree = db.open_tree(store::partition_tree_name(&tp)).unwrap();
            for offset in 0..(1500 + u64::from(partition)) {
                let payload = format!("e{partition}-{offset}");
                let value =
                    store::encode(offset as i64, Some(b"key"), &headers, payload.as_bytes());
                tree.insert(offset.to_be_bytes(), value).unwrap();
            }
        }
        let offsets = db.open_tree("offsets").unwrap();
        let mut key = b"readers\0m.events\0".to_vec();
        key.extend_from_slice(&1u32.to_be_bytes());
        offsets.insert(key, &1200u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }

    /// Opens `path` as its writer. sled's flusher thread holds the database's file lock for a
    /// moment after the last handle of `write_sled_log` is dropped: until then the directory
    /// is rightly in use (seen in about one run in 30 with the other tests running).
    fn open_when_sled_let_go(path: &Path, topics: &Topics) -> crate::embedded::EmbeddedLog {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match crate::embedded::EmbeddedLog::open(path, topics.clone()) {
                Err(LogError::InUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => return opened.unwrap(),
            }
        }
    }

    #[tokio::test]
    async fn a_sled_log_is_migrated_by_its_first_writer_with_every_record_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        write_sled_log(&path);
        let topics = Topics::new("m", 2).unwrap();
        // A reader leaves it alone and says what to do.
        let refused = crate::embedded::EmbeddedLog::open_existing(&path, topics.clone());
        let Err(LogError::NotFound { what }) = refused else {
            panic!("a reader opened an unmigrated log")
        };
        assert!(what.contains("ledger serve --data"), "{what}");
        assert!(!path.join(journal::HEADER_FILE).exists());

        let log = open_when_sled_let_go(&path, &topics);
        assert_eq!(log.end_offsets(Topic::Events).await.unwrap(), [1500, 1501]);
        let tp = TopicPartition::new("m.events", 1);
        let records = log.read(&tp, 1499, 10).await.unwrap();
        let bodies: Vec<&[u8]> = records.iter().map(|r| r.payload.as_slice()).collect();
        assert_eq!(bodies, [&b"e1-1499"[..], b"e1-1500"]);
        assert_eq!(records[0].timestamp_ms, 1499, "timestamps kept");
        assert_eq!(records[0].key.as_deref(), Some(&b"key"[..]));
        assert_eq!(
            log.committed_offsets("readers", Topic::Events)
                .await
                .unwrap(),
            [0, 1200]
        );
        drop(log);
        assert!(
            path.join(KEPT).join("db").exists(),
            "sled's files kept aside"
        );
        assert!(!path.join("db").exists() && !path.join(STAGING).exists());
        // From now on it is a journal, for readers too.
        let reader = crate::embedded::EmbeddedLog::open_existing(&path, topics).unwrap();
        assert_eq!(
            reader.end_offsets(Topic::Events).await.unwrap(),
            [1500, 1501]
        );
    }
}
