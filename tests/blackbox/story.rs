//! The help page's story, end to end: staff enable access, an owner creates a key, the gateway
//! accepts it, the owner sees it listed, deletes it, and it stops working.

use std::time::{Duration, SystemTime};

use apikeys_proto::pb::CreateKeyRequest;
use apikeys_test_support::Backend;
use prost::Message as _;
use tonic::Code;

use crate::harness::{
    Fixture, TestServer, assert_client_id_format, assert_code, assert_inactive,
    assert_secret_format, checksum_variant,
};

backend_suite!(
    seed_story_end_to_end,
    admin_can_manage_keys,
    create_before_enable_is_failed_precondition,
    unknown_account_reads_disabled,
    secret_is_returned_only_by_create,
    secret_checksum_is_crc32_of_its_first_47_chars,
    keys_get_distinct_ids_and_secrets,
);

fn to_system_time(timestamp: &prost_types::Timestamp) -> SystemTime {
    SystemTime::try_from(*timestamp).expect("timestamp in range")
}

async fn seed_story_end_to_end(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = server.api();
    let tokens = server.tokens();
    let account = "acme-corp";
    let owner = tokens.user("alice", account, "owner").sign();
    let staff = tokens.staff();
    let gateway = tokens.gateway();

    // Hubpay staff enable API access on the account.
    let enabled = api
        .set_api_access(&staff, account, true)
        .await
        .expect("SetApiAccess(enabled)");
    assert_eq!(enabled.account_id, account);
    assert!(enabled.api_access_enabled);
    assert!(enabled.update_time.is_some(), "update_time after a change");
    let read = api.get_account(&staff, account).await.expect("GetAccount");
    assert!(read.api_access_enabled);
    assert_eq!(read.account_id, account);
    assert!(read.update_time.is_some());

    // The owner creates a key; the response shows client id, secret and account id.
    let before_create = SystemTime::now() - Duration::from_secs(300);
    let created = api
        .create_key_with(
            &owner,
            CreateKeyRequest {
                account_id: account.into(),
                email: "partner@acme.test".into(),
                display_name: "billing integration".into(),
            },
        )
        .await
        .expect("CreateKey");
    let key = created.key.clone().expect("CreateKey returns the key");
    assert_client_id_format(&key.client_id);
    assert_secret_format(&created.client_secret);
    assert_eq!(key.account_id, account);
    assert_eq!(key.email, "partner@acme.test");
    assert_eq!(key.display_name, "billing integration");
    assert_eq!(key.creator, "alice", "creator is the caller's sub");
    assert!(key.revoke_time.is_none());
    assert!(key.last_used_time.is_none(), "a new key was never used");
    let create_time = key.create_time.expect("create_time set");
    let created_at = to_system_time(&create_time);
    assert!(
        created_at > before_create && created_at < SystemTime::now() + Duration::from_secs(300),
        "create_time {create_time:?} is not about now"
    );

    // The gateway accepts the credentials.
    let introspection = api
        .introspect(&gateway, &key.client_id, &created.client_secret)
        .await
        .expect("Introspect");
    assert!(introspection.active);
    assert_eq!(introspection.client_id, key.client_id);
    assert_eq!(introspection.account_id, account);
    assert_eq!(introspection.email, "partner@acme.test");
    assert_eq!(introspection.create_time, Some(create_time));

    // The API keys page lists it with client id, email and creation time.
    let page = api
        .list_keys(&owner, account, 0, "")
        .await
        .expect("ListKeys");
    assert!(page.next_page_token.is_empty());
    assert_eq!(page.keys.len(), 1, "{page:?}");
    let listed = &page.keys[0];
    assert_eq!(listed.client_id, key.client_id);
    assert_eq!(listed.email, "partner@acme.test");
    assert_eq!(listed.account_id, account);
    assert_eq!(listed.create_time, Some(create_time));
    assert!(listed.revoke_time.is_none());

    // Deleting the key revokes it immediately.
    let revoked = api
        .revoke_key(&owner, account, &key.client_id)
        .await
        .expect("RevokeKey")
        .key
        .expect("RevokeKey returns the key");
    assert_eq!(revoked.client_id, key.client_id);
    assert_eq!(revoked.account_id, account);
    assert_eq!(revoked.email, "partner@acme.test");
    assert_eq!(revoked.create_time, Some(create_time));
    let revoke_time = revoked.revoke_time.expect("revoke_time set");
    assert!(to_system_time(&revoke_time) >= created_at);

    let after = api
        .introspect(&gateway, &key.client_id, &created.client_secret)
        .await
        .expect("Introspect after revoke");
    assert_inactive(&after, "introspect a revoked key");
    let page = api
        .list_keys(&owner, account, 0, "")
        .await
        .expect("ListKeys after revoke");
    assert!(page.keys.is_empty(), "revoked key still listed: {page:?}");
    assert!(page.next_page_token.is_empty());
}

async fn admin_can_manage_keys(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let admin = fixture.tokens().admin(&fixture.account);
    let api = fixture.api();
    let created = api
        .create_key(&admin, &fixture.account, "admin@acme.test")
        .await
        .expect("admin CreateKey");
    let id = created.key.expect("key").client_id;
    let listed = api.active_client_ids(&admin, &fixture.account).await;
    assert!(listed.contains(&id) && listed.contains(&fixture.sentinel_id));
    api.revoke_key(&admin, &fixture.account, &id)
        .await
        .expect("admin RevokeKey");
    let listed = api.active_client_ids(&admin, &fixture.account).await;
    assert_eq!(listed, vec![fixture.sentinel_id.clone()]);
}

async fn create_before_enable_is_failed_precondition(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();

    // Never enabled.
    let owner = fixture.tokens().owner("newco");
    let status = assert_code(
        api.create_key(&owner, "newco", "a@newco.test").await,
        Code::FailedPrecondition,
        "CreateKey on a never-enabled account",
    );
    assert!(
        status.message().contains("api access is not enabled"),
        "message: {:?}",
        status.message()
    );

    // Explicitly disabled.
    api.set_api_access(&fixture.staff, "oldco", false)
        .await
        .expect("disable oldco");
    let owner = fixture.tokens().owner("oldco");
    let status = assert_code(
        api.create_key(&owner, "oldco", "a@oldco.test").await,
        Code::FailedPrecondition,
        "CreateKey on a disabled account",
    );
    assert!(status.message().contains("api access is not enabled"));
    assert!(api.active_client_ids(&owner, "oldco").await.is_empty());
    fixture.assert_intact().await;
}

async fn unknown_account_reads_disabled(backend: Backend) {
    let server = TestServer::start(backend).await;
    let staff = server.tokens().staff();
    let account = server
        .api()
        .get_account(&staff, "never-seen")
        .await
        .expect("GetAccount of an unknown account");
    assert_eq!(account.account_id, "never-seen");
    assert!(!account.api_access_enabled);
    assert!(account.update_time.is_none(), "{account:?}");
}

async fn secret_is_returned_only_by_create(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let secret = fixture.sentinel_secret.as_bytes();
    let contains_secret = |bytes: Vec<u8>| bytes.windows(secret.len()).any(|w| w == secret);

    let page = api
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("ListKeys");
    assert!(
        !contains_secret(page.encode_to_vec()),
        "ListKeys leaks the secret"
    );
    let revoked = api
        .revoke_key(&fixture.owner, &fixture.account, &fixture.sentinel_id)
        .await
        .expect("RevokeKey");
    assert!(
        !contains_secret(revoked.encode_to_vec()),
        "RevokeKey leaks the secret"
    );
}

async fn secret_checksum_is_crc32_of_its_first_47_chars(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let mut secrets = vec![fixture.sentinel_secret.clone()];
    for i in 0..2 {
        secrets.push(
            fixture
                .create_key(&format!("k{i}@acme.test"))
                .await
                .client_secret,
        );
    }
    let variants: Vec<Option<usize>> = secrets.iter().map(|s| checksum_variant(s)).collect();
    assert!(
        variants[0].is_some() && variants.iter().all(|v| *v == variants[0]),
        "the last 6 chars are not CRC32 of the first 47 in one base62 encoding: {variants:?}"
    );
}

async fn keys_get_distinct_ids_and_secrets(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let mut ids = vec![fixture.sentinel_id.clone()];
    let mut secrets = vec![fixture.sentinel_secret.clone()];
    for _ in 0..4 {
        let created = fixture.create_key("same@acme.test").await;
        ids.push(created.key.expect("key").client_id);
        secrets.push(created.client_secret);
    }
    ids.sort();
    ids.dedup();
    secrets.sort();
    secrets.dedup();
    assert_eq!(ids.len(), 5, "client ids repeat");
    assert_eq!(secrets.len(), 5, "secrets repeat");
}
