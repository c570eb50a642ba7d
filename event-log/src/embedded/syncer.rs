//! The thread that makes the journal's written frames durable.
//!
//! A commit writes its frame under the log's commit lock and lets go of the lock before its
//! `fdatasync`: the syncer, one thread per writer, syncs and shows readers every frame written
//! so far ([`Journal::sync`]) and wakes whoever waits for them. A thread of its own rather
//! than a task on the runtime's blocking pool: a commit's wait is then one wake-up there and
//! one back, not a task spawned, scheduled behind the HTTP work and handed to a pool thread.
//! The journal allows one frame on its way to disk at a time (its crash argument), so a
//! commit first waits until the frames before it are durable ([`Syncer::settled`]).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::Notify;

use super::journal::Journal;
use crate::port::LogError;

pub(super) struct Syncer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    journal: Arc<Journal>,
    state: Mutex<State>,
    /// Wakes the thread: a frame was written, or the log is closing.
    wake: Condvar,
    /// Woken when frames became durable, or a sync failed.
    synced: Notify,
    /// The log's own notification of new records, woken with `synced`.
    changed: Arc<Notify>,
}

#[derive(Default)]
struct State {
    /// A sync failed: no frame after the journal's durable one will ever be durable.
    failed: Option<LogError>,
    /// The log is closing: the thread ends once every written frame is synced.
    stop: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Syncer {
    /// The syncer of a journal opened for writing (its thread starts here), or of one opened
    /// for reading (no thread: nothing is ever written).
    pub fn start(
        journal: Arc<Journal>,
        write: bool,
        changed: Arc<Notify>,
    ) -> Result<Syncer, LogError> {
        let shared = Arc::new(Shared {
            journal,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            synced: Notify::new(),
            changed,
        });
        let thread = if write {
            let shared = shared.clone();
            let thread = std::thread::Builder::new()
                .name("ledger-log-sync".to_owned())
                .spawn(move || shared.run())
                .map_err(|error| {
                    LogError::Storage(format!("starting the log's sync thread: {error}"))
                })?;
            Some(thread)
        } else {
            None
        };
        Ok(Syncer { shared, thread })
    }

    /// Asks for the frames written so far to be synced; called after every write.
    pub fn request(&self) {
        let _state = lock(&self.shared.state);
        self.shared.wake.notify_one();
    }

    /// Waits until frame `seq` is durable (and shown to readers), or its sync failed.
    pub async fn durable(&self, seq: u64) -> Result<(), LogError> {
        loop {
            let synced = self.shared.synced.notified();
            tokio::pin!(synced);
            synced.as_mut().enable();
            {
                let state = lock(&self.shared.state);
                if self.shared.journal.durable() >= seq {
                    return Ok(());
                }
                if let Some(error) = &state.failed {
                    return Err(error.clone());
                }
            }
            synced.await;
        }
    }

    /// Waits until every frame written so far is durable and shown to readers.
    pub async fn settled(&self) -> Result<(), LogError> {
        self.durable(self.shared.journal.written()).await
    }
}

impl Shared {
    fn run(&self) {
        loop {
            {
                let mut state = lock(&self.state);
                // Read under the lock a writer's `request` takes after its write: a frame
                // written after this look wakes the wait below.
                while state.failed.is_none() && self.journal.written() <= self.journal.durable() {
                    if state.stop {
                        return;
                    }
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
                if state.failed.is_some() {
                    return;
                }
            }
            if let Err(error) = self.journal.sync() {
                tracing::error!(%error, "syncing the embedded log failed");
                lock(&self.state).failed = Some(error);
            }
            // The journal's ends moved with the frames; wake whoever waits for them.
            self.changed.notify_waiters();
            self.synced.notify_waiters();
        }
    }
}

impl Drop for Syncer {
    /// Lets the thread sync what is written and end, and waits for it.
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
