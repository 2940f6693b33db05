//! RevokeKey of a key that is unknown, already revoked, or another account's → NOT_FOUND.

use apikeys_test_support::Backend;
use tonic::Code;

use crate::harness::{Fixture, assert_code, unknown_client_id};

backend_suite!(
    revoking_an_unknown_key_is_not_found,
    revoking_twice_is_not_found,
    revoking_another_accounts_key_is_not_found,
    concurrent_revokes_succeed_once,
);

async fn revoking_an_unknown_key_is_not_found(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    assert_code(
        api.revoke_key(&fixture.owner, &fixture.account, &unknown_client_id())
            .await,
        Code::NotFound,
        "RevokeKey of a well-formed unknown id",
    );
    fixture.assert_intact().await;
}

async fn revoking_twice_is_not_found(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let created = fixture.create_key("twice@acme.test").await;
    let id = created.key.expect("key").client_id;
    let first = api
        .revoke_key(&fixture.owner, &fixture.account, &id)
        .await
        .expect("first RevokeKey");
    assert!(first.key.expect("key").revoke_time.is_some());
    assert_code(
        api.revoke_key(&fixture.owner, &fixture.account, &id).await,
        Code::NotFound,
        "RevokeKey of an already revoked key",
    );
    fixture.assert_intact().await;
}

async fn revoking_another_accounts_key_is_not_found(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let globex_owner = fixture.enabled_account("globex").await;
    let globex_key = api
        .create_key(&globex_owner, "globex", "ops@globex.test")
        .await
        .expect("CreateKey globex");
    let globex_id = globex_key.key.expect("key").client_id;

    // globex's owner names acme's key under globex.
    assert_code(
        api.revoke_key(&globex_owner, "globex", &fixture.sentinel_id)
            .await,
        Code::NotFound,
        "RevokeKey of acme's key by globex's owner under globex",
    );
    // acme's owner names globex's key under acme.
    assert_code(
        api.revoke_key(&fixture.owner, &fixture.account, &globex_id)
            .await,
        Code::NotFound,
        "RevokeKey of globex's key by acme's owner under acme",
    );
    fixture.assert_intact().await;
    let response = api
        .introspect(&fixture.gateway, &globex_id, &globex_key.client_secret)
        .await
        .expect("Introspect globex key");
    assert!(response.active, "globex's key was revoked by acme's owner");
}

async fn concurrent_revokes_succeed_once(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let created = fixture.create_key("raced@acme.test").await;
    let id = created.key.expect("key").client_id;
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (api, owner, account, id) = (
            fixture.api().clone(),
            fixture.owner.clone(),
            fixture.account.clone(),
            id.clone(),
        );
        racing.spawn(async move { api.revoke_key(&owner, &account, &id).await });
    }
    let mut revoked = 0;
    while let Some(joined) = racing.join_next().await {
        match joined.expect("revoke task") {
            Ok(response) => {
                revoked += 1;
                assert!(response.key.expect("key").revoke_time.is_some());
            }
            Err(status) => assert_eq!(
                status.code(),
                Code::NotFound,
                "a racing RevokeKey failed otherwise: {status:?}"
            ),
        }
    }
    assert_eq!(
        revoked, 1,
        "racing revokes of one key must succeed exactly once"
    );
    fixture.assert_intact().await;
}
