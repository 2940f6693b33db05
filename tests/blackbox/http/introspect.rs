//! `POST /oauth/introspect` (RFC 7662): the listed fields for a live token, exactly
//! `{"active":false}` for anything else, and nothing at all for a caller who is not a gateway.

use std::time::Duration;

use apikeys_test_support::Backend;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::client::{Answer, Http};
use super::{DEADLINE, assert_error_body, issue_token};
use crate::harness::{Fixture, TestServer, decode_claims};

backend_suite!(
    live_token_has_exactly_the_listed_fields,
    dead_tokens_are_exactly_inactive,
    expired_token_becomes_inactive,
    callers_that_are_not_gateways_learn_nothing,
    malformed_introspection_requests_are_invalid_request,
);

const INSUFFICIENT_SCOPE: &str =
    r#"Bearer realm="apikeys", error="insufficient_scope", scope="introspect""#;

/// `POST /oauth/introspect` with `form` as the body, by `caller` (a bearer token) if given.
async fn introspect(http: &Http, caller: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut request = http.post("/oauth/introspect").form(form);
    if let Some(caller) = caller {
        request = request.header("authorization", &format!("Bearer {caller}"));
    }
    request.send().await
}

/// Exactly `{"active": false}`.
#[track_caller]
fn assert_inactive(answer: &Answer, what: &str) {
    answer
        .assert_status(200, what)
        .assert_no_store(what)
        .assert_json(&json!({"active": false}), what);
}

async fn live_token_has_exactly_the_listed_fields(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;
    let claims = decode_claims(&token);
    let expected = json!({
        "active": true,
        "client_id": fixture.sentinel_id,
        "sub": fixture.sentinel_id,
        "account_id": "acme",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "iss": "apikeys",
        "token_type": "Bearer",
    });
    for hint in [None, Some("access_token"), Some("refresh_token")] {
        let mut form = vec![("token", token.as_str())];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        let what = format!("live token, token_type_hint {hint:?}");
        introspect(&fixture.http(), Some(&fixture.gateway), &form)
            .await
            .assert_status(200, &what)
            .assert_no_store(&what)
            .assert_json(&expected, &what);
    }
    // Over HTTP/2 too.
    introspect(
        &Http::h2(fixture.server.addr()),
        Some(&fixture.gateway),
        &[("token", &token)],
    )
    .await
    .assert_json(&expected, "live token over HTTP/2");
}

/// `token`'s claims re-signed with a fresh Ed25519 key under the same `kid`.
fn forge_with_same_kid(token: &str) -> String {
    let kid = jsonwebtoken::decode_header(token).expect("header").kid;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("an Ed25519 key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = kid;
    jsonwebtoken::encode(
        &header,
        &Value::Object(decode_claims(token)),
        &EncodingKey::from_ed_der(&key.serialize_der()),
    )
    .expect("sign the forgery")
}

async fn dead_tokens_are_exactly_inactive(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let http = fixture.http();
    let live = issue_token(&http, &fixture.sentinel_id, &fixture.sentinel_secret).await;
    let mut parts: Vec<String> = live.split('.').map(str::to_owned).collect();
    let mut claims = decode_claims(&live);
    claims["account_id"] = "globex".into();
    parts[1] = URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string());
    let tampered = parts.join(".");
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(Value::Object(decode_claims(&live)).to_string())
    );
    let forged = forge_with_same_kid(&live);
    let huge = "a".repeat(10_000);
    for (what, token) in [
        ("garbage", "not-a-token"),
        ("a tampered payload", tampered.as_str()),
        ("alg none", unsigned.as_str()),
        ("another key under the same kid", forged.as_str()),
        ("a caller token", fixture.owner.as_str()),
        ("a 10 KB string", huge.as_str()),
    ] {
        assert_inactive(
            &introspect(&http, Some(&fixture.gateway), &[("token", token)]).await,
            what,
        );
    }

    let revoked = fixture.create_key("revoked@acme.test").await;
    let revoked_id = revoked.key.clone().expect("key").client_id;
    let revoked_token = issue_token(&http, &revoked_id, &revoked.client_secret).await;
    let globex_owner = fixture.enabled_account("globex").await;
    let globex = fixture
        .api()
        .create_key(&globex_owner, "globex", "ops@globex.test")
        .await
        .expect("CreateKey globex");
    let globex_id = globex.key.clone().expect("key").client_id;
    let globex_token = issue_token(&http, &globex_id, &globex.client_secret).await;
    for token in [&revoked_token, &globex_token] {
        let answer = introspect(&http, Some(&fixture.gateway), &[("token", token)]).await;
        assert_eq!(answer.json()["active"], true, "before: {answer:?}");
    }
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &revoked_id)
        .await
        .expect("RevokeKey");
    fixture
        .api()
        .set_api_access(&fixture.staff, "globex", false)
        .await
        .expect("disable globex");
    for (what, token) in [
        ("a revoked key's token", &revoked_token),
        ("a token of an account without API access", &globex_token),
    ] {
        assert_inactive(
            &introspect(&http, Some(&fixture.gateway), &[("token", token)]).await,
            what,
        );
    }
    // The live one still is.
    let answer = introspect(&http, Some(&fixture.gateway), &[("token", &live)]).await;
    assert_eq!(answer.json()["active"], true, "{answer:?}");
}

async fn expired_token_becomes_inactive(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--token-ttl-secs", "1"])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let http = fixture.http();
    let answer = http
        .post_json(
            "/auth/token",
            &super::company_json(&fixture.sentinel_id, &fixture.sentinel_secret),
        )
        .await;
    answer.assert_status(200, "token with a 1 s lifetime");
    assert_eq!(answer.json()["expires_in"], 1, "{answer:?}");
    let token = answer.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let claims = decode_claims(&token);
    assert_eq!(
        claims["exp"].as_i64(),
        claims["iat"].as_i64().map(|iat| iat + 1)
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let answer = introspect(&http, Some(&fixture.gateway), &[("token", &token)]).await;
        if answer.json() == json!({"active": false}) {
            assert_inactive(&answer, "an expired token");
            break;
        }
        assert_eq!(
            answer.json()["active"],
            true,
            "neither live nor inactive: {answer:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "still active after {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn callers_that_are_not_gateways_learn_nothing(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let http = fixture.http();
    let token = issue_token(&http, &fixture.sentinel_id, &fixture.sentinel_secret).await;
    let tokens = fixture.tokens();
    let expired = tokens
        .user("api-gateway", "hubpay", "service")
        .scope("introspect")
        .expires_in(-3600)
        .sign();
    let foreign = tokens
        .user("api-gateway", "hubpay", "service")
        .scope("introspect")
        .signing_key(b"another identity provider's secret")
        .sign();
    let basic = crate::ext_authz::envoy::basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let unauthenticated: [(&str, Option<String>); 6] = [
        ("no caller token", None),
        ("a garbage caller token", Some("Bearer not.a.jwt".into())),
        ("an expired caller token", Some(format!("Bearer {expired}"))),
        ("a foreign caller token", Some(format!("Bearer {foreign}"))),
        (
            "the access token as caller",
            Some(format!("Bearer {token}")),
        ),
        ("the partner's Basic credentials", Some(basic)),
    ];
    for (what, authorization) in unauthenticated {
        let mut request = http.post("/oauth/introspect").form(&[("token", &token)]);
        if let Some(value) = &authorization {
            request = request.header("authorization", value);
        }
        let answer = request.send().await;
        answer.assert_status(401, what).assert_no_store(what);
        assert_error_body(&answer, "invalid_token", what);
        assert_eq!(
            answer.header("www-authenticate"),
            Some(r#"Bearer realm="apikeys""#),
            "{what}"
        );
    }
    let another_scope = tokens
        .user("api-gateway", "hubpay", "service")
        .scope("introspection read")
        .sign();
    for (what, caller) in [
        ("an owner", fixture.owner.as_str()),
        ("staff", fixture.staff.as_str()),
        ("another scope", another_scope.as_str()),
    ] {
        let answer = introspect(&http, Some(caller), &[("token", &token)]).await;
        answer.assert_status(403, what).assert_no_store(what);
        assert_error_body(&answer, "insufficient_scope", what);
        assert_eq!(
            answer.header("www-authenticate"),
            Some(INSUFFICIENT_SCOPE),
            "{what}"
        );
    }
}

async fn malformed_introspection_requests_are_invalid_request(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let http = fixture.http();
    let token = issue_token(&http, &fixture.sentinel_id, &fixture.sentinel_secret).await;
    let gateway = format!("Bearer {}", fixture.gateway);
    let form = "application/x-www-form-urlencoded";
    let mut non_utf8 = format!("token={token}&x=").into_bytes();
    non_utf8.push(0xff);
    let cases: [(&str, Option<&str>, Vec<u8>); 6] = [
        (
            "no token",
            Some(form),
            b"token_type_hint=access_token".to_vec(),
        ),
        ("an empty body", Some(form), Vec::new()),
        (
            "token twice",
            Some(form),
            format!("token={token}&token={token}").into_bytes(),
        ),
        (
            "JSON",
            Some("application/json"),
            json!({"token": token}).to_string().into_bytes(),
        ),
        (
            "no content type",
            None,
            format!("token={token}").into_bytes(),
        ),
        ("a form that is not UTF-8", Some(form), non_utf8),
    ];
    for (what, content_type, body) in cases {
        let mut request = http
            .post("/oauth/introspect")
            .header("authorization", &gateway)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let answer = request.send().await;
        answer.assert_status(400, what).assert_no_store(what);
        assert_error_body(&answer, "invalid_request", what);
    }
    let get = http
        .get("/oauth/introspect")
        .header("authorization", &gateway)
        .send()
        .await;
    get.assert_status(405, "GET /oauth/introspect")
        .assert_no_store("GET");
    assert!(
        get.header("allow").is_some_and(|a| a.contains("POST")),
        "{get:?}"
    );
}
