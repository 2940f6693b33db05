//! Forward auth denied: anything wrong with the partner's credentials is a bare 401 with the
//! challenge of the scheme used, never a hint why; a gateway that did not prove itself gets a
//! bare 403 and the server says so in its log; the configured header names are the ones read.

use apikeys_test_support::Backend;

use super::client::Answer;
use super::forward_auth::{
    BASIC_CHALLENGE, BEARER_CHALLENGE, assert_allowed, assert_denied, removed_headers,
};
use super::{issue_token, stderr_shows};
use crate::ext_authz::envoy::{basic, basic_raw};
use crate::harness::{Fixture, TestServer, unknown_client_id};

backend_suite!(
    bad_credentials_are_a_bare_401,
    a_gateway_that_did_not_authenticate_gets_a_logged_403,
);

/// What is wrong, the forwarded headers, the challenge expected.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);

async fn bad_credentials_are_a_bare_401(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let (id, secret) = (fixture.sentinel_id.clone(), fixture.sentinel_secret.clone());
    let other = fixture.create_key("other@acme.test").await;
    let token = issue_token(&fixture.http(), &id, &secret).await;
    let huge = "a".repeat(10 * 1024);
    let cases: Vec<Case> = vec![
        ("no credentials", vec![], BEARER_CHALLENGE),
        (
            "another key's secret",
            vec![("authorization", basic(&id, &other.client_secret))],
            BASIC_CHALLENGE,
        ),
        (
            "a truncated secret",
            vec![("authorization", basic(&id, &secret[..52]))],
            BASIC_CHALLENGE,
        ),
        (
            "an unknown id",
            vec![("authorization", basic(&unknown_client_id(), &secret))],
            BASIC_CHALLENGE,
        ),
        (
            "Basic without a colon",
            vec![("authorization", basic_raw(id.as_bytes()))],
            BASIC_CHALLENGE,
        ),
        (
            "Basic that is not base64",
            vec![("authorization", "Basic %%%".into())],
            BASIC_CHALLENGE,
        ),
        (
            "Basic that is not UTF-8",
            vec![("authorization", basic_raw(b"akc_\xff:aks_\xfe"))],
            BASIC_CHALLENGE,
        ),
        (
            "a 10 KB Basic",
            vec![("authorization", basic(&id, &format!("{secret}{huge}")))],
            BASIC_CHALLENGE,
        ),
        (
            "Bearer garbage",
            vec![("authorization", "Bearer garbage".into())],
            BEARER_CHALLENGE,
        ),
        (
            "a tampered access token",
            vec![("authorization", format!("Bearer {token}x"))],
            BEARER_CHALLENGE,
        ),
        (
            "a caller JWT as partner",
            vec![("authorization", format!("Bearer {}", fixture.gateway))],
            BEARER_CHALLENGE,
        ),
        (
            "another scheme",
            vec![("authorization", "Digest username=x".into())],
            BEARER_CHALLENGE,
        ),
        (
            "the bare secret",
            vec![("authorization", secret.clone())],
            BEARER_CHALLENGE,
        ),
        (
            "a wrong API key",
            vec![("x-api-key", format!("{id}:{}", other.client_secret))],
            BEARER_CHALLENGE,
        ),
        (
            "an API key without colon",
            vec![("x-api-key", id.clone())],
            BEARER_CHALLENGE,
        ),
        (
            "credentials in another header",
            vec![("x-client-secret", secret.clone())],
            BEARER_CHALLENGE,
        ),
        (
            "a bad authorization next to a good API key",
            vec![
                ("authorization", "Bearer garbage".into()),
                ("x-api-key", format!("{id}:{secret}")),
            ],
            BEARER_CHALLENGE,
        ),
    ];
    let http = fixture.http();
    for (what, headers, challenge) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for method in ["GET", "HEAD"] {
            let answer = fixture
                .forward(&http, method, "/auth/check/v1/payments", &headers)
                .await;
            assert_denied(&answer, challenge, &format!("{what}, {method}"));
        }
    }
    let non_utf8 = http
        .get("/auth/check")
        .header("x-gateway-authorization", &fixture.gateway_header())
        .header_bytes("authorization", b"Basic \xff\xfe")
        .send()
        .await;
    assert_eq!(
        non_utf8.status, 401,
        "raw non-UTF-8 authorization: {non_utf8:?}"
    );
    assert!(non_utf8.body.is_empty());
    // Suspension is a denial too, and re-enabling restores the allow.
    let basic_good = basic(&id, &secret);
    let api = fixture.api().clone();
    api.set_api_access(&fixture.staff, &fixture.account, false)
        .await
        .expect("disable");
    for (what, header) in [
        ("suspended, Basic", ("authorization", basic_good.as_str())),
        (
            "suspended, Bearer",
            ("authorization", &format!("Bearer {token}")),
        ),
    ] {
        let challenge = if what.ends_with("Basic") {
            BASIC_CHALLENGE
        } else {
            BEARER_CHALLENGE
        };
        assert_denied(
            &fixture
                .forward(&http, "GET", "/auth/check", &[header])
                .await,
            challenge,
            what,
        );
    }
    api.set_api_access(&fixture.staff, &fixture.account, true)
        .await
        .expect("enable");
    let answer = fixture
        .forward(
            &http,
            "GET",
            "/auth/check",
            &[("authorization", &basic_good)],
        )
        .await;
    assert_allowed(&answer, "acme", &id, &["authorization"], "re-enabled");
    fixture.assert_intact().await;
}

async fn a_gateway_that_did_not_authenticate_gets_a_logged_403(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let partner = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let tokens = fixture.tokens();
    let expired = tokens
        .user("api-gateway", "hubpay", "service")
        .scope("introspect")
        .expires_in(-3600)
        .sign();
    let gateway_bearer = fixture.gateway_header();
    let owner_bearer = format!("Bearer {}", fixture.owner);
    let expired_bearer = format!("Bearer {expired}");
    let cases: [(&str, Vec<(&str, &str)>); 6] = [
        ("no gateway header", vec![("authorization", &partner)]),
        (
            "a garbage gateway header",
            vec![
                ("authorization", &partner),
                ("x-gateway-authorization", "Bearer nope"),
            ],
        ),
        (
            "an expired gateway token",
            vec![
                ("authorization", &partner),
                ("x-gateway-authorization", &expired_bearer),
            ],
        ),
        (
            "a caller token without the scope",
            vec![
                ("authorization", &partner),
                ("x-gateway-authorization", &owner_bearer),
            ],
        ),
        (
            "the gateway token without Bearer",
            vec![
                ("authorization", &partner),
                ("x-gateway-authorization", &fixture.gateway),
            ],
        ),
        // The partner's Authorization is never taken for the gateway's.
        (
            "the gateway token as Authorization",
            vec![("authorization", &gateway_bearer)],
        ),
    ];
    let http = fixture.http();
    for (what, headers) in &cases {
        let answer = http.get("/auth/check").headers(headers).send().await;
        answer
            .assert_status(403, what)
            .assert_empty_body(what)
            .assert_no_store(what);
        assert!(
            answer.header("x-account-id").is_none(),
            "{what}: {answer:?}"
        );
    }
    stderr_shows(&fixture, "forward-auth gateway not authenticated").await;
}

#[tokio::test]
async fn configured_header_names_are_honoured() {
    let server = TestServer::builder(Backend::Sqlite)
        .args(&[
            "--forward-auth-gateway-header",
            "x-edge-proof",
            "--ext-authz-api-key-header",
            "X-Partner-Key",
        ])
        .env("APIKEYS_EXT_AUTHZ_ACCOUNT_HEADER", "x-partner-account")
        .env("APIKEYS_EXT_AUTHZ_CLIENT_HEADER", "x-partner-client")
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let pair = format!("{}:{}", fixture.sentinel_id, fixture.sentinel_secret);
    let http = fixture.http();
    let gateway = fixture.gateway_header();
    let allowed = http
        .get("/auth/check")
        .header("x-edge-proof", &gateway)
        .header("x-partner-key", &pair)
        .send()
        .await;
    allowed
        .assert_status(200, "configured headers")
        .assert_empty_body("configured");
    assert_eq!(
        allowed.header("x-partner-account"),
        Some("acme"),
        "{allowed:?}"
    );
    assert_eq!(
        allowed.header("x-partner-client"),
        Some(fixture.sentinel_id.as_str())
    );
    assert!(allowed.header("x-account-id").is_none(), "{allowed:?}");
    assert_eq!(
        removed_headers(&allowed),
        ["authorization", "x-partner-key"]
    );
    let default_key_header = http
        .get("/auth/check")
        .header("x-edge-proof", &gateway)
        .header("x-api-key", &pair)
        .send()
        .await;
    assert_denied_plain(
        &default_key_header,
        401,
        "x-api-key when another is configured",
    );
    let default_gateway_header = http
        .get("/auth/check")
        .header("x-gateway-authorization", &gateway)
        .header("x-partner-key", &pair)
        .send()
        .await;
    assert_denied_plain(
        &default_gateway_header,
        403,
        "x-gateway-authorization when another is configured",
    );
}

#[track_caller]
fn assert_denied_plain(answer: &Answer, status: u16, what: &str) {
    answer.assert_status(status, what).assert_empty_body(what);
    assert!(
        answer.header("x-partner-account").is_none(),
        "{what}: {answer:?}"
    );
}
