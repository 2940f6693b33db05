//! PostgreSQL unreachable at startup (serve exits non-zero, never SERVING) and going away under
//! a running server: management calls fail UNAVAILABLE, health turns NOT_SERVING, warm keys keep
//! verifying from the cache, cold ones fail closed; when PostgreSQL returns the server recovers
//! without a restart, including the LISTEN connection that carries other replicas' revocations.

use diesel_async::SimpleAsyncConnection as _;
use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use super::{DEADLINE, LISTENERS, LOCK_WAITERS, health_becomes, server_on, until_count};
use crate::harness::{
    Fixture, PgCluster, StopMode, Tokens, assert_code, assert_inactive, bearer, eventually,
    run_apikeys,
};

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn serve_exits_non_zero_when_postgres_is_down_at_startup() {
    let cluster = PgCluster::start().await;
    cluster.stop(StopMode::Fast).await;
    // A password in the URL (ignored by trust auth) must not reach the log.
    let url = cluster
        .url()
        .replace("postgres@", "postgres:pw-must-not-leak@");
    let dir = tempfile::tempdir().expect("temp dir");
    let kek = dir.path().join("token.kek").display().to_string();
    let tokens = Tokens::random();
    let output = run_apikeys(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--token-kek-file",
        &kek,
        "--jwt-hs256-secret",
        tokens.secret(),
        "--jwt-issuer",
        tokens.issuer(),
        "--jwt-audience",
        tokens.audience(),
    ])
    .await;
    assert!(
        !output.status.success(),
        "serve without its database must fail: {output:?}"
    );
    assert!(
        !output.stdout.contains("apikeys listening on"),
        "serve listened without a database: {output:?}"
    );
    assert!(
        output.stderr.contains("cannot prepare the database"),
        "no clear reason on stderr: {output:?}"
    );
    assert!(
        !output.stderr.contains("pw-must-not-leak"),
        "the database password reached the log: {}",
        output.stderr
    );
}

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn outage_fails_closed_and_the_server_recovers_without_restart() {
    let cluster = PgCluster::start().await;
    // Revocations from other replicas may only arrive through LISTEN/NOTIFY here: the audit-trail
    // poll (the safety net) is pushed out of the test's reach.
    let args = [
        "--health-check-interval-ms",
        "200",
        "--db-acquire-timeout-ms",
        "1000",
        "--revocation-poll-interval-ms",
        "3600000",
    ];
    let fixture = Fixture::with_server(server_on(&cluster, &args).await).await;
    let replica = fixture.server.replica(&[]).await;
    let api = fixture.api().clone();
    let warm = fixture.create_key("warm@acme.test").await;
    let warm_id = warm.key.clone().expect("key").client_id;
    let cold = fixture.create_key("cold@acme.test").await;
    let cold_id = cold.key.clone().expect("key").client_id;
    let remote = fixture.create_key("remote@acme.test").await;
    let remote_id = remote.key.clone().expect("key").client_id;
    let introspect_ok = |api: &crate::harness::Api, id: &str, secret: &str| {
        let (api, id, secret, gateway) = (
            api.clone(),
            id.to_owned(),
            secret.to_owned(),
            fixture.gateway.clone(),
        );
        async move {
            api.introspect(&gateway, &id, &secret)
                .await
                .unwrap_or_else(|s| panic!("Introspect {id}: {s:?}"))
        }
    };
    assert!(
        introspect_ok(&api, &warm_id, &warm.client_secret)
            .await
            .active
    );
    // The replica caches `remote`; only a notification can tell it about the revocation later.
    assert!(
        introspect_ok(replica.api(), &remote_id, &remote.client_secret)
            .await
            .active
    );
    let mut admin = cluster.connect().await;
    until_count(&mut admin, "both replicas LISTEN", LISTENERS, 2).await;
    drop(admin);

    cluster.stop(StopMode::Immediate).await;

    health_becomes(&fixture.server, ServingStatus::NotServing).await;
    assert_eq!(
        api.health("apikeys.liveness").await.ok(),
        Some(ServingStatus::Serving as i32),
        "liveness ignores the store: an outage must not get every replica restarted"
    );
    assert_code(
        api.list_keys(&fixture.owner, &fixture.account, 0, "").await,
        Code::Unavailable,
        "ListKeys while PostgreSQL is down",
    );
    let status = assert_code(
        api.create_key(&fixture.owner, &fixture.account, "down@acme.test")
            .await,
        Code::Unavailable,
        "CreateKey while PostgreSQL is down",
    );
    assert!(
        !status.message().contains("127.0.0.1"),
        "infrastructure details reached the caller: {status:?}"
    );
    assert_code(
        api.get_account(&fixture.staff, &fixture.account).await,
        Code::Unavailable,
        "GetAccount while PostgreSQL is down",
    );
    let response = introspect_ok(&api, &warm_id, &warm.client_secret).await;
    assert!(response.active, "a warm key must verify from the cache");
    assert_eq!(response.client_id, warm_id);
    // Fewer attempts than the failure throttle allows, so a failure counted as a wrong secret
    // would not hide behind the throttle.
    for attempt in 0..3 {
        assert_code(
            api.introspect(&fixture.gateway, &cold_id, &cold.client_secret)
                .await,
            Code::Unavailable,
            &format!("cold Introspect #{attempt} while PostgreSQL is down"),
        );
    }
    let check = api
        .check(
            Some(bearer(&fixture.gateway)),
            crate::harness::basic_check_request(&cold_id, &cold.client_secret),
        )
        .await
        .expect("Check answers even while PostgreSQL is down");
    assert_service_unavailable(&check);

    cluster.start_again().await;

    health_becomes(&fixture.server, ServingStatus::Serving).await;
    let page = api
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys after PostgreSQL returned");
    assert!(
        page.keys.iter().any(|k| k.client_id == cold_id),
        "{cold_id} not in {page:?}"
    );
    let response = introspect_ok(&api, &cold_id, &cold.client_secret).await;
    assert!(
        response.active,
        "an UNAVAILABLE answer must not have been remembered as inactive"
    );
    let mut admin = cluster.connect().await;
    until_count(&mut admin, "both replicas LISTEN again", LISTENERS, 2).await;
    api.revoke_key(&fixture.owner, &fixture.account, &remote_id)
        .await
        .expect("RevokeKey after recovery");
    let (replica_api, gateway, secret) = (
        replica.api().clone(),
        fixture.gateway.clone(),
        remote.client_secret.clone(),
    );
    eventually("the revocation reaches the other replica", DEADLINE, || {
        let (api, gateway, id, secret) = (
            replica_api.clone(),
            gateway.clone(),
            remote_id.clone(),
            secret.clone(),
        );
        async move {
            let response = api
                .introspect(&gateway, &id, &secret)
                .await
                .expect("Introspect on the replica");
            !response.active
        }
    })
    .await;
    let response = introspect_ok(replica.api(), &remote_id, &remote.client_secret).await;
    assert_inactive(&response, "revoked key on the other replica");
}

/// Envoy's 503-style denial: gRPC UNAVAILABLE with an HTTP 503 denied response.
#[track_caller]
fn assert_service_unavailable(response: &CheckResponse) {
    let code = response.status.as_ref().map_or(0, |s| s.code);
    assert_eq!(code, Code::Unavailable as i32, "{response:?}");
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("no denied response in {response:?}");
    };
    assert_eq!(denied.status.as_ref().map(|s| s.code), Some(503));
}

/// A call whose query is running when PostgreSQL dies gets UNAVAILABLE like any other call
/// during the outage, not INTERNAL.
#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn a_query_cut_off_by_the_outage_is_unavailable() {
    let cluster = PgCluster::start().await;
    let fixture = Fixture::with_server(server_on(&cluster, &[]).await).await;
    let mut locker = cluster.connect().await;
    locker
        .batch_execute("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock api_keys");
    let cut_off = tokio::spawn({
        let (api, owner, account) = (
            fixture.api().clone(),
            fixture.owner.clone(),
            fixture.account.clone(),
        );
        async move { api.create_key(&owner, &account, "cut-off@acme.test").await }
    });
    let mut observer = cluster.connect().await;
    until_count(
        &mut observer,
        "CreateKey waits on the lock",
        LOCK_WAITERS,
        1,
    )
    .await;
    drop(observer);

    // The lock holder dies with the server, so the lock is never released.
    cluster.stop(StopMode::Immediate).await;
    drop(locker);

    let result = cut_off.await.expect("CreateKey task");
    let status = assert_code(result, Code::Unavailable, "CreateKey cut off by the outage");
    assert!(!status.message().contains("connection"), "{status:?}");
}
