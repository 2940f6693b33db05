use std::collections::HashSet;

use apikeys_store::PageRequest;

use crate::support::*;

crate::store_test_suite!(pages_walk_every_active_key_newest_first);

async fn pages_walk_every_active_key_newest_first(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let mut created = Vec::new();
    for i in 0..23 {
        let (key, _) = new_key(&acme, &format!("user{i}@acme.com"));
        created.push(store.create_key(&key, 100).await.unwrap());
    }
    let revoked = created.remove(4);
    store
        .revoke_key(&acme, &revoked.client_id(), &actor())
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let request = PageRequest::parse(&acme, 5, &token).unwrap();
        let page = store.list_active_keys(&acme, &request).await.unwrap();
        assert!(page.keys.len() <= 5);
        seen.extend(page.keys);
        match page.next_page_token {
            Some(next) => token = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 22);
    let unique: HashSet<&str> = seen.iter().map(|k| k.client_id.as_str()).collect();
    assert_eq!(unique.len(), 22);
    assert!(!unique.contains(revoked.client_id.as_str()));
    assert!(seen.windows(2).all(|pair| {
        (pair[0].created_at, &pair[0].client_id) > (pair[1].created_at, &pair[1].client_id)
    }));
}
