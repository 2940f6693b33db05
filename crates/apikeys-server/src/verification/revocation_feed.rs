//! Keeps this replica's verification cache honest about changes made elsewhere: another
//! replica's RevokeKey or SetApiAccess(false), or `apikeys accounts disable` on the database.
//!
//! Two feeds, both evicting: PostgreSQL LISTEN/NOTIFY (milliseconds) and a poll of the audit
//! trail, the safety net for notifications lost while a connection was down. The poll's bound
//! (`--revocation-poll-interval-ms`) is how long a change may go unseen here; see [`poll_period`].

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use apikeys_store::{Change, RecordedChange, Store};
use chrono::{NaiveDateTime, Utc};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use crate::verification::CredentialVerifier;

/// Changes read per query of the audit trail.
const PAGE: u32 = 1_000;
/// A change older than this is assumed committed together with every change of a lower id.
/// Ids are assigned at insert but become visible at commit, so a slow transaction can surface
/// below ids already seen; re-reading this window (and skipping ids already applied) covers it.
const SETTLE: Duration = Duration::from_secs(30);
/// Wait before re-opening a lost LISTEN connection.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Starts both feeds. `unseen_bound` is the longest a change made elsewhere may stay unapplied
/// here when its notification is lost.
pub fn spawn(
    store: Store,
    verifier: Arc<CredentialVerifier>,
    unseen_bound: Duration,
) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(poll_changes(
            store.clone(),
            Arc::clone(&verifier),
            poll_period(unseen_bound),
        )),
        tokio::spawn(listen_changes(store, verifier)),
    ]
}

fn apply(verifier: &CredentialVerifier, change: &Change) {
    match change {
        Change::KeyRevoked { client_id } => verifier.evict_key(client_id),
        Change::ApiAccessDisabled { account_id } => verifier.evict_account(account_id),
    }
}

async fn listen_changes(store: Store, verifier: Arc<CredentialVerifier>) {
    loop {
        match store.listen_for_changes().await {
            // SQLite: no notifications; the poll does the work.
            Ok(None) => return,
            Ok(Some(changes)) => {
                tracing::info!("listening for revocations from other replicas");
                let mut changes = std::pin::pin!(changes);
                while let Some(change) = changes.next().await {
                    apply(&verifier, &change);
                }
                tracing::warn!("revocation listener disconnected; reconnecting");
            }
            Err(error) => tracing::warn!(%error, "cannot listen for revocations; retrying"),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// Two polls per bound. A change committed just after one poll's snapshot is read by the next
/// poll and applied when that poll's answer arrives: one period plus the query's own time.
/// Polling once per bound would overshoot it by the query's time; at half the bound, a poll may
/// take up to the other half (`apikeys-bench propagation` measures the bound).
fn poll_period(unseen_bound: Duration) -> Duration {
    (unseen_bound / 2).max(Duration::from_millis(1))
}

async fn poll_changes(store: Store, verifier: Arc<CredentialVerifier>, period: Duration) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cursor: Option<ChangeCursor> = None;
    loop {
        ticker.tick().await;
        let Some(current) = cursor.as_mut() else {
            // This replica's cache starts empty, so only changes from now on concern it.
            match store.latest_change_id().await {
                Ok(latest) => cursor = Some(ChangeCursor::starting_after(latest)),
                Err(error) => tracing::warn!(%error, "cannot read the change feed position"),
            }
            continue;
        };
        if let Err(error) = poll_once(&store, &verifier, current).await {
            tracing::warn!(%error, "cannot poll for revocations; will retry");
        }
    }
}

async fn poll_once(
    store: &Store,
    verifier: &CredentialVerifier,
    cursor: &mut ChangeCursor,
) -> Result<(), apikeys_store::StoreError> {
    let mut after = cursor.settled;
    cursor.begin_pass();
    loop {
        let changes = store.changes_since(after, PAGE).await?;
        for change in &changes {
            if cursor.first_sight(change.id) {
                apply(verifier, &change.change);
            }
        }
        cursor.settle(&changes, Utc::now().naive_utc());
        match changes.last() {
            Some(last) if changes.len() == PAGE as usize => after = last.id,
            _ => return Ok(()),
        }
    }
}

/// Position in the audit trail: everything up to `settled` is applied for good; ids above it
/// that were already applied are remembered so re-reads do not evict twice.
#[derive(Debug)]
struct ChangeCursor {
    settled: i64,
    applied: BTreeSet<i64>,
    /// Whether every change read so far in this pass (all pages of one poll) was older than
    /// [`SETTLE`].
    settling: bool,
}

impl ChangeCursor {
    fn starting_after(id: i64) -> Self {
        Self {
            settled: id,
            applied: BTreeSet::new(),
            settling: true,
        }
    }

    /// Starts a poll: `settled` may move again until the first change too recent to settle.
    fn begin_pass(&mut self) {
        self.settling = true;
    }

    fn first_sight(&mut self, id: i64) -> bool {
        id > self.settled && self.applied.insert(id)
    }

    /// Moves `settled` over the leading run of changes (in id order) that are old enough.
    fn settle(&mut self, changes: &[RecordedChange], now: NaiveDateTime) {
        let horizon = now - chrono::Duration::from_std(SETTLE).unwrap_or_default();
        for change in changes {
            if change.id <= self.settled {
                continue;
            }
            if !(self.settling && change.at < horizon) {
                self.settling = false;
                break;
            }
            self.settled = change.id;
        }
        let settled = self.settled;
        self.applied.retain(|&id| id > settled);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(id: i64, age_secs: i64, now: NaiveDateTime) -> RecordedChange {
        RecordedChange {
            id,
            at: now - chrono::Duration::seconds(age_secs),
            change: Change::KeyRevoked {
                client_id: format!("akc_{id}"),
            },
        }
    }

    #[test]
    fn the_poll_runs_twice_per_bound() {
        assert_eq!(
            poll_period(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
        assert_eq!(
            poll_period(Duration::from_millis(10)),
            Duration::from_millis(5)
        );
        // tokio's interval panics on a zero period.
        assert_eq!(poll_period(Duration::ZERO), Duration::from_millis(1));
    }

    #[test]
    fn each_change_is_applied_once_and_old_ones_settle() {
        let now = Utc::now().naive_utc();
        let mut cursor = ChangeCursor::starting_after(10);
        assert!(
            !cursor.first_sight(9),
            "changes before the start are not applied"
        );
        let first = [change(11, 60, now), change(12, 1, now)];
        cursor.begin_pass();
        assert!(cursor.first_sight(11));
        assert!(cursor.first_sight(12));
        cursor.settle(&first, now);
        assert_eq!(cursor.settled, 11, "only the old change settles");
        assert!(
            !cursor.first_sight(12),
            "a recent change re-read is not applied twice"
        );
    }

    #[test]
    fn a_later_page_does_not_settle_past_a_recent_change() {
        let now = Utc::now().naive_utc();
        let mut cursor = ChangeCursor::starting_after(0);
        cursor.begin_pass();
        cursor.settle(&[change(1, 60, now), change(2, 1, now)], now);
        // Same poll, next page: an old-looking change (clock skew) after a recent one.
        cursor.settle(&[change(3, 60, now)], now);
        assert_eq!(cursor.settled, 1);
    }

    #[test]
    fn a_late_commit_below_a_seen_id_is_still_applied() {
        let now = Utc::now().naive_utc();
        let mut cursor = ChangeCursor::starting_after(0);
        assert!(cursor.first_sight(2));
        cursor.begin_pass();
        cursor.settle(&[change(2, 1, now)], now);
        // Id 1 commits after id 2 was seen: it is above `settled`, so it is applied.
        assert!(cursor.first_sight(1));
        assert!(!cursor.first_sight(2));
    }
}
