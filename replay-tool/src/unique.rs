//! Event ids seen by `verify`, in bounded memory: every id must occur once in the whole log.
//!
//! Ids are collected with where they were found; past `limit` in memory, the batch is sorted
//! and written out as a run. At the end the runs and the last batch are merged in id order, so
//! two records with one id meet side by side. Memory is bounded by the limit, not by the log;
//! the scratch directory is made only when a run must be written.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};

use uuid::Uuid;

use crate::ReplayError;

/// Ids kept in memory before a run is written (28 bytes each: ~28 MiB).
pub const IDS_IN_MEMORY: usize = 1_000_000;

/// Where an event id was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sighting {
    pub event_id: Uuid,
    pub partition: u32,
    pub offset: u64,
}

const SIGHTING_BYTES: usize = 16 + 4 + 8;

impl Sighting {
    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(self.event_id.as_bytes())?;
        out.write_all(&self.partition.to_be_bytes())?;
        out.write_all(&self.offset.to_be_bytes())
    }

    fn read(input: &mut impl Read) -> std::io::Result<Option<Sighting>> {
        let mut bytes = [0u8; SIGHTING_BYTES];
        match input.read_exact(&mut bytes) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(error) => return Err(error),
        }
        let event_id = Uuid::from_slice(&bytes[..16]).expect("16 bytes");
        let partition = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        let offset = u64::from_be_bytes(bytes[20..].try_into().expect("8 bytes"));
        Ok(Some(Sighting {
            event_id,
            partition,
            offset,
        }))
    }
}

/// A second record under an id already seen: `first` is where the id occurred first (in the
/// order partitions and offsets sort), `again` the later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeated {
    pub first: Sighting,
    pub again: Sighting,
}

fn scratch_failed(error: impl std::fmt::Display) -> ReplayError {
    ReplayError::Scratch(error.to_string())
}

pub struct EventIds {
    limit: usize,
    batch: Vec<Sighting>,
    runs: Vec<std::path::PathBuf>,
    dir: Option<tempfile::TempDir>,
}

impl Default for EventIds {
    fn default() -> EventIds {
        EventIds::new(IDS_IN_MEMORY)
    }
}

impl EventIds {
    pub fn new(limit: usize) -> EventIds {
        EventIds {
            limit: limit.max(1),
            batch: Vec::new(),
            runs: Vec::new(),
            dir: None,
        }
    }

    pub fn add(&mut self, sighting: Sighting) -> Result<(), ReplayError> {
        self.batch.push(sighting);
        if self.batch.len() >= self.limit {
            self.write_run()?;
        }
        Ok(())
    }

    fn write_run(&mut self) -> Result<(), ReplayError> {
        self.batch.sort_unstable();
        if self.dir.is_none() {
            self.dir = Some(tempfile::tempdir().map_err(scratch_failed)?);
        }
        let dir = self.dir.as_ref().expect("made above");
        let path = dir.path().join(format!("ids-{}", self.runs.len()));
        let mut out = BufWriter::new(File::create(&path).map_err(scratch_failed)?);
        for sighting in self.batch.drain(..) {
            sighting.write(&mut out).map_err(scratch_failed)?;
        }
        out.flush().map_err(scratch_failed)?;
        self.runs.push(path);
        Ok(())
    }

    /// Every id that occurred more than once, each later occurrence with the first.
    pub fn repeated(mut self) -> Result<Vec<Repeated>, ReplayError> {
        self.batch.sort_unstable();
        let mut sources: Vec<Box<dyn Iterator<Item = std::io::Result<Sighting>>>> = Vec::new();
        for path in &self.runs {
            let mut input = BufReader::new(File::open(path).map_err(scratch_failed)?);
            sources.push(Box::new(std::iter::from_fn(move || {
                Sighting::read(&mut input).transpose()
            })));
        }
        sources.push(Box::new(
            std::mem::take(&mut self.batch).into_iter().map(Ok),
        ));
        let mut heap = BinaryHeap::new();
        for (index, source) in sources.iter_mut().enumerate() {
            if let Some(next) = source.next() {
                heap.push(Reverse((next.map_err(scratch_failed)?, index)));
            }
        }
        let mut repeated = Vec::new();
        let mut first: Option<Sighting> = None;
        while let Some(Reverse((sighting, index))) = heap.pop() {
            match first {
                Some(seen) if seen.event_id == sighting.event_id => repeated.push(Repeated {
                    first: seen,
                    again: sighting,
                }),
                _ => first = Some(sighting),
            }
            if let Some(next) = sources[index].next() {
                heap.push(Reverse((next.map_err(scratch_failed)?, index)));
            }
        }
        Ok(repeated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: u128, partition: u32, offset: u64) -> Sighting {
        Sighting {
            event_id: Uuid::from_u128(id),
            partition,
            offset,
        }
    }

    #[test]
    fn repeats_are_found_across_runs_and_memory() {
        let mut ids = EventIds::new(3);
        let seen = [
            at(5, 0, 0),
            at(1, 0, 1),
            at(9, 1, 0),
            at(5, 2, 7),
            at(2, 1, 1),
            at(5, 0, 3),
            at(7, 3, 3),
        ];
        for sighting in seen {
            ids.add(sighting).unwrap();
        }
        assert_eq!(ids.runs.len(), 2, "two runs written, one id left in memory");
        let repeated = ids.repeated().unwrap();
        assert_eq!(
            repeated,
            vec![
                Repeated {
                    first: at(5, 0, 0),
                    again: at(5, 0, 3)
                },
                Repeated {
                    first: at(5, 0, 0),
                    again: at(5, 2, 7)
                },
            ]
        );
    }

    #[test]
    fn unique_ids_repeat_nothing() {
        let mut ids = EventIds::new(2);
        for n in 0..10 {
            ids.add(at(n, 0, n as u64)).unwrap();
        }
        assert!(ids.repeated().unwrap().is_empty());
    }
}
