use apikeys_store::SigningKeyRecord;
use chrono::{Duration, Utc};

use crate::support::*;

crate::store_test_suite!(signing_keys_are_listed_newest_first_and_pruned);

fn record(kid: &str, age_hours: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: "EdDSA".to_owned(),
        sealed_private_key: format!("sealed-{kid}"),
        public_key: format!("public-{kid}"),
        created_at: apikeys_store::now() - Duration::hours(age_hours),
    }
}

async fn signing_keys_are_listed_newest_first_and_pruned(backend: Backend) {
    let store = migrated_store(backend).await;
    for (kid, age) in [("old", 50), ("middle", 10), ("new", 1)] {
        store.insert_signing_key(&record(kid, age)).await.unwrap();
    }
    let since = Utc::now().naive_utc() - Duration::hours(24);
    let kids: Vec<String> = store
        .signing_keys_since(since)
        .await
        .unwrap()
        .into_iter()
        .map(|key| key.kid)
        .collect();
    assert_eq!(kids, ["new", "middle"]);

    let deleted = store.delete_signing_keys_before(since).await.unwrap();
    assert_eq!(deleted, 1);
    let all = store
        .signing_keys_since(Utc::now().naive_utc() - Duration::days(365))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], record("new", 1).clone_with_time(all[0].created_at));
}

trait WithTime {
    fn clone_with_time(self, at: chrono::NaiveDateTime) -> Self;
}

impl WithTime for SigningKeyRecord {
    fn clone_with_time(mut self, at: chrono::NaiveDateTime) -> Self {
        self.created_at = at;
        self
    }
}
