//! Token exchange: client credentials → a short-lived EdDSA access token, recognised by
//! Introspect on any replica until it expires, its key is revoked or its account suspended.

use apikeys_test_support::Backend;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tonic::Code;

use crate::harness::{Fixture, assert_code, assert_inactive, decode_claims};

backend_suite!(
    issued_token_introspects_as_its_key,
    jwks_verifies_issued_tokens,
    revocation_ends_tokens_at_once,
    suspension_ends_tokens_and_reenabling_restores_them,
    bad_credentials_get_one_fixed_message,
    token_exchange_needs_the_gateway_scope,
    forged_and_garbage_tokens_are_inactive,
    tokens_survive_a_restart_and_work_on_other_replicas,
);

async fn issue(fixture: &Fixture) -> String {
    let issued = fixture
        .api()
        .issue_token(
            Some(&fixture.gateway),
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await
        .expect("IssueToken");
    assert_eq!(issued.token_type, "Bearer");
    assert_eq!(issued.expires_in, 3600);
    issued.access_token
}

async fn issued_token_introspects_as_its_key(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue(&fixture).await;
    let claims = decode_claims(&token);
    assert_eq!(claims["sub"], fixture.sentinel_id.as_str());
    assert_eq!(claims["account_id"], "acme");
    assert_eq!(claims["iss"], "apikeys");
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    assert!(!token.contains(&fixture.sentinel_secret));

    let response = fixture
        .api()
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect token");
    assert!(response.active);
    assert_eq!(response.client_id, fixture.sentinel_id);
    assert_eq!(response.account_id, "acme");
    assert_eq!(response.email, "sentinel@acme.test");
    assert_eq!(
        response.expire_time.expect("expire_time").seconds,
        claims["exp"].as_i64().expect("exp")
    );
}

async fn jwks_verifies_issued_tokens(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue(&fixture).await;
    let jwks = fixture.api().jwks().await.expect("GetJwks");
    let header = jsonwebtoken::decode_header(&token).expect("token header");
    assert_eq!(header.alg, Algorithm::EdDSA);
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|key| key["kid"] == kid.as_str())
        .expect("the signing key is published");
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(
        jwk.get("d").is_none(),
        "a private key component is published"
    );
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().expect("x")).expect("jwk");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["apikeys"]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation)
        .expect("a gateway can verify the token with the JWKS alone");
}

async fn revocation_ends_tokens_at_once(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue(&fixture).await;
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &fixture.sentinel_id)
        .await
        .expect("RevokeKey");
    let response = fixture
        .api()
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect token");
    assert_inactive(&response, "a token of a revoked key");
}

async fn suspension_ends_tokens_and_reenabling_restores_them(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue(&fixture).await;
    let api = fixture.api();
    api.set_api_access(&fixture.staff, &fixture.account, false)
        .await
        .expect("disable");
    let response = api
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect token");
    assert_inactive(&response, "a token of a suspended account");
    api.set_api_access(&fixture.staff, &fixture.account, true)
        .await
        .expect("enable");
    let response = api
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect token");
    assert!(response.active, "re-enabling restores unexpired tokens");
}

async fn bad_credentials_get_one_fixed_message(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let other = fixture.create_key("other@acme.test").await;
    let cases = [
        (fixture.sentinel_id.clone(), other.client_secret.clone()),
        (fixture.sentinel_id.clone(), "garbage".to_owned()),
        (String::new(), String::new()),
        (
            "akc_AAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
            fixture.sentinel_secret.clone(),
        ),
    ];
    for (client_id, secret) in cases {
        let status = api
            .issue_token(Some(&fixture.gateway), &client_id, &secret)
            .await
            .expect_err("bad credentials must not get a token");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        assert_eq!(status.message(), "invalid client credentials");
    }
}

async fn token_exchange_needs_the_gateway_scope(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let no_token = api
        .issue_token(None, &fixture.sentinel_id, &fixture.sentinel_secret)
        .await;
    assert_code(
        no_token,
        Code::Unauthenticated,
        "IssueToken without a caller token",
    );
    let owner = api
        .issue_token(
            Some(&fixture.owner),
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await;
    assert_code(
        owner,
        Code::PermissionDenied,
        "IssueToken with an owner token",
    );
    // Publishing public keys needs no caller.
    api.jwks().await.expect("GetJwks without a caller token");
}

async fn forged_and_garbage_tokens_are_inactive(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue(&fixture).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // Same header and signature, another account in the payload.
    let mut claims = decode_claims(&token);
    claims["account_id"] = "globex".into();
    use base64::Engine as _;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::Value::Object(claims).to_string());
    let tampered = parts.join(".");
    let caller_token_as_access_token = fixture.owner.clone();
    let huge = "a".repeat(10_000);
    for (what, candidate) in [
        ("a tampered payload", tampered.as_str()),
        ("a caller token", caller_token_as_access_token.as_str()),
        ("garbage", "not-a-token"),
        ("a 10 KB string", huge.as_str()),
    ] {
        let response = fixture
            .api()
            .introspect_token(&fixture.gateway, candidate)
            .await
            .expect("Introspect token");
        assert_inactive(&response, what);
    }
}

async fn tokens_survive_a_restart_and_work_on_other_replicas(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let token = issue(&fixture).await;
    let replica = fixture.server.replica(&[]).await;
    let response = replica
        .api()
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect on the other replica");
    assert!(
        response.active,
        "another replica verifies with the shared key set"
    );
    fixture.server.restart().await;
    let response = fixture
        .api()
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect after restart");
    assert!(response.active, "signing keys are persisted");
}
