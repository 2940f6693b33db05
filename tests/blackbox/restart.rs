//! State lives in the database: keys, revocations, account access and the local signing key
//! survive a restart of the server.

use apikeys_test_support::Backend;

use crate::harness::{Fixture, TestServer, assert_inactive};

backend_suite!(
    keys_and_access_survive_a_restart,
    local_tokens_survive_a_restart,
    last_use_is_flushed_on_graceful_shutdown,
);

async fn keys_and_access_survive_a_restart(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let revoked = fixture.create_key("revoked@acme.test").await;
    let revoked_id = revoked.key.expect("key").client_id;
    api.revoke_key(&fixture.owner, &fixture.account, &revoked_id)
        .await
        .expect("RevokeKey");
    let globex_owner = fixture.enabled_account("globex").await;
    let globex = api
        .create_key(&globex_owner, "globex", "ops@globex.test")
        .await
        .expect("CreateKey globex");
    let globex_id = globex.key.expect("key").client_id;
    api.set_api_access(&fixture.staff, "globex", false)
        .await
        .expect("disable globex");
    let listed_before = api
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys");

    fixture.server.restart().await;
    let api = fixture.api().clone();

    let listed_after = api
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys after restart");
    assert_eq!(listed_after, listed_before);
    fixture.assert_intact().await;
    let response = api
        .introspect(&fixture.gateway, &revoked_id, &revoked.client_secret)
        .await
        .expect("Introspect revoked key after restart");
    assert_inactive(&response, "a revoked key after restart");
    let response = api
        .introspect(&fixture.gateway, &globex_id, &globex.client_secret)
        .await
        .expect("Introspect globex key after restart");
    assert_inactive(&response, "a disabled account's key after restart");
    let globex_account = api
        .get_account(&fixture.staff, "globex")
        .await
        .expect("GetAccount globex after restart");
    assert!(!globex_account.api_access_enabled);
    assert!(globex_account.update_time.is_some());
}

async fn local_tokens_survive_a_restart(backend: Backend) {
    let mut server = TestServer::builder(backend).local_mode().start().await;
    let key_before = std::fs::read(server.local_key_file()).expect("read signing key file");
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
        .set_api_access(&staff, "acme", true)
        .await
        .expect("SetApiAccess with a local token");

    server.restart().await;

    let key_after = std::fs::read(server.local_key_file()).expect("read signing key file");
    assert!(
        key_before == key_after,
        "restart replaced the signing key file"
    );
    let account = server
        .api()
        .get_account(&staff, "acme")
        .await
        .expect("a token minted before the restart still works");
    assert!(account.api_access_enabled);
}

/// `last_used_at` is batched in memory; SIGTERM must write the pending batch before exiting.
async fn last_use_is_flushed_on_graceful_shutdown(backend: Backend) {
    // An hour between periodic flushes: only the flush at shutdown can write this use.
    let server = TestServer::builder(backend)
        .args(&["--last-used-flush-interval-ms", "3600000"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let response = fixture
        .api()
        .introspect(
            &fixture.gateway,
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await
        .expect("Introspect");
    assert!(response.active);

    fixture.server.restart_gracefully().await;

    let page = fixture
        .api()
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys after restart");
    let sentinel = page
        .keys
        .iter()
        .find(|key| key.client_id == fixture.sentinel_id)
        .expect("sentinel listed");
    assert!(
        sentinel.last_used_time.is_some(),
        "the use before shutdown was not flushed to the database"
    );
}
