//! The handler's waits: one shutdown signal that every wait of its loop watches, and one way
//! to retry what failed for the log's sake (a broker down, a leader moving).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use event_log::{retry_backoff, LogError};

/// The shutdown signal of a running handler.
pub(crate) struct Shutdown<'a, F: Future<Output = ()>> {
    signal: Pin<&'a mut F>,
    /// Whether the signal came: a finished future is not polled again.
    came: bool,
}

impl<'a, F: Future<Output = ()>> Shutdown<'a, F> {
    pub(crate) fn new(signal: Pin<&'a mut F>) -> Shutdown<'a, F> {
        Shutdown {
            signal,
            came: false,
        }
    }

    /// Completes when shutdown comes (at once if it came before).
    pub(crate) async fn signalled(&mut self) {
        if !self.came {
            self.signal.as_mut().await;
            self.came = true;
        }
    }

    /// Sleeps `duration` unless shutdown comes first; whether it came.
    pub(crate) async fn sleep(&mut self, duration: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.signalled() => true,
            () = tokio::time::sleep(duration) => false,
        }
    }
}

/// The failures in a row of one operation, and the wait before its next try.
pub(crate) struct Backoff {
    what: &'static str,
    failures: u32,
}

impl Backoff {
    pub(crate) fn new(what: &'static str) -> Backoff {
        Backoff { what, failures: 0 }
    }

    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// After `error`: waits out the backoff and says whether to try again (`false`: shutdown
    /// came meanwhile), or gives the error back when trying again cannot help.
    pub(crate) async fn after(
        &mut self,
        error: LogError,
        shutdown: &mut Shutdown<'_, impl Future<Output = ()>>,
    ) -> Result<bool, LogError> {
        if !error.is_retriable() {
            return Err(error);
        }
        self.failures += 1;
        tracing::warn!(%error, attempt = self.failures, "{} failed; retrying", self.what);
        Ok(!shutdown.sleep(retry_backoff(self.failures)).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker_down() -> LogError {
        LogError::Broker {
            retriable: true,
            message: "all brokers down".into(),
        }
    }

    #[tokio::test]
    async fn a_retry_wait_ends_when_shutdown_comes() {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async {
            let _ = stopped.await;
        };
        tokio::pin!(signal);
        let mut shutdown = Shutdown::new(signal);
        let mut backoff = Backoff::new("catch-up");
        // Enough failures in a row for the longest backoff (5 s).
        for _ in 0..10 {
            backoff.failures += 1;
        }
        stop.send(()).unwrap();
        let started = std::time::Instant::now();
        let again = backoff.after(broker_down(), &mut shutdown).await.unwrap();
        assert!(!again, "a retry after shutdown came");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "waited out the backoff"
        );
        // The signal came once; every later wait sees it without polling it again (an async
        // block polled after it finished panics).
        assert!(shutdown.sleep(Duration::from_secs(60)).await);
        shutdown.signalled().await;
    }

    #[tokio::test]
    async fn a_retry_waits_then_goes_on_and_what_cannot_be_retried_is_returned() {
        let signal = std::future::pending::<()>();
        tokio::pin!(signal);
        let mut shutdown = Shutdown::new(signal);
        let mut backoff = Backoff::new("recovery");
        assert!(backoff.after(broker_down(), &mut shutdown).await.unwrap());
        assert_eq!(backoff.failures, 1);
        backoff.succeeded();
        assert_eq!(backoff.failures, 0);
        let storage = LogError::Storage("disk full".into());
        let returned = backoff.after(storage, &mut shutdown).await.unwrap_err();
        assert!(matches!(returned, LogError::Storage(_)), "{returned:?}");
        assert_eq!(
            backoff.failures, 0,
            "a failure that is not retried is not counted"
        );
    }
}
