//! Rehash-on-verify: the stored hash is swapped only while it is still the one that was verified.

use apikeys_store::{HashingParams, SecretHasher};

use crate::support::*;

crate::store_test_suite!(
    replacing_a_hash_is_a_compare_and_swap,
    revoked_keys_are_not_rehashed,
);

fn current_hasher() -> SecretHasher {
    SecretHasher::new(HashingParams {
        memory_kib: 128,
        iterations: 2,
        parallelism: 1,
    })
    .unwrap()
}

async fn replacing_a_hash_is_a_compare_and_swap(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let (new, secret) = new_key(&acme, "ops@acme.com");
    store.create_key(&new, 10).await.unwrap();
    let old = new.secret_hash.clone();
    let current = current_hasher();
    assert!(current.needs_rehash(&old));

    let fresh = current.hash(&secret).unwrap();
    assert!(
        store
            .replace_secret_hash(&new.client_id, &old, &fresh)
            .await
            .unwrap()
    );
    let stored = store
        .find_credential(&new.client_id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash;
    assert_eq!(stored, fresh);
    assert!(stored.as_str().starts_with("$argon2id$v=19$m=128,t=2,p=1$"));
    assert!(current.verify(&secret, &stored));
    assert!(!current.needs_rehash(&stored));

    // A second swap from the stale hash (another replica that verified the old one) is a no-op.
    let other = current.hash(&secret).unwrap();
    assert!(
        !store
            .replace_secret_hash(&new.client_id, &old, &other)
            .await
            .unwrap()
    );
    let still = store
        .find_credential(&new.client_id)
        .await
        .unwrap()
        .unwrap()
        .secret_hash;
    assert_eq!(still, fresh);
}

async fn revoked_keys_are_not_rehashed(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let (new, secret) = new_key(&acme, "ops@acme.com");
    store.create_key(&new, 10).await.unwrap();
    store
        .revoke_key(&acme, &new.client_id, &actor())
        .await
        .unwrap();
    let fresh = current_hasher().hash(&secret).unwrap();
    assert!(
        !store
            .replace_secret_hash(&new.client_id, &new.secret_hash, &fresh)
            .await
            .unwrap()
    );
}
