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

/// Which audit events are changes, in the words of the partial index `audit_events_changes`
/// (migration `change_feed_index`): a planner uses a partial index only for a query whose
/// condition implies the index's, which the same literal text shows it does (tested below).
/// With the index a poll reads the changes after its position, not every audit event since the
/// last change.
const IS_CHANGE: &str = "action IN ('key.revoked', 'account.api_access_disabled')";

/// The changes above `after_id`, oldest first, at most `limit`.
#[diesel::dsl::auto_type]
fn changes_after(after_id: i64, limit: i64) -> _ {
    let is_change: diesel::expression::SqlLiteral<diesel::sql_types::Bool> =
        diesel::dsl::sql(IS_CHANGE);
    audit_events::table
        .filter(audit_events::id.gt(after_id))
        .filter(is_change)
        .order(audit_events::id.asc())
        .limit(limit)
        .select((
            audit_events::id,
            audit_events::at,
            audit_events::action,
            audit_events::account_id,
            audit_events::client_id,
        ))
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
                changes_after(after_id, i64::from(limit)).load(c).await
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

#[cfg(test)]
mod tests {
    use apikeys_test_support::{Backend, TestDatabase};
    use diesel::QueryableByName;
    use diesel::query_builder::QueryFragment;
    use diesel::sql_types::{BigInt, Text};
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

    use super::{IS_CHANGE, audit_action, changes_after};
    use crate::db::{Connection, Database, DatabaseUrl, PoolOptions, run_blocking};

    #[derive(QueryableByName)]
    struct SqlitePlanStep {
        #[diesel(sql_type = Text)]
        detail: String,
    }

    #[derive(QueryableByName)]
    struct PostgresPlanLine {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }

    /// The SQL diesel sends for one poll on `DB`, without the bind values it appends for debugging.
    fn poll_sql<DB>(after_id: i64, limit: i64) -> String
    where
        DB: diesel::backend::Backend + Default,
        DB::QueryBuilder: Default,
        changes_after: QueryFragment<DB>,
    {
        let sql = diesel::debug_query::<DB, _>(&changes_after(after_id, limit)).to_string();
        sql.split(" -- binds:").next().unwrap().to_owned()
    }

    /// The query plan of one poll of the feed, one line per step.
    async fn poll_plan(backend: Backend) -> Vec<String> {
        let database = TestDatabase::new(backend).await;
        let url = DatabaseUrl::parse(database.url()).unwrap();
        let db = Database::connect(&url, &PoolOptions::default()).unwrap();
        db.migrate().await.unwrap();
        let (after_id, limit) = (5_i64, 1_000_i64);
        match &mut db.get().await.unwrap() {
            Connection::Postgres(c) => {
                // An empty table is cheapest to read whole; the question is whether the index
                // can serve this query at all.
                c.batch_execute("SET enable_seqscan = off").await.unwrap();
                let sql = poll_sql::<diesel::pg::Pg>(after_id, limit);
                diesel::sql_query(format!("EXPLAIN {sql}"))
                    .bind::<BigInt, _>(after_id)
                    .bind::<BigInt, _>(limit)
                    .load::<PostgresPlanLine>(&mut **c)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|l| l.line)
                    .collect()
            }
            Connection::Sqlite(c) => run_blocking(async {
                let sql = poll_sql::<diesel::sqlite::Sqlite>(after_id, limit);
                diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind::<BigInt, _>(after_id)
                    .bind::<BigInt, _>(limit)
                    .load::<SqlitePlanStep>(&mut **c)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|s| s.detail)
                    .collect()
            }),
        }
    }

    async fn a_poll_reads_the_changes_index(backend: Backend) {
        let plan = poll_plan(backend).await;
        assert!(
            plan.iter()
                .any(|line| line.contains("audit_events_changes")),
            "{backend:?} plan: {plan:#?}"
        );
    }

    crate::testing::backend_tests!(
        a_poll_reads_the_changes_index =>
        sqlite_a_poll_reads_the_changes_index,
        postgres_a_poll_reads_the_changes_index,
    );

    #[test]
    fn the_index_condition_names_the_change_actions() {
        for action in [audit_action::KEY_REVOKED, audit_action::API_ACCESS_DISABLED] {
            assert!(IS_CHANGE.contains(&format!("'{action}'")), "{action}");
        }
    }
}
