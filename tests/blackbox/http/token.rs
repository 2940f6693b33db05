//! `POST /auth/token` that succeeds: the company's JSON shape and RFC 6749 §4.4 with
//! `client_secret_basic` and `client_secret_post`, each answering the token `IssueToken` would,
//! which gRPC Introspect then recognises as its key.

use apikeys_test_support::Backend;
use jsonwebtoken::Algorithm;

use super::client::form_encode;
use super::{DEADLINE, assert_token_answer, client_secret_basic, company_json, issue_token};
use crate::harness::{Fixture, TestServer, decode_claims};

backend_suite!(
    company_json_shape_issues_a_token_that_introspects_as_its_key,
    client_secret_basic_issues_a_token,
    client_secret_post_issues_a_token,
    secrets_never_reach_the_log,
);

/// Asserts `token` is an access token of `fixture`'s sentinel key, as gRPC sees it.
async fn assert_token_of_sentinel(fixture: &Fixture, token: &str, what: &str) {
    let header = jsonwebtoken::decode_header(token).expect("token header");
    assert_eq!(header.alg, Algorithm::EdDSA, "{what}");
    let kid = header.kid.unwrap_or_else(|| panic!("{what}: no kid"));
    let jwks = fixture.api().jwks().await.expect("GetJwks");
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|key| key["kid"] == kid.as_str()),
        "{what}: kid {kid} not in GetJwks {jwks}"
    );
    let claims = decode_claims(token);
    assert_eq!(claims["iss"], "apikeys", "{what}: the default issuer");
    assert_eq!(claims["sub"], fixture.sentinel_id.as_str(), "{what}");
    assert_eq!(claims["account_id"], "acme", "{what}");
    let iat = claims["iat"].as_i64().expect("iat");
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600), "{what}");
    assert!(
        claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()),
        "{what}: no jti"
    );
    assert!(!token.contains(&fixture.sentinel_secret), "{what}");

    let response = fixture
        .api()
        .introspect_token(&fixture.gateway, token)
        .await
        .unwrap_or_else(|s| panic!("{what}: Introspect: {s:?}"));
    assert!(response.active, "{what}: not active: {response:?}");
    assert_eq!(response.client_id, fixture.sentinel_id, "{what}");
    assert_eq!(response.account_id, "acme", "{what}");
}

async fn company_json_shape_issues_a_token_that_introspects_as_its_key(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;
    assert_token_of_sentinel(&fixture, &token, "JSON").await;
    // Each call is a new token.
    let again = issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;
    assert_ne!(
        decode_claims(&again)["jti"],
        decode_claims(&token)["jti"],
        "two tokens share a jti"
    );
}

async fn client_secret_basic_issues_a_token(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let basic = client_secret_basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    for content_type in [
        "application/x-www-form-urlencoded",
        // What Spring Security, Java and .NET OAuth clients send.
        "application/x-www-form-urlencoded;charset=UTF-8",
    ] {
        let answer = fixture
            .http()
            .post("/auth/token")
            .header("authorization", &basic)
            .header("content-type", content_type)
            .body(form_encode(&[("grant_type", "client_credentials")]))
            .send()
            .await;
        let what = format!("client_secret_basic, {content_type}");
        let token = assert_token_answer(&answer, &what);
        assert_token_of_sentinel(&fixture, &token, &what).await;
    }
}

async fn client_secret_post_issues_a_token(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let answer = fixture
        .http()
        .post("/auth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &fixture.sentinel_id),
            ("client_secret", &fixture.sentinel_secret),
        ])
        .send()
        .await;
    let token = assert_token_answer(&answer, "client_secret_post");
    assert_token_of_sentinel(&fixture, &token, "client_secret_post").await;
    // RFC 6749 §3.2: unrecognised parameters are ignored; `token_type_hint`-like extras and a
    // different order change nothing.
    let answer = fixture
        .http()
        .post("/auth/token")
        .form(&[
            ("client_secret", &fixture.sentinel_secret),
            ("audience", "https://api.example.test"),
            ("client_id", &fixture.sentinel_id),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await;
    assert_token_answer(&answer, "client_secret_post, reordered, an extra parameter");
}

async fn secrets_never_reach_the_log(backend: Backend) {
    // The server's own debug events and spans too (the HTTP spans are `debug`).
    // The throttle's warning after two wrong secrets shows the log caught these requests.
    let server = TestServer::builder(backend)
        .env("RUST_LOG", "info,apikeys=debug")
        .args(&["--failure-throttle-max-failures", "2"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let other = fixture.create_key("other@acme.test").await;
    let http = fixture.http();
    issue_token(&http, &fixture.sentinel_id, &fixture.sentinel_secret).await;
    // Wrong (another key's) secret, in every shape.
    let wrong = other.client_secret.clone();
    http.post_json("/auth/token", &company_json(&fixture.sentinel_id, &wrong))
        .await
        .assert_status(401, "JSON, wrong secret");
    http.post("/auth/token")
        .header(
            "authorization",
            &client_secret_basic(&fixture.sentinel_id, &wrong),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .assert_status(401, "Basic, wrong secret");
    http.post("/auth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &fixture.sentinel_id),
            ("client_secret", &wrong),
            ("scope", "admin"),
        ])
        .send()
        .await
        .assert_status(400, "a refused form with a secret");
    // Exit cleanly so that everything the server wrote has been read.
    let exit = fixture.server.signal_and_wait("TERM", DEADLINE).await;
    assert!(exit.success(), "SIGTERM: {exit}");
    let stderr = fixture.server.stderr_after_exit().await;
    assert!(
        stderr.contains("throttling this client id") && stderr.contains(&fixture.sentinel_id),
        "the log shows nothing of the wrong secrets, so this test proves nothing:\n{stderr}"
    );
    for secret in [&fixture.sentinel_secret, &wrong] {
        assert!(
            !stderr.contains(&secret[4..]),
            "a client secret reached the log:\n{stderr}"
        );
    }
}
