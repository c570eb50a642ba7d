//! The long-running parts of a process — the command handler, the projection worker — run as
//! tasks that are told to stop and then waited for: one way to start and stop them for
//! `ledger serve`, `submit` and `demo`.

use std::future::Future;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A spawned task that runs until it is stopped (or ends by itself).
pub struct Background<T> {
    stop: oneshot::Sender<()>,
    task: JoinHandle<T>,
}

impl<T: Send + 'static> Background<T> {
    /// Spawns what `run` makes of its shutdown signal: a future that completes once
    /// [`stop`](Self::stop) is called.
    pub fn spawn<F>(run: impl FnOnce(Stopped) -> F) -> Background<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(Stopped(stopped)));
        Background { stop, task }
    }

    /// Signals the task to stop and waits for what it ends with (an error if it panicked).
    pub async fn stop(self) -> Result<T, tokio::task::JoinError> {
        let _ = self.stop.send(());
        self.task.await
    }
}

/// The shutdown signal of a [`Background`] task: completes when it is stopped, or when its
/// handle is dropped.
pub struct Stopped(oneshot::Receiver<()>);

impl Stopped {
    pub async fn wait(self) {
        let _ = self.0.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_runs_until_stopped_and_hands_back_its_outcome() {
        let (ran, mut ran_rx) = tokio::sync::mpsc::unbounded_channel();
        let task = Background::spawn(move |stopped| async move {
            ran.send(()).unwrap();
            stopped.wait().await;
            7
        });
        ran_rx.recv().await.unwrap();
        assert_eq!(task.stop().await.unwrap(), 7);
    }
}
