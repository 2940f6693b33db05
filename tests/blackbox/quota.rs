//! The active key limit: 10 by default, `--max-active-keys` to change it, per account.

use apikeys_test_support::Backend;
use tonic::Code;

use crate::harness::{Fixture, TestServer, assert_code};

backend_suite!(
    eleventh_key_is_resource_exhausted_and_revoking_frees_a_slot,
    limit_is_per_account,
    max_active_keys_flag_sets_the_limit,
    concurrent_creates_never_exceed_the_limit,
);

async fn eleventh_key_is_resource_exhausted_and_revoking_frees_a_slot(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    // The sentinel is key 1.
    let mut ids = vec![fixture.sentinel_id.clone()];
    for i in 2..=10 {
        let created = fixture.create_key(&format!("k{i}@acme.test")).await;
        ids.push(created.key.expect("key").client_id);
    }
    let status = assert_code(
        api.create_key(&fixture.owner, &fixture.account, "k11@acme.test")
            .await,
        Code::ResourceExhausted,
        "11th active key",
    );
    assert!(
        status.message().contains("10"),
        "message does not name the limit: {:?}",
        status.message()
    );
    assert_eq!(
        api.active_client_ids(&fixture.owner, &fixture.account)
            .await
            .len(),
        10,
        "a refused key must not be stored"
    );

    api.revoke_key(&fixture.owner, &fixture.account, &ids[5])
        .await
        .expect("RevokeKey");
    fixture.create_key("k11@acme.test").await;
    assert_code(
        api.create_key(&fixture.owner, &fixture.account, "k12@acme.test")
            .await,
        Code::ResourceExhausted,
        "11th active key after refilling the freed slot",
    );
    fixture.assert_intact().await;
}

async fn limit_is_per_account(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    for i in 2..=10 {
        fixture.create_key(&format!("k{i}@acme.test")).await;
    }
    assert_code(
        api.create_key(&fixture.owner, &fixture.account, "k11@acme.test")
            .await,
        Code::ResourceExhausted,
        "11th active key",
    );
    let other_owner = fixture.enabled_account("globex").await;
    api.create_key(&other_owner, "globex", "ops@globex.test")
        .await
        .expect("a full neighbour does not limit globex");
}

async fn max_active_keys_flag_sets_the_limit(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--max-active-keys", "3"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let api = fixture.api().clone();
    fixture.create_key("k2@acme.test").await;
    fixture.create_key("k3@acme.test").await;
    let status = assert_code(
        api.create_key(&fixture.owner, &fixture.account, "k4@acme.test")
            .await,
        Code::ResourceExhausted,
        "4th active key with --max-active-keys 3",
    );
    assert!(
        status.message().contains('3'),
        "message does not name the limit: {:?}",
        status.message()
    );
    fixture.assert_intact().await;
}

async fn concurrent_creates_never_exceed_the_limit(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    // The sentinel holds one of the 10 slots; 14 racing creates compete for the other 9.
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..14 {
        let (api, owner, account) = (
            fixture.api().clone(),
            fixture.owner.clone(),
            fixture.account.clone(),
        );
        racing.spawn(async move {
            api.create_key(&owner, &account, &format!("race{i}@acme.test"))
                .await
        });
    }
    let mut created = 0;
    while let Some(joined) = racing.join_next().await {
        match joined.expect("create task") {
            Ok(_) => created += 1,
            Err(status) => assert_eq!(
                status.code(),
                Code::ResourceExhausted,
                "a racing CreateKey failed otherwise: {status:?}"
            ),
        }
    }
    assert_eq!(
        created, 9,
        "racing creates filled other than the 9 free slots"
    );
    let listed = fixture
        .api()
        .active_client_ids(&fixture.owner, &fixture.account)
        .await;
    assert_eq!(listed.len(), 10, "active keys after the race");
    fixture.assert_intact().await;
}
