//! What the server does with the hashes already in its database: a hostile or garbage hash is
//! refused before argon2 sees it (the key answers inactive, an alert is logged), and a hash
//! made with older parameters is replaced by one with the current parameters once it verifies.

use std::time::{Duration, Instant};

use apikeys_test_support::Backend;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tonic::Code;

use crate::ext_authz::envoy::{assert_unauthorized, basic, http_request};
use crate::harness::{Fixture, TestServer, assert_code, assert_inactive, bearer};

backend_suite!(
    hostile_stored_hashes_answer_inactive_and_raise_an_alert,
    old_parameters_are_rehashed_on_the_next_verification,
);

/// Generous: only ends a failing test.
const DEADLINE: Duration = Duration::from_secs(30);
const CURRENT_PARAMS: &str = "$argon2id$v=19$m=19456,t=2,p=1$";
const CHEAP_PARAMS: &str = "$argon2id$v=19$m=8,t=1,p=1$";

#[derive(diesel::QueryableByName)]
struct StoredHash {
    #[diesel(sql_type = diesel::sql_types::Text)]
    secret_hash: String,
}

/// Runs one statement on the server's database, as an operator (or an attacker with write
/// access to it) could; client ids and hashes in these tests are plain ASCII without quotes.
async fn execute(database_url: &str, sql: &str) {
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        let mut conn = SyncConnectionWrapper::<diesel::SqliteConnection>::establish(path)
            .await
            .expect("open the SQLite file");
        diesel::sql_query(sql).execute(&mut conn).await.expect(sql);
    } else {
        let mut conn = AsyncPgConnection::establish(database_url)
            .await
            .expect("connect to PostgreSQL");
        diesel::sql_query(sql).execute(&mut conn).await.expect(sql);
    }
}

async fn stored_hash(database_url: &str, client_id: &str) -> String {
    let sql = format!("SELECT secret_hash FROM api_keys WHERE client_id = '{client_id}'");
    let row: StoredHash = if let Some(path) = database_url.strip_prefix("sqlite://") {
        let mut conn = SyncConnectionWrapper::<diesel::SqliteConnection>::establish(path)
            .await
            .expect("open the SQLite file");
        diesel::sql_query(&sql).get_result(&mut conn).await
    } else {
        let mut conn = AsyncPgConnection::establish(database_url)
            .await
            .expect("connect to PostgreSQL");
        diesel::sql_query(&sql).get_result(&mut conn).await
    }
    .expect("the key's row");
    row.secret_hash
}

async fn hostile_stored_hashes_answer_inactive_and_raise_an_alert(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let hostile = [
        "$argon2id$v=19$m=4194304,t=4294967295,p=255$c29tZXNhbHRzb21lc2FsdA$\
         AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
         AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "not a hash at all",
    ];
    let mut keys = Vec::new();
    for (i, hash) in hostile.iter().enumerate() {
        let created = fixture.create_key(&format!("victim{i}@acme.com")).await;
        let client_id = created.key.expect("key").client_id;
        execute(
            fixture.server.database_url(),
            &format!("UPDATE api_keys SET secret_hash = '{hash}' WHERE client_id = '{client_id}'"),
        )
        .await;
        keys.push((client_id, created.client_secret));
    }
    // A fresh process: nothing about these keys is cached from their creation.
    fixture.server.restart().await;
    let api = fixture.api().clone();
    for (client_id, secret) in &keys {
        let response = api
            .introspect(&fixture.gateway, client_id, secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect of a key with a hostile hash: {s:?}"));
        assert_inactive(&response, "a key whose stored hash is hostile");
        let check = api
            .check(
                Some(bearer(&fixture.gateway)),
                http_request(&[("authorization", &basic(client_id, secret))]),
            )
            .await
            .unwrap_or_else(|s| panic!("Check of a key with a hostile hash: {s:?}"));
        assert_unauthorized(&check, "a key whose stored hash is hostile");
    }
    let issue = api
        .issue_token(Some(&fixture.gateway), &keys[0].0, &keys[0].1)
        .await;
    assert_code(
        issue,
        Code::Unauthenticated,
        "IssueToken with a hostile hash",
    );

    // Each refusal is an alert naming the key, never quoting the hash.
    let started = Instant::now();
    loop {
        let stderr = fixture.server.stderr();
        let alerted = keys.iter().all(|(client_id, _)| {
            stderr
                .lines()
                .any(|line| line.contains("stored_hash_rejected") && line.contains(client_id))
        });
        if alerted {
            assert!(!stderr.contains("m=4194304"), "a hash reached the log");
            assert!(
                !stderr.contains("not a hash at all"),
                "a hash reached the log"
            );
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no stored_hash_rejected alert for every key:\n{stderr}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fixture.assert_intact().await;
}

async fn old_parameters_are_rehashed_on_the_next_verification(backend: Backend) {
    // The main server runs with the default (current) parameters; a replica with the cheapest
    // ones argon2 allows stands for the deployment before the cost was raised.
    let mut fixture = Fixture::with_server(TestServer::builder(backend).start().await).await;
    let old_deployment = fixture
        .server
        .replica(&["--argon2-memory-kib", "8", "--argon2-iterations", "1"])
        .await;
    let created = old_deployment
        .api()
        .create_key(&fixture.owner, &fixture.account, "legacy@acme.com")
        .await
        .unwrap_or_else(|s| panic!("CreateKey on the old deployment: {s:?}"));
    drop(old_deployment);
    let client_id = created.key.expect("key").client_id;
    let secret = created.client_secret;
    let url = fixture.server.database_url().to_owned();
    let old_hash = stored_hash(&url, &client_id).await;
    assert!(old_hash.starts_with(CHEAP_PARAMS), "{old_hash}");

    let response = fixture
        .api()
        .introspect(&fixture.gateway, &client_id, &secret)
        .await
        .unwrap_or_else(|s| panic!("Introspect: {s:?}"));
    assert!(response.active, "an old-parameter hash must still verify");

    // The rehash runs after the answer, on the hashing pool: poll for it.
    let started = Instant::now();
    let new_hash = loop {
        let hash = stored_hash(&url, &client_id).await;
        if hash != old_hash {
            break hash;
        }
        assert!(started.elapsed() < DEADLINE, "the key was never rehashed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(new_hash.starts_with(CURRENT_PARAMS), "{new_hash}");
    assert!(!new_hash.contains(&secret[4..]));

    // A new process, no cache: the new hash verifies the same secret, and only it.
    fixture.server.restart().await;
    let response = fixture
        .api()
        .introspect(&fixture.gateway, &client_id, &secret)
        .await
        .unwrap_or_else(|s| panic!("Introspect after restart: {s:?}"));
    assert!(
        response.active,
        "the rehashed key must verify after a restart"
    );
    let wrong = fixture
        .api()
        .introspect(&fixture.gateway, &client_id, &fixture.sentinel_secret)
        .await
        .unwrap_or_else(|s| panic!("Introspect with a wrong secret: {s:?}"));
    assert_inactive(&wrong, "another key's secret");
    assert_eq!(
        stored_hash(&url, &client_id).await,
        new_hash,
        "rehashed twice"
    );
    fixture.assert_intact().await;
}
