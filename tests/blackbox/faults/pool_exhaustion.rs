//! A slow database and an exhausted pool: with its only connection stuck behind a lock, the
//! server answers other calls UNAVAILABLE once `--db-acquire-timeout-ms` has passed instead of
//! queueing them, and everything completes normally once the lock is released.

use diesel_async::SimpleAsyncConnection as _;
use tonic::Code;

use super::{LOCK_WAITERS, server_on, until_count};
use crate::harness::{Fixture, PgCluster};

/// Concurrent calls made while the pool is exhausted.
const WAITING_CALLS: usize = 16;

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn exhausted_pool_fails_fast_with_unavailable() {
    let cluster = PgCluster::start().await;
    let server = server_on(
        &cluster,
        &[
            "--db-max-connections",
            "1",
            "--db-acquire-timeout-ms",
            "500",
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
                match i % 3 {
                    0 => api.list_keys(&owner, &account, 0, "").await.map(drop),
                    1 => api.get_account(&staff, &account).await.map(drop),
                    _ => api.introspect(&gateway, &cold_id, &secret).await.map(drop),
                }
            })
        })
        .collect();
    for call in waiting {
        let result = call.await.expect("call task");
        let status = result.expect_err("a call needing the busy connection must not succeed");
        assert_eq!(
            status.code(),
            Code::Unavailable,
            "pool exhaustion must be UNAVAILABLE: {status:?}"
        );
    }
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
