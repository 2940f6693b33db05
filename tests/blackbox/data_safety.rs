//! No client secret in plaintext at rest or in answers: after keys are created, verified,
//! exchanged for tokens, and one revoked, neither the secrets nor their random part appear in
//! the SQLite files (database, WAL) or in any row of any table on PostgreSQL, nor in the status
//! messages of failed calls that carried them. (Logs at trace level and exported telemetry are
//! searched by `telemetry.rs`.)

use apikeys_test_support::Backend;
use diesel::QueryableByName;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::harness::{Fixture, forge_secret};

backend_suite!(secrets_are_not_at_rest_or_in_answers);

/// Every table of the schema, as JSON text per row.
const TABLES: &[&str] = &["accounts", "api_keys", "audit_events", "signing_keys"];

#[derive(QueryableByName)]
struct RowText {
    #[diesel(sql_type = Text)]
    row: String,
}

/// The secret and its random body (without the `aks_` prefix and the checksum): neither may
/// appear anywhere.
fn needles(secret: &str) -> [String; 2] {
    [secret.to_owned(), secret[4..47].to_owned()]
}

async fn secrets_are_not_at_rest_or_in_answers(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let mut secrets = vec![fixture.sentinel_secret.clone()];
    let mut ids = vec![fixture.sentinel_id.clone()];
    for n in 0..3 {
        let created = fixture.create_key(&format!("safety{n}@acme.test")).await;
        ids.push(created.key.expect("key").client_id);
        secrets.push(created.client_secret);
    }
    let api = fixture.api().clone();
    for (id, secret) in ids.iter().zip(&secrets) {
        assert!(
            api.introspect(&fixture.gateway, id, secret)
                .await
                .expect("introspect")
                .active
        );
        api.issue_token(Some(&fixture.gateway), id, secret)
            .await
            .expect("IssueToken");
    }
    api.revoke_key(&fixture.owner, &fixture.account, &ids[1])
        .await
        .expect("revoke");

    // Failed calls carrying secrets: the answers must not echo them.
    let wrong = forge_secret(&secrets[2], 0);
    let mut messages = Vec::new();
    for (id, secret) in [
        (&ids[2], &secrets[3]),
        (&ids[2], &wrong),
        (&ids[1], &secrets[1]),
    ] {
        if let Err(status) = api.issue_token(Some(&fixture.gateway), id, secret).await {
            messages.push(status.message().to_owned());
        }
        if let Err(status) = api.issue_token(None, id, secret).await {
            messages.push(status.message().to_owned());
        }
    }
    assert!(
        !messages.is_empty(),
        "the wrong secrets must have been refused"
    );

    // A graceful restart flushes last_used and lets SQLite checkpoint: what is at rest is all there.
    fixture.server.restart_gracefully().await;

    let at_rest = match backend {
        Backend::Sqlite => sqlite_bytes(fixture.server.database_url()),
        Backend::Postgres => postgres_rows(fixture.server.database_url()).await,
    };
    assert!(at_rest.len() > 1000, "nothing read from the database");
    for secret in &secrets {
        for needle in needles(secret) {
            assert!(
                !at_rest.contains(&needle),
                "a client secret is stored in plaintext ({backend:?})"
            );
            for message in &messages {
                assert!(
                    !message.contains(&needle),
                    "an answer echoes a secret: {message}"
                );
            }
        }
    }
    // The rows are really there: every client id is found, hashed secrets beside them.
    for id in &ids {
        assert!(at_rest.contains(id.as_str()), "{id} not found at rest");
    }
    assert!(
        at_rest.contains("$argon2id$"),
        "no argon2id hash found at rest"
    );
}

/// The database file and its WAL, as lossy text.
fn sqlite_bytes(url: &str) -> String {
    let path = url.trim_start_matches("sqlite://");
    let mut text = String::new();
    for suffix in ["", "-wal", "-journal"] {
        if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

/// Every row of every table, as JSON.
async fn postgres_rows(url: &str) -> String {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .expect("connect to the test database");
    let mut text = String::new();
    for table in TABLES {
        let rows: Vec<RowText> =
            diesel::sql_query(format!("SELECT row_to_json(t)::text AS row FROM {table} t"))
                .load(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("read {table}: {e}"));
        for row in rows {
            text.push_str(&row.row);
            text.push('\n');
        }
    }
    text
}
