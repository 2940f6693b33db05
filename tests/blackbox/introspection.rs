//! Introspect never errors on bad credentials: it answers active=false and nothing else.

use apikeys_test_support::Backend;

use crate::harness::{Fixture, assert_inactive, checksum_variant, forge_secret, unknown_client_id};

backend_suite!(
    garbage_credentials_are_inactive_with_no_other_fields,
    another_keys_secret_is_inactive,
    successful_introspection_sets_last_used_time,
);

async fn garbage_credentials_are_inactive_with_no_other_fields(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let id = fixture.sentinel_id.clone();
    let secret = fixture.sentinel_secret.clone();

    let swap_last = |s: &str| {
        let (head, last) = s.split_at(s.len() - 1);
        format!("{head}{}", if last == "A" { "B" } else { "A" })
    };
    let mut cases: Vec<(&str, String, String)> = vec![
        ("empty id and secret", String::new(), String::new()),
        ("empty secret", id.clone(), String::new()),
        ("empty id", String::new(), secret.clone()),
        ("a 10 KB secret", id.clone(), "a".repeat(10 * 1024)),
        ("a 10 KB id", "a".repeat(10 * 1024), secret.clone()),
        ("an unknown id", unknown_client_id(), secret.clone()),
        (
            "a wrong prefix",
            id.clone(),
            secret.replacen("aks_", "akx_", 1),
        ),
        ("the id as secret", id.clone(), id.clone()),
        ("a bad checksum", id.clone(), swap_last(&secret)),
        ("a truncated secret", id.clone(), secret[..52].to_owned()),
        ("a secret with a suffix", id.clone(), format!("{secret}x")),
        ("a secret with a space", id.clone(), format!(" {secret}")),
        (
            "a non-ASCII secret",
            id.clone(),
            format!("aks_{}", "é".repeat(49)),
        ),
        (
            "the secret in upper case",
            id.clone(),
            secret.to_uppercase(),
        ),
        ("id and secret swapped", secret.clone(), id.clone()),
    ];
    // Right format, valid checksum, wrong value (when the checksum encoding is recognisable;
    // `secret_checksum_is_crc32_of_its_first_47_chars` checks that it is).
    if let Some(variant) = checksum_variant(&secret) {
        let forged = forge_secret(&secret, variant);
        assert_eq!(checksum_variant(&forged), Some(variant));
        cases.push(("a well-formed wrong secret", id.clone(), forged));
    }
    for (what, client_id, client_secret) in &cases {
        let response = api
            .introspect(&fixture.gateway, client_id, client_secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect with {what} must not fail: {s:?}"));
        assert_inactive(&response, &format!("Introspect with {what}"));
    }
    fixture.assert_intact().await;
}

async fn another_keys_secret_is_inactive(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let other = fixture.create_key("other@acme.test").await;
    let other_id = other.key.expect("key").client_id;
    let globex_owner = fixture.enabled_account("globex").await;
    let globex = api
        .create_key(&globex_owner, "globex", "ops@globex.test")
        .await
        .expect("CreateKey globex");
    let globex_id = globex.key.expect("key").client_id;

    for (what, client_id, client_secret) in [
        (
            "acme key with another acme key's secret",
            &fixture.sentinel_id,
            &other.client_secret,
        ),
        (
            "acme key with its sibling's secret",
            &other_id,
            &fixture.sentinel_secret,
        ),
        (
            "acme key with globex's secret",
            &fixture.sentinel_id,
            &globex.client_secret,
        ),
        (
            "globex key with acme's secret",
            &globex_id,
            &fixture.sentinel_secret,
        ),
    ] {
        let response = api
            .introspect(&fixture.gateway, client_id, client_secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect {what}: {s:?}"));
        assert_inactive(&response, what);
    }
    for (id, secret) in [
        (&other_id, &other.client_secret),
        (&globex_id, &globex.client_secret),
    ] {
        let response = api
            .introspect(&fixture.gateway, id, secret)
            .await
            .expect("Introspect");
        assert!(response.active, "{id} is still active with its own secret");
    }
    fixture.assert_intact().await;
}

/// From the proto: `last_used_time` is "when the key last authenticated a request; unset if
/// never".
async fn successful_introspection_sets_last_used_time(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let unused = fixture.create_key("unused@acme.test").await;
    let unused_id = unused.key.expect("key").client_id;
    let last_used = |keys: &[apikeys_proto::pb::ApiKey], id: &str| {
        keys.iter()
            .find(|k| k.client_id == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
            .last_used_time
    };

    let page = api
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys");
    assert_eq!(last_used(&page.keys, &fixture.sentinel_id), None);

    let response = api
        .introspect(
            &fixture.gateway,
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await
        .expect("Introspect");
    assert!(response.active);
    // A failed attempt does not count as use.
    let response = api
        .introspect(&fixture.gateway, &unused_id, &fixture.sentinel_secret)
        .await
        .expect("Introspect with a wrong secret");
    assert_inactive(&response, "wrong secret");

    let page = api
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys");
    let sentinel = page
        .keys
        .iter()
        .find(|k| k.client_id == fixture.sentinel_id)
        .expect("sentinel listed");
    let used = sentinel
        .last_used_time
        .expect("last_used_time set after a successful introspection");
    let created = sentinel.create_time.expect("create_time");
    assert!((used.seconds, used.nanos) >= (created.seconds, created.nanos));
    assert_eq!(last_used(&page.keys, &unused_id), None);
}
