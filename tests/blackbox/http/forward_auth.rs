//! Forward auth allowed, `/auth/check[/{*path}]`: the same verdicts as ext_authz `Check`, as
//! HTTP answers a gateway acts on. Live credentials → 200 with the identity headers, on every
//! method and path, whatever identity the partner claims; a revocation counts at once.

use apikeys_test_support::Backend;

use super::client::{Answer, Http};
use super::issue_token;
use crate::ext_authz::envoy::basic;
use crate::harness::Fixture;

backend_suite!(
    live_credentials_are_allowed_on_every_method_and_path,
    forged_identity_headers_do_not_survive,
    revocation_denies_the_next_check,
);

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "HEAD"];
const PATHS: [&str; 2] = ["/auth/check", "/auth/check/some/original/path?q=1"];
pub(super) const BASIC_CHALLENGE: &str = r#"Basic realm="api""#;
pub(super) const BEARER_CHALLENGE: &str = r#"Bearer realm="api""#;

/// The names in `x-envoy-auth-headers-to-remove`, lower-cased and sorted.
pub(super) fn removed_headers(answer: &Answer) -> Vec<String> {
    let mut names: Vec<String> = answer
        .header("x-envoy-auth-headers-to-remove")
        .unwrap_or_default()
        .split(',')
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    names.sort();
    names
}

/// A 200 allow with an empty body naming `account` and `client_id`, removing exactly `removed`.
#[track_caller]
pub(super) fn assert_allowed(
    answer: &Answer,
    account: &str,
    client_id: &str,
    removed: &[&str],
    what: &str,
) {
    answer
        .assert_status(200, what)
        .assert_empty_body(what)
        .assert_no_store(what);
    assert_eq!(
        answer.header("x-account-id"),
        Some(account),
        "{what}: {answer:?}"
    );
    assert_eq!(
        answer.header("x-client-id"),
        Some(client_id),
        "{what}: {answer:?}"
    );
    let mut removed: Vec<String> = removed.iter().map(|r| (*r).to_owned()).collect();
    removed.sort();
    assert_eq!(removed_headers(answer), removed, "{what}: {answer:?}");
}

/// A bare 401 with exactly `challenge`, no identity and no hint.
#[track_caller]
pub(super) fn assert_denied(answer: &Answer, challenge: &str, what: &str) {
    answer
        .assert_status(401, what)
        .assert_empty_body(what)
        .assert_no_store(what);
    assert_eq!(
        answer.header("www-authenticate"),
        Some(challenge),
        "{what}: {answer:?}"
    );
    for name in [
        "x-account-id",
        "x-client-id",
        "x-envoy-auth-headers-to-remove",
    ] {
        assert!(
            answer.header(name).is_none(),
            "{what}: {name} on a denial: {answer:?}"
        );
    }
}

async fn live_credentials_are_allowed_on_every_method_and_path(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let (id, secret) = (
        fixture.sentinel_id.as_str(),
        fixture.sentinel_secret.as_str(),
    );
    let token = issue_token(&fixture.http(), id, secret).await;
    let basic = basic(id, secret);
    let bearer = format!("Bearer {token}");
    let api_key = format!("{id}:{secret}");
    let credentials: [(&str, (&str, &str), &[&str]); 4] = [
        ("Basic", ("authorization", &basic), &["authorization"]),
        (
            "lower-case basic",
            ("authorization", &basic.replace("Basic", "basic")),
            &["authorization"],
        ),
        (
            "Bearer access token",
            ("authorization", &bearer),
            &["authorization"],
        ),
        (
            "API-key header",
            ("x-api-key", &api_key),
            &["authorization", "x-api-key"],
        ),
    ];
    for http in [fixture.http(), Http::h2(fixture.server.addr())] {
        for (what, header, removed) in &credentials {
            for method in METHODS {
                for path in PATHS {
                    let answer = fixture.forward(&http, method, path, &[*header]).await;
                    let what = format!("{what}, {method} {path}, {:?}", answer.version);
                    assert_allowed(&answer, "acme", id, removed, &what);
                }
            }
        }
    }
    // The body is ignored.
    let answer = fixture
        .http()
        .post("/auth/check/v1/payments")
        .header("x-gateway-authorization", &fixture.gateway_header())
        .header("authorization", &basic)
        .header("content-type", "application/json")
        .body(r#"{"amount": 100}"#)
        .send()
        .await;
    assert_allowed(
        &answer,
        "acme",
        id,
        &["authorization"],
        "a POST with a body",
    );
}

async fn forged_identity_headers_do_not_survive(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let id = &fixture.sentinel_id;
    let answer = fixture
        .forward(
            &fixture.http(),
            "GET",
            "/auth/check/v1/payments",
            &[
                ("authorization", &basic(id, &fixture.sentinel_secret)),
                ("x-account-id", "globex"),
                ("x-client-id", "akc_spoofedspoofedspoofed0"),
            ],
        )
        .await;
    assert_allowed(
        &answer,
        "acme",
        id,
        &["authorization"],
        "forged identity headers",
    );
    // A forged identity without credentials is still nobody.
    let answer = fixture
        .forward(
            &fixture.http(),
            "GET",
            "/auth/check",
            &[("x-account-id", "acme"), ("x-client-id", id)],
        )
        .await;
    assert_denied(&answer, BEARER_CHALLENGE, "identity headers only");
}

async fn revocation_denies_the_next_check(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let created = fixture.create_key("revoke@acme.test").await;
    let id = created.key.expect("key").client_id;
    let secret = created.client_secret;
    let http = fixture.http();
    let token = issue_token(&http, &id, &secret).await;
    let basic = basic(&id, &secret);
    let bearer = format!("Bearer {token}");
    let api_key = format!("{id}:{secret}");
    let credentials = [
        ("Basic", ("authorization", basic.as_str()), BASIC_CHALLENGE),
        (
            "Bearer",
            ("authorization", bearer.as_str()),
            BEARER_CHALLENGE,
        ),
        ("API key", ("x-api-key", api_key.as_str()), BEARER_CHALLENGE),
    ];
    // Twice each, so that every verdict is cached before the revocation.
    for (what, header, _) in &credentials {
        for _ in 0..2 {
            let answer = fixture
                .forward(&http, "GET", "/auth/check", &[*header])
                .await;
            assert_eq!(
                answer.status, 200,
                "{what} before the revocation: {answer:?}"
            );
        }
    }
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &id)
        .await
        .expect("RevokeKey");
    for (what, header, challenge) in &credentials {
        let answer = fixture
            .forward(&http, "GET", "/auth/check", &[*header])
            .await;
        assert_denied(&answer, challenge, &format!("{what} right after RevokeKey"));
    }
}
