//! `GET /.well-known/jwks.json` and `GET /.well-known/oauth-authorization-server`: the same key
//! set as gRPC GetJwks, verifying the tokens of `/auth/token`; RFC 8414 metadata built from
//! `--public-url`, whose `issuer` is the tokens' `iss`; conflicting issuer flags refused.

use apikeys_test_support::Backend;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::client::{Answer, Http};
use super::issue_token;
use crate::harness::{Fixture, TestServer, decode_claims, run_apikeys};

backend_suite!(
    jwks_is_the_grpc_key_set_and_verifies_http_tokens,
    metadata_is_built_from_the_public_url,
);

const PUBLIC_URL: &str = "https://api.example.test";

/// `Cache-Control: public, max-age=<max_age>` and a JSON body.
#[track_caller]
fn assert_cacheable_json(answer: &Answer, max_age: u64, what: &str) -> Value {
    answer.assert_status(200, what).assert_json_type(what);
    assert_eq!(
        answer.header("cache-control"),
        Some(format!("public, max-age={max_age}").as_str()),
        "{what}: {answer:?}"
    );
    answer.json()
}

/// The keys of a JWKS by `kid`, sorted.
fn keys_by_kid(jwks: &Value) -> Vec<(String, Value)> {
    let mut keys: Vec<(String, Value)> = jwks["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys array in {jwks}"))
        .iter()
        .map(|key| {
            let kid = key["kid"].as_str().expect("every key has a kid").to_owned();
            (kid, key.clone())
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

/// Verifies `token` with the key of its `kid` in `jwks`, as a JWT-validating gateway does.
#[track_caller]
pub(super) fn verify_with_jwks(token: &str, jwks: &Value, issuer: &str) -> Value {
    let kid = jsonwebtoken::decode_header(token)
        .expect("token header")
        .kid
        .expect("kid");
    let (_, jwk) = keys_by_kid(jwks)
        .into_iter()
        .find(|(k, _)| *k == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS {jwks}"));
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().expect("x")).expect("an Ed25519 x");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the JWKS does not verify the token: {e}"))
        .claims
}

async fn jwks_is_the_grpc_key_set_and_verifies_http_tokens(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let token = issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;
    let answer = fixture.http().get("/.well-known/jwks.json").send().await;
    let jwks = assert_cacheable_json(&answer, 300, "JWKS, default max-age");
    let grpc = fixture.api().jwks().await.expect("GetJwks");
    assert_eq!(
        keys_by_kid(&jwks),
        keys_by_kid(&grpc),
        "HTTP and gRPC key sets differ"
    );
    for (kid, key) in keys_by_kid(&jwks) {
        assert_eq!(key["kty"], "OKP", "{kid}: {key}");
        assert_eq!(key["crv"], "Ed25519", "{kid}: {key}");
        assert_eq!(key["alg"], "EdDSA", "{kid}: {key}");
        assert_eq!(key["use"], "sig", "{kid}: {key}");
        assert!(
            key.get("d").is_none(),
            "{kid}: a private component is published"
        );
    }
    let claims = verify_with_jwks(&token, &jwks, "apikeys");
    assert_eq!(claims["sub"], fixture.sentinel_id.as_str());
    let post = fixture.http().post("/.well-known/jwks.json").send().await;
    post.assert_status(405, "POST to the JWKS");
    assert!(
        post.header("allow").is_some_and(|a| a.contains("GET")),
        "{post:?}"
    );
}

async fn metadata_is_built_from_the_public_url(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--public-url", PUBLIC_URL, "--jwks-max-age-secs", "42"])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let answer = fixture
        .http()
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await;
    let metadata = assert_cacheable_json(&answer, 42, "metadata");
    for (field, expected) in [
        ("issuer", json!(PUBLIC_URL)),
        ("token_endpoint", json!(format!("{PUBLIC_URL}/auth/token"))),
        (
            "jwks_uri",
            json!(format!("{PUBLIC_URL}/.well-known/jwks.json")),
        ),
        (
            "introspection_endpoint",
            json!(format!("{PUBLIC_URL}/oauth/introspect")),
        ),
        ("grant_types_supported", json!(["client_credentials"])),
        (
            "token_endpoint_auth_methods_supported",
            json!(["client_secret_basic", "client_secret_post"]),
        ),
        ("response_types_supported", json!([])),
    ] {
        assert_eq!(metadata[field], expected, "{field} in {metadata}");
    }
    for absent in [
        "authorization_endpoint",
        "introspection_endpoint_auth_methods_supported",
    ] {
        assert!(metadata.get(absent).is_none(), "{absent} in {metadata}");
    }
    let jwks = fixture.http().get("/.well-known/jwks.json").send().await;
    let jwks = assert_cacheable_json(&jwks, 42, "JWKS, --jwks-max-age-secs 42");
    // The issuer is the tokens' iss, and the server recognises its own tokens under it.
    let token = issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;
    assert_eq!(decode_claims(&token)["iss"], PUBLIC_URL);
    verify_with_jwks(&token, &jwks, PUBLIC_URL);
    let introspected = fixture
        .api()
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("Introspect");
    assert!(
        introspected.active,
        "a token with iss = --public-url is not recognised"
    );
}

/// Without `--public-url` the URLs are `http://<listen address>`, and the issuer is
/// `--token-issuer` (default `apikeys`).
#[tokio::test]
async fn default_public_url_is_the_listen_address() {
    for (args, issuer) in [
        (&[][..], "apikeys"),
        (
            &["--token-issuer", "https://issuer.example.test"][..],
            "https://issuer.example.test",
        ),
    ] {
        let server = TestServer::builder(Backend::Sqlite)
            .args(args)
            .start()
            .await;
        let base = format!("http://{}", server.addr());
        let answer = Http::new(server.addr())
            .get("/.well-known/oauth-authorization-server")
            .send()
            .await;
        let metadata = assert_cacheable_json(&answer, 300, "metadata, default max-age");
        assert_eq!(metadata["issuer"], issuer, "{args:?}: {metadata}");
        assert_eq!(
            metadata["token_endpoint"],
            format!("{base}/auth/token"),
            "{args:?}"
        );
        assert_eq!(
            metadata["jwks_uri"],
            format!("{base}/.well-known/jwks.json"),
            "{args:?}"
        );
        assert_eq!(
            metadata["introspection_endpoint"],
            format!("{base}/oauth/introspect"),
            "{args:?}"
        );
        let fixture = Fixture::with_server(server).await;
        let token = issue_token(
            &fixture.http(),
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await;
        assert_eq!(decode_claims(&token)["iss"], issuer, "{args:?}");
    }
}

/// `--public-url` from the environment, and `--token-issuer` equal to it, are accepted.
#[tokio::test]
async fn public_url_from_the_environment_and_an_equal_issuer_are_accepted() {
    let server = TestServer::builder(Backend::Sqlite)
        .env("APIKEYS_PUBLIC_URL", PUBLIC_URL)
        .args(&["--token-issuer", PUBLIC_URL])
        .start()
        .await;
    let answer = Http::new(server.addr())
        .get("/.well-known/oauth-authorization-server")
        .send()
        .await;
    let metadata = assert_cacheable_json(&answer, 300, "metadata");
    assert_eq!(metadata["issuer"], PUBLIC_URL);
    assert_eq!(
        metadata["token_endpoint"],
        format!("{PUBLIC_URL}/auth/token")
    );
}

#[tokio::test]
async fn a_public_url_and_another_token_issuer_refuse_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}", dir.path().join("issuer.db").display());
    let kek = dir.path().join("token.kek").display().to_string();
    let output = run_apikeys(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &database,
        "--token-kek-file",
        &kek,
        "--jwt-hs256-secret",
        "s3cret-for-the-issuer-test",
        "--jwt-issuer",
        "https://idp.test",
        "--jwt-audience",
        "apikeys",
        "--public-url",
        PUBLIC_URL,
        "--token-issuer",
        "https://other.example.test",
    ])
    .await;
    assert!(
        !output.status.success(),
        "served with conflicting issuers: {output:?}"
    );
    assert!(!output.stdout.contains("listening"), "{output:?}");
    for flag in ["--public-url", "--token-issuer"] {
        assert!(
            output.stderr.contains(flag),
            "stderr does not name {flag}: {output:?}"
        );
    }
}
