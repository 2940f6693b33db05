use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::QueueMode;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};

use super::{DatabaseUrl, Inline, SqliteConnection, migrations, sqlite_connection};
use crate::error::StoreError;

/// SQLite serialises writers and answers reads from one file in microseconds: a few connections
/// suffice, and each one keeps its own page cache.
const SQLITE_MAX_CONNECTIONS: usize = 4;

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: usize,
    /// One bound for each way a checkout can wait: for a free connection (deadpool's wait
    /// timeout), on opening a new one (create: TCP connect, TLS, startup) and on recycling an
    /// idle one. Past it the call fails with [`StoreError::Unavailable`] instead of queueing.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// A snapshot of the connection pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// The most connections the pool will open.
    pub max_size: usize,
    /// Connections open now, idle or in use.
    pub open: usize,
    /// Open connections nobody holds.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// A pool of connections to the configured backend. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pools: Pools,
    url: DatabaseUrl,
    /// SQLite takes one writer at a time. A second writer that meets the lock sleeps in SQLite's
    /// busy handler, 1, 2, 5 ms and on up to 100 ms a step, however soon the lock frees, and
    /// whoever tries at the right moment overtakes it. Writers of this process instead wait
    /// here, in turn, and are woken when the previous one commits.
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// How long a writer waits for its turn, as long as for a connection.
    acquire_timeout: Duration,
}

/// A connection for one write transaction: on SQLite it holds this process's writer turn
/// until dropped. See [`Database::get_for_write`].
pub(crate) struct WriteConnection {
    pub(crate) conn: Connection,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

#[derive(Clone)]
enum Pools {
    Postgres(Pool<AsyncPgConnection>),
    Sqlite(Pool<SqliteConnection>),
}

/// One pooled connection of either kind; see [`super::with_connection!`].
#[allow(
    clippy::large_enum_variant,
    reason = "lives on the stack for one query; boxing would allocate per checkout"
)]
pub(crate) enum Connection {
    Postgres(Object<AsyncPgConnection>),
    Sqlite(Object<SqliteConnection>),
}

impl Database {
    /// Builds the pool. Connections are opened lazily, so this succeeds even while the server is
    /// down; [`Database::migrate`] or [`Database::ping`] tell whether it is reachable.
    pub fn connect(url: &DatabaseUrl, options: &PoolOptions) -> Result<Self, StoreError> {
        let pools = match url {
            DatabaseUrl::Postgres(raw) => {
                // Fast recycling skips a round trip per checkout; closed connections are still
                // discarded because the manager checks `is_closed` when one is returned.
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::new_with_config(raw.clone(), config);
                Pools::Postgres(build_pool(manager, options, QueueMode::Fifo)?)
            }
            DatabaseUrl::Sqlite(path) => {
                let mut config = ManagerConfig::<SqliteConnection>::default();
                // A SQLite connection is a file handle in this process: nothing can break it
                // while it idles, so a `SELECT 1` per checkout would be a statement for nothing.
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|path: &str| {
                    let path = path.to_owned();
                    Box::pin(async move {
                        let conn = tokio::task::spawn_blocking(move || {
                            sqlite_connection::establish(Path::new(&path))
                        })
                        .await
                        .map_err(|e| ConnectionError::BadConnection(e.to_string()))??;
                        Ok(SyncConnectionWrapper::with_runtime(conn, Inline))
                    })
                });
                let manager = AsyncDieselConnectionManager::new_with_config(
                    path.to_string_lossy().into_owned(),
                    config,
                );
                let options = PoolOptions {
                    max_connections: options.max_connections.min(SQLITE_MAX_CONNECTIONS),
                    ..options.clone()
                };
                // Last in, first out: the connection that committed last is the only one whose
                // page cache is still valid (SQLite drops a connection's whole cache when another
                // connection has written), so handing it out again saves re-reading every page.
                Pools::Sqlite(build_pool(manager, &options, QueueMode::Lifo)?)
            }
        };
        Ok(Self {
            pools,
            url: url.clone(),
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
            acquire_timeout: options.acquire_timeout,
        })
    }

    /// Applies the embedded migrations of this backend; returns how many were pending.
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        migrations::run(&self.url).await
    }

    /// Reads how the database stands against this release's migrations, changing nothing.
    pub async fn migration_status(&self) -> Result<migrations::MigrationStatus, StoreError> {
        migrations::check(&self.url).await
    }

    /// Round-trips a trivial query: Ok means the store can serve.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.get().await?;
        super::with_connection!(&mut conn, |c| c.batch_execute("SELECT 1").await)?;
        Ok(())
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// How many connections are open, idle and waited for; reads the pool's counters only.
    pub fn pool_usage(&self) -> PoolUsage {
        let status = match &self.pools {
            Pools::Postgres(pool) => pool.status(),
            Pools::Sqlite(pool) => pool.status(),
        };
        PoolUsage {
            max_size: status.max_size,
            open: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }

    pub(crate) async fn get(&self) -> Result<Connection, StoreError> {
        Ok(match &self.pools {
            Pools::Postgres(pool) => Connection::Postgres(pool.get().await?),
            Pools::Sqlite(pool) => Connection::Sqlite(pool.get().await?),
        })
    }

    /// A connection for a transaction that writes. On SQLite the caller first waits for its
    /// turn among this process's writers (the turn before the connection, so no writer holds
    /// a connection while it waits), bounded like the wait for a connection.
    pub(crate) async fn get_for_write(&self) -> Result<WriteConnection, StoreError> {
        let turn = match &self.pools {
            Pools::Postgres(_) => None,
            Pools::Sqlite(_) => Some(
                tokio::time::timeout(
                    self.acquire_timeout,
                    Arc::clone(&self.sqlite_writer).lock_owned(),
                )
                .await
                .map_err(|_| {
                    StoreError::Unavailable("timed out waiting for the SQLite writer".into())
                })?,
            ),
        };
        Ok(WriteConnection {
            conn: self.get().await?,
            _turn: turn,
        })
    }
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    options: &PoolOptions,
    queue_mode: QueueMode,
) -> Result<Pool<C>, StoreError>
where
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager<Type = C>,
{
    Pool::builder(manager)
        .max_size(options.max_connections)
        .queue_mode(queue_mode)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(options.acquire_timeout))
        .create_timeout(Some(options.acquire_timeout))
        .recycle_timeout(Some(options.acquire_timeout))
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use apikeys_test_support::{Backend, TestDatabase};
    use diesel_async::SimpleAsyncConnection;

    use super::*;
    use crate::domain::{AccountId, Actor};
    use crate::store::Store;

    /// With SQLite's own wait for the lock switched off, any two writers of this process that
    /// met in SQLite would fail with "database is locked"; taking turns, none meets another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_writers_of_one_process_take_turns() {
        let database = TestDatabase::new(Backend::Sqlite).await;
        let url = DatabaseUrl::parse(database.url()).unwrap();
        let db = Database::connect(&url, &PoolOptions::default()).unwrap();
        db.migrate().await.unwrap();
        let mut every_connection = Vec::new();
        for _ in 0..SQLITE_MAX_CONNECTIONS {
            let mut conn = db.get().await.unwrap();
            let Connection::Sqlite(c) = &mut conn else {
                unreachable!("a SQLite url")
            };
            super::super::run_blocking(c.batch_execute("PRAGMA busy_timeout = 0")).unwrap();
            every_connection.push(conn);
        }
        drop(every_connection);

        let store = Store::new(db);
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let store = store.clone();
                tokio::spawn(async move {
                    let account = AccountId::parse("account_id", &format!("acct-{n}")).unwrap();
                    store
                        .set_api_access(&account, true, &Actor::new("test"))
                        .await
                })
            })
            .collect();
        for writer in writers {
            writer
                .await
                .unwrap()
                .expect("a write that waited for its turn");
        }
    }
}
