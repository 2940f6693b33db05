//! ListKeys pages: newest first, no duplicates, none missing, `next_page_token` empty at the end.

use std::collections::HashSet;

use apikeys_proto::pb::ApiKey;
use apikeys_test_support::Backend;

use crate::harness::{Fixture, TestServer};

backend_suite!(
    walking_pages_of_7_yields_25_keys_newest_first,
    default_page_size_is_50,
    revoked_keys_are_skipped_across_pages,
    account_without_keys_lists_nothing,
);

/// Starts a server whose limit allows `keys` keys and creates them in `acme` (the sentinel
/// being the first); returns the fixture and the ids in creation order.
async fn fixture_with_keys(backend: Backend, keys: usize) -> (Fixture, Vec<String>) {
    let limit = (keys + 5).to_string();
    let server = TestServer::builder(backend)
        .args(&["--max-active-keys", &limit])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let mut ids = vec![fixture.sentinel_id.clone()];
    for i in 1..keys {
        let created = fixture.create_key(&format!("k{i}@acme.test")).await;
        ids.push(created.key.expect("key").client_id);
    }
    (fixture, ids)
}

/// Walks every page of `acme` with `page_size`; returns the pages.
async fn walk(fixture: &Fixture, page_size: i32) -> Vec<Vec<ApiKey>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = fixture
            .api()
            .list_keys(&fixture.owner, &fixture.account, page_size, &token)
            .await
            .unwrap_or_else(|s| panic!("ListKeys page {}: {s:?}", pages.len() + 1));
        pages.push(page.keys);
        if page.next_page_token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 100, "pagination does not end");
        token = page.next_page_token;
    }
}

/// Asserts the pages hold exactly `expected_newest_first`, in that order, once each, with
/// non-increasing create times.
#[track_caller]
fn assert_walk(pages: &[Vec<ApiKey>], expected_newest_first: &[String]) {
    let keys: Vec<&ApiKey> = pages.iter().flatten().collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.client_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate keys across pages");
    assert_eq!(
        ids, expected_newest_first,
        "pages do not hold every active key newest first"
    );
    for pair in keys.windows(2) {
        let (a, b) = (
            pair[0].create_time.expect("create_time"),
            pair[1].create_time.expect("create_time"),
        );
        assert!(
            (a.seconds, a.nanos) >= (b.seconds, b.nanos),
            "create_time increases: {a:?} then {b:?}"
        );
    }
    assert!(keys.iter().all(|k| k.revoke_time.is_none()));
}

async fn walking_pages_of_7_yields_25_keys_newest_first(backend: Backend) {
    let (fixture, ids) = fixture_with_keys(backend, 25).await;
    let pages = walk(&fixture, 7).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![7, 7, 7, 4]);
    let newest_first: Vec<String> = ids.into_iter().rev().collect();
    assert_walk(&pages, &newest_first);
}

async fn default_page_size_is_50(backend: Backend) {
    let (fixture, ids) = fixture_with_keys(backend, 53).await;
    let pages = walk(&fixture, 0).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![50, 3]);
    let newest_first: Vec<String> = ids.into_iter().rev().collect();
    assert_walk(&pages, &newest_first);
}

async fn revoked_keys_are_skipped_across_pages(backend: Backend) {
    let (fixture, ids) = fixture_with_keys(backend, 12).await;
    let revoked: HashSet<&String> = [&ids[1], &ids[4], &ids[5], &ids[11]].into();
    for id in &revoked {
        fixture
            .api()
            .revoke_key(&fixture.owner, &fixture.account, id)
            .await
            .expect("RevokeKey");
    }
    let pages = walk(&fixture, 3).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![3, 3, 2]);
    let expected: Vec<String> = ids
        .iter()
        .rev()
        .filter(|id| !revoked.contains(id))
        .cloned()
        .collect();
    assert_walk(&pages, &expected);
}

async fn account_without_keys_lists_nothing(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let owner = fixture.enabled_account("globex").await;
    let page = fixture
        .api()
        .list_keys(&owner, "globex", 0, "")
        .await
        .expect("ListKeys of an account without keys");
    assert!(page.keys.is_empty());
    assert!(page.next_page_token.is_empty());
}
