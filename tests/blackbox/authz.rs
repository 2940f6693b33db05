//! Claim variants beyond the plain callers of the authorization matrix (`authz_matrix.rs`, which
//! covers every RPC for no token, member, admin, owner, another account's owner, staff and the
//! gateway): other roles, another account's admin, staff who own an account, a member holding the
//! `introspect` scope, `staff: false`, and how the scope must be spelled.

use apikeys_proto::pb::CreateKeyRequest;
use apikeys_test_support::Backend;
use tonic::Code;

use crate::harness::{Fixture, assert_code};

backend_suite!(
    other_roles_and_other_accounts_admins_cannot_manage_keys,
    staff_and_scoped_members_cannot_manage_keys,
    staff_false_is_not_staff,
    introspect_requires_the_introspect_scope,
);

/// Asserts CreateKey, ListKeys, ListAuditEvents and RevokeKey (of the sentinel) on `acme` are
/// denied to `token`, then that nothing changed.
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
        api.list_audit_events(token, &account, 0, "").await,
        Code::PermissionDenied,
        &format!("ListAuditEvents by {who}"),
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

async fn other_roles_and_other_accounts_admins_cannot_manage_keys(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let viewer = fixture
        .tokens()
        .user("vic", &fixture.account, "viewer")
        .sign();
    assert_key_management_denied(&mut fixture, &viewer, "a viewer").await;
    fixture.enabled_account("globex").await;
    let other_admin = fixture.tokens().admin("globex");
    assert_key_management_denied(&mut fixture, &other_admin, "globex's admin").await;
}

async fn staff_and_scoped_members_cannot_manage_keys(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    // Staff who are owners of their own account still cannot manage acme's keys.
    let staff_owner = fixture
        .tokens()
        .user("boss", "hubpay", "owner")
        .staff()
        .sign();
    assert_key_management_denied(&mut fixture, &staff_owner, "staff owning hubpay").await;
    let scoped_member = fixture
        .tokens()
        .user("m", &fixture.account, "member")
        .scope("introspect")
        .sign();
    assert_key_management_denied(&mut fixture, &scoped_member, "a member with the scope").await;
}

async fn staff_false_is_not_staff(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let account = fixture.account.clone();
    let not_staff = fixture
        .tokens()
        .user("x", &account, "owner")
        .claim("staff", serde_json::json!(false))
        .sign();
    assert_code(
        api.set_api_access(&not_staff, &account, false).await,
        Code::PermissionDenied,
        "SetApiAccess with staff=false",
    );
    assert_code(
        api.get_account(&not_staff, &account).await,
        Code::PermissionDenied,
        "GetAccount with staff=false",
    );
    // Nobody managed to disable acme.
    fixture.assert_intact().await;
}

async fn introspect_requires_the_introspect_scope(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let tokens = fixture.tokens().clone();
    let unscoped = [
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
