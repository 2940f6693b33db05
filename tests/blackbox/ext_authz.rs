//! Envoy ext_authz: `envoy.service.auth.v3.Authorization/Check` driven with Envoy-shaped
//! requests. Allowed requests reach the upstream with identity headers and without
//! credentials; anything wrong with the credentials is a bare 401; overload is a 503.

pub(crate) mod envoy;
mod envoy_config;

use apikeys_proto::pb::IssueTokenRequest;
use apikeys_proto::pb::token_service_client::TokenServiceClient;
use apikeys_test_support::Backend;
use envoy_types::pb::envoy::service::auth::v3::CheckResponse;
use tonic::Code;

use self::envoy::{
    assert_allowed, assert_unauthorized, assert_unavailable, basic, basic_raw, http_request,
    is_allowed, is_unavailable, raw_http_request,
};
use crate::harness::{
    Fixture, TestServer, assert_code, bearer, checksum_variant, forge_secret, unknown_client_id,
};

backend_suite!(
    basic_credentials_are_allowed_without_reaching_upstream,
    spoofed_identity_headers_are_overwritten,
    large_envoy_requests_are_accepted_up_to_the_cap,
    bad_credentials_are_denied_with_a_bare_401,
    revoked_key_is_denied_at_once,
    suspended_account_is_denied,
    api_key_header_is_accepted,
    header_names_are_configurable,
    check_callers_need_the_introspect_scope,
    overload_is_a_503_never_an_allow,
    bearer_access_token_is_allowed_until_its_key_is_revoked,
);

const IDENTITY: (&str, &str) = ("x-account-id", "x-client-id");
const REMOVED: &[&str] = &["authorization", "x-api-key"];

impl Fixture {
    async fn check(&self, headers: &[(&str, &str)]) -> CheckResponse {
        self.api()
            .check(Some(bearer(&self.gateway)), http_request(headers))
            .await
            .unwrap_or_else(|s| panic!("Check must not fail: {s:?}"))
    }

    async fn check_basic(&self, client_id: &str, secret: &str) -> CheckResponse {
        self.check(&[("authorization", &basic(client_id, secret))])
            .await
    }
}

async fn basic_credentials_are_allowed_without_reaching_upstream(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    for scheme in ["Basic", "basic", "BASIC"] {
        let value = basic(&fixture.sentinel_id, &fixture.sentinel_secret).replace("Basic", scheme);
        let response = fixture.check(&[("authorization", &value)]).await;
        assert_allowed(
            &response,
            IDENTITY,
            &fixture.account,
            &fixture.sentinel_id,
            REMOVED,
            &format!("{scheme} with the right secret"),
        );
    }
    // Warm (cached) and cold answers are the same.
    let again = fixture
        .check_basic(&fixture.sentinel_id, &fixture.sentinel_secret)
        .await;
    assert_allowed(
        &again,
        IDENTITY,
        &fixture.account,
        &fixture.sentinel_id,
        REMOVED,
        "repeated",
    );
}

async fn spoofed_identity_headers_are_overwritten(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let response = fixture
        .check(&[
            (
                "authorization",
                &basic(&fixture.sentinel_id, &fixture.sentinel_secret),
            ),
            ("x-account-id", "globex"),
            ("x-client-id", "akc_spoofedspoofedspoofed0"),
        ])
        .await;
    // Overwrite (not append) replaces what the client sent with the verified values.
    assert_allowed(
        &response,
        IDENTITY,
        &fixture.account,
        &fixture.sentinel_id,
        REMOVED,
        "spoofed identity headers",
    );
}

async fn large_envoy_requests_are_accepted_up_to_the_cap(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let value = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    // Bigger than our own RPCs' 16 KiB cap, within the Check cap: accepted.
    let cookie = "c".repeat(100 * 1024);
    let response = fixture
        .check(&[("authorization", &value), ("cookie", &cookie)])
        .await;
    assert_allowed(
        &response,
        IDENTITY,
        &fixture.account,
        &fixture.sentinel_id,
        REMOVED,
        "a 100 KiB cookie",
    );
    // Past the 128 KiB cap: refused before decoding (Envoy then denies with status_on_error).
    let cookie = "c".repeat(300 * 1024);
    let request = http_request(&[("authorization", &value), ("cookie", &cookie)]);
    let result = fixture
        .api()
        .check(Some(bearer(&fixture.gateway)), request)
        .await;
    let status = result.expect_err("a 300 KiB CheckRequest must be refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
}

async fn bad_credentials_are_denied_with_a_bare_401(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let id = fixture.sentinel_id.clone();
    let secret = fixture.sentinel_secret.clone();
    let huge = "a".repeat(10 * 1024);
    let mut cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no credentials", vec![]),
        (
            "a wrong secret",
            vec![("authorization", basic(&id, &secret[..52]))],
        ),
        (
            "an unknown id",
            vec![("authorization", basic(&unknown_client_id(), &secret))],
        ),
        (
            "Basic without a colon",
            vec![("authorization", basic_raw(id.as_bytes()))],
        ),
        (
            "Basic with two colons",
            vec![("authorization", basic(&id, &format!("{secret}:x")))],
        ),
        (
            "Basic that is not base64",
            vec![("authorization", "Basic %%%".into())],
        ),
        ("an empty Basic", vec![("authorization", "Basic ".into())]),
        (
            "Basic that is not UTF-8",
            vec![("authorization", basic_raw(b"akc_\xff\xfe:aks_\xfd"))],
        ),
        (
            "a 10 KB Basic header",
            vec![("authorization", basic(&id, &format!("{secret}{huge}")))],
        ),
        (
            "a 10 KB Bearer header",
            vec![("authorization", format!("Bearer {huge}"))],
        ),
        (
            "Bearer garbage",
            vec![("authorization", "Bearer garbage".into())],
        ),
        (
            "Bearer a caller JWT",
            vec![("authorization", format!("Bearer {}", fixture.gateway))],
        ),
        (
            "Bearer with no token",
            vec![("authorization", "Bearer".into())],
        ),
        (
            "another scheme",
            vec![("authorization", "Digest username=x".into())],
        ),
        ("the bare secret", vec![("authorization", secret.clone())]),
        (
            "an empty authorization",
            vec![("authorization", String::new())],
        ),
        (
            "a bad authorization next to a good API key",
            vec![
                ("authorization", "Bearer garbage".into()),
                ("x-api-key", format!("{id}:{secret}")),
            ],
        ),
        ("an API key without colon", vec![("x-api-key", id.clone())]),
        (
            "a 10 KB API key",
            vec![("x-api-key", format!("{id}:{huge}"))],
        ),
        (
            "credentials in another header",
            vec![("x-client-secret", secret.clone())],
        ),
    ];
    // Right format, valid checksum, wrong value.
    if let Some(variant) = checksum_variant(&secret) {
        let forged = forge_secret(&secret, variant);
        cases.push((
            "a well-formed wrong secret",
            vec![("authorization", basic(&id, &forged))],
        ));
    }
    for (what, headers) in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let response = fixture.check(&headers).await;
        assert_unauthorized(&response, what);
    }

    // encode_raw_headers: non-UTF-8 bytes and a repeated authorization header.
    let good = basic(&id, &secret);
    for (what, headers) in [
        (
            "raw non-UTF-8 authorization",
            vec![("authorization", &b"Basic \xff\xfe"[..])],
        ),
        (
            "raw authorization twice",
            vec![
                ("authorization", good.as_bytes()),
                ("authorization", b"Bearer garbage"),
            ],
        ),
    ] {
        let response = fixture
            .api()
            .check(Some(bearer(&fixture.gateway)), raw_http_request(&headers))
            .await
            .unwrap_or_else(|s| panic!("{what}: Check must not fail: {s:?}"));
        assert_unauthorized(&response, what);
    }
    let raw_good = fixture
        .api()
        .check(
            Some(bearer(&fixture.gateway)),
            raw_http_request(&[("authorization", good.as_bytes())]),
        )
        .await
        .expect("raw Check");
    assert_allowed(
        &raw_good,
        IDENTITY,
        &fixture.account,
        &id,
        REMOVED,
        "raw headers",
    );
    fixture.assert_intact().await;
}

async fn revoked_key_is_denied_at_once(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let created = fixture.create_key("revoke@acme.test").await;
    let id = created.key.expect("key").client_id;
    let secret = created.client_secret;
    let allowed = fixture.check_basic(&id, &secret).await;
    assert_allowed(
        &allowed,
        IDENTITY,
        &fixture.account,
        &id,
        REMOVED,
        "before revoke",
    );
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &id)
        .await
        .expect("RevokeKey");
    let denied = fixture.check_basic(&id, &secret).await;
    assert_unauthorized(&denied, "right after RevokeKey");
    let via_api_key = fixture
        .check(&[("x-api-key", &format!("{id}:{secret}"))])
        .await;
    assert_unauthorized(&via_api_key, "API key header after RevokeKey");
}

async fn suspended_account_is_denied(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let (id, secret) = (&fixture.sentinel_id, &fixture.sentinel_secret);
    assert!(is_allowed(&fixture.check_basic(id, secret).await));
    fixture
        .api()
        .set_api_access(&fixture.staff, &fixture.account, false)
        .await
        .expect("disable API access");
    assert_unauthorized(
        &fixture.check_basic(id, secret).await,
        "account without API access",
    );
    fixture
        .api()
        .set_api_access(&fixture.staff, &fixture.account, true)
        .await
        .expect("enable API access");
    let restored = fixture.check_basic(id, secret).await;
    assert_allowed(
        &restored,
        IDENTITY,
        &fixture.account,
        id,
        REMOVED,
        "re-enabled",
    );
}

async fn api_key_header_is_accepted(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let pair = format!("{}:{}", fixture.sentinel_id, fixture.sentinel_secret);
    let response = fixture.check(&[("x-api-key", &pair)]).await;
    assert_allowed(
        &response,
        IDENTITY,
        &fixture.account,
        &fixture.sentinel_id,
        REMOVED,
        "x-api-key",
    );
}

async fn header_names_are_configurable(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--ext-authz-api-key-header", "X-Partner-Key"])
        .env("APIKEYS_EXT_AUTHZ_ACCOUNT_HEADER", "x-partner-account")
        .env("APIKEYS_EXT_AUTHZ_CLIENT_HEADER", "x-partner-client")
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let pair = format!("{}:{}", fixture.sentinel_id, fixture.sentinel_secret);
    let response = fixture.check(&[("x-partner-key", &pair)]).await;
    assert_allowed(
        &response,
        ("x-partner-account", "x-partner-client"),
        &fixture.account,
        &fixture.sentinel_id,
        &["authorization", "x-partner-key"],
        "configured headers",
    );
    let default_header = fixture.check(&[("x-api-key", &pair)]).await;
    assert_unauthorized(
        &default_header,
        "x-api-key when another header is configured",
    );
}

async fn check_callers_need_the_introspect_scope(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let request = || {
        http_request(&[(
            "authorization",
            &basic(&fixture.sentinel_id, &fixture.sentinel_secret),
        )])
    };
    let api = fixture.api();
    assert_code(
        api.check(None, request()).await,
        Code::Unauthenticated,
        "Check without a caller token",
    );
    assert_code(
        api.check(Some(bearer("not.a.jwt")), request()).await,
        Code::Unauthenticated,
        "Check with a garbage caller token",
    );
    let expired = fixture
        .tokens()
        .user("api-gateway", "hubpay", "service")
        .scope("introspect")
        .expires_in(-3600)
        .sign();
    assert_code(
        api.check(Some(bearer(&expired)), request()).await,
        Code::Unauthenticated,
        "Check with an expired caller token",
    );
    for (what, token) in [
        ("an owner", fixture.owner.clone()),
        ("staff", fixture.staff.clone()),
        (
            "another scope",
            fixture
                .tokens()
                .user("api-gateway", "hubpay", "service")
                .scope("introspection read")
                .sign(),
        ),
    ] {
        assert_code(
            api.check(Some(bearer(&token)), request()).await,
            Code::PermissionDenied,
            &format!("Check by {what}"),
        );
    }
}

async fn overload_is_a_503_never_an_allow(backend: Backend) {
    // One hashing thread and no queue: concurrent cold verifications beyond one are refused.
    let server = TestServer::builder(backend)
        .args(&["--hash-workers", "1", "--hash-queue-limit", "0"])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let checks = (0..24).map(|_| {
        // Unknown ids: each is a cache miss verified against the decoy hash (argon2).
        let value = basic(&unknown_client_id(), &fixture.sentinel_secret);
        let api = fixture.api().clone();
        let gateway = bearer(&fixture.gateway);
        tokio::spawn(async move {
            api.check(Some(gateway), http_request(&[("authorization", &value)]))
                .await
        })
    });
    let mut unavailable = 0;
    for check in checks.collect::<Vec<_>>() {
        let response = check
            .await
            .expect("task")
            .unwrap_or_else(|s| panic!("Check must not fail: {s:?}"));
        assert!(!is_allowed(&response), "unknown id allowed: {response:?}");
        if is_unavailable(&response) {
            assert_unavailable(&response, "overloaded hashing pool");
            unavailable += 1;
        } else {
            assert_unauthorized(&response, "unknown id");
        }
    }
    assert!(
        unavailable > 0,
        "24 concurrent cold checks never hit the limit"
    );
}

async fn bearer_access_token_is_allowed_until_its_key_is_revoked(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let created = fixture.create_key("token@acme.test").await;
    let id = created.key.expect("key").client_id;
    let mut issue_request = tonic::Request::new(IssueTokenRequest {
        client_id: id.clone(),
        client_secret: created.client_secret.clone(),
    });
    issue_request
        .metadata_mut()
        .insert("authorization", bearer(&fixture.gateway));
    let issued = TokenServiceClient::new(fixture.api().channel())
        .issue_token(issue_request)
        .await
        .unwrap_or_else(|s| panic!("IssueToken: {s:?}"))
        .into_inner();
    let value = format!("Bearer {}", issued.access_token);
    for (what, value) in [
        ("Bearer access token", value.clone()),
        ("bearer access token", value.replace("Bearer", "bearer")),
    ] {
        let response = fixture.check(&[("authorization", &value)]).await;
        assert_allowed(&response, IDENTITY, &fixture.account, &id, REMOVED, what);
    }
    let tampered = format!("{}x", value);
    assert_unauthorized(
        &fixture.check(&[("authorization", &tampered)]).await,
        "tampered access token",
    );
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &id)
        .await
        .expect("RevokeKey");
    assert_unauthorized(
        &fixture.check(&[("authorization", &value)]).await,
        "access token of a revoked key",
    );
}
