//! Changes that must reach every replica's verification cache: key revocations and accounts
//! losing API access. They are read from the audit trail (the source of truth, polled by id)
//! and, on PostgreSQL, also pushed with NOTIFY for low latency.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::db::{Connection, with_connection};
use crate::error::StoreError;
use crate::models::audit_action;
use crate::schema::audit_events;

/// The NOTIFY channel the store publishes changes on.
pub const CHANGES_CHANNEL: &str = "apikeys_changes";

/// Something that makes cached verifications stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    KeyRevoked { client_id: String },
    ApiAccessDisabled { account_id: String },
}

/// A change as recorded in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedChange {
    pub id: i64,
    pub at: chrono::NaiveDateTime,
    pub change: Change,
}

impl Store {
    /// Revocations and access removals with an audit id above `after_id`, oldest first.
    pub async fn changes_since(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<RecordedChange>, StoreError> {
        let mut conn = self.db.get().await?;
        let rows: Vec<(i64, chrono::NaiveDateTime, String, String, Option<String>)> =
            with_connection!(&mut conn, |c| {
                audit_events::table
                    .filter(audit_events::id.gt(after_id))
                    .filter(
                        audit_events::action
                            .eq_any([audit_action::KEY_REVOKED, audit_action::API_ACCESS_DISABLED]),
                    )
                    .order(audit_events::id.asc())
                    .limit(i64::from(limit))
                    .select((
                        audit_events::id,
                        audit_events::at,
                        audit_events::action,
                        audit_events::account_id,
                        audit_events::client_id,
                    ))
                    .load(c)
                    .await
            })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, at, action, account_id, client_id)| {
                let change = match (action.as_str(), client_id) {
                    (audit_action::KEY_REVOKED, Some(client_id)) => {
                        Change::KeyRevoked { client_id }
                    }
                    (audit_action::API_ACCESS_DISABLED, _) => {
                        Change::ApiAccessDisabled { account_id }
                    }
                    _ => return None,
                };
                Some(RecordedChange { id, at, change })
            })
            .collect())
    }

    /// The newest audit id: where a fresh replica starts polling (its cache is empty, so older
    /// changes cannot concern it).
    pub async fn latest_change_id(&self) -> Result<i64, StoreError> {
        let mut conn = self.db.get().await?;
        let latest: Option<i64> = with_connection!(&mut conn, |c| {
            audit_events::table
                .select(diesel::dsl::max(audit_events::id))
                .get_result(c)
                .await
        })?;
        Ok(latest.unwrap_or(0))
    }

    /// Tells other replicas at once (PostgreSQL NOTIFY); a no-op on SQLite. Best effort: a lost
    /// notification is caught by the poll of [`Store::changes_since`].
    pub(crate) async fn publish(&self, change: &Change) {
        let Ok(payload) = serde_json::to_string(change) else {
            return;
        };
        let Ok(mut conn) = self.db.get().await else {
            return;
        };
        if let Connection::Postgres(c) = &mut conn {
            let sent = diesel::sql_query("SELECT pg_notify($1, $2)")
                .bind::<diesel::sql_types::Text, _>(CHANGES_CHANNEL)
                .bind::<diesel::sql_types::Text, _>(&payload)
                .execute(&mut **c)
                .await;
            if let Err(error) = sent {
                tracing::warn!(%error, "cannot publish change notification; replicas will poll it");
            }
        }
    }

    /// A stream of changes pushed by other replicas, on its own connection; `None` on SQLite.
    /// The stream ends when the connection is lost: callers reconnect.
    pub async fn listen_for_changes(
        &self,
    ) -> Result<Option<impl Stream<Item = Change> + Send + use<>>, StoreError> {
        let Some(listener) = self.db.listen(CHANGES_CHANNEL).await? else {
            return Ok(None);
        };
        Ok(Some(listener.filter_map(|payload| async move {
            match serde_json::from_str::<Change>(&payload) {
                Ok(change) => Some(change),
                Err(error) => {
                    tracing::warn!(%error, "ignoring malformed change notification");
                    None
                }
            }
        })))
    }
}
