//! SIGTERM / Ctrl-C: health turns NOT_SERVING, the listener closes, calls in progress get the
//! drain timeout to finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::health::Health;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;

/// SIGINT and SIGTERM, caught from the moment this exists. Install it before the server
/// announces itself: until then a signal has its default action and kills the process without
/// a drain or a last-used flush.
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
    /// Fired once shutdown begins; a stored permit, so the drain clock starts even if nobody
    /// waits yet.
    requested: Arc<Notify>,
}

impl ShutdownSignals {
    pub fn install() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            requested: Arc::new(Notify::new()),
        })
    }

    /// Resolves at the first signal, once health says NOT_SERVING everywhere. The server stops
    /// accepting when this resolves.
    pub fn received(
        mut self,
        health: Health,
        store_monitor: tokio::task::AbortHandle,
    ) -> (impl Future<Output = ()>, Arc<Notify>) {
        let requested = Arc::clone(&self.requested);
        let received = async move {
            tokio::select! {
                _ = self.interrupt.recv() => {},
                _ = self.terminate.recv() => {},
            }
            tracing::info!("shutdown requested; draining in-flight calls");
            // Stopped first, so a store coming back during the drain cannot report SERVING again.
            store_monitor.abort();
            health.shutting_down().await;
            self.requested.notify_one();
        };
        (received, requested)
    }
}

/// Runs `server` to completion, or until `timeout` after `shutdown_requested` fires; `None`
/// means calls were still in progress when the drain timeout ended the wait.
pub async fn drain_within<T>(
    server: impl Future<Output = T>,
    shutdown_requested: &Notify,
    timeout: Duration,
) -> Option<T> {
    let drain_deadline = async {
        shutdown_requested.notified().await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        result = server => Some(result),
        () = drain_deadline => {
            tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "drain timeout reached; abandoning calls still in progress"
            );
            None
        }
    }
}
