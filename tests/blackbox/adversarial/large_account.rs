//! One account with 10 000 keys walked to the end, also while keys are being created; and page
//! tokens that are tampered with, replayed or carried over from another query.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use apikeys_proto::pb::ApiKey;
use apikeys_test_support::Backend;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tonic::Code;

use crate::harness::{Api, Fixture, TestServer, assert_invalid_argument};

backend_suite!(
    tampered_page_tokens_never_leave_the_account,
    replayed_page_tokens_continue_where_they_left_off,
    tokens_of_another_query_are_refused,
);

/// 10 000 keys are created through the RPC, 8 at a time: about a minute on SQLite on two
/// shared cores. PostgreSQL is left out: it would double the time and adds no paging logic
/// (the query is written once for both, and `pagination` runs it on both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_keys_page_without_duplicates_or_gaps_sqlite() {
    const KEYS: usize = 10_000;
    const WRITERS: usize = 8;
    let server = TestServer::builder(Backend::Sqlite)
        .args(&[
            "--max-active-keys",
            "100000",
            "--argon2-memory-kib",
            "8",
            "--argon2-iterations",
            "1",
        ])
        .start()
        .await;
    let fixture = Arc::new(Fixture::with_server(server).await);
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let fixture = Arc::clone(&fixture);
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in (writer..KEYS).step_by(WRITERS) {
                    let key = fixture.create_key(&format!("k{i}@acme.com")).await;
                    ids.push(key.key.expect("key").client_id);
                }
                ids
            })
        })
        .collect();
    let mut existing: HashSet<String> = HashSet::from([fixture.sentinel_id.clone()]);
    for writer in writers {
        existing.extend(writer.await.expect("writer task"));
    }
    assert_eq!(existing.len(), KEYS + 1);

    for page_size in [1000, 997] {
        let walked = walk(fixture.api(), &fixture.owner, &fixture.account, page_size).await;
        let ids = unique_ids(&walked, page_size);
        assert_eq!(
            ids, existing,
            "page size {page_size}: keys missing or extra"
        );
        assert_newest_first(&walked);
    }

    // Walk again while 300 more keys are being created: every key that existed before the
    // walk appears exactly once; the new ones may or may not.
    let creator = {
        let fixture = Arc::clone(&fixture);
        tokio::spawn(async move {
            for i in 0..300 {
                fixture.create_key(&format!("new{i}@acme.com")).await;
            }
        })
    };
    let walked = walk(fixture.api(), &fixture.owner, &fixture.account, 250).await;
    let ids = unique_ids(&walked, 250);
    let missing: Vec<_> = existing.difference(&ids).collect();
    assert!(
        missing.is_empty(),
        "{} keys missing: {missing:?}",
        missing.len()
    );
    assert_newest_first(&walked);
    creator.await.expect("creator task");
}

/// Every page of `account`, first to last.
async fn walk(api: &Api, owner: &str, account: &str, page_size: i32) -> Vec<ApiKey> {
    let mut keys = Vec::new();
    let mut token = String::new();
    loop {
        let page = api
            .list_keys(owner, account, page_size, &token)
            .await
            .unwrap_or_else(|s| panic!("ListKeys page after {} keys: {s:?}", keys.len()));
        assert!(page.keys.len() <= page_size as usize);
        keys.extend(page.keys);
        if page.next_page_token.is_empty() {
            return keys;
        }
        token = page.next_page_token;
    }
}

/// The ids of `keys`, asserting none appears twice.
fn unique_ids(keys: &[ApiKey], page_size: i32) -> HashSet<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for key in keys {
        *seen.entry(&key.client_id).or_default() += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        repeated.is_empty(),
        "page size {page_size}: duplicates {repeated:?}"
    );
    seen.into_keys().map(str::to_owned).collect()
}

fn assert_newest_first(keys: &[ApiKey]) {
    let times: Vec<_> = keys
        .iter()
        .map(|k| {
            let t = k.create_time.expect("create_time");
            (t.seconds, t.nanos)
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "not newest first");
}

/// `acme` with `n` keys besides the sentinel (limit raised to allow them).
async fn fixture_with_keys(backend: Backend, n: usize) -> (Fixture, Vec<String>) {
    let server = TestServer::builder(backend)
        .args(&["--max-active-keys", "50"])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let mut ids = vec![fixture.sentinel_id.clone()];
    for i in 0..n {
        ids.push(
            fixture
                .create_key(&format!("k{i}@acme.com"))
                .await
                .key
                .expect("key")
                .client_id,
        );
    }
    (fixture, ids)
}

async fn tampered_page_tokens_never_leave_the_account(backend: Backend) {
    let (mut fixture, acme_ids) = fixture_with_keys(backend, 4).await;
    // Another account whose keys a forged token must never reach.
    let globex = "globex";
    let globex_owner = fixture.enabled_account(globex).await;
    fixture
        .api()
        .create_key(&globex_owner, globex, "ops@globex.com")
        .await
        .unwrap_or_else(|s| panic!("CreateKey globex: {s:?}"));
    let first = fixture
        .api()
        .list_keys(&fixture.owner, &fixture.account, 2, "")
        .await
        .unwrap_or_else(|s| panic!("ListKeys: {s:?}"));
    let token = first.next_page_token;
    let plain = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).expect("base64")).expect("text");
    let mut forged: Vec<String> = (0..token.len())
        .map(|i| {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).expect("ascii")
        })
        .collect();
    // Hand-made positions: the account swapped, the time moved, the id of another account.
    forged.push(URL_SAFE_NO_PAD.encode(plain.replace(&fixture.account, globex)));
    forged.push(URL_SAFE_NO_PAD.encode(plain.replacen('|', "|9", 2)));
    forged.push(URL_SAFE_NO_PAD.encode(format!("{plain}|extra")));
    forged.push(format!("{token}="));
    for forged in forged {
        match fixture
            .api()
            .list_keys(&fixture.owner, &fixture.account, 10, &forged)
            .await
        {
            Ok(page) => {
                for key in page.keys {
                    assert!(
                        acme_ids.contains(&key.client_id),
                        "a forged token {forged:?} reached {key:?}"
                    );
                }
            }
            Err(status) => {
                assert_eq!(
                    status.code(),
                    Code::InvalidArgument,
                    "{forged:?}: {status:?}"
                );
                assert!(status.message().starts_with("page_token"), "{status:?}");
            }
        }
    }
    fixture.assert_intact().await;
}

async fn replayed_page_tokens_continue_where_they_left_off(backend: Backend) {
    let (mut fixture, ids) = fixture_with_keys(backend, 5).await;
    let api = fixture.api().clone();
    let (owner, account) = (fixture.owner.clone(), fixture.account.clone());
    let first = api
        .list_keys(&owner, &account, 2, "")
        .await
        .expect("page 1");
    let token = first.next_page_token.clone();
    let second = api
        .list_keys(&owner, &account, 2, &token)
        .await
        .expect("page 2");
    // Replayed: the same page again.
    let again = api
        .list_keys(&owner, &account, 2, &token)
        .await
        .expect("replay");
    assert_eq!(again.keys, second.keys);
    // Replayed after the key it points after was revoked: still the same page.
    let cursor_key = &first.keys.last().expect("a full first page").client_id;
    api.revoke_key(&owner, &account, cursor_key)
        .await
        .expect("revoke");
    let after_revoke = api
        .list_keys(&owner, &account, 2, &token)
        .await
        .expect("replay");
    assert_eq!(after_revoke.keys, second.keys);
    // Replayed with another page size: the rest, once each.
    let rest = api
        .list_keys(&owner, &account, 1000, &token)
        .await
        .expect("rest");
    assert!(rest.next_page_token.is_empty());
    let rest_ids: Vec<_> = rest.keys.iter().map(|k| k.client_id.clone()).collect();
    let first_ids: Vec<_> = first.keys.iter().map(|k| k.client_id.clone()).collect();
    assert_eq!(rest_ids.len() + first_ids.len(), ids.len());
    assert!(
        rest_ids
            .iter()
            .all(|id| !first_ids.contains(id) && ids.contains(id))
    );
    fixture.assert_intact().await;
}

async fn tokens_of_another_query_are_refused(backend: Backend) {
    let (mut fixture, _) = fixture_with_keys(backend, 3).await;
    let api = fixture.api().clone();
    let (owner, account) = (fixture.owner.clone(), fixture.account.clone());
    let keys_token = api
        .list_keys(&owner, &account, 1, "")
        .await
        .expect("ListKeys")
        .next_page_token;
    let audit_token = api
        .list_audit_events(&owner, &account, 1, "")
        .await
        .expect("ListAuditEvents")
        .next_page_token;
    assert!(!keys_token.is_empty() && !audit_token.is_empty());
    assert_invalid_argument(
        api.list_keys(&owner, &account, 1, &audit_token).await,
        "page_token",
        "a ListAuditEvents token in ListKeys",
    );
    assert_invalid_argument(
        api.list_audit_events(&owner, &account, 1, &keys_token)
            .await,
        "page_token",
        "a ListKeys token in ListAuditEvents",
    );
    fixture.assert_intact().await;
}
