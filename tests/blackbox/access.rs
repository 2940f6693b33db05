//! Staff switching API access: disabling makes every key inactive at once, re-enabling
//! restores the keys that were not revoked.

use apikeys_test_support::Backend;
use tonic::Code;

use crate::harness::{Fixture, assert_code, assert_inactive};

backend_suite!(
    disabling_access_deactivates_keys_and_reenabling_restores_them,
    access_is_per_account,
);

async fn disabling_access_deactivates_keys_and_reenabling_restores_them(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let (staff, owner, gateway, account) = (
        fixture.staff.clone(),
        fixture.owner.clone(),
        fixture.gateway.clone(),
        fixture.account.clone(),
    );
    let second = fixture.create_key("second@acme.test").await;
    let second_id = second.key.clone().expect("key").client_id;
    let revoked = fixture.create_key("revoked@acme.test").await;
    let revoked_id = revoked.key.clone().expect("key").client_id;
    api.revoke_key(&owner, &account, &revoked_id)
        .await
        .expect("RevokeKey");

    let disabled = api
        .set_api_access(&staff, &account, false)
        .await
        .expect("disable");
    assert!(!disabled.api_access_enabled);
    assert!(disabled.update_time.is_some());
    assert!(
        !api.get_account(&staff, &account)
            .await
            .expect("GetAccount")
            .api_access_enabled
    );
    for (id, secret) in [
        (&fixture.sentinel_id, &fixture.sentinel_secret),
        (&second_id, &second.client_secret),
    ] {
        let response = api
            .introspect(&gateway, id, secret)
            .await
            .expect("Introspect while disabled");
        assert_inactive(&response, "introspect a key of a disabled account");
    }
    let status = assert_code(
        api.create_key(&owner, &account, "more@acme.test").await,
        Code::FailedPrecondition,
        "CreateKey while disabled",
    );
    assert!(status.message().contains("api access is not enabled"));

    let enabled = api
        .set_api_access(&staff, &account, true)
        .await
        .expect("re-enable");
    assert!(enabled.api_access_enabled);
    for (id, secret) in [
        (&fixture.sentinel_id, &fixture.sentinel_secret),
        (&second_id, &second.client_secret),
    ] {
        let response = api
            .introspect(&gateway, id, secret)
            .await
            .expect("Introspect after re-enable");
        assert!(response.active, "key {id} not restored by re-enabling");
        assert_eq!(&response.client_id, id);
    }
    let response = api
        .introspect(&gateway, &revoked_id, &revoked.client_secret)
        .await
        .expect("Introspect revoked key after re-enable");
    assert_inactive(&response, "a revoked key stays revoked after re-enabling");
    let mut listed = api.active_client_ids(&owner, &account).await;
    listed.sort();
    let mut expected = vec![fixture.sentinel_id.clone(), second_id];
    expected.sort();
    assert_eq!(listed, expected);
    fixture.assert_intact().await;
}

async fn access_is_per_account(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let other_owner = fixture.enabled_account("globex").await;
    let other = api
        .create_key(&other_owner, "globex", "ops@globex.test")
        .await
        .expect("CreateKey globex");
    let other_id = other.key.expect("key").client_id;

    api.set_api_access(&fixture.staff, "globex", false)
        .await
        .expect("disable globex");
    let response = api
        .introspect(&fixture.gateway, &other_id, &other.client_secret)
        .await
        .expect("Introspect globex key");
    assert_inactive(&response, "key of the disabled account");
    // acme is untouched.
    fixture.assert_intact().await;
    fixture.create_key("still@acme.test").await;
    // And a never-enabled account is not enabled by its neighbours.
    let newco = fixture.tokens().owner("newco");
    assert_code(
        api.create_key(&newco, "newco", "a@newco.test").await,
        Code::FailedPrecondition,
        "CreateKey on a never-enabled account",
    );
}
