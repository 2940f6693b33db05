//! The verifier against a real SQLite store: what is answered from memory, what is not.

use std::sync::Arc;
use std::time::Duration;

use apikeys_store::{
    AccountId, Actor, ClientId, ClientSecret, Database, DatabaseUrl, DisplayName, Email,
    HashingParams, NewKey, PoolOptions, SecretHasher, Store,
};
use apikeys_test_support::{Backend, TestDatabase};

use super::*;

struct Setup {
    verifier: CredentialVerifier,
    store: Store,
    client_id: ClientId,
    secret: ClientSecret,
    _database: TestDatabase,
}

async fn setup(throttle_after: u32) -> Setup {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let db = Database::connect(
        &DatabaseUrl::parse(database.url()).unwrap(),
        &PoolOptions::default(),
    )
    .unwrap();
    db.migrate().await.unwrap();
    let store = Store::new(db);
    let hasher = SecretHasher::new(HashingParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let account = AccountId::parse("account_id", "acme").unwrap();
    store
        .set_api_access(&account, true, &Actor::new("staff"))
        .await
        .unwrap();
    let secret = ClientSecret::generate();
    let client_id = ClientId::generate();
    store
        .create_key(
            &NewKey {
                account_id: account,
                client_id: client_id.clone(),
                email: Email::parse("email", "ops@acme.com").unwrap(),
                display_name: DisplayName::default(),
                secret_hash: hasher.hash(&secret).unwrap(),
                created_by: Actor::new("owner"),
            },
            10,
        )
        .await
        .unwrap();
    let hashing_pool = Arc::new(HashingPool::new(hasher, 1, 8).unwrap());
    let verifier = CredentialVerifier::new(
        store.clone(),
        hashing_pool,
        Arc::new(UsageRecorder::default()),
        CacheSettings {
            max_entries: 1_000,
            ttl: Duration::from_secs(60),
        },
        ThrottleSettings {
            max_failures: throttle_after,
            window: Duration::from_secs(60),
        },
    );
    Setup {
        verifier,
        store,
        client_id,
        secret,
        _database: database,
    }
}

fn is_active(verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Active(_))
}

/// Revokes behind the verifier's back (as another replica would), without evicting.
async fn revoke_elsewhere(setup: &Setup) {
    setup
        .store
        .revoke_key(
            &AccountId::parse("account_id", "acme").unwrap(),
            &setup.client_id,
            &Actor::new("elsewhere"),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_secret_is_answered_from_memory_until_evicted() {
    let setup = setup(10).await;
    let (id, secret) = (setup.client_id.as_str(), setup.secret.expose());
    assert!(is_active(
        &setup.verifier.verify_secret(id, secret).await.unwrap()
    ));

    revoke_elsewhere(&setup).await;
    // Still cached: the database was not asked (this is what the change feed is for).
    assert!(is_active(
        &setup.verifier.verify_secret(id, secret).await.unwrap()
    ));

    setup.verifier.evict_key(id);
    let verdict = setup.verifier.verify_secret(id, secret).await.unwrap();
    assert!(
        matches!(verdict, Verdict::Inactive(InactiveReason::Unusable)),
        "{verdict:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicting_the_account_forgets_its_keys() {
    let setup = setup(10).await;
    let (id, secret) = (setup.client_id.as_str(), setup.secret.expose());
    assert!(is_active(
        &setup.verifier.verify_secret(id, secret).await.unwrap()
    ));
    revoke_elsewhere(&setup).await;
    setup.verifier.evict_account("acme");
    assert!(!is_active(
        &setup.verifier.verify_secret(id, secret).await.unwrap()
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_never_matches_a_cached_key() {
    let setup = setup(10).await;
    let (id, secret) = (setup.client_id.as_str(), setup.secret.expose());
    assert!(is_active(
        &setup.verifier.verify_secret(id, secret).await.unwrap()
    ));
    let wrong = ClientSecret::generate();
    let verdict = setup
        .verifier
        .verify_secret(id, wrong.expose())
        .await
        .unwrap();
    assert!(
        matches!(verdict, Verdict::Inactive(InactiveReason::WrongSecret)),
        "{verdict:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_but_a_cached_right_secret_still_works() {
    let setup = setup(3).await;
    let (id, secret) = (setup.client_id.as_str(), setup.secret.expose());
    for _ in 0..3 {
        let wrong = ClientSecret::generate();
        let verdict = setup
            .verifier
            .verify_secret(id, wrong.expose())
            .await
            .unwrap();
        assert!(matches!(
            verdict,
            Verdict::Inactive(InactiveReason::WrongSecret)
        ));
    }
    let verdict = setup.verifier.verify_secret(id, secret).await.unwrap();
    assert!(
        matches!(verdict, Verdict::Inactive(InactiveReason::Throttled)),
        "an uncached right secret waits out the window: {verdict:?}"
    );

    let fresh = setup_with_cached_then_attacked().await;
    assert!(fresh);
}

/// A partner whose key is cached keeps working while someone hammers its client id.
async fn setup_with_cached_then_attacked() -> bool {
    let setup = setup(3).await;
    let (id, secret) = (setup.client_id.as_str(), setup.secret.expose());
    assert!(is_active(
        &setup.verifier.verify_secret(id, secret).await.unwrap()
    ));
    for _ in 0..10 {
        let wrong = ClientSecret::generate();
        setup
            .verifier
            .verify_secret(id, wrong.expose())
            .await
            .unwrap();
    }
    is_active(&setup.verifier.verify_secret(id, secret).await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_inactive() {
    let setup = setup(10).await;
    for (id, secret) in [
        ("", ""),
        (setup.client_id.as_str(), "garbage"),
        ("akc_nope", setup.secret.expose()),
    ] {
        let verdict = setup.verifier.verify_secret(id, secret).await.unwrap();
        assert!(matches!(
            verdict,
            Verdict::Inactive(InactiveReason::Malformed)
        ));
    }
}

/// The cached path's futures stay small: the store and hashing path is boxed, so its state (a
/// few KB) is not part of every call's future, copied at each await.
#[tokio::test]
async fn the_cached_path_does_not_carry_the_slow_paths_state() {
    let s = setup(5).await;
    let slow_path = std::mem::size_of_val(&s.store.find_credential(&s.client_id));
    let verify = std::mem::size_of_val(&s.verifier.verify_secret("akc_x", "aks_y"));
    let active = std::mem::size_of_val(&s.verifier.active_key(&s.client_id, &Now::read()));
    assert!(
        verify < slow_path && active < slow_path,
        "verify_secret {verify} B, active_key {active} B, store lookup alone {slow_path} B"
    );
}
