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
    let mut conn = super::pool::establish_sqlite_sync(path)?;
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

use diesel::RunQueryDsl as _;
