//! Two replicas on one database: a revocation or suspension made through one is honoured by the
//! other, whose cache had verified the key, within the change feed's bound: at once through
//! PostgreSQL NOTIFY (the poll set ten minutes apart, so only a notification can be in time),
//! and within the poll interval where there are no notifications (SQLite) or they are lost.
//!
//! The verification cache keeps an answer for 300 s by default, so every bound here is the
//! feed's doing, not the cache's expiry.

use std::time::{Duration, Instant};

use apikeys_test_support::Backend;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::harness::{Fixture, Replica, TestServer, assert_inactive, eventually};

backend_suite!(
    revocation_reaches_the_other_replica,
    suspension_reaches_the_other_replica,
);

/// How soon the other replica must refuse the key when the change comes by NOTIFY (a few
/// milliseconds unloaded; the bound leaves room for a busy 2-core machine).
const NOTIFY_BOUND: Duration = Duration::from_secs(2);
/// A poll so far apart that it cannot deliver a change within [`NOTIFY_BOUND`].
const NO_POLL_INTERVAL_MS: &str = "600000";
/// The poll interval of the tests that rely on the poll.
const POLL_INTERVAL_MS: &str = "500";
/// How soon the other replica must refuse the key through the poll: the 500 ms interval plus
/// room for a busy machine (the poll runs twice per interval).
const POLL_BOUND: Duration = Duration::from_secs(3);
/// Ends a setup wait that fails.
const SETUP_DEADLINE: Duration = Duration::from_secs(30);

/// How a change reaches the other replica, and how soon it must.
#[derive(Debug, Clone, Copy)]
enum Feed {
    Notify,
    Poll,
}

impl Feed {
    /// The feed a backend relies on: NOTIFY on PostgreSQL, the poll on SQLite.
    fn of(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::Notify,
            Backend::Sqlite => Self::Poll,
        }
    }

    fn poll_interval_ms(self) -> &'static str {
        match self {
            Self::Notify => NO_POLL_INTERVAL_MS,
            Self::Poll => POLL_INTERVAL_MS,
        }
    }

    fn bound(self) -> Duration {
        match self {
            Self::Notify => NOTIFY_BOUND,
            Self::Poll => POLL_BOUND,
        }
    }
}

/// Two replicas with `feed`'s poll interval; on PostgreSQL, both are LISTENing on return.
async fn replicas(backend: Backend, feed: Feed) -> (Fixture, Replica) {
    let fixture = Fixture::with_server(
        TestServer::builder(backend)
            .args(&["--revocation-poll-interval-ms", feed.poll_interval_ms()])
            .start()
            .await,
    )
    .await;
    // Same arguments, so the same poll interval.
    let replica = fixture.server.replica(&[]).await;
    if backend == Backend::Postgres {
        // The LISTEN connections open in the background: a change made before they are up is
        // left to the poll.
        let url = fixture.server.database_url().to_owned();
        eventually("both replicas LISTEN", SETUP_DEADLINE, || {
            let url = url.clone();
            async move { listeners(&url).await == 2 }
        })
        .await;
    }
    (fixture, replica)
}

/// Warms `replica`'s cache with the sentinel key and checks it is active there.
async fn warm(fixture: &Fixture, replica: &Replica) {
    for _ in 0..3 {
        let response = replica
            .api()
            .introspect(
                &fixture.gateway,
                &fixture.sentinel_id,
                &fixture.sentinel_secret,
            )
            .await
            .expect("Introspect on the replica");
        assert!(response.active, "sentinel must be active before the change");
    }
}

/// Introspects on `replica` until the sentinel is inactive, asserting that happens within
/// `bound`; returns how long it took.
async fn until_inactive(fixture: &Fixture, replica: &Replica, bound: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let response = replica
            .api()
            .introspect(
                &fixture.gateway,
                &fixture.sentinel_id,
                &fixture.sentinel_secret,
            )
            .await
            .expect("Introspect on the replica");
        if !response.active {
            assert_inactive(&response, "revoked key on the other replica");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < bound,
            "the other replica still answers active after {bound:?}"
        );
        tokio::task::yield_now().await;
    }
}

async fn revocation_reaches_the_other_replica(backend: Backend) {
    let feed = Feed::of(backend);
    let (fixture, replica) = replicas(backend, feed).await;
    warm(&fixture, &replica).await;
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &fixture.sentinel_id)
        .await
        .expect("RevokeKey on the first replica");
    let took = until_inactive(&fixture, &replica, feed.bound()).await;
    eprintln!("{backend:?}: revocation reached the other replica by {feed:?} in {took:?}");
}

async fn suspension_reaches_the_other_replica(backend: Backend) {
    let feed = Feed::of(backend);
    let (fixture, replica) = replicas(backend, feed).await;
    warm(&fixture, &replica).await;
    fixture
        .api()
        .set_api_access(&fixture.staff, &fixture.account, false)
        .await
        .expect("SetApiAccess(false) on the first replica");
    let took = until_inactive(&fixture, &replica, feed.bound()).await;
    eprintln!("{backend:?}: suspension reached the other replica by {feed:?} in {took:?}");
}

/// PostgreSQL only: SQLite has no notifications to cut, and its poll is what the tests above
/// check there.
#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn poll_catches_revocations_when_notifications_are_cut() {
    let (fixture, replica) = replicas(Backend::Postgres, Feed::Poll).await;
    warm(&fixture, &replica).await;
    let terminated = terminate_listeners(fixture.server.database_url()).await;
    assert!(
        terminated >= 2,
        "expected both replicas' LISTEN connections, terminated {terminated}"
    );
    // Right away, before a listener can reconnect (it waits 1 s): this notification is lost.
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &fixture.sentinel_id)
        .await
        .expect("RevokeKey on the first replica");
    let took = until_inactive(&fixture, &replica, POLL_BOUND).await;
    eprintln!("with notifications cut, the poll caught the revocation in {took:?}");
}

async fn admin(database_url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(database_url)
        .await
        .expect("connect to the test database")
}

/// `apikeys-listener` connections to the test database that have run their LISTEN.
async fn listeners(database_url: &str) -> i64 {
    diesel::select(diesel::dsl::sql::<BigInt>(
        "(SELECT count(*) FROM pg_stat_activity \
         WHERE application_name = 'apikeys-listener' AND datname = current_database() \
         AND state = 'idle' AND query LIKE 'LISTEN %')",
    ))
    .get_result(&mut admin(database_url).await)
    .await
    .expect("count listener connections")
}

/// Kills every `apikeys-listener` connection to the test database; returns how many.
async fn terminate_listeners(database_url: &str) -> usize {
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'apikeys-listener' AND datname = current_database()",
    )
    .execute(&mut admin(database_url).await)
    .await
    .expect("terminate listener connections")
}
