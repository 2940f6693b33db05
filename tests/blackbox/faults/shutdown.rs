//! SIGTERM / SIGINT: health turns NOT_SERVING, the listener closes, calls in progress finish
//! (up to `--shutdown-drain-timeout-secs`), pending writes are flushed, and the exit status is 0.

use apikeys_test_support::Backend;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::DEADLINE;
use super::burst::{Burst, assert_acknowledged_calls_held};
use crate::harness::{Fixture, TestServer, eventually};

backend_suite!(
    sigterm_during_a_burst_keeps_every_acknowledged_create,
    sigint_closes_the_listener_and_a_stuck_stream_cannot_hold_the_exit,
);

const WORKERS: usize = 6;

async fn sigterm_during_a_burst_keeps_every_acknowledged_create(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--max-active-keys", "100000"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let burst = Burst::start(fixture.api(), &fixture, Vec::new(), WORKERS);
    burst.wait_for_acks(3 * WORKERS).await;

    let exit = fixture.server.signal_and_wait("TERM", DEADLINE).await;
    let acknowledged = burst.finish().await;

    assert!(exit.success(), "SIGTERM must end in exit status 0: {exit}");
    fixture.server.relaunch().await;
    assert!(!acknowledged.created.is_empty());
    assert_acknowledged_calls_held(&fixture, &acknowledged).await;
}

async fn sigint_closes_the_listener_and_a_stuck_stream_cannot_hold_the_exit(backend: Backend) {
    let mut server = TestServer::builder(backend)
        .args(&["--shutdown-drain-timeout-secs", "2"])
        .start()
        .await;
    // A Watch stream never ends by itself: only the drain timeout lets the server exit.
    let mut watch = HealthClient::new(server.api().channel())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("Health/Watch")
        .into_inner();
    let first = watch.message().await.expect("watch").expect("a status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    server.send_signal("INT");

    let not_serving = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(update)) = watch.message().await {
            if update.status == ServingStatus::NotServing as i32 {
                return true;
            }
        }
        false
    })
    .await
    .expect("a health update within the deadline");
    assert!(not_serving, "the Watch stream never reported NOT_SERVING");
    let addr = server.addr();
    eventually("the listener closes", DEADLINE, || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    let exit = server.wait_for_exit(DEADLINE).await;
    assert!(exit.success(), "SIGINT must end in exit status 0: {exit}");
    drop(watch);
}

/// A call in progress when SIGTERM arrives (a CreateKey stuck behind a table lock) completes and
/// is kept, while the listener is already closed.
#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn a_call_in_progress_at_sigterm_completes() {
    let mut fixture = Fixture::with_server(
        TestServer::builder(Backend::Postgres)
            .args(&["--shutdown-drain-timeout-secs", "60"])
            .start()
            .await,
    )
    .await;
    let mut locker = connect(fixture.server.database_url()).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock api_keys");
    let in_flight = tokio::spawn({
        let (api, owner, account) = (
            fixture.api().clone(),
            fixture.owner.clone(),
            fixture.account.clone(),
        );
        async move {
            api.create_key(&owner, &account, "in-flight@acme.test")
                .await
        }
    });
    let mut observer = connect(fixture.server.database_url()).await;
    super::until_count(
        &mut observer,
        "CreateKey waits on the lock",
        super::LOCK_WAITERS,
        1,
    )
    .await;

    fixture.server.send_signal("TERM");
    let addr = fixture.server.addr();
    eventually("the listener closes", DEADLINE, || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    fixture.server.assert_running();
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let created = in_flight
        .await
        .expect("CreateKey task")
        .expect("the call in progress at SIGTERM completes");
    let exit = fixture.server.wait_for_exit(DEADLINE).await;
    assert!(exit.success(), "SIGTERM must end in exit status 0: {exit}");

    fixture.server.relaunch().await;
    let client_id = created.key.expect("key").client_id;
    let response = fixture
        .api()
        .introspect(&fixture.gateway, &client_id, &created.client_secret)
        .await
        .expect("Introspect after the restart");
    assert!(response.active, "the key created during the drain was lost");
}

async fn connect(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
}
