//! The aggregates `verify` follows, in bounded memory.
//!
//! Following an aggregate means keeping its state (to check its next event against) and its
//! chain head (for the digest). An aggregate's events all share one partition and the log is
//! read partition by partition, so when the read moves on, the finished partition's states
//! are dropped and only chain heads kept. Within a partition at most `states_limit` states
//! live in memory; the least recently used leave — a tenth at a time, in one write — for a
//! scratch file, from where a later event brings them back (see [`Spilled`]). Heads are small, but there
//! is one per aggregate of the whole log: past `heads_limit` they are written out as sorted
//! runs, and the digest merges the runs in name order (its canonical order). So memory is
//! bounded by the two limits, not by the log; the scratch directory (a temporary one) is made
//! only when something must go there.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;

use lru::LruCache;
use order_events::codec;
use order_events::envelope::EventHash;
use projections::CommissionSoFar;
use serde::{Deserialize, Serialize};

use crate::state::State;
use crate::ReplayError;

/// Aggregate states kept in memory by default (about 3 KiB each for an order: ~600 MiB).
pub const STATES_IN_MEMORY: usize = 200_000;

/// Chain heads kept in memory by default (about 100 bytes each: ~100 MiB).
pub const HEADS_IN_MEMORY: usize = 1_000_000;

/// One aggregate as `verify` follows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Followed {
    pub sequence: u64,
    pub hash: EventHash,
    /// `None` once a break made the state unknowable, or when the aggregate's history began
    /// before the read did: later events are still chain-checked.
    pub state: Option<State>,
    /// An order's commission so far, which its refunds' entries depend on.
    pub commission: CommissionSoFar,
}

impl Followed {
    /// An aggregate followed from `sequence`/`hash` on, in a state nobody knows.
    pub fn from_head(sequence: u64, hash: EventHash) -> Followed {
        Followed {
            sequence,
            hash,
            state: None,
            commission: CommissionSoFar::default(),
        }
    }
}

fn scratch_failed(error: impl std::fmt::Display) -> ReplayError {
    ReplayError::Scratch(error.to_string())
}

/// The scratch directory: states of the current partition that left memory, and runs of
/// heads.
struct Scratch {
    states: Option<Spilled>,
    /// Files of heads, each sorted by name, in the order written.
    runs: Vec<std::path::PathBuf>,
    /// Files written so far (names new ones).
    written: usize,
    dir: tempfile::TempDir,
}

/// One partition's states that left memory: appended to a file of their own, found again
/// through an index in memory from a 128-bit digest of the name to the record's place (about
/// 40 bytes per spilled aggregate, where its state takes kilobytes). A record is
/// `[name length: u16 BE][name][sequence: u64 BE][hash: 32 bytes][state]`, so the partition's
/// heads can be read back at its end. A state brought back leaves its record behind as
/// garbage; the file is removed when the partition is done, so it never outgrows one
/// partition. (Before, this was a sled store: its writes and read-backs were 14 % of a
/// `verify` of the 10 M-event log, BENCHMARKS.md.)
struct Spilled {
    file: File,
    /// Bytes written so far: where the next record goes.
    length: u64,
    index: HashMap<u128, (u64, u32)>,
    path: std::path::PathBuf,
}

impl Spilled {
    fn create(path: std::path::PathBuf) -> Result<Spilled, ReplayError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(scratch_failed)?;
        Ok(Spilled {
            file,
            length: 0,
            index: HashMap::new(),
            path,
        })
    }

    /// Appends `states` in one write.
    fn put(&mut self, states: Vec<(String, Followed)>) -> Result<(), ReplayError> {
        let mut bytes = Vec::new();
        for (name, followed) in states {
            let at = self.length + bytes.len() as u64;
            let name_length = u16::try_from(name.len())
                .map_err(|_| scratch_failed("an aggregate name longer than 64 KiB"))?;
            bytes.extend_from_slice(&name_length.to_be_bytes());
            bytes.extend_from_slice(name.as_bytes());
            bytes.extend_from_slice(&followed.sequence.to_be_bytes());
            bytes.extend_from_slice(&followed.hash.0);
            bytes.extend_from_slice(&codec::encode_cache_value(&followed));
            let length = self.length + bytes.len() as u64 - at;
            let length = u32::try_from(length)
                .map_err(|_| scratch_failed("a followed aggregate larger than 4 GiB"))?;
            self.index.insert(name_digest(&name), (at, length));
        }
        self.file
            .write_all_at(&bytes, self.length)
            .map_err(scratch_failed)?;
        self.length += bytes.len() as u64;
        Ok(())
    }

    /// The record at `at`, `length` bytes long.
    fn read(&self, (at, length): (u64, u32)) -> Result<SpilledRecord, ReplayError> {
        let mut bytes = vec![0; length as usize];
        self.file
            .read_exact_at(&mut bytes, at)
            .map_err(scratch_failed)?;
        SpilledRecord::parse(bytes)
    }

    /// `name`'s state, taken out of the index; `None` when it was not spilled.
    fn take(&mut self, name: &str) -> Result<Option<Followed>, ReplayError> {
        let Some(place) = self.index.remove(&name_digest(name)) else {
            return Ok(None);
        };
        let record = self.read(place)?;
        if record.name != name {
            return Err(scratch_failed(format!(
                "two aggregate names with one digest: {name} and {}",
                record.name
            )));
        }
        decode(&record.state).map(Some)
    }

    /// Every spilled aggregate's name and head, in the order written.
    fn heads(&self) -> Result<Vec<(String, u64, EventHash)>, ReplayError> {
        let mut places: Vec<(u64, u32)> = self.index.values().copied().collect();
        places.sort_unstable();
        places
            .into_iter()
            .map(|place| {
                let record = self.read(place)?;
                Ok((record.name, record.sequence, record.hash))
            })
            .collect()
    }
}

/// One record of a [`Spilled`] file, parsed.
struct SpilledRecord {
    name: String,
    sequence: u64,
    hash: EventHash,
    state: Vec<u8>,
}

impl SpilledRecord {
    fn parse(bytes: Vec<u8>) -> Result<SpilledRecord, ReplayError> {
        let cut = || scratch_failed("a spilled state cut short");
        let name_length = usize::from(u16::from_be_bytes(
            bytes.get(..2).ok_or_else(cut)?.try_into().expect("2 bytes"),
        ));
        let name_end = 2 + name_length;
        let name = name_from(bytes.get(2..name_end).ok_or_else(cut)?.to_vec())?;
        let sequence = bytes.get(name_end..name_end + 8).ok_or_else(cut)?;
        let hash = bytes.get(name_end + 8..name_end + 40).ok_or_else(cut)?;
        Ok(SpilledRecord {
            name,
            sequence: u64::from_be_bytes(sequence.try_into().expect("8 bytes")),
            hash: EventHash(hash.try_into().expect("32 bytes")),
            state: bytes[name_end + 40..].to_vec(),
        })
    }
}

/// A 128-bit digest of an aggregate name: two SipHash-1-3 runs under fixed, distinct keys. Two
/// names with one digest are told apart when read back (an error, not a wrong answer).
fn name_digest(name: &str) -> u128 {
    let half = |key: u8| {
        let mut hasher =
            std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().build_hasher();
        hasher.write_u8(key);
        hasher.write(name.as_bytes());
        hasher.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

impl Scratch {
    fn open() -> Result<Scratch, ReplayError> {
        let dir = tempfile::Builder::new()
            .prefix("replay-tool-")
            .tempdir()
            .map_err(scratch_failed)?;
        Ok(Scratch {
            states: None,
            runs: Vec::new(),
            written: 0,
            dir,
        })
    }

    fn next_path(&mut self, kind: &str) -> std::path::PathBuf {
        self.written += 1;
        self.dir.path().join(format!("{kind}-{}", self.written))
    }

    fn states(&mut self) -> Result<&mut Spilled, ReplayError> {
        if self.states.is_none() {
            let path = self.next_path("states");
            self.states = Some(Spilled::create(path)?);
        }
        Ok(self.states.as_mut().expect("created above"))
    }
}

/// An aggregate name read back from the scratch directory.
fn name_from(bytes: Vec<u8>) -> Result<String, ReplayError> {
    String::from_utf8(bytes)
        .map_err(|_| scratch_failed("an aggregate name in the scratch directory is not UTF-8"))
}

fn decode(bytes: &[u8]) -> Result<Followed, ReplayError> {
    codec::decode_cache_value("a followed aggregate", bytes).map_err(scratch_failed)
}

/// A run record: name length (u32 BE), name, sequence (u64 BE), hash (32 bytes).
fn write_head(
    out: &mut impl Write,
    name: &str,
    sequence: u64,
    hash: &EventHash,
) -> std::io::Result<()> {
    out.write_all(&(name.len() as u32).to_be_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&sequence.to_be_bytes())?;
    out.write_all(&hash.0)
}

/// The next record of a run; `None` at its end.
fn read_head(input: &mut impl Read) -> Result<Option<(String, u64, EventHash)>, ReplayError> {
    let mut len = [0; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(scratch_failed(error)),
    }
    let mut name = vec![0; u32::from_be_bytes(len) as usize];
    let mut sequence = [0; 8];
    let mut hash = [0; 32];
    input
        .read_exact(&mut name)
        .and_then(|()| input.read_exact(&mut sequence))
        .and_then(|()| input.read_exact(&mut hash))
        .map_err(scratch_failed)?;
    let name = name_from(name)?;
    Ok(Some((name, u64::from_be_bytes(sequence), EventHash(hash))))
}

/// Every aggregate followed so far; see the module documentation.
pub(crate) struct Followers {
    states_limit: usize,
    heads_limit: usize,
    /// The current partition's aggregates in memory, most recently used first.
    live: LruCache<String, Followed>,
    /// Chain heads of finished partitions' aggregates not yet written to a run.
    heads: BTreeMap<String, (u64, EventHash)>,
    scratch: Option<Scratch>,
}

impl Default for Followers {
    fn default() -> Followers {
        Followers::new(STATES_IN_MEMORY, HEADS_IN_MEMORY)
    }
}

impl Followers {
    pub fn new(states_limit: usize, heads_limit: usize) -> Followers {
        Followers {
            states_limit: states_limit.max(1),
            heads_limit: heads_limit.max(1),
            live: LruCache::unbounded(),
            heads: BTreeMap::new(),
            scratch: None,
        }
    }

    fn scratch(&mut self) -> Result<&mut Scratch, ReplayError> {
        if self.scratch.is_none() {
            self.scratch = Some(Scratch::open()?);
        }
        Ok(self.scratch.as_mut().expect("opened above"))
    }

    /// The aggregate `name`, brought into memory: from the live set, the scratch store, or —
    /// as a chain head with its state unknown — the heads of finished partitions still in
    /// memory. `None` when not found. (An aggregate whose head went to a run already is not
    /// found: its next event is then reported as a sequence gap, which it is for a log that
    /// put one aggregate's events in two partitions.)
    pub fn find(&mut self, name: &str) -> Result<Option<&mut Followed>, ReplayError> {
        if self.live.contains(name) {
            return Ok(self.live.get_mut(name));
        }
        let mut found = None;
        if let Some(states) = self.scratch.as_mut().and_then(|s| s.states.as_mut()) {
            found = states.take(name)?;
        }
        if found.is_none() {
            found = self
                .heads
                .remove(name)
                .map(|(sequence, hash)| Followed::from_head(sequence, hash));
        }
        match found {
            Some(followed) => self.insert(name.to_owned(), followed).map(Some),
            None => Ok(None),
        }
    }

    /// Follows `name` from `followed` on (it must not be followed already).
    pub fn insert(
        &mut self,
        name: String,
        followed: Followed,
    ) -> Result<&mut Followed, ReplayError> {
        if self.live.len() >= self.states_limit {
            let evicted = (0..(self.states_limit / 10).max(1))
                .map_while(|_| self.live.pop_lru())
                .collect();
            self.scratch()?.states()?.put(evicted)?;
        }
        self.live.put(name.clone(), followed);
        Ok(self.live.get_mut(&name).expect("put just now"))
    }

    /// The read moved on from a partition: its aggregates' states are dropped, their chain
    /// heads kept.
    pub fn finish_partition(&mut self) -> Result<(), ReplayError> {
        while let Some((name, followed)) = self.live.pop_lru() {
            self.keep_head(name, followed.sequence, followed.hash)?;
        }
        let Some(spilled) = self.scratch.as_mut().and_then(|s| s.states.take()) else {
            return Ok(());
        };
        for (name, sequence, hash) in spilled.heads()? {
            self.keep_head(name, sequence, hash)?;
        }
        let path = spilled.path.clone();
        drop(spilled);
        std::fs::remove_file(path).map_err(scratch_failed)?;
        Ok(())
    }

    fn keep_head(
        &mut self,
        name: String,
        sequence: u64,
        hash: EventHash,
    ) -> Result<(), ReplayError> {
        self.heads.insert(name, (sequence, hash));
        if self.heads.len() >= self.heads_limit {
            self.write_run()?;
        }
        Ok(())
    }

    /// Writes the heads in memory out as a sorted run; past [`RUNS_MAX`] runs, merges them
    /// all with it into one, so a merge never holds more than that many files open.
    fn write_run(&mut self) -> Result<(), ReplayError> {
        let heads = std::mem::take(&mut self.heads);
        let scratch = self.scratch()?;
        let path = scratch.next_path("heads");
        let mut out = BufWriter::new(File::create(&path).map_err(scratch_failed)?);
        let mut failure = None;
        let mut write = |name: String, sequence: u64, hash: EventHash| {
            if failure.is_none() {
                failure = write_head(&mut out, &name, sequence, &hash).err();
            }
        };
        if scratch.runs.len() >= RUNS_MAX {
            let runs = std::mem::take(&mut scratch.runs);
            merge(&runs, heads, &mut write)?;
            for run in runs {
                std::fs::remove_file(run).map_err(scratch_failed)?;
            }
        } else {
            for (name, (sequence, hash)) in heads {
                write(name, sequence, hash);
            }
        }
        if let Some(error) = failure {
            return Err(scratch_failed(error));
        }
        out.flush().map_err(scratch_failed)?;
        scratch.runs.push(path);
        Ok(())
    }

    /// Every chain head, in name order, to `each`. A name in several runs (one aggregate's
    /// events in two partitions) is given once, with its last head.
    pub fn heads(
        mut self,
        mut each: impl FnMut(String, u64, EventHash),
    ) -> Result<(), ReplayError> {
        self.finish_partition()?;
        let heads = std::mem::take(&mut self.heads);
        let runs = self
            .scratch
            .as_ref()
            .map(|scratch| scratch.runs.clone())
            .unwrap_or_default();
        merge(&runs, heads, &mut each)
    }
}

/// Most runs of heads kept before they are merged into one.
const RUNS_MAX: usize = 64;

/// Merges sorted `runs` (oldest first) and `memory` (the newest) into name order, to `each`;
/// of a name in several, the newest head.
fn merge(
    runs: &[std::path::PathBuf],
    memory: BTreeMap<String, (u64, EventHash)>,
    each: &mut impl FnMut(String, u64, EventHash),
) -> Result<(), ReplayError> {
    let mut readers = Vec::new();
    for path in runs {
        readers.push(BufReader::new(File::open(path).map_err(scratch_failed)?));
    }
    let mut memory = memory.into_iter();
    let mut next = |run: usize| -> Result<Option<(String, u64, EventHash)>, ReplayError> {
        match readers.get_mut(run) {
            Some(reader) => read_head(reader),
            None => Ok(memory
                .next()
                .map(|(name, (sequence, hash))| (name, sequence, hash))),
        }
    };
    // Smallest name first; among equal names, the newest run (the highest number) first.
    let mut queue = BinaryHeap::new();
    for run in 0..=runs.len() {
        if let Some((name, sequence, hash)) = next(run)? {
            queue.push((Reverse(name), run, sequence, hash));
        }
    }
    let mut last: Option<String> = None;
    while let Some((Reverse(name), run, sequence, hash)) = queue.pop() {
        if let Some((following, sequence, hash)) = next(run)? {
            queue.push((Reverse(following), run, sequence, hash));
        }
        if last.as_deref() == Some(name.as_str()) {
            continue;
        }
        last = Some(name.clone());
        each(name, sequence, hash);
    }
    Ok(())
}
