use apikeys_store::StoreError;

use crate::support::*;

crate::store_test_suite!(
    unknown_account_reads_as_none,
    access_toggles_and_is_audited,
    migrations_are_idempotent,
    replicas_migrating_at_once_apply_each_migration_once,
);

async fn unknown_account_reads_as_none(backend: Backend) {
    let store = migrated_store(backend).await;
    assert_eq!(store.get_account(&account("nobody")).await.unwrap(), None);
}

async fn access_toggles_and_is_audited(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = account("acme");
    let enabled = store.set_api_access(&acme, true, &actor()).await.unwrap();
    assert!(enabled.api_access_enabled);
    let disabled = store.set_api_access(&acme, false, &actor()).await.unwrap();
    assert!(!disabled.api_access_enabled);
    assert_eq!(disabled.created_at, enabled.created_at);
    assert!(disabled.updated_at >= enabled.updated_at);
    assert_eq!(store.get_account(&acme).await.unwrap(), Some(disabled));

    let events = store.recent_audit_events(&acme, 10).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["account.api_access_disabled", "account.api_access_enabled"]
    );
    assert!(
        events
            .iter()
            .all(|e| e.actor == "user-1" && e.account_id == "acme")
    );
}

async fn migrations_are_idempotent(backend: Backend) {
    let store = migrated_store(backend).await;
    let again = store.database().migrate().await.unwrap();
    assert_eq!(again, 0);
    // The store still works after a second run.
    let acme = enabled_account(&store, "acme").await;
    let (key, _) = new_key(&acme, "ops@acme.com");
    store.create_key(&key, 10).await.unwrap();
    let error = store.create_key(&key, 10).await.unwrap_err();
    assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
}

/// Two replicas starting on a fresh database at the same moment: both succeed, and every
/// migration is applied exactly once between them.
async fn replicas_migrating_at_once_apply_each_migration_once(backend: Backend) {
    let database = apikeys_test_support::TestDatabase::new(backend).await;
    let url = apikeys_store::DatabaseUrl::parse(database.url()).unwrap();
    let options = apikeys_store::PoolOptions::default();
    let first = apikeys_store::Database::connect(&url, &options).unwrap();
    let second = apikeys_store::Database::connect(&url, &options).unwrap();
    let (a, b) = tokio::join!(first.migrate(), second.migrate());
    let (a, b) = (a.unwrap(), b.unwrap());
    let status = first.migration_status().await.unwrap();
    assert_eq!(status.pending, 0);
    assert!(status.unknown.is_empty());
    assert!(
        a + b > 0 && a.min(b) == 0,
        "applied {a} and {b}: each migration once"
    );
}
