//! `last_used_at` without a database write per request: successful verifications are noted in
//! memory and flushed in one transaction per interval (and at shutdown).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use apikeys_store::{ClientId, Store};
use chrono::NaiveDateTime;

/// foldhash rather than std's SipHash: this map is touched on every verified call, and its keys
/// are client ids that already passed verification, not attacker-chosen strings.
type Pending = HashMap<ClientId, NaiveDateTime, foldhash::fast::RandomState>;

#[derive(Default)]
pub struct UsageRecorder {
    pending: Mutex<Pending>,
}

impl UsageRecorder {
    pub fn record(&self, client_id: &ClientId, at: NaiveDateTime) {
        let mut pending = self.lock();
        // The hot path: most calls find the key already noted and need no allocation.
        match pending.get_mut(client_id.as_str()) {
            Some(noted) if *noted < at => *noted = at,
            Some(_) => {}
            None => {
                pending.insert(client_id.clone(), at);
            }
        }
    }

    /// A use noted here but not yet flushed, so this replica can show it at once.
    pub fn pending(&self, client_id: &str) -> Option<NaiveDateTime> {
        self.lock().get(client_id).copied()
    }

    /// Writes everything noted so far; on failure the uses are kept for the next attempt.
    pub async fn flush(&self, store: &Store) {
        // `take`, not `drain`: a burst of keys must not leave a large empty map behind.
        let batch: Vec<(ClientId, NaiveDateTime)> =
            std::mem::take(&mut *self.lock()).into_iter().collect();
        if batch.is_empty() {
            return;
        }
        if let Err(error) = store.record_last_used(&batch).await {
            tracing::warn!(%error, keys = batch.len(), "cannot record last use of keys; will retry");
            for (client_id, at) in batch {
                self.record(&client_id, at);
            }
        }
    }

    /// Flushes every `interval` until the task is dropped.
    pub async fn flush_periodically(&self, store: Store, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            self.flush(&store).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic while holding this lock cannot leave the map inconsistent: keep using it.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
