use std::collections::HashSet;

use apikeys_store::{Actor, AuditAction, AuditPageRequest, PageRequest};

use crate::support::*;

crate::store_test_suite!(
    every_change_is_listed_newest_first_with_actor_and_key,
    pages_walk_the_whole_trail_once,
    tokens_are_bound_to_account_and_listing,
    accounts_without_events_have_an_empty_trail,
);

async fn every_change_is_listed_newest_first_with_actor_and_key(backend: Backend) {
    let store = migrated_store(backend).await;
    let staff = Actor::new("staff-1");
    let acme = account("acme");
    store.set_api_access(&acme, true, &staff).await.unwrap();
    let (new, _) = new_key(&acme, "ops@acme.com");
    let created = store.create_key(&new, 10).await.unwrap();
    let owner = Actor::new("owner-2");
    store
        .revoke_key(&acme, &created.client_id(), &owner)
        .await
        .unwrap();
    store.set_api_access(&acme, false, &staff).await.unwrap();
    // Another account's events stay out of acme's trail.
    enabled_account(&store, "globex").await;

    let first = AuditPageRequest::parse(&acme, 0, "").unwrap();
    let page = store.list_audit_events(&acme, &first).await.unwrap();
    assert_eq!(page.next_page_token, None);
    let seen: Vec<_> = page
        .events
        .iter()
        .map(|e| {
            (
                e.recorded_action(),
                e.actor.as_str(),
                e.account_id.as_str(),
                e.client_id.as_deref(),
            )
        })
        .collect();
    let key = Some(created.client_id.as_str());
    assert_eq!(
        seen,
        [
            (
                Some(AuditAction::ApiAccessDisabled),
                "staff-1",
                "acme",
                None
            ),
            (Some(AuditAction::KeyRevoked), "owner-2", "acme", key),
            (Some(AuditAction::KeyCreated), "user-1", "acme", key),
            (Some(AuditAction::ApiAccessEnabled), "staff-1", "acme", None),
        ]
    );
    assert!(page.events.windows(2).all(|pair| pair[0].at >= pair[1].at));
    assert_eq!(page.events[2].at, created.created_at);
}

async fn pages_walk_the_whole_trail_once(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    for i in 0..11 {
        let (new, _) = new_key(&acme, &format!("user{i}@acme.com"));
        store.create_key(&new, 100).await.unwrap();
    }
    let all = store.recent_audit_events(&acme, 100).await.unwrap();
    assert_eq!(all.len(), 12, "one enable and eleven creations");

    let mut walked = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let request = AuditPageRequest::parse(&acme, 5, &token).unwrap();
        let page = store.list_audit_events(&acme, &request).await.unwrap();
        assert!(page.events.len() <= 5);
        pages += 1;
        walked.extend(page.events);
        match page.next_page_token {
            Some(next) => token = next,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(walked, all, "the walk is the whole trail, newest first");
    let unique: HashSet<i64> = walked.iter().map(|e| e.id).collect();
    assert_eq!(unique.len(), walked.len());

    // A page that ends exactly at the last event has no next page.
    let exact = AuditPageRequest::parse(&acme, 12, "").unwrap();
    let page = store.list_audit_events(&acme, &exact).await.unwrap();
    assert_eq!((page.events.len(), page.next_page_token), (12, None));
}

async fn tokens_are_bound_to_account_and_listing(backend: Backend) {
    let store = migrated_store(backend).await;
    let acme = enabled_account(&store, "acme").await;
    let globex = enabled_account(&store, "globex").await;
    for i in 0..3 {
        let (new, _) = new_key(&acme, &format!("user{i}@acme.com"));
        store.create_key(&new, 10).await.unwrap();
    }
    let first = AuditPageRequest::parse(&acme, 1, "").unwrap();
    let audit_token = store
        .list_audit_events(&acme, &first)
        .await
        .unwrap()
        .next_page_token
        .unwrap();
    let key_request = PageRequest::parse(&acme, 1, "").unwrap();
    let key_token = store
        .list_active_keys(&acme, &key_request)
        .await
        .unwrap()
        .next_page_token
        .unwrap();

    let other_account = AuditPageRequest::parse(&globex, 1, &audit_token).unwrap_err();
    assert_eq!(other_account.field, "page_token");
    let key_token_for_audit = AuditPageRequest::parse(&acme, 1, &key_token).unwrap_err();
    assert_eq!(key_token_for_audit.field, "page_token");
    let audit_token_for_keys = PageRequest::parse(&acme, 1, &audit_token).unwrap_err();
    assert_eq!(audit_token_for_keys.field, "page_token");
}

async fn accounts_without_events_have_an_empty_trail(backend: Backend) {
    let store = migrated_store(backend).await;
    enabled_account(&store, "acme").await;
    let nobody = account("nobody");
    let request = AuditPageRequest::parse(&nobody, 0, "").unwrap();
    let page = store.list_audit_events(&nobody, &request).await.unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.next_page_token, None);
}
