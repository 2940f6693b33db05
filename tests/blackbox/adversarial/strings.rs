//! Hostile but valid text: stored and returned exactly as given, never normalised, never
//! interpreted. Emails are compared byte for byte: `ops@acme.com` written with a Cyrillic `о`
//! is another address, and so is `OPS@acme.com`; internationalised addresses (RFC 6531) are
//! accepted as they are, with no case folding, Unicode normalisation or punycode.

use std::collections::HashMap;

use apikeys_proto::pb::CreateKeyRequest;
use apikeys_test_support::Backend;

use crate::harness::Fixture;

backend_suite!(
    lookalike_emails_stay_distinct_and_verbatim,
    sql_looking_strings_are_stored_and_returned_verbatim,
);

async fn lookalike_emails_stay_distinct_and_verbatim(backend: Backend) {
    let mut fixture = Fixture::with_server(
        crate::harness::TestServer::builder(backend)
            .args(&["--max-active-keys", "20"])
            .start()
            .await,
    )
    .await;
    let emails = [
        "ops@acme.com",
        "\u{043e}ps@acme.com",  // Cyrillic small o
        "ops@\u{0430}cme.com",  // Cyrillic small a in the domain
        "OPS@acme.com",         // case is kept, not folded
        "caf\u{e9}@acme.com",   // é precomposed (NFC)
        "cafe\u{301}@acme.com", // e + combining acute (NFD)
        "ops\u{200b}@acme.com", // zero-width space
        "ops@xn--acme-9ua.com", // punycode stays punycode
    ];
    let mut created = HashMap::new();
    for email in emails {
        let response = fixture
            .api()
            .create_key(&fixture.owner, &fixture.account, email)
            .await;
        // An address the validator refuses is fine; one it accepts must come back unchanged.
        let Ok(response) = response else { continue };
        let key = response.key.expect("key");
        assert_eq!(key.email, email, "CreateKey changed {email:?}");
        created.insert(key.client_id.clone(), (email, response.client_secret));
    }
    let accepted: Vec<&str> = created.values().map(|(email, _)| *email).collect();
    for required in &emails[..6] {
        assert!(
            accepted.contains(required),
            "{required:?} must be accepted as given; accepted: {accepted:?}"
        );
    }
    let listed = fixture
        .api()
        .list_keys(&fixture.owner, &fixture.account, 100, "")
        .await
        .unwrap_or_else(|s| panic!("ListKeys: {s:?}"));
    for (client_id, (email, secret)) in &created {
        let key = listed
            .keys
            .iter()
            .find(|k| &k.client_id == client_id)
            .unwrap_or_else(|| panic!("{email:?} not listed"));
        assert_eq!(key.email, *email, "ListKeys changed {email:?}");
        let introspection = fixture
            .api()
            .introspect(&fixture.gateway, client_id, secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect: {s:?}"));
        assert!(introspection.active);
        assert_eq!(introspection.email, *email, "Introspect changed {email:?}");
    }
    fixture.assert_intact().await;
}

async fn sql_looking_strings_are_stored_and_returned_verbatim(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let account = "acme');DELETE/**/FROM/**/api_keys;--";
    let owner = fixture.enabled_account(account).await;
    let shown = fixture
        .api()
        .get_account(&fixture.staff, account)
        .await
        .unwrap_or_else(|s| panic!("GetAccount: {s:?}"));
    assert_eq!(shown.account_id, account);
    assert!(shown.api_access_enabled);

    let email = "o'brien+1=1@acme.com";
    let display_name = "Robert'); DROP TABLE api_keys; -- \\ % _ $1 ? :name";
    let created = fixture
        .api()
        .create_key_with(
            &owner,
            CreateKeyRequest {
                account_id: account.into(),
                email: email.into(),
                display_name: display_name.into(),
            },
        )
        .await
        .unwrap_or_else(|s| panic!("CreateKey: {s:?}"));
    let key = created.key.expect("key");
    assert_eq!(
        (
            key.account_id.as_str(),
            key.email.as_str(),
            key.display_name.as_str()
        ),
        (account, email, display_name)
    );
    let listed = fixture
        .api()
        .list_keys(&owner, account, 10, "")
        .await
        .unwrap_or_else(|s| panic!("ListKeys: {s:?}"));
    assert_eq!(listed.keys.len(), 1);
    assert_eq!(listed.keys[0].display_name, display_name);
    assert_eq!(listed.keys[0].email, email);
    // A LIKE-pattern account id matches only itself: `acme` keeps exactly its own keys.
    let acme_keys = fixture
        .api()
        .active_client_ids(&fixture.owner, &fixture.account)
        .await;
    assert_eq!(acme_keys, vec![fixture.sentinel_id.clone()]);
    let pattern_owner = fixture.enabled_account("acme%").await;
    assert!(
        fixture
            .api()
            .active_client_ids(&pattern_owner, "acme%")
            .await
            .is_empty(),
        "`acme%` must not see the keys of accounts it matches as a LIKE pattern"
    );
    fixture.assert_intact().await;
}
