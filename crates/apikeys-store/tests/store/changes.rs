use apikeys_store::{Change, Store};

use crate::support::*;

crate::store_test_suite!(
    the_feed_holds_revocations_and_suspensions_only_in_id_order,
    pages_of_the_feed_follow_each_other,
);

/// Every kind of audit event, with two changes among them; returns the changes' client id and
/// account as the feed should report them.
async fn mixed_trail(store: &Store) -> Vec<Change> {
    let acme = account("acme");
    let globex = account("globex");
    store.set_api_access(&acme, true, &actor()).await.unwrap();
    store.set_api_access(&globex, true, &actor()).await.unwrap();
    let mut created = Vec::new();
    for n in 0..3 {
        let (new, _) = new_key(&acme, &format!("k{n}@acme.com"));
        created.push(store.create_key(&new, 10).await.unwrap());
    }
    store
        .revoke_key(&acme, &created[1].client_id(), &actor())
        .await
        .unwrap();
    let (new, _) = new_key(&globex, "ops@globex.com");
    store.create_key(&new, 10).await.unwrap();
    store
        .set_api_access(&globex, false, &actor())
        .await
        .unwrap();
    // Enabling again is not a change the caches act on.
    store.set_api_access(&globex, true, &actor()).await.unwrap();
    vec![
        Change::KeyRevoked {
            client_id: created[1].client_id.clone(),
        },
        Change::ApiAccessDisabled {
            account_id: "globex".to_owned(),
        },
    ]
}

async fn the_feed_holds_revocations_and_suspensions_only_in_id_order(backend: Backend) {
    let store = migrated_store(backend).await;
    assert_eq!(store.latest_change_id().await.unwrap(), 0);
    let expected = mixed_trail(&store).await;

    let feed = store.changes_since(0, 100).await.unwrap();
    let changes: Vec<_> = feed.iter().map(|c| c.change.clone()).collect();
    assert_eq!(changes, expected);
    assert!(feed[0].id < feed[1].id, "{feed:?}");
    // The latest id is the trail's, past the last change (the re-enabling).
    let latest = store.latest_change_id().await.unwrap();
    assert!(latest > feed[1].id, "latest {latest}, feed {feed:?}");
    assert!(store.changes_since(latest, 100).await.unwrap().is_empty());
    // Strictly after: the first change is not read again from its own id.
    let after_first = store.changes_since(feed[0].id, 100).await.unwrap();
    assert_eq!(after_first, feed[1..]);
}

async fn pages_of_the_feed_follow_each_other(backend: Backend) {
    let store = migrated_store(backend).await;
    let expected = mixed_trail(&store).await;

    let first = store.changes_since(0, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let second = store.changes_since(first[0].id, 1).await.unwrap();
    assert_eq!(second.len(), 1);
    let third = store.changes_since(second[0].id, 1).await.unwrap();
    assert!(third.is_empty(), "{third:?}");
    assert_eq!(
        [first[0].change.clone(), second[0].change.clone()],
        expected[..]
    );
}
