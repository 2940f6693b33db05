//! Keys are published before they sign: with a 60 s rotation (the least the server takes) and a
//! 20 s publish-ahead, the next key enters the JWKS about 40 s after the first, tokens stay
//! signed by the old key while a gateway's cached JWKS may lack the new one, and the new key
//! signs only once it has been published for 20 s. The very first key signs at once.

use std::time::Duration;

use apikeys_test_support::Backend;
use serde_json::Value;
use tokio::time::Instant;

use super::discovery::verify_with_jwks;
use super::issue_token;
use crate::harness::{Fixture, TestServer};

backend_suite!(a_new_key_is_in_the_jwks_before_it_signs);

const ROTATION_SECS: u64 = 60;
const PUBLISH_AHEAD_SECS: u64 = 20;
/// Scheduling and polling slack, in the direction that lets a correct server pass.
const SLACK: Duration = Duration::from_secs(2);

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["kid"].as_str().expect("kid").to_owned())
        .collect();
    kids.sort();
    kids
}

async fn a_new_key_is_in_the_jwks_before_it_signs(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&[
            "--token-key-rotation-secs",
            &ROTATION_SECS.to_string(),
            "--token-key-publish-ahead-secs",
            &PUBLISH_AHEAD_SECS.to_string(),
            "--jwks-max-age-secs",
            "10",
        ])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let http = fixture.http();
    let jwks = || async {
        let answer = http.get("/.well-known/jwks.json").send().await;
        answer.assert_status(200, "JWKS");
        answer.json()
    };
    let issue = || issue_token(&http, &fixture.sentinel_id, &fixture.sentinel_secret);

    // A fresh database: its first key signs at once.
    let first = issue().await;
    let old_kid = kid(&first);
    assert_eq!(
        kids(&jwks().await),
        std::slice::from_ref(&old_kid),
        "one key at first"
    );

    // The next key is published well before the rotation period ends.
    let deadline = Instant::now() + Duration::from_secs(ROTATION_SECS + 30);
    let cached_jwks = loop {
        let current = jwks().await;
        if kids(&current).len() > 1 {
            break current;
        }
        assert!(
            Instant::now() < deadline,
            "no second key in the JWKS: {current}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let published = Instant::now();
    let new_kid = kids(&cached_jwks)
        .into_iter()
        .find(|k| *k != old_kid)
        .expect("a new kid");
    assert_eq!(kids(&cached_jwks).len(), 2, "{cached_jwks}");

    // A gateway whose cached JWKS predates the new key still verifies what is issued now...
    let now = issue().await;
    assert_eq!(kid(&now), old_kid, "a just-published key already signs");

    // ...until the new key has been published for the publish-ahead time; then it signs.
    let deadline = published + Duration::from_secs(PUBLISH_AHEAD_SECS + 45);
    let rotated = loop {
        let token = issue().await;
        if kid(&token) != old_kid {
            break token;
        }
        assert!(Instant::now() < deadline, "the new key never signed");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let waited = published.elapsed();
    assert_eq!(
        kid(&rotated),
        new_kid,
        "signed by a key that was not published"
    );
    assert!(
        waited + SLACK >= Duration::from_secs(PUBLISH_AHEAD_SECS),
        "the new key signed {waited:?} after it was published, before the publish-ahead"
    );
    // The JWKS a gateway cached when the key appeared verifies the new tokens; the old key is
    // still published for the tokens it signed.
    verify_with_jwks(&rotated, &cached_jwks, "apikeys");
    let current = jwks().await;
    assert!(
        kids(&current).contains(&old_kid),
        "old key withdrawn early: {current}"
    );
    verify_with_jwks(&first, &current, "apikeys");
    for token in [&first, &rotated] {
        let response = fixture
            .api()
            .introspect_token(&fixture.gateway, token)
            .await
            .expect("Introspect");
        assert!(
            response.active,
            "a token across the rotation is not recognised"
        );
    }
}
