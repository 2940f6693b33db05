//! Bad input → INVALID_ARGUMENT naming the field; limits are inclusive; the server keeps
//! answering and the data stays intact afterwards.

use apikeys_proto::pb::CreateKeyRequest;
use apikeys_test_support::Backend;

use crate::harness::{Fixture, assert_invalid_argument};

backend_suite!(
    bad_account_ids_are_invalid_argument,
    bad_client_ids_are_invalid_argument,
    ids_of_128_chars_are_accepted,
    bad_emails_are_invalid_argument,
    email_of_254_chars_is_accepted,
    display_name_over_200_chars_is_invalid_argument,
    page_size_out_of_range_is_invalid_argument,
    garbage_page_tokens_are_invalid_argument,
    page_token_from_another_account_is_invalid_argument,
);

const TEN_KB: usize = 10 * 1024;

/// An email of exactly `len` chars with a 64-char local part and labels under 64 chars.
fn email_of_len(len: usize) -> String {
    let local = "a".repeat(64);
    let mut domain = String::new();
    let domain_len = len - local.len() - 1;
    while domain_len - domain.len() > 63 {
        domain.push_str(&"b".repeat(61));
        domain.push('.');
    }
    domain.push_str(&"c".repeat(domain_len - domain.len()));
    let email = format!("{local}@{domain}");
    assert_eq!(email.len(), len);
    email
}

fn create(account: &str, email: &str, display_name: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        account_id: account.into(),
        email: email.into(),
        display_name: display_name.into(),
    }
}

async fn bad_account_ids_are_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let (owner, staff) = (fixture.owner.clone(), fixture.staff.clone());
    for (what, id) in [
        ("empty", String::new()),
        ("129 chars", "a".repeat(129)),
        ("10 KB", "a".repeat(TEN_KB)),
    ] {
        let what = format!("{what} account_id");
        assert_invalid_argument(
            api.create_key_with(&owner, create(&id, "a@acme.test", ""))
                .await,
            "account_id",
            &format!("CreateKey with {what}"),
        );
        assert_invalid_argument(
            api.list_keys(&owner, &id, 0, "").await,
            "account_id",
            &format!("ListKeys with {what}"),
        );
        assert_invalid_argument(
            api.revoke_key(&owner, &id, &fixture.sentinel_id).await,
            "account_id",
            &format!("RevokeKey with {what}"),
        );
        assert_invalid_argument(
            api.set_api_access(&staff, &id, true).await,
            "account_id",
            &format!("SetApiAccess with {what}"),
        );
        assert_invalid_argument(
            api.get_account(&staff, &id).await,
            "account_id",
            &format!("GetAccount with {what}"),
        );
        fixture.assert_intact().await;
    }
}

async fn bad_client_ids_are_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    for (what, id) in [
        ("empty", String::new()),
        ("129 chars", "a".repeat(129)),
        ("10 KB", "a".repeat(TEN_KB)),
    ] {
        assert_invalid_argument(
            api.revoke_key(&fixture.owner, &fixture.account, &id).await,
            "client_id",
            &format!("RevokeKey with {what} client_id"),
        );
        fixture.assert_intact().await;
    }
}

async fn ids_of_128_chars_are_accepted(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let api = fixture.api();
    let account = "a".repeat(128);
    let enabled = api
        .set_api_access(&fixture.staff, &account, true)
        .await
        .expect("SetApiAccess with a 128-char account_id");
    assert_eq!(enabled.account_id, account);
    assert!(
        api.get_account(&fixture.staff, &account)
            .await
            .expect("GetAccount with a 128-char account_id")
            .api_access_enabled
    );
    let owner = fixture.tokens().owner(&account);
    let created = api
        .create_key(&owner, &account, "long@acme.test")
        .await
        .expect("CreateKey with a 128-char account_id");
    let id = created.key.expect("key").client_id;
    assert_eq!(
        api.active_client_ids(&owner, &account).await,
        vec![id.clone()]
    );
    api.revoke_key(&owner, &account, &id)
        .await
        .expect("RevokeKey with a 128-char account_id");
}

async fn bad_emails_are_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    let bad = [
        String::new(),
        "plainaddress".into(),
        "@acme.test".into(),
        "user@".into(),
        "us er@acme.test".into(),
        "user@@acme.test".into(),
        email_of_len(255),
        format!("{}@acme.test", "a".repeat(TEN_KB)),
    ];
    for email in &bad {
        let shown: String = email.chars().take(40).collect();
        assert_invalid_argument(
            api.create_key_with(&fixture.owner, create(&fixture.account, email, ""))
                .await,
            "email",
            &format!("CreateKey with email {shown:?} ({} chars)", email.len()),
        );
    }
    fixture.assert_intact().await;
    assert_eq!(
        api.active_client_ids(&fixture.owner, &fixture.account)
            .await,
        vec![fixture.sentinel_id.clone()],
        "a refused CreateKey stored a key"
    );
}

async fn email_of_254_chars_is_accepted(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let email = email_of_len(254);
    let created = fixture.create_key(&email).await;
    assert_eq!(created.key.expect("key").email, email);
}

async fn display_name_over_200_chars_is_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    for name in ["n".repeat(201), "n".repeat(TEN_KB)] {
        assert_invalid_argument(
            api.create_key_with(
                &fixture.owner,
                create(&fixture.account, "a@acme.test", &name),
            )
            .await,
            "display_name",
            &format!("CreateKey with a {}-char display_name", name.len()),
        );
    }
    fixture.assert_intact().await;
    for name in ["n".repeat(200), "é".repeat(200)] {
        let created = api
            .create_key_with(
                &fixture.owner,
                create(&fixture.account, "a@acme.test", &name),
            )
            .await
            .unwrap_or_else(|s| panic!("a 200-char display_name is allowed: {s:?}"));
        assert_eq!(created.key.expect("key").display_name, name);
    }
}

async fn page_size_out_of_range_is_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    for page_size in [-1, 1001, i32::MIN, i32::MAX] {
        assert_invalid_argument(
            api.list_keys(&fixture.owner, &fixture.account, page_size, "")
                .await,
            "page_size",
            &format!("ListKeys with page_size {page_size}"),
        );
    }
    for page_size in [0, 1, 1000] {
        let page = api
            .list_keys(&fixture.owner, &fixture.account, page_size, "")
            .await
            .unwrap_or_else(|s| panic!("ListKeys with page_size {page_size}: {s:?}"));
        assert_eq!(page.keys.len(), 1);
    }
    fixture.assert_intact().await;
}

async fn garbage_page_tokens_are_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    for token in [
        "garbage".to_owned(),
        "!!!!".into(),
        "eyJ4IjoxfQ".into(),
        "A".repeat(TEN_KB),
        "\u{1F511}".into(),
    ] {
        let shown: String = token.chars().take(20).collect();
        assert_invalid_argument(
            api.list_keys(&fixture.owner, &fixture.account, 0, &token)
                .await,
            "page_token",
            &format!("ListKeys with page_token {shown:?}"),
        );
    }
    fixture.assert_intact().await;
}

async fn page_token_from_another_account_is_invalid_argument(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    fixture.create_key("second@acme.test").await;
    let globex_owner = fixture.enabled_account("globex").await;
    for i in 0..2 {
        api.create_key(&globex_owner, "globex", &format!("k{i}@globex.test"))
            .await
            .expect("CreateKey globex");
    }
    let globex_page = api
        .list_keys(&globex_owner, "globex", 1, "")
        .await
        .expect("ListKeys globex");
    assert!(
        !globex_page.next_page_token.is_empty(),
        "2 keys with page_size 1 give a next page"
    );
    assert_invalid_argument(
        api.list_keys(
            &fixture.owner,
            &fixture.account,
            1,
            &globex_page.next_page_token,
        )
        .await,
        "page_token",
        "ListKeys of acme with globex's page token",
    );
    // The token still works for globex.
    let rest = api
        .list_keys(&globex_owner, "globex", 1, &globex_page.next_page_token)
        .await
        .expect("ListKeys globex page 2");
    assert_eq!(rest.keys.len(), 1);
    fixture.assert_intact().await;
}
