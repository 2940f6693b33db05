//! The UPDATE every CreateKey starts with, as a query diesel keeps prepared.
//!
//! diesel marks every UPDATE it builds as unsafe to cache (a changeset with optional fields can
//! render different SQL from call to call), so `diesel::update(…)` is parsed again on each call.
//! This statement's text never changes; written as a query fragment of its own, each pooled
//! connection prepares it once.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, Bool, HasSqlType, Text};

/// `UPDATE accounts SET active_keys = active_keys + 1 WHERE account_id = ?
/// RETURNING api_access_enabled, active_keys`: counts a new key against its account and
/// write-locks the account row until the transaction ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct CountNewKey<'a> {
    pub account_id: &'a str,
}

impl<DB> QueryFragment<DB> for CountNewKey<'_>
where
    DB: Backend + HasSqlType<Text>,
    str: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE accounts SET active_keys = active_keys + 1 WHERE account_id = ");
        out.push_bind_param::<Text, str>(self.account_id)?;
        out.push_sql(" RETURNING api_access_enabled, active_keys");
        Ok(())
    }
}

impl Query for CountNewKey<'_> {
    type SqlType = (Bool, BigInt);
}

/// The statement cache's key: one SQL text for every value of the bound account id.
pub(super) struct CountNewKeyId;

impl QueryId for CountNewKey<'_> {
    type QueryId = CountNewKeyId;
    const HAS_STATIC_QUERY_ID: bool = true;
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use apikeys_test_support::{Backend, TestDatabase};
    use diesel::OptionalExtension;
    use diesel::connection::InstrumentationEvent;
    use diesel_async::{AsyncConnection, RunQueryDsl};

    use super::CountNewKey;
    use crate::db::{Database, DatabaseUrl, PoolOptions, with_connection};
    use crate::domain::{AccountId, Actor};
    use crate::store::Store;

    /// The statements one pooled connection added to its prepared-statement cache, and the
    /// counts `CountNewKey` returned, over three runs of it.
    async fn three_counts(backend: Backend) -> (Vec<String>, Vec<Option<(bool, i64)>>) {
        let database = TestDatabase::new(backend).await;
        let url = DatabaseUrl::parse(database.url()).unwrap();
        let db = Database::connect(&url, &PoolOptions::default()).unwrap();
        db.migrate().await.unwrap();
        let store = Store::new(db.clone());
        let acme = AccountId::parse("account_id", "acme").unwrap();
        store
            .set_api_access(&acme, true, &Actor::new("test"))
            .await
            .unwrap();
        let cached = Arc::new(Mutex::new(Vec::new()));
        let mut conn = db.get().await.unwrap();
        let counts = with_connection!(&mut conn, |c| {
            let noted = Arc::clone(&cached);
            c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::CacheQuery { sql, .. } = event {
                    noted.lock().unwrap().push(sql.to_owned());
                }
            });
            let mut counts = Vec::new();
            for account_id in ["acme", "acme", "nobody"] {
                let count: Option<(bool, i64)> = CountNewKey { account_id }
                    .get_result(c)
                    .await
                    .optional()
                    .unwrap();
                counts.push(count);
            }
            counts
        });
        let cached = cached.lock().unwrap().clone();
        (cached, counts)
    }

    async fn is_prepared_once_per_connection(backend: Backend) {
        let (cached, counts) = three_counts(backend).await;
        assert_eq!(counts, [Some((true, 1)), Some((true, 2)), None]);
        let updates: Vec<_> = cached
            .iter()
            .filter(|sql| sql.starts_with("UPDATE accounts"))
            .collect();
        assert_eq!(updates.len(), 1, "statements cached: {cached:?}");
    }

    crate::testing::backend_tests!(
        is_prepared_once_per_connection =>
        sqlite_is_prepared_once_per_connection,
        postgres_is_prepared_once_per_connection,
    );
}
