use diesel::{Connection as _, RunQueryDsl as _};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::DatabaseUrl;
use crate::error::StoreError;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Arbitrary but fixed key of the advisory lock that serialises replicas migrating at once.
const MIGRATION_LOCK_KEY: i64 = 0x0061_7069_6b65_7973; // "apikeys"

/// Where a database stands against the migrations built into this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Migrations of this binary not yet applied.
    pub pending: usize,
    /// Migrations applied to the database that this binary does not know: a newer release
    /// migrated it, and this one must not serve it.
    pub unknown: Vec<String>,
}

/// Applies pending migrations. Diesel's harness is synchronous, so it runs on a blocking thread.
/// Refuses a database migrated by a newer release instead of serving a schema it does not know.
pub(super) async fn run(url: &DatabaseUrl) -> Result<usize, StoreError> {
    with_migration_connection(url, |conn, migrations| {
        refuse_unknown(&status(conn, migrations)?)?;
        conn.run_pending_migrations(migrations)
            .map(|applied| applied.len())
    })
    .await
}

/// Reads the migration state without changing anything.
pub(super) async fn check(url: &DatabaseUrl) -> Result<MigrationStatus, StoreError> {
    with_migration_connection(url, status).await
}

/// Runs `work` on a synchronous connection holding, on PostgreSQL, the advisory lock that
/// serialises replicas migrating at once.
async fn with_migration_connection<T, F>(url: &DatabaseUrl, work: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Fn(&mut dyn Harness, Migrations) -> Result<T, StoreError> + Send + 'static,
{
    let url = url.clone();
    tokio::task::spawn_blocking(move || match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(&mut conn)?;
            let result = work(&mut conn, Migrations::Postgres);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(&mut conn)?;
            result
        }
        DatabaseUrl::Sqlite(path) => {
            // Switching a fresh file to WAL, or taking the write lock, can be refused at once
            // ("database is locked") while another process migrates it: retry until it is done.
            let deadline = std::time::Instant::now() + SQLITE_MIGRATION_WAIT;
            loop {
                match migrate_sqlite(&path, &work) {
                    Err(StoreError::Unavailable(message))
                        if (message.contains("locked") || message.contains("busy"))
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    result => break result,
                }
            }
        }
    })
    .await
    .map_err(|e| StoreError::Migration(e.to_string()))?
}

/// How long a migration waits for another process migrating the same SQLite file.
const SQLITE_MIGRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn migrate_sqlite<T, F>(path: &std::path::Path, work: &F) -> Result<T, StoreError>
where
    F: Fn(&mut dyn Harness, Migrations) -> Result<T, StoreError>,
{
    let mut conn = super::sqlite_connection::establish(path)?;
    // SQLite has no advisory lock: BEGIN IMMEDIATE takes the write lock before the applied
    // migrations are read, so a second process finds them applied instead of racing to create
    // the same tables. Diesel runs each migration inside as a savepoint.
    conn.immediate_transaction(|conn| work(conn, Migrations::Sqlite))
}

/// The embedded migrations of one backend. `EmbeddedMigrations` is neither `Clone` nor `Copy`,
/// so this names the constant and makes a fresh value per use.
#[derive(Clone, Copy)]
enum Migrations {
    Postgres,
    Sqlite,
}

impl Migrations {
    fn embedded(self) -> EmbeddedMigrations {
        match self {
            Self::Postgres => POSTGRES_MIGRATIONS,
            Self::Sqlite => SQLITE_MIGRATIONS,
        }
    }
}

/// The migration harness of either backend, as one object-safe interface.
trait Harness {
    fn applied(&mut self) -> Result<Vec<String>, StoreError>;
    fn pending(&mut self, migrations: Migrations) -> Result<usize, StoreError>;
    fn run_pending_migrations(&mut self, migrations: Migrations)
    -> Result<Vec<String>, StoreError>;
}

impl<C> Harness for C
where
    C: MigrationHarness<<C as diesel::Connection>::Backend> + diesel::Connection,
{
    fn applied(&mut self) -> Result<Vec<String>, StoreError> {
        MigrationHarness::applied_migrations(self)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    fn pending(&mut self, migrations: Migrations) -> Result<usize, StoreError> {
        MigrationHarness::pending_migrations(self, migrations.embedded())
            .map(|pending| pending.len())
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    fn run_pending_migrations(
        &mut self,
        migrations: Migrations,
    ) -> Result<Vec<String>, StoreError> {
        MigrationHarness::run_pending_migrations(self, migrations.embedded())
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| StoreError::Migration(e.to_string()))
    }
}

fn status(conn: &mut dyn Harness, migrations: Migrations) -> Result<MigrationStatus, StoreError> {
    use diesel::migration::MigrationSource;
    // Migration versions do not depend on the backend; any one names them.
    let known: Vec<String> =
        MigrationSource::<diesel::sqlite::Sqlite>::migrations(&migrations.embedded())
            .map_err(|e| StoreError::Migration(e.to_string()))?
            .iter()
            .map(|migration| migration.name().version().to_string())
            .collect();
    let unknown = conn
        .applied()?
        .into_iter()
        .filter(|version| !known.contains(version))
        .collect();
    Ok(MigrationStatus {
        pending: conn.pending(migrations)?,
        unknown,
    })
}

fn refuse_unknown(status: &MigrationStatus) -> Result<(), StoreError> {
    if status.unknown.is_empty() {
        return Ok(());
    }
    Err(StoreError::Migration(format!(
        "the database has migrations this release does not know ({}): it was migrated by a \
         newer apikeys; run that release, or restore a matching backup",
        status.unknown.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use apikeys_test_support::{Backend, TestDatabase};

    use super::*;
    use crate::db::{Database, PoolOptions};
    use crate::domain::{AccountId, Actor, DisplayName, Email};
    use crate::key_material::{ClientId, ClientSecret, HashingParams, SecretHasher};
    use crate::store::{NewKey, Store};

    const COUNT_MIGRATION: &str = "active_key_count";

    /// Keys as a release before the active-key count left them: acme holds two active keys and
    /// a revoked one, other one active key, empty none.
    const OLDER_RELEASE_ROWS: &str = "
        INSERT INTO accounts (account_id, api_access_enabled, created_at, updated_at) VALUES
            ('acme', TRUE, '2026-11-26 00:00:00', '2026-11-26 00:00:00'),
            ('other', TRUE, '2026-11-26 00:00:00', '2026-11-26 00:00:00'),
            ('empty', TRUE, '2026-11-26 00:00:00', '2026-11-26 00:00:00');
        INSERT INTO api_keys
            (client_id, account_id, email, display_name, secret_hash, created_at, created_by,
             revoked_at)
        VALUES
            ('ak_1', 'acme', 'a@acme.com', '', 'x', '2026-11-26 00:00:00', 'u', NULL),
            ('ak_2', 'acme', 'a@acme.com', '', 'x', '2026-11-26 00:00:01', 'u', NULL),
            ('ak_3', 'acme', 'a@acme.com', '', 'x', '2026-11-26 00:00:02', 'u',
             '2026-11-26 01:00:00'),
            ('ak_4', 'other', 'o@other.com', '', 'x', '2026-11-26 00:00:03', 'u', NULL);";

    /// Applies the migrations before the active-key count, then writes the older release's rows.
    fn as_older_release<C>(conn: &mut C, migrations: Migrations)
    where
        C: MigrationHarness<<C as diesel::Connection>::Backend> + diesel::Connection,
    {
        loop {
            let pending = conn.pending_migrations(migrations.embedded()).unwrap();
            let next = pending.first().expect("the count migration is embedded");
            if next.name().to_string().contains(COUNT_MIGRATION) {
                break;
            }
            conn.run_next_migration(migrations.embedded()).unwrap();
        }
        conn.batch_execute(OLDER_RELEASE_ROWS).unwrap();
    }

    async fn existing_active_keys_are_counted_by_the_migration(backend: Backend) {
        let database = TestDatabase::new(backend).await;
        let url = DatabaseUrl::parse(database.url()).unwrap();
        let older = url.clone();
        tokio::task::spawn_blocking(move || match older {
            DatabaseUrl::Postgres(raw) => as_older_release(
                &mut AsyncConnectionWrapper::<AsyncPgConnection>::establish(&raw).unwrap(),
                Migrations::Postgres,
            ),
            DatabaseUrl::Sqlite(path) => as_older_release(
                &mut crate::db::sqlite_connection::establish(&path).unwrap(),
                Migrations::Sqlite,
            ),
        })
        .await
        .unwrap();
        let db = Database::connect(&url, &PoolOptions::default()).unwrap();
        assert!(db.migrate().await.unwrap() >= 1);
        let store = Store::new(db);

        // The quota now reads the backfilled count: refused at it, allowed one above.
        for (account, active) in [("acme", 2), ("other", 1), ("empty", 0)] {
            let account_id = AccountId::parse("account_id", account).unwrap();
            if active > 0 {
                let refused = store.create_key(&new_key(&account_id), active).await;
                assert!(
                    matches!(refused, Err(StoreError::KeyLimitReached { .. })),
                    "{account}: {refused:?}"
                );
            }
            store
                .create_key(&new_key(&account_id), active + 1)
                .await
                .unwrap_or_else(|error| panic!("{account}: {error:?}"));
        }
    }

    fn new_key(account_id: &AccountId) -> NewKey {
        let hasher = SecretHasher::new(HashingParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        NewKey {
            account_id: account_id.clone(),
            client_id: ClientId::generate(),
            email: Email::parse("email", "ops@acme.com").unwrap(),
            display_name: DisplayName::default(),
            secret_hash: hasher.hash(&ClientSecret::generate()).unwrap(),
            created_by: Actor::new("user-1"),
        }
    }

    crate::testing::backend_tests!(
        existing_active_keys_are_counted_by_the_migration =>
        sqlite_existing_active_keys_are_counted_by_the_migration,
        postgres_existing_active_keys_are_counted_by_the_migration,
    );
}
