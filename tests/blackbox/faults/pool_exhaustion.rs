//! A slow database and an exhausted pool: with its only connection stuck behind a lock, the
//! server answers other calls UNAVAILABLE once `--db-acquire-timeout-ms` has passed instead of
//! queueing them (each answer comes soon after that timeout, far before the request timeout),
//! and everything completes normally once the lock is released.

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection as _;
use tonic::Code;

use super::{LOCK_WAITERS, server_on, until_count};
use crate::harness::{Fixture, PgCluster};

/// Concurrent calls made while the pool is exhausted.
const WAITING_CALLS: usize = 16;
/// `--db-acquire-timeout-ms`: how long a call waits for the busy connection.
const ACQUIRE_TIMEOUT_MS: u64 = 500;
/// `--request-timeout-ms`: when a call queued behind the busy connection would end instead.
const REQUEST_TIMEOUT_MS: u64 = 10_000;
/// "Fast": each call answers within five acquire timeouts of being made, a quarter of the
/// request timeout. Calls queued one behind the other (16 × 500 ms) or held until the request
/// timeout would miss it; one acquire timeout plus a busy machine's delays meets it.
const FAIL_FAST_BOUND: Duration = Duration::from_millis(5 * ACQUIRE_TIMEOUT_MS);

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn exhausted_pool_fails_fast_with_unavailable() {
    let cluster = PgCluster::start().await;
    let (acquire_timeout, request_timeout) = (
        ACQUIRE_TIMEOUT_MS.to_string(),
        REQUEST_TIMEOUT_MS.to_string(),
    );
    let server = server_on(
        &cluster,
        &[
            "--db-max-connections",
            "1",
            "--db-acquire-timeout-ms",
            &acquire_timeout,
            "--request-timeout-ms",
            &request_timeout,
        ],
    )
    .await;
    let fixture = Fixture::with_server(server).await;
    let api = fixture.api().clone();
    let cold = fixture.create_key("cold@acme.test").await;
    let cold_id = cold.key.clone().expect("key").client_id;

    let mut locker = cluster.connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock api_keys");
    let blocked_create = tokio::spawn({
        let (api, owner, account) = (api.clone(), fixture.owner.clone(), fixture.account.clone());
        async move { api.create_key(&owner, &account, "blocked@acme.test").await }
    });
    let mut observer = cluster.connect().await;
    until_count(
        &mut observer,
        "CreateKey waits on the lock",
        LOCK_WAITERS,
        1,
    )
    .await;

    // The one connection is busy: every other database call must give up, not queue.
    let waiting: Vec<_> = (0..WAITING_CALLS)
        .map(|i| {
            let api = api.clone();
            let (owner, staff, gateway) = (
                fixture.owner.clone(),
                fixture.staff.clone(),
                fixture.gateway.clone(),
            );
            let (account, cold_id, secret) = (
                fixture.account.clone(),
                cold_id.clone(),
                cold.client_secret.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let (rpc, result) = match i % 3 {
                    0 => (
                        "ListKeys",
                        api.list_keys(&owner, &account, 0, "").await.map(drop),
                    ),
                    1 => (
                        "GetAccount",
                        api.get_account(&staff, &account).await.map(drop),
                    ),
                    _ => (
                        "Introspect",
                        api.introspect(&gateway, &cold_id, &secret).await.map(drop),
                    ),
                };
                (rpc, result, started.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for call in waiting {
        let (rpc, result, took) = call.await.expect("call task");
        let status = result.expect_err("a call needing the busy connection must not succeed");
        assert_eq!(
            status.code(),
            Code::Unavailable,
            "{rpc}: pool exhaustion must be UNAVAILABLE: {status:?}"
        );
        assert!(
            took < FAIL_FAST_BOUND,
            "{rpc} took {took:?} to fail with the pool exhausted: not fast (bound \
             {FAIL_FAST_BOUND:?}, acquire timeout {ACQUIRE_TIMEOUT_MS} ms, request timeout \
             {REQUEST_TIMEOUT_MS} ms)"
        );
        slowest = slowest.max(took);
    }
    eprintln!(
        "with the pool exhausted, the slowest of {WAITING_CALLS} calls failed in {slowest:?}"
    );
    assert!(
        !blocked_create.is_finished(),
        "CreateKey finished while its table was locked"
    );

    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let created = blocked_create
        .await
        .expect("CreateKey task")
        .expect("the blocked CreateKey completes once the lock is gone");
    let created_id = created.key.expect("key").client_id;
    let listed = api
        .active_client_ids(&fixture.owner, &fixture.account)
        .await;
    assert!(listed.contains(&created_id), "{listed:?}");
    let response = api
        .introspect(&fixture.gateway, &cold_id, &cold.client_secret)
        .await
        .expect("Introspect after the pool recovered");
    assert!(
        response.active,
        "an UNAVAILABLE answer must not be remembered"
    );
}
