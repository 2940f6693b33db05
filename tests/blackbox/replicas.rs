//! Two replicas on one database: a revocation or suspension made through one is honoured by the
//! other, whose cache had verified the key, within the change feed's bound: at once through
//! PostgreSQL NOTIFY, and within the poll interval even when notifications are lost.

use std::time::{Duration, Instant};

use apikeys_test_support::Backend;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::harness::{Fixture, Replica, assert_inactive};

backend_suite!(
    revocation_reaches_the_other_replica,
    suspension_reaches_the_other_replica,
    poll_catches_revocations_when_notifications_are_cut,
);

const POLL_INTERVAL_MS: &str = "500";
/// Generous: the bound under test is the poll interval; this only ends a failing test.
const DEADLINE: Duration = Duration::from_secs(10);

async fn replicas(backend: Backend) -> (Fixture, Replica) {
    let fixture = Fixture::with_server(
        crate::harness::TestServer::builder(backend)
            .args(&["--revocation-poll-interval-ms", POLL_INTERVAL_MS])
            .start()
            .await,
    )
    .await;
    // Same arguments, so the same poll interval.
    let replica = fixture.server.replica(&[]).await;
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

/// Introspects on `replica` until the sentinel is inactive or the deadline passes; returns how
/// long it took.
async fn until_inactive(fixture: &Fixture, replica: &Replica) -> Duration {
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
            started.elapsed() < DEADLINE,
            "the other replica still answers active after {DEADLINE:?}"
        );
        tokio::task::yield_now().await;
    }
}

async fn revocation_reaches_the_other_replica(backend: Backend) {
    let (fixture, replica) = replicas(backend).await;
    warm(&fixture, &replica).await;
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &fixture.sentinel_id)
        .await
        .expect("RevokeKey on the first replica");
    let took = until_inactive(&fixture, &replica).await;
    eprintln!("{backend:?}: revocation reached the other replica in {took:?}");
}

async fn suspension_reaches_the_other_replica(backend: Backend) {
    let (fixture, replica) = replicas(backend).await;
    warm(&fixture, &replica).await;
    fixture
        .api()
        .set_api_access(&fixture.staff, &fixture.account, false)
        .await
        .expect("SetApiAccess(false) on the first replica");
    let took = until_inactive(&fixture, &replica).await;
    eprintln!("{backend:?}: suspension reached the other replica in {took:?}");
}

async fn poll_catches_revocations_when_notifications_are_cut(backend: Backend) {
    let (fixture, replica) = replicas(backend).await;
    warm(&fixture, &replica).await;
    if backend == Backend::Postgres {
        let terminated = terminate_listeners(fixture.server.database_url()).await;
        assert!(
            terminated >= 2,
            "expected both replicas' LISTEN connections, terminated {terminated}"
        );
    }
    // Right away, before a listener can reconnect: this notification is lost.
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &fixture.sentinel_id)
        .await
        .expect("RevokeKey on the first replica");
    let took = until_inactive(&fixture, &replica).await;
    eprintln!("{backend:?}: with notifications cut, the poll caught the revocation in {took:?}");
}

/// Kills every `apikeys-listener` connection to the test database; returns how many.
async fn terminate_listeners(database_url: &str) -> usize {
    let mut admin = AsyncPgConnection::establish(database_url)
        .await
        .expect("connect to the test database");
    diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'apikeys-listener' AND datname = current_database()",
    )
    .execute(&mut admin)
    .await
    .expect("terminate listener connections")
}
