//! Faults, crash safety and lifecycle: the database going away and coming back, a slow or
//! exhausted pool, a read-only or full SQLite disk, kill -9 and SIGTERM in the middle of a burst,
//! and a brute-force attack on one client id.
//!
//! Tests that stop PostgreSQL run on a throwaway cluster of their own ([`PgCluster`]), never on
//! the shared server; like every PostgreSQL variant they are ignored unless
//! `APIKEYS_TEST_POSTGRES_URL` was set at build time.

mod brute_force;
mod burst;
mod crash;
mod pool_exhaustion;
mod postgres_outage;
mod shutdown;
mod sqlite_storage;

use std::time::Duration;

use apikeys_test_support::Backend;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tonic_health::pb::health_check_response::ServingStatus;

use crate::harness::{PgCluster, TestServer, eventually};

/// Ends a failing wait; the bounds under test are much shorter.
const DEADLINE: Duration = Duration::from_secs(30);

/// A server on `cluster` (the builder's own temp dir still holds the key files).
async fn server_on(cluster: &PgCluster, args: &[&str]) -> TestServer {
    TestServer::builder(Backend::Sqlite)
        .database_url(&cluster.url())
        .args(args)
        .start()
        .await
}

/// Waits until `server`'s overall health is `status`.
async fn health_becomes(server: &TestServer, status: ServingStatus) {
    let api = server.api().clone();
    eventually(&format!("health {status:?}"), DEADLINE, || {
        let api = api.clone();
        async move { api.health("").await.ok() == Some(status as i32) }
    })
    .await;
}

/// `apikeys-listener` (LISTEN/NOTIFY) connections to the database server.
const LISTENERS: &str =
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'apikeys-listener'";
/// Backends of the current database waiting on a heavyweight lock.
const LOCK_WAITERS: &str = "SELECT count(*) FROM pg_stat_activity \
     WHERE wait_event_type = 'Lock' AND datname = current_database()";

/// Polls the `count(*)` query `sql` until it answers `expected`.
async fn until_count(conn: &mut AsyncPgConnection, what: &str, sql: &str, expected: i64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let count: i64 = diesel::select(diesel::dsl::sql::<BigInt>(&format!("({sql})")))
            .get_result(conn)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        if count == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {count}, not {expected}, after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
