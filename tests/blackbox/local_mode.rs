//! Local mode: `serve` without `--jwt-*` key options trusts tokens minted by `apikeys token`
//! with the same signing key file; `apikeys accounts` works straight on the database.

use apikeys_test_support::Backend;
use serde_json::{Value, json};
use tonic::Code;

use crate::harness::{TestServer, Tokens, assert_code, assert_inactive, decode_claims};

backend_suite!(
    local_mode_story,
    local_mode_rejects_foreign_tokens,
    token_ttl_sets_expiry
);

async fn local_mode_story(backend: Backend) {
    let server = TestServer::builder(backend).local_mode().start().await;
    assert!(
        server.local_key_file().is_file(),
        "serve did not create the signing key file"
    );
    let api = server.api();
    let owner = server
        .local_token(&[
            "--sub",
            "alice",
            "--account",
            "acme",
            "--role",
            "owner",
            "--email",
            "alice@acme.test",
        ])
        .await;
    let claims = decode_claims(&owner);
    assert_eq!(claims.get("iss"), Some(&json!("apikeys-local")));
    let aud = claims.get("aud").cloned().unwrap_or(Value::Null);
    assert!(
        aud == json!("apikeys") || aud == json!(["apikeys"]),
        "aud is {aud}"
    );
    assert_eq!(claims.get("sub"), Some(&json!("alice")));
    assert_eq!(claims.get("account_id"), Some(&json!("acme")));
    assert_eq!(claims.get("role"), Some(&json!("owner")));
    assert_eq!(claims.get("email"), Some(&json!("alice@acme.test")));
    assert!(claims.get("exp").is_some_and(Value::is_i64), "exp missing");

    let staff = server
        .local_token(&[
            "--sub",
            "ops",
            "--account",
            "hubpay",
            "--role",
            "member",
            "--staff",
        ])
        .await;
    let gateway = server
        .local_token(&[
            "--sub",
            "gw",
            "--account",
            "hubpay",
            "--role",
            "service",
            "--scope",
            "introspect",
        ])
        .await;

    let show = server.accounts(&["show", "acme"]).await;
    assert!(
        show.success().contains("api_access_enabled=false"),
        "accounts show before enabling: {show:?}"
    );
    assert_code(
        api.create_key(&owner, "acme", "partner@acme.test").await,
        Code::FailedPrecondition,
        "CreateKey before `accounts enable`",
    );

    server.accounts(&["enable", "acme"]).await.success();
    let show = server.accounts(&["show", "acme"]).await;
    let shown = show.success();
    assert!(
        shown.contains("account_id=acme"),
        "accounts show: {shown:?}"
    );
    assert!(
        shown.contains("api_access_enabled=true"),
        "accounts show: {shown:?}"
    );
    assert!(
        api.get_account(&staff, "acme")
            .await
            .expect("GetAccount with a local staff token")
            .api_access_enabled,
        "the server does not see `accounts enable`"
    );

    let created = api
        .create_key(&owner, "acme", "partner@acme.test")
        .await
        .expect("CreateKey with a local owner token");
    let key = created.key.expect("key");
    assert_eq!(key.creator, "alice");
    let response = api
        .introspect(&gateway, &key.client_id, &created.client_secret)
        .await
        .expect("Introspect with a local gateway token");
    assert!(response.active);
    assert_eq!(response.account_id, "acme");

    server.accounts(&["disable", "acme"]).await.success();
    let show = server.accounts(&["show", "acme"]).await;
    assert!(show.success().contains("api_access_enabled=false"));
    // The CLI writes straight to the database: a running server learns of it from the change
    // feed (NOTIFY on PostgreSQL, the audit-trail poll on both), within the poll interval (1 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let response = loop {
        let response = api
            .introspect(&gateway, &key.client_id, &created.client_secret)
            .await
            .expect("Introspect after `accounts disable`");
        if !response.active || std::time::Instant::now() > deadline {
            break response;
        }
        tokio::task::yield_now().await;
    };
    assert_inactive(&response, "key of an account disabled with the CLI");

    api.set_api_access(&staff, "acme", true)
        .await
        .expect("SetApiAccess with a local staff token");
    let show = server.accounts(&["show", "acme"]).await;
    assert!(show.success().contains("api_access_enabled=true"));
    let response = api
        .introspect(&gateway, &key.client_id, &created.client_secret)
        .await
        .expect("Introspect after re-enabling");
    assert!(response.active);
}

async fn local_mode_rejects_foreign_tokens(backend: Backend) {
    let server = TestServer::builder(backend).local_mode().start().await;
    let other = TestServer::builder(backend).local_mode().start().await;
    let staff_args = [
        "--sub",
        "ops",
        "--account",
        "hubpay",
        "--role",
        "member",
        "--staff",
    ];

    let own = server.local_token(&staff_args).await;
    server
        .api()
        .get_account(&own, "acme")
        .await
        .expect("a token from the server's own key file works");

    let foreign = other.local_token(&staff_args).await;
    assert_code(
        server.api().get_account(&foreign, "acme").await,
        Code::Unauthenticated,
        "a token from another signing key file",
    );
    let hs256 = Tokens::random()
        .user("ops", "hubpay", "member")
        .staff()
        .issuer("apikeys-local")
        .audience("apikeys")
        .sign();
    assert_code(
        server.api().get_account(&hs256, "acme").await,
        Code::Unauthenticated,
        "an HS256 token with a random secret",
    );
    let unsigned = Tokens::random()
        .user("ops", "hubpay", "member")
        .staff()
        .issuer("apikeys-local")
        .audience("apikeys")
        .unsigned();
    assert_code(
        server.api().get_account(&unsigned, "acme").await,
        Code::Unauthenticated,
        "an alg=none token with local issuer and audience",
    );
}

async fn token_ttl_sets_expiry(backend: Backend) {
    let server = TestServer::builder(backend).local_mode().start().await;
    let token = server
        .local_token(&[
            "--sub",
            "alice",
            "--account",
            "acme",
            "--role",
            "owner",
            "--ttl-seconds",
            "120",
        ])
        .await;
    let claims = decode_claims(&token);
    let exp = claims.get("exp").and_then(Value::as_i64).expect("exp");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("fits");
    assert!(
        (now + 60..=now + 180).contains(&exp),
        "exp {exp} is not about now + 120 (now {now})"
    );
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        assert_eq!(exp - iat, 120, "exp - iat");
    }
    let staff = server
        .local_token(&[
            "--sub",
            "ops",
            "--account",
            "hubpay",
            "--role",
            "member",
            "--staff",
        ])
        .await;
    server
        .api()
        .get_account(&staff, "acme")
        .await
        .expect("a fresh local token works");
}
