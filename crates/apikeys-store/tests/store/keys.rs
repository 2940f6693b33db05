use apikeys_store::{PageRequest, StoreError};

use crate::support::*;

crate::store_test_suite!(
    create_requires_api_access,
    created_key_is_listed_and_verifiable,
    revoke_hides_key_and_is_final,
    revoke_is_scoped_to_the_account,
    quota_holds_under_concurrent_creates,
    quota_follows_creates_refusals_and_revocations,
    disabling_access_makes_credentials_unusable,
    last_used_only_moves_forward,
);

async fn create_requires_api_access(backend: Backend) {
    let store = migrated_store(backend).await;
    let never = account("never-enabled");
    let (key, _) = new_key(&never, "ops@acme.com");
    let error = store.create_key(&key, 10).await.unwrap_err();
    assert!(
        matches!(error, StoreError::ApiAccessDisabled { .. }),
        "{error:?}"
    );

    let acme = enabled_account(&store, "acme").await;
    store.set_api_access(&acme, false, &actor()).await.unwrap();
    let (key, _) = new_key(&acme, "ops@acme.com");
    let error = store.create_key(&key, 10).await.unwrap_err();
    assert!(error.to_string().contains("api access is not enabled"));
}

async fn created_key_is_listed_and_verifiable(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let (new, secret) = new_key(&acme, "ops@acme.com");
    let created = store.create_key(&new, 10).await.unwrap();
    assert_eq!(created.client_id, new.client_id.as_str());
    assert_eq!(created.email, "ops@acme.com");
    assert_eq!(created.created_by, "user-1");
    assert_eq!(created.revoked_at, None);

    let page = store
        .list_active_keys(&acme, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(page.keys, vec![created.clone()]);
    assert_eq!(page.next_page_token, None);

    let credential = store
        .find_credential(&new.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(credential.is_usable_at(chrono::Utc::now().naive_utc()));
    assert!(cheap_hasher().verify(&secret, &credential.secret_hash));
    assert!(!credential.secret_hash.as_str().contains(secret.expose()));

    let audit = store.recent_audit_events(&acme, 1).await.unwrap();
    assert_eq!(audit[0].action, "key.created");
    assert_eq!(audit[0].client_id.as_deref(), Some(new.client_id.as_str()));
}

async fn revoke_hides_key_and_is_final(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let (keep, _) = new_key(&acme, "keep@acme.com");
    let (drop, _) = new_key(&acme, "drop@acme.com");
    store.create_key(&keep, 10).await.unwrap();
    store.create_key(&drop, 10).await.unwrap();

    let revoked = store
        .revoke_key(&acme, &drop.client_id, &actor())
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.revoked_by.as_deref(), Some("user-1"));

    let page = store
        .list_active_keys(&acme, &PageRequest::first(50))
        .await
        .unwrap();
    let listed: Vec<&str> = page.keys.iter().map(|k| k.client_id.as_str()).collect();
    assert_eq!(listed, [keep.client_id.as_str()]);

    let again = store
        .revoke_key(&acme, &drop.client_id, &actor())
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::KeyNotFound), "{again:?}");

    let credential = store
        .find_credential(&drop.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!credential.is_usable_at(chrono::Utc::now().naive_utc()));
    let audit = store.recent_audit_events(&acme, 1).await.unwrap();
    assert_eq!(audit[0].action, "key.revoked");
}

async fn revoke_is_scoped_to_the_account(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let globex = enabled_account(&store, "globex").await;
    let (key, _) = new_key(&acme, "ops@acme.com");
    store.create_key(&key, 10).await.unwrap();
    let error = store
        .revoke_key(&globex, &key.client_id, &actor())
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::KeyNotFound), "{error:?}");
    let still = store
        .find_credential(&key.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.key.revoked_at, None);
}

async fn quota_holds_under_concurrent_creates(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let attempts = (0..12).map(|i| {
        let store = store.store.clone();
        let (key, _) = new_key(&acme, &format!("user{i}@acme.com"));
        tokio::spawn(async move { store.create_key(&key, 5).await })
    });
    let mut created = 0;
    let mut limited = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::KeyLimitReached { limit: 5, .. }) => limited += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((created, limited), (5, 7));
    let page = store
        .list_active_keys(&acme, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(page.keys.len(), 5);
}

/// The quota reads a count kept beside the account: every path that changes the number of
/// active keys must move it, and a refused create must leave it as it was.
async fn quota_follows_creates_refusals_and_revocations(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let other = enabled_account(&store, "other").await;
    let create = |account: &apikeys_store::AccountId| {
        let (key, _) = new_key(account, "ops@acme.com");
        let store = store.store.clone();
        async move { store.create_key(&key, 2).await }
    };
    let (first, _) = new_key(&acme, "first@acme.com");
    store.create_key(&first, 2).await.unwrap();
    create(&acme).await.unwrap();
    // Another account's keys count against its own quota only.
    create(&other).await.unwrap();
    create(&other).await.unwrap();
    for _ in 0..3 {
        let refused = create(&acme).await.unwrap_err();
        assert!(
            matches!(refused, StoreError::KeyLimitReached { limit: 2, .. }),
            "{refused:?}"
        );
    }
    // Refused while access is off: nothing counted, nothing freed.
    store.set_api_access(&acme, false, &actor()).await.unwrap();
    let refused = create(&acme).await.unwrap_err();
    assert!(matches!(refused, StoreError::ApiAccessDisabled { .. }));
    store.set_api_access(&acme, true, &actor()).await.unwrap();
    let refused = create(&acme).await.unwrap_err();
    assert!(matches!(refused, StoreError::KeyLimitReached { .. }));

    store
        .revoke_key(&acme, &first.client_id, &actor())
        .await
        .unwrap();
    // Revoking a key again, or through another account, frees nothing more.
    store
        .revoke_key(&acme, &first.client_id, &actor())
        .await
        .unwrap_err();
    store
        .revoke_key(&other, &first.client_id, &actor())
        .await
        .unwrap_err();
    let refused = create(&other).await.unwrap_err();
    assert!(matches!(refused, StoreError::KeyLimitReached { .. }));
    create(&acme).await.unwrap();
    let refused = create(&acme).await.unwrap_err();
    assert!(matches!(refused, StoreError::KeyLimitReached { .. }));
    let page = store
        .list_active_keys(&acme, &PageRequest::first(50))
        .await
        .unwrap();
    assert_eq!(page.keys.len(), 2);
}

async fn disabling_access_makes_credentials_unusable(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let (key, _) = new_key(&acme, "ops@acme.com");
    store.create_key(&key, 10).await.unwrap();
    let now = || chrono::Utc::now().naive_utc();

    store.set_api_access(&acme, false, &actor()).await.unwrap();
    let disabled = store
        .find_credential(&key.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!disabled.is_usable_at(now()));

    store.set_api_access(&acme, true, &actor()).await.unwrap();
    let restored = store
        .find_credential(&key.client_id)
        .await
        .unwrap()
        .unwrap();
    assert!(restored.is_usable_at(now()));
}

async fn last_used_only_moves_forward(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let (key, _) = new_key(&acme, "ops@acme.com");
    store.create_key(&key, 10).await.unwrap();
    let later = chrono::DateTime::from_timestamp_micros(1_900_000_000_000_000)
        .unwrap()
        .naive_utc();
    let earlier = later - chrono::Duration::hours(1);

    store
        .record_last_used(&[(key.client_id.clone(), later)])
        .await
        .unwrap();
    store
        .record_last_used(&[(key.client_id.clone(), earlier)])
        .await
        .unwrap();
    let stored = store
        .find_credential(&key.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.key.last_used_at, Some(later));
}
