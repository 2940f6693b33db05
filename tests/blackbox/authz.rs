//! Who may call what: owner/admin of the account for keys, staff for accounts, the
//! `introspect` scope for introspection. Everyone else gets PERMISSION_DENIED.

use apikeys_proto::pb::CreateKeyRequest;
use apikeys_test_support::Backend;
use tonic::Code;

use crate::harness::{Fixture, assert_code};

backend_suite!(
    member_cannot_manage_keys,
    owner_of_another_account_cannot_manage_keys,
    staff_flag_does_not_grant_key_management,
    gateway_scope_does_not_grant_key_management,
    non_staff_cannot_use_account_service,
    introspect_requires_the_introspect_scope,
);

/// Asserts CreateKey, ListKeys and RevokeKey (of the sentinel) on `acme` are denied to `token`,
/// then that nothing changed.
async fn assert_key_management_denied(fixture: &mut Fixture, token: &str, who: &str) {
    let api = fixture.api().clone();
    let account = fixture.account.clone();
    assert_code(
        api.create_key_with(
            token,
            CreateKeyRequest {
                account_id: account.clone(),
                email: "intruder@example.test".into(),
                display_name: String::new(),
            },
        )
        .await,
        Code::PermissionDenied,
        &format!("CreateKey by {who}"),
    );
    assert_code(
        api.list_keys(token, &account, 0, "").await,
        Code::PermissionDenied,
        &format!("ListKeys by {who}"),
    );
    assert_code(
        api.revoke_key(token, &account, &fixture.sentinel_id).await,
        Code::PermissionDenied,
        &format!("RevokeKey by {who}"),
    );
    fixture.assert_intact().await;
    assert_eq!(
        api.active_client_ids(&fixture.owner, &account).await,
        vec![fixture.sentinel_id.clone()],
        "a denied CreateKey stored a key"
    );
}

async fn member_cannot_manage_keys(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let member = fixture.tokens().member(&fixture.account);
    assert_key_management_denied(&mut fixture, &member, "a member").await;
    let viewer = fixture
        .tokens()
        .user("vic", &fixture.account, "viewer")
        .sign();
    assert_key_management_denied(&mut fixture, &viewer, "a viewer").await;
}

async fn owner_of_another_account_cannot_manage_keys(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let other_owner = fixture.enabled_account("globex").await;
    assert_key_management_denied(&mut fixture, &other_owner, "globex's owner").await;
    let other_admin = fixture.tokens().admin("globex");
    assert_key_management_denied(&mut fixture, &other_admin, "globex's admin").await;
}

async fn staff_flag_does_not_grant_key_management(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let staff = fixture.staff.clone();
    assert_key_management_denied(&mut fixture, &staff, "staff").await;
    // Staff who are owners of their own account still cannot manage acme's keys.
    let staff_owner = fixture
        .tokens()
        .user("boss", "hubpay", "owner")
        .staff()
        .sign();
    assert_key_management_denied(&mut fixture, &staff_owner, "staff owning hubpay").await;
}

async fn gateway_scope_does_not_grant_key_management(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let gateway = fixture.gateway.clone();
    assert_key_management_denied(&mut fixture, &gateway, "the gateway").await;
    let scoped_member = fixture
        .tokens()
        .user("m", &fixture.account, "member")
        .scope("introspect")
        .sign();
    assert_key_management_denied(&mut fixture, &scoped_member, "a member with the scope").await;
}

async fn non_staff_cannot_use_account_service(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let account = fixture.account.clone();
    let tokens = fixture.tokens().clone();
    let not_staff = [
        ("the owner", fixture.owner.clone()),
        ("an admin", tokens.admin(&account)),
        ("the gateway", fixture.gateway.clone()),
        (
            "a token with staff=false",
            tokens
                .user("x", &account, "owner")
                .claim("staff", serde_json::json!(false))
                .sign(),
        ),
    ];
    for (who, token) in &not_staff {
        assert_code(
            api.set_api_access(token, &account, false).await,
            Code::PermissionDenied,
            &format!("SetApiAccess by {who}"),
        );
        assert_code(
            api.get_account(token, &account).await,
            Code::PermissionDenied,
            &format!("GetAccount by {who}"),
        );
    }
    // Nobody managed to disable acme.
    fixture.assert_intact().await;
}

async fn introspect_requires_the_introspect_scope(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let tokens = fixture.tokens().clone();
    let unscoped = [
        ("the owner", fixture.owner.clone()),
        ("staff", fixture.staff.clone()),
        (
            "scope \"introspection\"",
            tokens
                .user("gw", "hubpay", "service")
                .scope("introspection")
                .sign(),
        ),
        (
            "scope \"read write\"",
            tokens
                .user("gw", "hubpay", "service")
                .scope("read write")
                .sign(),
        ),
    ];
    for (who, token) in &unscoped {
        assert_code(
            api.introspect(token, &fixture.sentinel_id, &fixture.sentinel_secret)
                .await,
            Code::PermissionDenied,
            &format!("Introspect by {who}"),
        );
    }
    // The scope may be one of several, space separated.
    let multi = tokens
        .user("gw", "hubpay", "service")
        .scope("read introspect write")
        .sign();
    let response = api
        .introspect(&multi, &fixture.sentinel_id, &fixture.sentinel_secret)
        .await
        .expect("Introspect with scope \"read introspect write\"");
    assert!(response.active);
    fixture.assert_intact().await;
}
