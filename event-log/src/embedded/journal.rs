//! The embedded log's storage: an append-only journal of CRC-checked frames.
//!
//! ```text
//! <dir>/ledger-log                    header, text: "order-ledger embedded log", "format 2",
//!                                     then "topic <name> <partitions>" per topic
//! <dir>/journal/<20-digit n>.seg      segments, each a run of frames; a new one past 64 MiB
//!
//! frame:  [magic "LGJ1": u32 BE][body length: u32 BE][CRC-32 of body: u32 BE]
//!         [CRC-32 of the 12 bytes before: u32 BE][body]
//! body:   entries, one after another:
//!   directory [3: u8][runs: u16 BE] runs × ([partition index: u16 BE][start: u32 BE])
//!             [records end: u32 BE]
//!   record    [1: u8][partition index: u16 BE][offset: u64 BE][length: u32 BE][record]
//!   offset    [2: u8][partition index: u16 BE][next offset: u64 BE][group length: u16 BE][group]
//! ```
//!
//! Format 2 (since 2026-12-03) opens every frame with a directory: the frame's records are
//! sorted by partition index (each partition's in offset order), and the directory gives the
//! byte position in the body where each partition's run starts, and where the records end. A
//! reader of one partition jumps to its run and stops at its end, instead of walking every
//! other partition's entries (a whole-log scan of 8 partitions walked the log 8 times: 13 %
//! of `replay verify`, BENCHMARKS.md). Format-1 frames, without a directory, are still read
//! (walked whole); a writer that opens a format-1 log rewrites its header to format 2 before
//! its first frame, so an older build refuses the log instead of misreading a directory.
//!
//! A partition index counts the header's topic-partitions in order (each topic's partitions
//! 0..n, topics as listed). The record bytes are `store::encode`'s layout.
//!
//! One frame is one commit: every record and consumer offset of a transaction (with the
//! publishes that waited for it), or a group of publishes, written with one `write` and made
//! durable with one `fdatasync` before the commit returns; a new segment also syncs the
//! directory that names it. Readers are shown a frame only once it is durable, and a frame is
//! written only once the frame before it is durable, so at most one is on its way to disk. A frame is whole or
//! not there: on open the journal is read from the start, and a frame at the end of the last
//! segment that a crash tore — its header cut short or zeros, or a whole header whose frame
//! runs past the end of the file, or a last frame whose body fails its CRC — was never
//! acknowledged: a writer cuts it off (with a log line), a reader ignores it. Any other bad
//! byte (a header failing its own CRC, a body failing its CRC with frames after it) is
//! corruption, reported with the file, the position and the last whole record of each
//! partition; never guessed past. (A flipped byte in the very last frame's body cannot be told
//! from a torn write and is cut like one.)
//!
//! In memory: per partition its end, a mark (offset → frame position) every 64 records, and
//! the frames of its latest records, so memory grows with the log by a mark per 64 records.
//! Reads walk frames through read-only mappings of the segments (see `Journal::mapped`),
//! skipping other partitions' entries without copying them, and a sequential reader resumes
//! mid-frame where its last read stopped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use memmap2::{Mmap, MmapOptions};

use crate::port::LogError;
use crate::record::{Headers, StoredRecord};
use crate::topic::TopicPartition;

use super::store;

/// The header file: its presence is what makes a directory a log.
pub(crate) const HEADER_FILE: &str = "ledger-log";
const HEADER_TITLE: &str = "order-ledger embedded log";
const FORMAT_LINE: &str = "format 2";
/// Logs written before frames had a directory: still read, and upgraded by a writer.
const FORMAT_LINE_1: &str = "format 1";
const JOURNAL_DIR: &str = "journal";
/// Held locked by the one writer of a directory.
const LOCK_FILE: &str = "writer.lock";

const FRAME_MAGIC: u32 = 0x4C47_4A31;
const FRAME_HEADER: u64 = 16;
/// No frame is larger: a length beyond it is a corrupt header, not a big commit.
const FRAME_MAX: u64 = 1 << 30;
const SEGMENT_BYTES: u64 = 64 << 20;
const MARK_EVERY: u32 = 64;
/// The largest frame buffer kept for the next commit.
const SPARE_MAX: usize = 16 << 20;
const RECENT_FRAMES: usize = 64;
/// The scan at open reads a segment a chunk at a time: small at first, doubling up to the
/// largest as it goes on.
const READ_CHUNK_FIRST: u64 = 16 << 10;
const READ_CHUNK: usize = 256 << 10;

const ENTRY_RECORD: u8 = 1;
const ENTRY_OFFSET: u8 = 2;
const ENTRY_DIRECTORY: u8 = 3;

/// The topic-partitions of a log, in header order.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// Partition count per topic, in header order.
    pub topics: Vec<(String, u32)>,
    tps: Vec<TopicPartition>,
    index: HashMap<TopicPartition, u16>,
    /// The header said format 1 (frames without a directory): a writer upgrades it.
    format_1: bool,
}

impl Layout {
    fn new(topics: Vec<(String, u32)>) -> Result<Layout, LogError> {
        let tps: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|(name, count)| (0..*count).map(|p| TopicPartition::new(name.clone(), p)))
            .collect();
        if tps.len() > usize::from(u16::MAX) {
            return Err(LogError::Config(format!(
                "{} topic-partitions; the embedded log holds at most {}",
                tps.len(),
                u16::MAX
            )));
        }
        let index = (0u16..).zip(&tps).map(|(i, tp)| (tp.clone(), i)).collect();
        Ok(Layout {
            topics,
            tps,
            index,
            format_1: false,
        })
    }

    pub fn partitions(&self) -> BTreeMap<String, u32> {
        self.topics.iter().cloned().collect()
    }

    fn index_of(&self, tp: &TopicPartition) -> Result<u16, LogError> {
        self.index
            .get(tp)
            .copied()
            .ok_or_else(|| LogError::UnknownPartition(tp.to_string()))
    }

    fn header_text(&self) -> String {
        let mut text = format!("{HEADER_TITLE}\n{FORMAT_LINE}\n");
        for (name, count) in &self.topics {
            text.push_str(&format!("topic {name} {count}\n"));
        }
        text
    }

    fn parse(text: &str, path: &Path) -> Result<Layout, LogError> {
        let corrupt = |reason: String| LogError::Corrupt {
            at: path.display().to_string(),
            reason,
        };
        let mut lines = text.lines();
        if lines.next() != Some(HEADER_TITLE) {
            return Err(corrupt("not an order-ledger log header".to_owned()));
        }
        let format_1 = match lines.next() {
            Some(FORMAT_LINE) => false,
            Some(FORMAT_LINE_1) => true,
            other => {
                return Err(corrupt(format!(
                    "unknown format {:?}: written by a newer order-ledger?",
                    other.unwrap_or("")
                )))
            }
        };
        let mut topics = Vec::new();
        for line in lines {
            let mut words = line.split(' ');
            let (Some("topic"), Some(name), Some(count), None) =
                (words.next(), words.next(), words.next(), words.next())
            else {
                return Err(corrupt(format!("unreadable line {line:?}")));
            };
            let count = count
                .parse()
                .map_err(|_| corrupt(format!("partition count {count:?}")))?;
            topics.push((name.to_owned(), count));
        }
        Ok(Layout {
            format_1,
            ..Layout::new(topics)?
        })
    }
}

/// Where a partition's records can be found: the frame holding record `offset`.
#[derive(Debug, Clone, Copy)]
struct Mark {
    offset: u64,
    segment: usize,
    position: u64,
}

/// Where a sequential read of a partition stopped: the next record of the partition at or after
/// entry byte `entry` of the frame at `segment`/`position` has offset `next`.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    next: u64,
    segment: usize,
    position: u64,
    entry: usize,
}

/// What the journal holds, as far as it is committed.
#[derive(Default)]
struct Index {
    ends: Vec<u64>,
    offsets: HashMap<(String, u16), u64>,
    marks: Vec<Vec<Mark>>,
    recent: Vec<VecDeque<Mark>>,
    since_mark: Vec<u32>,
    /// Per segment, its committed length.
    lengths: Vec<u64>,
}

impl Index {
    fn new(partitions: usize) -> Index {
        Index {
            ends: vec![0; partitions],
            marks: vec![Vec::new(); partitions],
            recent: vec![VecDeque::new(); partitions],
            since_mark: vec![MARK_EVERY; partitions],
            ..Index::default()
        }
    }

    /// Takes in one frame's entries at `segment`/`position`.
    fn apply(&mut self, segment: usize, position: u64, body: &[u8]) -> Result<(), String> {
        let mut last_tp = None;
        for entry in Entries::new(body) {
            match entry? {
                Entry::Record { tp, offset, .. } => {
                    let tp = usize::from(tp);
                    let end = *self.ends.get(tp).ok_or("a partition the header lacks")?;
                    if offset != end {
                        return Err(format!(
                            "partition {tp}: offset {offset} where {end} was next"
                        ));
                    }
                    self.ends[tp] = offset + 1;
                    if last_tp != Some(tp) {
                        let mark = Mark {
                            offset,
                            segment,
                            position,
                        };
                        self.note(tp, mark);
                    }
                    last_tp = Some(tp);
                }
                Entry::Offset { tp, next, group } => {
                    if usize::from(tp) >= self.ends.len() {
                        return Err("an offset for a partition the header lacks".to_owned());
                    }
                    self.offsets.insert((group.to_owned(), tp), next);
                }
                Entry::Directory => {}
            }
        }
        Ok(())
    }

    fn note(&mut self, tp: usize, mark: Mark) {
        let recent = &mut self.recent[tp];
        if recent
            .back()
            .is_some_and(|m| m.position == mark.position && m.segment == mark.segment)
        {
            return;
        }
        recent.push_back(mark);
        if recent.len() > RECENT_FRAMES {
            recent.pop_front();
        }
        self.since_mark[tp] += 1;
        if self.since_mark[tp] >= MARK_EVERY {
            self.since_mark[tp] = 0;
            self.marks[tp].push(mark);
        }
    }

    /// The frame to start reading partition `tp` at for offset `from`: the latest frames
    /// first (where followers read), then the marks.
    fn start(&self, tp: usize, from: u64) -> Mark {
        let recent = &self.recent[tp];
        let after = recent.partition_point(|m| m.offset <= from);
        if after > 0 {
            return recent[after - 1];
        }
        let marks = &self.marks[tp];
        let after = marks.partition_point(|m| m.offset <= from);
        after.checked_sub(1).map_or(
            Mark {
                offset: 0,
                segment: 0,
                position: 0,
            },
            |i| marks[i],
        )
    }
}

fn lock_syncing(syncing: &Mutex<Syncing>) -> std::sync::MutexGuard<'_, Syncing> {
    syncing
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

enum Entry<'a> {
    Record {
        tp: u16,
        offset: u64,
        record: &'a [u8],
    },
    Offset {
        tp: u16,
        next: u64,
        group: &'a str,
    },
    /// A format-2 frame's directory (see [`Directory`]); walkers skip it.
    Directory,
}

struct Entries<'a> {
    rest: &'a [u8],
}

impl<'a> Entries<'a> {
    fn new(body: &'a [u8]) -> Entries<'a> {
        Entries { rest: body }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            self.rest = &[];
            return Err("an entry runs past its frame".to_owned());
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn entry(&mut self) -> Result<Entry<'a>, String> {
        let [kind] = self.take(1)? else {
            unreachable!("took one byte")
        };
        let tp = self.u16()?;
        match *kind {
            ENTRY_RECORD => {
                let offset = self.u64()?;
                let length = self.u32()? as usize;
                let record = self.take(length)?;
                Ok(Entry::Record { tp, offset, record })
            }
            ENTRY_OFFSET => {
                let next = self.u64()?;
                let length = usize::from(self.u16()?);
                let group = std::str::from_utf8(self.take(length)?)
                    .map_err(|_| "a group name that is not UTF-8".to_owned())?;
                Ok(Entry::Offset { tp, next, group })
            }
            ENTRY_DIRECTORY => {
                // Here `tp` was the run count.
                self.take(usize::from(tp) * 6 + 4)?;
                Ok(Entry::Directory)
            }
            other => Err(format!("unknown entry kind {other}")),
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        (!self.rest.is_empty()).then(|| self.entry())
    }
}

/// The byte range of a frame body a reader of one partition walks.
#[derive(Debug, PartialEq, Eq)]
enum Span {
    /// A format-1 frame: every entry, from the start.
    Whole,
    /// The partition's run of records in a format-2 frame.
    Run(usize, usize),
    /// A format-2 frame without records of the partition.
    Nothing,
}

/// Where partition `tp`'s records are in frame `body`, from its directory when it has one.
fn span_of(body: &[u8], tp: u16) -> Result<Span, String> {
    if body.first() != Some(&ENTRY_DIRECTORY) {
        return Ok(Span::Whole);
    }
    let malformed = || "a frame directory that does not fit its frame".to_owned();
    let word = |at: usize, n: usize| body.get(at..at + n).ok_or_else(malformed);
    let runs = usize::from(u16::from_be_bytes(word(1, 2)?.try_into().expect("2 bytes")));
    let position = |at: usize| -> Result<usize, String> {
        Ok(u32::from_be_bytes(word(at, 4)?.try_into().expect("4 bytes")) as usize)
    };
    let end_at = 3 + runs * 6;
    let records_end = position(end_at)?;
    for run in 0..runs {
        let at = 3 + run * 6;
        if u16::from_be_bytes(word(at, 2)?.try_into().expect("2 bytes")) != tp {
            continue;
        }
        let start = position(at + 2)?;
        let end = if run + 1 < runs {
            position(at + 8)?
        } else {
            records_end
        };
        if start < end_at + 4 || start > end || end > body.len() {
            return Err(malformed());
        }
        return Ok(Span::Run(start, end));
    }
    Ok(Span::Nothing)
}

/// Reads frames of one segment from a position on, a chunk at a time.
struct Frames<'a> {
    file: &'a File,
    position: u64,
    end: u64,
    buffer: Vec<u8>,
    buffer_at: u64,
}

/// Why a frame could not be read.
enum FrameError {
    /// Cut short or failing its CRC, and nothing after it: a torn last write.
    Torn(String),
    Corrupt(String),
    Io(io::Error),
}

impl<'a> Frames<'a> {
    fn new(file: &'a File, position: u64, end: u64) -> Frames<'a> {
        Frames {
            file,
            position,
            end,
            buffer: Vec::new(),
            buffer_at: 0,
        }
    }

    fn bytes(&mut self, at: u64, n: u64) -> io::Result<&[u8]> {
        let buffered_end = self.buffer_at + self.buffer.len() as u64;
        if at < self.buffer_at || at + n > buffered_end {
            let chunk = (self.buffer.len() as u64 * 2).clamp(READ_CHUNK_FIRST, READ_CHUNK as u64);
            let length = n.max(chunk).min(self.end - at);
            self.buffer.resize(length as usize, 0);
            self.file.read_exact_at(&mut self.buffer, at)?;
            self.buffer_at = at;
        }
        let start = (at - self.buffer_at) as usize;
        Ok(&self.buffer[start..start + n as usize])
    }

    /// Whether every byte from `at` to the end is zero.
    fn rest_is_zero(&mut self, at: u64) -> Result<bool, FrameError> {
        let mut from = at;
        while from < self.end {
            let n = (self.end - from).min(READ_CHUNK as u64);
            if self
                .bytes(from, n)
                .map_err(FrameError::Io)?
                .iter()
                .any(|&b| b != 0)
            {
                return Ok(false);
            }
            from += n;
        }
        Ok(true)
    }

    /// The next frame: its position and body.
    fn next_frame(&mut self) -> Result<Option<(u64, &[u8])>, FrameError> {
        let at = self.position;
        if at >= self.end {
            return Ok(None);
        }
        if self.end - at < FRAME_HEADER {
            return Err(FrameError::Torn(format!(
                "{} bytes of a frame header",
                self.end - at
            )));
        }
        let header = self.bytes(at, FRAME_HEADER).map_err(FrameError::Io)?;
        let word = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().expect("4 bytes"));
        let (magic, length, crc, header_crc) = (word(0), u64::from(word(4)), word(8), word(12));
        let header_whole = crc32fast::hash(&header[..12]) == header_crc;
        let zeros = header.iter().all(|&b| b == 0);
        let frame_end = at + FRAME_HEADER + length;
        if zeros && self.rest_is_zero(at)? {
            // A file extended by a write whose bytes never reached the disk.
            return Err(FrameError::Torn(
                "zeros where a frame should start".to_owned(),
            ));
        }
        if !header_whole || magic != FRAME_MAGIC || length > FRAME_MAX {
            return Err(FrameError::Corrupt(format!(
                "a damaged frame header (magic {magic:#010x}, length {length})"
            )));
        }
        if frame_end > self.end {
            return Err(FrameError::Torn(format!(
                "a frame of {length} bytes with {} left",
                self.end - at - FRAME_HEADER
            )));
        }
        let body = self
            .bytes(at + FRAME_HEADER, length)
            .map_err(FrameError::Io)?;
        if crc32fast::hash(body) != crc {
            let reason = "the frame's CRC does not match its bytes".to_owned();
            return Err(if frame_end == self.end {
                FrameError::Torn(reason)
            } else {
                FrameError::Corrupt(reason)
            });
        }
        self.position = frame_end;
        let start = (at + FRAME_HEADER - self.buffer_at) as usize;
        Ok(Some((at, &self.buffer[start..start + length as usize])))
    }
}

/// Walks frames already verified (at open, or written by this process) in a mapped segment:
/// headers are checked, bodies are not copied or checked again.
struct MappedFrames<'a> {
    bytes: &'a [u8],
    position: u64,
}

impl<'a> MappedFrames<'a> {
    /// The next frame: its position and body; `None` at the end.
    fn next_frame(&mut self) -> Result<Option<(u64, &'a [u8])>, String> {
        let at = self.position as usize;
        if at >= self.bytes.len() {
            return Ok(None);
        }
        let header = self
            .bytes
            .get(at..at + FRAME_HEADER as usize)
            .ok_or("a frame header cut short")?;
        let word = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().expect("4 bytes"));
        let (magic, length) = (word(0), word(4) as usize);
        if magic != FRAME_MAGIC || crc32fast::hash(&header[..12]) != word(12) {
            return Err("a damaged frame header".to_owned());
        }
        let body_at = at + FRAME_HEADER as usize;
        let body = self
            .bytes
            .get(body_at..body_at + length)
            .ok_or("a frame running past its segment's committed end")?;
        self.position = (body_at + length) as u64;
        Ok(Some((at as u64, body)))
    }
}

struct Writer {
    file: File,
    /// The same file, for a sync to `fdatasync` without holding the writer.
    sync: Arc<File>,
    segment: usize,
    length: u64,
    /// Frames written since the journal was opened: the last one's sequence number.
    written: u64,
    /// A write or sync failed, and why: what the file holds past `length` is unknown until
    /// reopened.
    broken: Option<String>,
    _lock: File,
}

impl Writer {
    /// Leaves the writer refusing more writes for `error` (the first failure is the one
    /// named), which it returns.
    fn fail(&mut self, error: LogError) -> LogError {
        self.broken.get_or_insert_with(|| error.to_string());
        error
    }
}

/// A frame written and not yet known to be durable: readers are shown it once a sync covers it.
struct Unsynced {
    seq: u64,
    segment: usize,
    position: u64,
    frame: Vec<u8>,
}

/// The frames written and not yet synced, oldest first, and the sequence number of the last
/// frame known to be durable.
#[derive(Default)]
struct Syncing {
    frames: VecDeque<Unsynced>,
    durable: u64,
}

/// The journal of one log directory.
pub(crate) struct Journal {
    path: PathBuf,
    pub layout: Layout,
    index: RwLock<Index>,
    files: RwLock<Vec<Arc<File>>>,
    /// Per segment, its mapping for readers once one read it (see [`Journal::mapped`]).
    maps: RwLock<Vec<Option<Arc<Mmap>>>>,
    writer: Mutex<Option<Writer>>,
    /// Written frames on their way to readers (see [`Journal::sync`]).
    syncing: Mutex<Syncing>,
    reader_lock: Mutex<Option<File>>,
    /// Per partition, where the last read stopped: sequential readers go on from there.
    cursors: Mutex<Vec<Option<Cursor>>>,
    /// The last frame's buffer, written and handed back ([`Journal::recycle`]): the next frame
    /// is encoded into memory already touched, not into fresh pages the kernel must zero.
    spare: Mutex<Vec<u8>>,
    /// A segment is closed once it would grow past this.
    segment_bytes: u64,
}

fn segment_name(number: usize) -> String {
    format!("{number:020}.seg")
}

pub(super) fn io_error(path: &Path, doing: &str) -> impl Fn(io::Error) -> LogError {
    let what = format!("{doing} {}", path.display());
    move |error| LogError::Storage(format!("{what}: {error}"))
}

/// Syncs a directory, so the names it just gained survive a power loss.
pub(super) fn sync_dir(path: &Path) -> Result<(), LogError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(path, "syncing the directory"))
}

impl Journal {
    /// Whether `path` holds a journal.
    pub fn exists(path: &Path) -> bool {
        path.join(HEADER_FILE).is_file()
    }

    /// Creates an empty journal in `path` with `topics`.
    pub fn create(path: &Path, topics: Vec<(String, u32)>) -> Result<(), LogError> {
        let layout = Layout::new(topics)?;
        let journal = path.join(JOURNAL_DIR);
        std::fs::create_dir_all(&journal).map_err(io_error(&journal, "creating"))?;
        write_header(path, &layout)?;
        sync_dir(&journal)?;
        sync_dir(path)
    }

    /// Opens the journal in `path`: a writer (`write`) takes the directory's lock, cuts a
    /// torn last frame and may add topics to the header; a reader changes nothing.
    pub fn open(path: &Path, write: bool, topics: &[(String, u32)]) -> Result<Journal, LogError> {
        let header_path = path.join(HEADER_FILE);
        let lock = if write {
            lock_writer(path)?
        } else {
            lock_reader(path)?
        };
        let text =
            std::fs::read_to_string(&header_path).map_err(io_error(&header_path, "reading"))?;
        let mut layout = Layout::parse(&text, &header_path)?;
        let missing: Vec<(String, u32)> = topics
            .iter()
            .filter(|(name, _)| !layout.topics.iter().any(|(known, _)| known == name))
            .cloned()
            .collect();
        if write && (layout.format_1 || !missing.is_empty()) {
            // A format-1 log gets the format-2 header before its first frame with a directory.
            let mut all = layout.topics.clone();
            all.extend(missing);
            layout = Layout::new(all)?;
            write_header(path, &layout)?;
        }
        let layout_partitions = layout.tps.len();
        let journal = Journal {
            path: path.to_path_buf(),
            index: RwLock::new(Index::new(layout.tps.len())),
            layout,
            files: RwLock::new(Vec::new()),
            maps: RwLock::new(Vec::new()),
            writer: Mutex::new(None),
            syncing: Mutex::new(Syncing::default()),
            reader_lock: Mutex::new(None),
            cursors: Mutex::new(vec![None; layout_partitions]),
            spare: Mutex::new(Vec::new()),
            segment_bytes: SEGMENT_BYTES,
        };
        journal.load(write)?;
        match lock {
            Some(lock) if write => journal.open_writer(lock)?,
            // Held while the journal is open, so no writer starts under a reader.
            lock => {
                *journal
                    .reader_lock
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = lock
            }
        }
        Ok(journal)
    }

    fn segment_path(&self, number: usize) -> PathBuf {
        self.path.join(JOURNAL_DIR).join(segment_name(number))
    }

    /// Reads every segment into the index.
    fn load(&self, write: bool) -> Result<(), LogError> {
        let mut number = 0;
        loop {
            let path = self.segment_path(number);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                Err(error) => return Err(io_error(&path, "opening")(error)),
            };
            let length = file.metadata().map_err(io_error(&path, "reading"))?.len();
            let last = !self.segment_path(number + 1).exists();
            let committed = self.load_segment(number, &file, length, last)?;
            if committed < length && write {
                tracing::warn!(segment = %path.display(), from = committed, to = length, "cutting a torn last write off the log");
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_error(&path, "opening"))?;
                file.set_len(committed)
                    .and_then(|()| file.sync_all())
                    .map_err(io_error(&path, "cutting back"))?;
            }
            write_lock(&self.index).lengths.push(committed);
            write_lock(&self.files).push(Arc::new(file));
            number += 1;
        }
        Ok(())
    }

    /// Folds one segment's frames into the index; returns how far its frames are whole.
    fn load_segment(
        &self,
        number: usize,
        file: &File,
        length: u64,
        last: bool,
    ) -> Result<u64, LogError> {
        let mut frames = Frames::new(file, 0, length);
        let mut index = write_lock(&self.index);
        loop {
            match frames.next_frame() {
                Ok(Some((position, body))) => {
                    index
                        .apply(number, position, body)
                        .map_err(|reason| self.corrupt(number, position, reason, &index))?;
                }
                Ok(None) => return Ok(length),
                Err(FrameError::Torn(_)) if last => return Ok(frames.position),
                Err(FrameError::Torn(reason) | FrameError::Corrupt(reason)) => {
                    return Err(self.corrupt(number, frames.position, reason, &index))
                }
                Err(FrameError::Io(error)) => {
                    return Err(io_error(&self.segment_path(number), "reading")(error))
                }
            }
        }
    }

    /// A corruption report: where, why, and how far each partition was read whole.
    fn corrupt(&self, segment: usize, position: u64, reason: String, index: &Index) -> LogError {
        let whole: Vec<String> = self
            .layout
            .tps
            .iter()
            .zip(&index.ends)
            .filter(|(_, &end)| end > 0)
            .map(|(tp, end)| format!("{tp}@{}", end - 1))
            .collect();
        LogError::Corrupt {
            at: format!("{} byte {position}", self.segment_path(segment).display()),
            reason: format!("{reason} (last whole records: {})", whole.join(", ")),
        }
    }

    fn open_writer(&self, lock: File) -> Result<(), LogError> {
        let mut files = write_lock(&self.files);
        let mut index = write_lock(&self.index);
        if files.is_empty() {
            let path = self.segment_path(0);
            let file = File::create_new(&path).map_err(io_error(&path, "creating"))?;
            sync_dir(&self.path.join(JOURNAL_DIR))?;
            files.push(Arc::new(file));
            index.lengths.push(0);
        }
        let segment = files.len() - 1;
        let path = self.segment_path(segment);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_error(&path, "opening"))?;
        let sync = Arc::new(file.try_clone().map_err(io_error(&path, "opening"))?);
        *self.writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(Writer {
            file,
            sync,
            segment,
            length: index.lengths[segment],
            written: 0,
            broken: None,
            _lock: lock,
        });
        Ok(())
    }

    /// The offset the next record of `tp` gets.
    pub fn end(&self, tp: &TopicPartition) -> Result<u64, LogError> {
        Ok(self.ends(std::slice::from_ref(tp))?[0])
    }

    /// The ends of `tps`, all as of one commit: a frame's records and offsets enter the index
    /// together, so no reader sees part of one.
    pub fn ends(&self, tps: &[TopicPartition]) -> Result<Vec<u64>, LogError> {
        let at: Vec<usize> = tps
            .iter()
            .map(|tp| self.layout.index_of(tp).map(usize::from))
            .collect::<Result<_, _>>()?;
        let index = read_lock(&self.index);
        Ok(at.into_iter().map(|at| index.ends[at]).collect())
    }

    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Result<u64, LogError> {
        Ok(self.committed_all(group, std::slice::from_ref(tp))?[0])
    }

    /// `group`'s committed offsets of `tps` (0 where none), all as of one commit.
    pub fn committed_all(&self, group: &str, tps: &[TopicPartition]) -> Result<Vec<u64>, LogError> {
        let at: Vec<u16> = tps
            .iter()
            .map(|tp| self.layout.index_of(tp))
            .collect::<Result<_, _>>()?;
        let index = read_lock(&self.index);
        let mut key = (group.to_owned(), 0);
        Ok(at
            .into_iter()
            .map(|at| {
                key.1 = at;
                index.offsets.get(&key).copied().unwrap_or(0)
            })
            .collect())
    }

    /// Up to `max` records of `tp` from offset `from` on.
    pub fn read(
        &self,
        tp: &TopicPartition,
        from: u64,
        max: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let at_tp = self.layout.index_of(tp)?;
        let (start, end, lengths) = {
            let index = read_lock(&self.index);
            let end = index.ends[usize::from(at_tp)];
            if from >= end || max == 0 {
                return Ok(Vec::new());
            }
            (
                index.start(usize::from(at_tp), from),
                end,
                index.lengths.clone(),
            )
        };
        let mut cursor = self.resume(at_tp, from, start);
        let mut records = Vec::new();
        for (segment, &length) in lengths.iter().enumerate().skip(cursor.segment) {
            let map = self.mapped(segment, length)?;
            let mut frames = MappedFrames {
                bytes: &map[..length as usize],
                position: if segment == cursor.segment {
                    cursor.position
                } else {
                    0
                },
            };
            while let Some((frame_at, body)) = frames
                .next_frame()
                .map_err(|reason| self.frame_corrupt(segment, frames.position, reason))?
            {
                let (run_start, run_end) = match span_of(body, at_tp)
                    .map_err(|reason| self.frame_corrupt(segment, frame_at, reason))?
                {
                    Span::Whole => (0, body.len()),
                    Span::Run(start, end) => (start, end),
                    Span::Nothing => continue,
                };
                let skip = if (segment, frame_at) == (cursor.segment, cursor.position) {
                    cursor.entry.max(run_start)
                } else {
                    run_start
                };
                let mut entries = Entries::new(body.get(skip..run_end).unwrap_or_default());
                while let Some(entry) = entries.next() {
                    let entry =
                        entry.map_err(|reason| self.frame_corrupt(segment, frame_at, reason))?;
                    let Entry::Record {
                        tp: of,
                        offset,
                        record,
                    } = entry
                    else {
                        continue;
                    };
                    if of != at_tp || offset < from {
                        continue;
                    }
                    records.push(self.decode(tp, offset, record, segment, frame_at)?);
                    cursor = Cursor {
                        next: offset + 1,
                        segment,
                        position: frame_at,
                        entry: run_end - entries.rest.len(),
                    };
                    if records.len() >= max || offset + 1 >= end {
                        self.remember(at_tp, cursor);
                        return Ok(records);
                    }
                }
            }
        }
        self.remember(at_tp, cursor);
        Ok(records)
    }

    fn decode(
        &self,
        tp: &TopicPartition,
        offset: u64,
        record: &[u8],
        segment: usize,
        frame_at: u64,
    ) -> Result<StoredRecord, LogError> {
        store::decode(tp, offset, record).map_err(|reason| LogError::Corrupt {
            at: format!(
                "{tp}@{offset} ({} byte {frame_at})",
                self.segment_path(segment).display()
            ),
            reason,
        })
    }

    /// Where a read of partition `tp` from offset `from` begins: where the last read of it
    /// stopped — mid-frame, right after the last record it returned — when that is no later
    /// than `from` and no earlier than the index's `start`; else at `start`'s frame. A
    /// sequential reader so never walks a frame's entries twice, however many reads a large
    /// frame (a group commit of thousands of publishes) takes.
    fn resume(&self, tp: u16, from: u64, start: Mark) -> Cursor {
        let last = self.cursors.lock().unwrap_or_else(|p| p.into_inner())[usize::from(tp)];
        match last {
            Some(c)
                if c.next <= from && (c.segment, c.position) >= (start.segment, start.position) =>
            {
                c
            }
            _ => Cursor {
                next: start.offset,
                segment: start.segment,
                position: start.position,
                entry: 0,
            },
        }
    }

    /// Where a sequential reader of partition `tp` goes on next.
    fn remember(&self, tp: u16, next: Cursor) {
        self.cursors.lock().unwrap_or_else(|p| p.into_inner())[usize::from(tp)] = Some(next);
    }

    /// Segment `segment` mapped for reading, covering at least its first `length` bytes.
    ///
    /// A reader picks its partition's records out of frames shared with other partitions; on
    /// a mapping it skips their bytes instead of copying them. A segment is mapped at least
    /// `segment_bytes` long, so the segment being written stays covered as it grows
    /// (only bytes below its committed length, which the file holds, are ever touched). Files
    /// only grow while the journal is open: the writer cuts a torn tail before any mapping,
    /// and no other writer can open the directory meanwhile.
    #[allow(unsafe_code)]
    fn mapped(&self, segment: usize, length: u64) -> Result<Arc<Mmap>, LogError> {
        if let Some(Some(map)) = read_lock(&self.maps).get(segment) {
            if map.len() as u64 >= length {
                return Ok(map.clone());
            }
        }
        let file = read_lock(&self.files)[segment].clone();
        let size = length.max(self.segment_bytes);
        let path = self.segment_path(segment);
        let size = usize::try_from(size)
            .map_err(|_| LogError::Storage(format!("{}: too large to map", path.display())))?;
        // SAFETY: the mapping is read-only and only bytes the file holds are read through it
        // (see above); nothing in this process writes through a mapping.
        let map = unsafe { MmapOptions::new().len(size).map(&*file) }
            .map_err(io_error(&path, "mapping"))?;
        let map = Arc::new(map);
        let mut maps = write_lock(&self.maps);
        let last = read_lock(&self.files).len() - 1;
        let count = maps.len().max(last + 1);
        maps.resize(count, None);
        // Kept: this segment's mapping and the last segment's, where followers read. Others are
        // dropped (unmapped once no read holds them), so a scan of the whole log keeps no more
        // than a few segments' pages resident; mapping one again costs a system call.
        for (number, kept) in maps.iter_mut().enumerate() {
            if number != segment && number != last {
                *kept = None;
            }
        }
        maps[segment] = Some(map.clone());
        Ok(map)
    }

    fn frame_corrupt(&self, segment: usize, position: u64, reason: String) -> LogError {
        LogError::Corrupt {
            at: format!("{} byte {position}", self.segment_path(segment).display()),
            reason,
        }
    }

    /// The frame of one commit: `records` (with the offsets they were given) and consumer
    /// `offsets` (group, partition, next offset). `None` when there is nothing to write.
    pub fn frame(
        &self,
        records: &[Appended<'_>],
        offsets: &[(&str, &TopicPartition, u64)],
    ) -> Result<Option<Vec<u8>>, LogError> {
        if records.is_empty() && offsets.is_empty() {
            return Ok(None);
        }
        let room: usize = records
            .iter()
            .map(|r| r.payload.len() + r.key.len() + 96)
            .sum();
        // The header's place first; the body is encoded right behind it, then the header is
        // filled in: no copy of the body.
        let mut frame = std::mem::take(&mut *self.spare.lock().unwrap_or_else(|p| p.into_inner()));
        frame.clear();
        frame.reserve(FRAME_HEADER as usize + room);
        frame.resize(FRAME_HEADER as usize, 0);
        self.encode(&mut frame, records, offsets)?;
        fill_header(&mut frame);
        Ok(Some(frame))
    }

    /// Hands a written frame's buffer back for the next frame; one of at most `SPARE_MAX`
    /// bytes is kept.
    pub fn recycle(&self, frame: Vec<u8>) {
        if frame.capacity() <= SPARE_MAX {
            *self.spare.lock().unwrap_or_else(|p| p.into_inner()) = frame;
        }
    }

    /// Appends a [`Journal::frame`] and makes it durable: [`Journal::write`], then
    /// [`Journal::sync`].
    pub fn append(&self, frame: Vec<u8>) -> Result<(), LogError> {
        let seq = self.write(frame)?;
        let durable = self.sync()?;
        assert!(
            durable >= seq,
            "a sync covers every frame written before it"
        );
        Ok(())
    }

    /// Writes a [`Journal::frame`] behind every frame written before it (one `write`) and
    /// returns its sequence number; readers see it once a [`Journal::sync`] made it durable.
    /// The caller holds the log's commit lock, so frames go in the order their offsets were
    /// handed out, and waited until every earlier frame was durable: the crash argument
    /// needs at most one frame on its way to disk. A failed write leaves the writer refusing
    /// more until the log is opened again (which cuts what the failure left).
    pub fn write(&self, frame: Vec<u8>) -> Result<u64, LogError> {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = self.usable(guard.as_mut(), "append")?;
        assert!(
            lock_syncing(&self.syncing).frames.is_empty(),
            "a frame is written only once every frame before it is durable"
        );
        if writer.length > 0 && writer.length + frame.len() as u64 > self.segment_bytes {
            self.rotate(writer)?;
        }
        if let Err(error) = writer.file.write_all(&frame) {
            let error = io_error(&self.segment_path(writer.segment), "writing")(error);
            return Err(writer.fail(error));
        }
        let position = writer.length;
        writer.length += frame.len() as u64;
        writer.written += 1;
        let seq = writer.written;
        lock_syncing(&self.syncing).frames.push_back(Unsynced {
            seq,
            segment: writer.segment,
            position,
            frame,
        });
        Ok(seq)
    }

    /// The sequence number of the last frame made durable (and shown to readers).
    pub fn durable(&self) -> u64 {
        lock_syncing(&self.syncing).durable
    }

    /// The sequence number of the last frame written.
    pub fn written(&self) -> u64 {
        let guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map_or(0, |writer| writer.written)
    }

    /// Makes every frame written so far durable with one `fdatasync` (a group commit: however
    /// many commits wrote frames since the last sync), then shows them to readers, in the
    /// order they were written. Returns the sequence number of the last durable frame.
    /// Frames of segments before the current one were synced when it was opened.
    pub fn sync(&self) -> Result<u64, LogError> {
        let (file, target, segment) = {
            let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let writer = self.usable(guard.as_mut(), "sync")?;
            (writer.sync.clone(), writer.written, writer.segment)
        };
        if lock_syncing(&self.syncing).durable >= target {
            return Ok(target);
        }
        if let Err(error) = file.sync_data() {
            let error = io_error(&self.segment_path(segment), "syncing")(error);
            return Err(self.break_writer(error));
        }
        let mut syncing = lock_syncing(&self.syncing);
        let mut index = write_lock(&self.index);
        let mut spare = None;
        while syncing.frames.front().is_some_and(|f| f.seq <= target) {
            let written = syncing.frames.pop_front().expect("the front was just seen");
            let body = &written.frame[FRAME_HEADER as usize..];
            if let Err(reason) = index.apply(written.segment, written.position, body) {
                drop(index);
                return Err(self.break_writer(LogError::Storage(format!(
                    "writing the embedded log in {}: a commit did not fit the log ({reason})",
                    self.path.display()
                ))));
            }
            index.lengths[written.segment] = written.position + written.frame.len() as u64;
            syncing.durable = written.seq;
            spare = Some(written.frame);
        }
        syncing.durable = syncing.durable.max(target);
        drop(index);
        drop(syncing);
        if let Some(frame) = spare {
            self.recycle(frame);
        }
        Ok(target)
    }

    /// Leaves the writer refusing more writes for `error`, which it returns.
    fn break_writer(&self, error: LogError) -> LogError {
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(writer) => writer.fail(error),
            None => error,
        }
    }

    /// The writer, unless the journal was opened for reading or an earlier write failed.
    fn usable<'w>(
        &self,
        writer: Option<&'w mut Writer>,
        operation: &'static str,
    ) -> Result<&'w mut Writer, LogError> {
        let writer = writer.ok_or(LogError::InvalidState {
            operation,
            state: "on a log opened for reading",
        })?;
        if let Some(cause) = &writer.broken {
            return Err(LogError::Storage(format!(
                "writing the embedded log in {}: an earlier write failed ({cause}); the log must be opened again",
                self.path.display()
            )));
        }
        Ok(writer)
    }

    /// Closes the current segment and opens the next. The closed one is synced first, so a
    /// sync of the new segment covers every frame written before it.
    fn rotate(&self, writer: &mut Writer) -> Result<(), LogError> {
        if let Err(error) = writer.file.sync_data() {
            let error = io_error(&self.segment_path(writer.segment), "syncing")(error);
            return Err(writer.fail(error));
        }
        let next = writer.segment + 1;
        let path = self.segment_path(next);
        let file = File::create_new(&path).map_err(io_error(&path, "creating"))?;
        sync_dir(&self.path.join(JOURNAL_DIR))?;
        let reader = File::open(&path).map_err(io_error(&path, "opening"))?;
        let sync = Arc::new(file.try_clone().map_err(io_error(&path, "opening"))?);
        write_lock(&self.files).push(Arc::new(reader));
        write_lock(&self.index).lengths.push(0);
        writer.file = file;
        writer.sync = sync;
        writer.segment = next;
        writer.length = 0;
        Ok(())
    }

    /// Appends the body's entries to `out` (which holds the frame header's place).
    fn encode(
        &self,
        out: &mut Vec<u8>,
        records: &[Appended<'_>],
        offsets: &[(&str, &TopicPartition, u64)],
    ) -> Result<(), LogError> {
        let mut sorted = Vec::with_capacity(records.len());
        for record in records {
            sorted.push((self.layout.index_of(record.partition)?, record));
        }
        // Stable: each partition's records stay in offset order.
        sorted.sort_by_key(|&(at, _)| at);
        let body_at = out.len();
        let mut runs: Vec<(u16, u32)> = Vec::new();
        let directory_at = out.len();
        let run_count = sorted
            .windows(2)
            .filter(|pair| pair[0].0 != pair[1].0)
            .count()
            + usize::from(!sorted.is_empty());
        let run_count = u16::try_from(run_count).expect("at most u16::MAX topic-partitions");
        out.push(ENTRY_DIRECTORY);
        out.extend_from_slice(&run_count.to_be_bytes());
        out.resize(out.len() + usize::from(run_count) * 6 + 4, 0);
        for (at, record) in sorted {
            if runs.last().is_none_or(|&(tp, _)| tp != at) {
                runs.push((at, body_position(out, body_at)?));
            }
            out.push(ENTRY_RECORD);
            out.extend_from_slice(&at.to_be_bytes());
            out.extend_from_slice(&record.offset.to_be_bytes());
            let length_at = out.len();
            out.extend_from_slice(&[0; 4]);
            store::encode_into(
                out,
                record.timestamp_ms,
                Some(record.key),
                record.headers,
                record.payload,
            );
            let length = (out.len() - length_at - 4) as u32;
            out[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
        }
        let records_end = body_position(out, body_at)?;
        let mut directory = &mut out[directory_at + 3..];
        for (tp, start) in runs {
            directory[..2].copy_from_slice(&tp.to_be_bytes());
            directory[2..6].copy_from_slice(&start.to_be_bytes());
            directory = &mut directory[6..];
        }
        directory[..4].copy_from_slice(&records_end.to_be_bytes());
        for (group, tp, next) in offsets {
            let at = self.layout.index_of(tp)?;
            let group_len = u16::try_from(group.len())
                .map_err(|_| LogError::Config(format!("group name of {} bytes", group.len())))?;
            out.push(ENTRY_OFFSET);
            out.extend_from_slice(&at.to_be_bytes());
            out.extend_from_slice(&next.to_be_bytes());
            out.extend_from_slice(&group_len.to_be_bytes());
            out.extend_from_slice(group.as_bytes());
        }
        let body = out.len() as u64 - FRAME_HEADER;
        if body > FRAME_MAX {
            return Err(LogError::Config(format!(
                "one commit of {body} bytes; the embedded log takes at most {FRAME_MAX}"
            )));
        }
        Ok(())
    }
}

/// Fills in the header of `frame` (its first 16 bytes) for the body behind it.
fn fill_header(frame: &mut [u8]) {
    let (header, body) = frame.split_at_mut(FRAME_HEADER as usize);
    header[0..4].copy_from_slice(&FRAME_MAGIC.to_be_bytes());
    header[4..8].copy_from_slice(&(body.len() as u32).to_be_bytes());
    header[8..12].copy_from_slice(&crc32fast::hash(body).to_be_bytes());
    let header_crc = crc32fast::hash(&header[..12]);
    header[12..16].copy_from_slice(&header_crc.to_be_bytes());
}

/// Where the next byte of `out` falls in the frame body that starts at `body_at`.
fn body_position(out: &[u8], body_at: usize) -> Result<u32, LogError> {
    u32::try_from(out.len() - body_at).map_err(|_| {
        LogError::Config(format!(
            "one commit of more than {FRAME_MAX} bytes; the embedded log takes at most that"
        ))
    })
}

/// One record to append, with the offset it was given.
pub(crate) struct Appended<'a> {
    pub partition: &'a TopicPartition,
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: &'a [u8],
    pub headers: &'a Headers,
    pub payload: &'a [u8],
}

/// Writes the header file whole: to a temporary name, synced, then renamed over.
fn write_header(path: &Path, layout: &Layout) -> Result<(), LogError> {
    let final_path = path.join(HEADER_FILE);
    let temporary = path.join(format!("{HEADER_FILE}.tmp"));
    let mut file = File::create(&temporary).map_err(io_error(&temporary, "creating"))?;
    file.write_all(layout.header_text().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary, "writing"))?;
    std::fs::rename(&temporary, &final_path).map_err(io_error(&final_path, "renaming"))?;
    sync_dir(path)
}

/// A reader's share of the writer lock: refused while a writer holds the directory (read
/// through it instead), and taken without writing anything (no lock file: no writer ever).
fn lock_reader(path: &Path) -> Result<Option<File>, LogError> {
    let lock_path = path.join(LOCK_FILE);
    let file = match File::open(&lock_path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io_error(&lock_path, "opening")(error)),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::InUse {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(io_error(&lock_path, "locking")(error)),
    }
}

/// Takes the directory's writer lock, or says who holds it.
fn lock_writer(path: &Path) -> Result<Option<File>, LogError> {
    let lock_path = path.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_error(&lock_path, "opening"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::InUse {
            path: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(io_error(&lock_path, "locking")(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<(String, u32)> {
        vec![("t.commands".to_owned(), 2), ("t.events".to_owned(), 2)]
    }

    fn tp(topic: &str, partition: u32) -> TopicPartition {
        TopicPartition::new(format!("t.{topic}"), partition)
    }

    /// Appends one frame: `count` records to `partition` from its end, and an offset.
    fn commit(journal: &Journal, partition: &TopicPartition, count: u64, group_next: Option<u64>) {
        journal
            .append(frame_of(journal, partition, count, group_next))
            .unwrap();
    }

    /// One frame of `count` records to `partition` from its end, and an offset.
    fn frame_of(
        journal: &Journal,
        partition: &TopicPartition,
        count: u64,
        group_next: Option<u64>,
    ) -> Vec<u8> {
        let start = journal.end(partition).unwrap();
        let headers = Headers::for_message("application/json", "T", 1);
        let payloads: Vec<Vec<u8>> = (start..start + count)
            .map(|n| format!("{partition}#{n}").into_bytes())
            .collect();
        let records: Vec<Appended<'_>> = payloads
            .iter()
            .zip(start..)
            .map(|(payload, offset)| Appended {
                partition,
                offset,
                timestamp_ms: 7,
                key: b"k",
                headers: &headers,
                payload,
            })
            .collect();
        let offsets: Vec<(&str, &TopicPartition, u64)> = group_next
            .map(|next| ("g", partition, next))
            .into_iter()
            .collect();
        journal.frame(&records, &offsets).unwrap().unwrap()
    }

    fn payloads(journal: &Journal, partition: &TopicPartition, from: u64) -> Vec<String> {
        journal
            .read(partition, from, 1000)
            .unwrap()
            .into_iter()
            .map(|r| String::from_utf8(r.payload).unwrap())
            .collect()
    }

    fn segment(dir: &Path, n: usize) -> PathBuf {
        dir.join(JOURNAL_DIR).join(segment_name(n))
    }

    /// Every file under `dir` with its bytes: what a reader must leave as it was.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut files = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(at) = todo.pop() {
            for entry in std::fs::read_dir(&at).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path);
                } else {
                    files.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    }

    /// A new, empty journal in `dir`, opened for writing.
    fn empty(dir: &Path) -> Journal {
        Journal::create(dir, topics()).unwrap();
        Journal::open(dir, true, &topics()).unwrap()
    }

    fn written(dir: &Path) -> Journal {
        let journal = empty(dir);
        commit(&journal, &tp("commands", 0), 3, None);
        commit(&journal, &tp("events", 1), 2, Some(3));
        commit(&journal, &tp("commands", 0), 1, Some(4));
        journal
    }

    #[test]
    fn a_written_frame_is_shown_to_readers_once_a_sync_made_it_durable() {
        let dir = tempfile::tempdir().unwrap();
        let journal = empty(dir.path());
        let commands = tp("commands", 0);
        let seq = journal
            .write(frame_of(&journal, &commands, 3, Some(3)))
            .unwrap();
        assert_eq!((seq, journal.written()), (1, 1));
        assert_eq!(
            journal.end(&commands).unwrap(),
            0,
            "written, not yet durable"
        );
        assert_eq!(journal.committed("g", &commands).unwrap(), 0);
        assert!(payloads(&journal, &commands, 0).is_empty());
        assert_eq!(journal.sync().unwrap(), 1);
        assert_eq!(journal.end(&commands).unwrap(), 3);
        assert_eq!(journal.committed("g", &commands).unwrap(), 3);
        assert_eq!(payloads(&journal, &commands, 0).len(), 3);
        assert_eq!(journal.sync().unwrap(), 1, "nothing more to sync");
    }

    #[test]
    #[should_panic(expected = "a frame is written only once every frame before it is durable")]
    fn a_frame_waits_for_the_one_before_to_be_durable() {
        let dir = tempfile::tempdir().unwrap();
        let journal = empty(dir.path());
        let commands = tp("commands", 0);
        journal
            .write(frame_of(&journal, &commands, 1, None))
            .unwrap();
        // The crash argument allows one frame on its way to disk: a second is a bug.
        let _ = journal.write(frame_of(&journal, &commands, 1, None));
    }

    #[test]
    fn commits_read_back_in_order_after_reopening_and_a_reader_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        drop(written(dir.path()));
        let before = snapshot(dir.path());
        let reader = Journal::open(dir.path(), false, &topics()).unwrap();
        let commands = tp("commands", 0);
        assert_eq!(payloads(&reader, &commands, 0).len(), 4);
        assert_eq!(
            payloads(&reader, &commands, 2),
            ["t.commands[0]#2", "t.commands[0]#3"]
        );
        assert_eq!(
            payloads(&reader, &tp("events", 1), 0),
            ["t.events[1]#0", "t.events[1]#1"]
        );
        assert!(payloads(&reader, &tp("events", 0), 0).is_empty());
        assert_eq!(reader.committed("g", &commands).unwrap(), 4);
        assert_eq!(reader.committed("g", &tp("events", 1)).unwrap(), 3);
        assert_eq!(reader.committed("other", &commands).unwrap(), 0);
        assert!(
            reader.append(b"x".to_vec()).is_err(),
            "a reader cannot append"
        );
        drop(reader);
        assert_eq!(
            snapshot(dir.path()),
            before,
            "the reader changed the directory"
        );
    }

    #[test]
    fn a_torn_last_frame_is_ignored_by_readers_and_cut_by_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        drop(written(dir.path()));
        let path = segment(dir.path(), 0);
        let whole = std::fs::metadata(&path).unwrap().len();
        let frame = {
            let journal = Journal::open(dir.path(), false, &topics()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            drop(journal);
            bytes[..40].to_vec()
        };
        for cut in [5, 12, 20, 40] {
            std::fs::write(
                &path,
                [std::fs::read(&path).unwrap(), frame[..cut].to_vec()].concat(),
            )
            .unwrap();
            let reader = Journal::open(dir.path(), false, &topics()).unwrap();
            assert_eq!(
                payloads(&reader, &tp("commands", 0), 0).len(),
                4,
                "cut {cut}"
            );
            drop(reader);
            assert!(
                std::fs::metadata(&path).unwrap().len() > whole,
                "the reader cut nothing"
            );
            let writer = Journal::open(dir.path(), true, &topics()).unwrap();
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                whole,
                "the writer cut the tail"
            );
            drop(writer);
        }
        let writer = Journal::open(dir.path(), true, &topics()).unwrap();
        commit(&writer, &tp("commands", 0), 1, None);
        assert_eq!(
            payloads(&writer, &tp("commands", 0), 4),
            ["t.commands[0]#4"]
        );
    }

    #[test]
    fn a_flipped_byte_before_the_end_is_corruption_with_its_place() {
        let dir = tempfile::tempdir().unwrap();
        drop(written(dir.path()));
        let path = segment(dir.path(), 0);
        let clean = std::fs::read(&path).unwrap();
        for at in [0, 3, 5, 11, 12, 15, 16, 30] {
            let mut bytes = clean.clone();
            bytes[at] ^= 0x40;
            std::fs::write(&path, &bytes).unwrap();
            for write in [false, true] {
                let error = Journal::open(dir.path(), write, &topics())
                    .err()
                    .expect("refused");
                let LogError::Corrupt { at: place, .. } = &error else {
                    panic!("byte {at}: {error}")
                };
                assert!(place.contains("00000000000000000000.seg byte"), "{error}");
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    bytes,
                    "nothing cut at byte {at}"
                );
            }
        }
    }

    #[test]
    fn segments_roll_over_and_read_across() {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = empty(dir.path());
        journal.segment_bytes = 300;
        let commands = tp("commands", 1);
        for _ in 0..20 {
            commit(&journal, &commands, 2, None);
            commit(&journal, &tp("events", 0), 1, None);
        }
        assert!(segment(dir.path(), 3).exists(), "several segments");
        drop(journal);
        let reader = Journal::open(dir.path(), false, &topics()).unwrap();
        let all = payloads(&reader, &commands, 0);
        assert_eq!(all.len(), 40);
        assert_eq!(all[37], "t.commands[1]#37");
        assert_eq!(payloads(&reader, &commands, 39), ["t.commands[1]#39"]);
    }

    /// One frame with records of three partitions interleaved, as a group commit of several
    /// publishers writes them.
    fn interleaved(journal: &Journal) -> Vec<u8> {
        let headers = Headers::for_message("application/json", "T", 1);
        let order = [
            ("commands", 0),
            ("events", 1),
            ("commands", 0),
            ("commands", 1),
        ]
        .repeat(3)
        .into_iter()
        .map(|(topic, partition)| tp(topic, partition))
        .collect::<Vec<_>>();
        let mut next = HashMap::new();
        let mut payloads = Vec::new();
        for partition in &order {
            let offset = next.entry(partition.clone()).or_insert(0);
            payloads.push((*offset, format!("{partition}#{offset}").into_bytes()));
            *offset += 1;
        }
        let records: Vec<Appended<'_>> = order
            .iter()
            .zip(&payloads)
            .map(|(partition, (offset, payload))| Appended {
                partition,
                offset: *offset,
                timestamp_ms: 7,
                key: b"k",
                headers: &headers,
                payload,
            })
            .collect();
        journal
            .frame(&records, &[("g", &order[0], 6)])
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_reader_finds_its_partition_through_the_frame_directory() {
        let dir = tempfile::tempdir().unwrap();
        let journal = empty(dir.path());
        let frame = interleaved(&journal);
        let body = &frame[FRAME_HEADER as usize..];
        let runs: Vec<Span> = (0..4).map(|at| span_of(body, at).unwrap()).collect();
        let Span::Run(first, _) = runs[0] else {
            panic!("commands[0] has records: {runs:?}")
        };
        assert_eq!(
            first,
            3 + 3 * 6 + 4,
            "commands[0]'s run follows the directory"
        );
        assert_eq!(runs[2], Span::Nothing, "events[0] has no records here");
        journal.append(frame).unwrap();
        commit(&journal, &tp("events", 0), 2, None);
        drop(journal);
        let reader = Journal::open(dir.path(), false, &topics()).unwrap();
        for (partition, count) in [(tp("commands", 0), 6), (tp("commands", 1), 3)] {
            let expected: Vec<String> = (0..count).map(|n| format!("{partition}#{n}")).collect();
            assert_eq!(payloads(&reader, &partition, 0), expected);
            // One record at a time: each read resumes mid-run where the last stopped.
            let one_by_one: Vec<String> = (0..count)
                .map(|n| {
                    let records = reader.read(&partition, n, 1).unwrap();
                    String::from_utf8(records[0].payload.clone()).unwrap()
                })
                .collect();
            assert_eq!(one_by_one, expected);
        }
        assert_eq!(
            payloads(&reader, &tp("events", 1), 1),
            ["t.events[1]#1", "t.events[1]#2"]
        );
        assert_eq!(
            payloads(&reader, &tp("events", 0), 0),
            ["t.events[0]#0", "t.events[0]#1"]
        );
        assert_eq!(reader.committed("g", &tp("commands", 0)).unwrap(), 6);
    }

    #[test]
    fn a_format_1_log_is_read_and_its_writer_upgrades_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let journal = empty(dir.path());
        // A frame as format 1 wrote it: the same entries, no directory.
        let frame = interleaved(&journal);
        let body = &frame[FRAME_HEADER as usize..];
        let Span::Run(first, _) = span_of(body, 0).unwrap() else {
            panic!("commands[0] has records")
        };
        let mut old = vec![0; FRAME_HEADER as usize];
        old.extend_from_slice(&body[first..]);
        fill_header(&mut old);
        journal.append(old).unwrap();
        drop(journal);
        let header = dir.path().join(HEADER_FILE);
        let text = std::fs::read_to_string(&header).unwrap();
        std::fs::write(&header, text.replace(FORMAT_LINE, FORMAT_LINE_1)).unwrap();

        let reader = Journal::open(dir.path(), false, &topics()).unwrap();
        assert_eq!(
            payloads(&reader, &tp("commands", 0), 4),
            ["t.commands[0]#4", "t.commands[0]#5"]
        );
        assert_eq!(payloads(&reader, &tp("commands", 1), 0).len(), 3);
        drop(reader);
        assert!(
            std::fs::read_to_string(&header)
                .unwrap()
                .contains(FORMAT_LINE_1),
            "a reader upgrades nothing"
        );

        let writer = Journal::open(dir.path(), true, &topics()).unwrap();
        assert!(std::fs::read_to_string(&header)
            .unwrap()
            .contains(FORMAT_LINE));
        commit(&writer, &tp("commands", 1), 2, None);
        drop(writer);
        let reader = Journal::open(dir.path(), false, &topics()).unwrap();
        let all = payloads(&reader, &tp("commands", 1), 0);
        assert_eq!(all.len(), 5);
        assert_eq!(all[4], "t.commands[1]#4");
    }

    #[test]
    fn a_directory_that_does_not_fit_its_frame_is_an_error() {
        let run = |start: u32, end: u32| {
            let mut body = vec![ENTRY_DIRECTORY, 0, 1, 0, 0];
            body.extend_from_slice(&start.to_be_bytes());
            body.extend_from_slice(&end.to_be_bytes());
            body.resize(20, 0);
            body
        };
        assert_eq!(span_of(&run(13, 20), 0), Ok(Span::Run(13, 20)));
        assert_eq!(span_of(&run(13, 20), 1), Ok(Span::Nothing));
        for (start, end) in [(13, 21), (5, 20), (15, 14)] {
            assert!(span_of(&run(start, end), 0).is_err(), "{start}..{end}");
        }
        assert!(
            span_of(&[ENTRY_DIRECTORY, 0, 9, 0], 0).is_err(),
            "cut short"
        );
        assert_eq!(span_of(&[ENTRY_RECORD], 0), Ok(Span::Whole));
    }
}
