use diesel::Connection as _;
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DatabaseUrl;
use crate::error::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Arbitrary but fixed key of the advisory lock that serialises replicas migrating at once.
const MIGRATION_LOCK_KEY: i64 = 0x0061_7069_6b65_7973; // "apikeys"

/// Applies pending migrations. Diesel's harness is synchronous, so it runs on a blocking thread.
pub(super) async fn run(url: &DatabaseUrl) -> Result<usize, StoreError> {
    let url = url.clone();
    tokio::task::spawn_blocking(move || match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(&mut conn)?;
            let applied = apply(&mut conn, POSTGRES_MIGRATIONS);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(&mut conn)?;
            applied
        }
        DatabaseUrl::Sqlite(path) => {
            let mut conn = super::pool::establish_sqlite_sync(&path)?;
            apply(&mut conn, SQLITE_MIGRATIONS)
        }
    })
    .await
    .map_err(|e| StoreError::Migration(e.to_string()))?
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<usize, StoreError>
where
    C: MigrationHarness<<C as diesel::Connection>::Backend> + diesel::Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|applied| applied.len())
        .map_err(|e| StoreError::Migration(e.to_string()))
}

use diesel::RunQueryDsl as _;
