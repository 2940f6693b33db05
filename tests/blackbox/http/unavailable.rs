//! The 503 rows: a full hashing pool or a store that is down is `503` with `Retry-After: 1`
//! on `/auth/token`, forward auth and `/oauth/introspect`, never an allow and never a verdict
//! about the credentials.

use apikeys_test_support::Backend;

use super::client::Answer;
use super::{assert_oauth_error, company_json, issue_token};
use crate::ext_authz::envoy::basic;
use crate::harness::{Fixture, StopMode, TestServer, unknown_client_id};

/// `503`, `Retry-After: 1`.
#[track_caller]
fn assert_retry_in_a_second(answer: &Answer, what: &str) {
    answer.assert_status(503, what).assert_no_store(what);
    assert_eq!(
        answer.header("retry-after"),
        Some("1"),
        "{what}: {answer:?}"
    );
}

#[tokio::test]
async fn a_full_hashing_pool_is_503_never_an_allow() {
    // One hashing thread and no queue: concurrent cold verifications beyond one are refused.
    let server = TestServer::builder(Backend::Sqlite)
        .args(&["--hash-workers", "1", "--hash-queue-limit", "0"])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..24 {
        // Unknown ids: each is a cache miss verified against the decoy hash (argon2).
        let (http, gateway, secret) = (
            fixture.http(),
            fixture.gateway_header(),
            fixture.sentinel_secret.clone(),
        );
        calls.spawn(async move {
            let id = unknown_client_id();
            if i % 2 == 0 {
                let answer = http
                    .get("/auth/check")
                    .header("x-gateway-authorization", &gateway)
                    .header("authorization", &basic(&id, &secret))
                    .send()
                    .await;
                ("forward auth", answer)
            } else {
                let answer = http
                    .post_json("/auth/token", &company_json(&id, &secret))
                    .await;
                ("token", answer)
            }
        });
    }
    let mut unavailable = 0;
    while let Some(joined) = calls.join_next().await {
        let (what, answer) = joined.expect("call task");
        match (what, answer.status) {
            (_, 503) => {
                assert_retry_in_a_second(&answer, what);
                if what == "token" {
                    assert_oauth_error(&answer, 503, "temporarily_unavailable", what);
                } else {
                    answer.assert_empty_body(what);
                }
                unavailable += 1;
            }
            ("forward auth", 401) => {
                answer.assert_empty_body(what);
            }
            ("token", 401) => assert_oauth_error(&answer, 401, "invalid_client", what),
            _ => panic!("an unknown id got {answer:?}"),
        }
    }
    assert!(
        unavailable > 0,
        "24 concurrent cold verifications never hit the limit"
    );
}

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn a_store_that_is_down_is_503_and_recovers() {
    let (cluster, server) = super::server_on_own_cluster().await;
    let fixture = Fixture::with_server(server).await;
    // Never verified, so only the store can tell whether its secret is right.
    let cold = fixture.create_key("cold@acme.test").await;
    let cold_id = cold.key.clone().expect("key").client_id;
    let warm_token = issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;

    cluster.stop(StopMode::Immediate).await;

    let http = fixture.http();
    // Fewer attempts than the failure throttle allows: a store error counted as a wrong secret
    // would not hide behind the throttle.
    for attempt in 0..3 {
        let what = format!("cold /auth/token #{attempt} while PostgreSQL is down");
        let answer = http
            .post_json("/auth/token", &company_json(&cold_id, &cold.client_secret))
            .await;
        assert_retry_in_a_second(&answer, &what);
        assert_oauth_error(&answer, 503, "temporarily_unavailable", &what);
        assert!(
            !String::from_utf8_lossy(&answer.body).contains("127.0.0.1"),
            "{answer:?}"
        );
    }
    let check = fixture
        .forward(
            &http,
            "GET",
            "/auth/check",
            &[("authorization", &basic(&cold_id, &cold.client_secret))],
        )
        .await;
    assert_retry_in_a_second(&check, "cold forward auth while PostgreSQL is down");
    check.assert_empty_body("cold forward auth");
    assert!(check.header("x-account-id").is_none(), "{check:?}");
    // A warm token still verifies from the caches: the store being down is no reason to deny.
    let introspected = http
        .post("/oauth/introspect")
        .header("authorization", &fixture.gateway_header())
        .form(&[("token", &warm_token)])
        .send()
        .await;
    assert!(
        matches!(introspected.status, 200 | 503),
        "a warm token while PostgreSQL is down: {introspected:?}"
    );
    if introspected.status == 503 {
        assert_retry_in_a_second(&introspected, "warm token introspection");
    } else {
        assert_eq!(introspected.json()["active"], true, "{introspected:?}");
    }

    cluster.start_again().await;
    let deadline = tokio::time::Instant::now() + super::DEADLINE;
    loop {
        let answer = http
            .post_json("/auth/token", &company_json(&cold_id, &cold.client_secret))
            .await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(
            answer.status, 503,
            "while PostgreSQL comes back: {answer:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recovery: {answer:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
