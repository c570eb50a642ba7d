//! `rebuild --into DIR`: every read model rebuilt from scratch into a fresh store, then
//! compared with the live one, read model by read model (a digest each).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use event_log::{LogReader, Topic};
use projections::{ProjectionStore, Projector};
use serde::Serialize;

use crate::ReplayError;

/// What a rebuild produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebuildReport {
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Read model → digest of the rebuilt store.
    pub digests: BTreeMap<String, String>,
    /// Read model → digest of the live store, when one was given.
    pub live: Option<BTreeMap<String, String>>,
    /// Read models whose digests differ from the live ones.
    pub differences: Vec<String>,
    /// Set when the live store has not folded the log up to where the rebuild read it: then a
    /// difference may only be lag.
    pub live_behind: Option<String>,
}

/// Events folded per atomic store step: each key a chunk touches is written once.
const CHUNK: usize = 1000;

fn read_models(error: projections::StoreError) -> ReplayError {
    ReplayError::ReadModels(error.to_string())
}

/// The new store's page cache unless told otherwise: memory stays near it whatever the log's
/// length, and a larger cache buys little for a one-pass write (BENCHMARKS.md).
pub const STORE_CACHE_BYTES: u64 = 256 << 20;

/// How a rebuild runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildOptions {
    /// A progress bar (events/s, ETA) on stderr.
    pub progress: bool,
    /// The new store's page cache, in bytes.
    pub store_cache_bytes: u64,
}

impl Default for RebuildOptions {
    fn default() -> RebuildOptions {
        RebuildOptions {
            progress: false,
            store_cache_bytes: STORE_CACHE_BYTES,
        }
    }
}

/// Rebuilds every read model of `log` into a new store at `into` (which must not exist yet),
/// and compares with `live` if given.
pub async fn rebuild(
    log: &dyn LogReader,
    into: &Path,
    projector: Projector,
    live: Option<&ProjectionStore>,
    options: RebuildOptions,
) -> Result<RebuildReport, ReplayError> {
    if into.exists() {
        return Err(ReplayError::Output(format!(
            "{} exists; rebuild into a new directory",
            into.display()
        )));
    }
    let store = ProjectionStore::open_with_cache(into, projector, options.store_cache_bytes)
        .map_err(read_models)?;
    let ends = log.end_offsets(Topic::Events).await?;
    let total: u64 = ends.iter().sum();
    let bar = if options.progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} events  {per_sec}  ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut chunk = Vec::new();
    let mut events = 0u64;
    crate::scan(log, |record| {
        chunk.push(record.clone());
        if chunk.len() >= CHUNK {
            events += chunk.len() as u64;
            store.fold(&chunk).map_err(read_models)?;
            bar.inc(chunk.len() as u64);
            chunk.clear();
        }
        Ok(())
    })
    .await?;
    events += chunk.len() as u64;
    store.fold(&chunk).map_err(read_models)?;
    bar.finish_and_clear();
    store.flush().map_err(read_models)?;
    let seconds = started.elapsed().as_secs_f64();
    let to_strings = |digests: BTreeMap<&'static str, String>| -> BTreeMap<String, String> {
        digests
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    };
    let digests = to_strings(store.digests().map_err(read_models)?);
    let (live_digests, live_behind) = match live {
        Some(live) => {
            let checkpoints = live.checkpoints().map_err(read_models)?;
            let rebuilt = store.checkpoints().map_err(read_models)?;
            let behind = (checkpoints != rebuilt).then(|| {
                format!("the live read models are at {checkpoints:?} (partition → next offset), the rebuild at {rebuilt:?}")
            });
            (
                Some(to_strings(live.digests().map_err(read_models)?)),
                behind,
            )
        }
        None => (None, None),
    };
    let differences = live_digests
        .as_ref()
        .map(|live| {
            digests
                .iter()
                .filter(|(name, digest)| live.get(*name) != Some(digest))
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(RebuildReport {
        events,
        seconds,
        events_per_second: events as f64 / seconds.max(1e-9),
        digests,
        live: live_digests,
        differences,
        live_behind,
    })
}
