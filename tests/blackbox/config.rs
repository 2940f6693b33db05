//! Configuration: a TOML file under flags and `APIKEYS_*` variables, `--print-config` with
//! secrets redacted, `--check-config` without serving, and a database migrated by a newer
//! release refused at startup.

use apikeys_test_support::{Backend, TestDatabase};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tonic::Code;

use crate::harness::{Fixture, TestServer, assert_code, run_apikeys};

backend_suite!(
    check_config_validates_without_serving,
    a_database_from_a_newer_release_is_refused,
);

/// Writes `text` as `apikeys.toml` in `dir`.
fn config_file(dir: &std::path::Path, text: &str) -> String {
    let path = dir.join("apikeys.toml");
    std::fs::write(&path, text).expect("write config file");
    path.display().to_string()
}

async fn check_config_validates_without_serving(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let kek = database.dir().join("token.kek").display().to_string();
    let config = config_file(
        database.dir(),
        &format!(
            "database-url = \"{}\"\nlisten = \"127.0.0.1:0\"\ntoken-kek-file = \"{kek}\"\n\
             jwt-hs256-secret = \"config-file-secret\"\njwt-issuer = \"https://idp.test\"\n\
             jwt-audience = \"apikeys\"\n",
            database.url()
        ),
    );
    let output = run_apikeys(&["serve", "--config", &config, "--check-config"]).await;
    let stdout = output.success();
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(
        !stdout.contains("listening"),
        "--check-config served:\n{stdout}"
    );
    assert!(
        !stdout.contains("config-file-secret") && !output.stderr.contains("config-file-secret")
    );
    assert!(
        !std::path::Path::new(&kek).exists(),
        "--check-config created the key-encryption key"
    );

    // A file the server cannot use is refused by name, before anything is served.
    for (text, named) in [
        ("lisen = \"127.0.0.1:0\"\n", "`lisen`"),
        ("listen = \n", "not valid TOML"),
        ("max-active-keys = \"ten\"\n", "max-active-keys"),
        ("jwt-hs256-secret = \"s\"\n", "--jwt-issuer"),
        (
            "tls-cert = \"/nonexistent/cert.pem\"\ntls-key = \"/nonexistent/key.pem\"\n",
            "--tls-cert",
        ),
    ] {
        let bad = config_file(
            database.dir(),
            &format!("database-url = \"{}\"\n{text}", database.url()),
        );
        let output = run_apikeys(&["serve", "--config", &bad, "--check-config"]).await;
        assert!(!output.status.success(), "{text:?} passed --check-config");
        assert!(
            output.stderr.contains(named),
            "{text:?}: stderr does not name {named}:\n{}",
            output.stderr
        );
    }

    let unreachable = run_apikeys(&[
        "serve",
        "--check-config",
        "--database-url",
        "postgres://apikeys:pw-not-shown@127.0.0.1:1/none",
    ])
    .await;
    assert!(
        !unreachable.status.success(),
        "an unreachable database passed"
    );
    assert!(
        unreachable.stderr.contains("cannot reach the database"),
        "{}",
        unreachable.stderr
    );
    assert!(
        !unreachable.stderr.contains("pw-not-shown"),
        "{}",
        unreachable.stderr
    );
}

/// Adds a migration version this release does not have, as a newer release would.
async fn record_future_migration(database_url: &str) {
    const SQL: &str = "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000000')";
    if let Some(path) = database_url.strip_prefix("sqlite://") {
        let mut conn = diesel_async::sync_connection_wrapper::SyncConnectionWrapper::<
            diesel::SqliteConnection,
        >::establish(path)
        .await
        .expect("open the SQLite file");
        diesel::sql_query(SQL)
            .execute(&mut conn)
            .await
            .expect("insert");
    } else {
        let mut conn = AsyncPgConnection::establish(database_url)
            .await
            .expect("connect to PostgreSQL");
        diesel::sql_query(SQL)
            .execute(&mut conn)
            .await
            .expect("insert");
    }
}

async fn a_database_from_a_newer_release_is_refused(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    run_apikeys(&["migrate", "--database-url", database.url()])
        .await
        .success();
    record_future_migration(database.url()).await;
    for args in [
        vec!["migrate", "--database-url", database.url()],
        vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            database.url(),
        ],
        vec!["serve", "--check-config", "--database-url", database.url()],
    ] {
        let output = run_apikeys(&args).await;
        assert!(!output.status.success(), "{args:?} accepted a newer schema");
        assert!(
            output.stderr.contains("29991231000000") && output.stderr.contains("newer apikeys"),
            "{args:?}: {}",
            output.stderr
        );
    }
}

#[tokio::test]
async fn config_file_sits_under_flags_and_environment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config_file(
        dir.path(),
        "max-active-keys = 1\nrequest-timeout-ms = 2500\n\
         database-url = \"postgres://app:hunter2@db.internal:5432/keys\"\n\
         jwt-hs256-secret = \"file-secret-value\"\njwt-issuer = \"https://idp.test\"\n\
         jwt-audience = \"apikeys\"\ntls-client-allowed-subject = [\"gw-a\", \"gw-b\"]\n",
    );
    let mut command = tokio::process::Command::new(crate::harness::apikeys_bin());
    crate::harness::clear_inherited_settings(&mut command)
        .args([
            "serve",
            "--config",
            &config,
            "--print-config",
            "--max-active-keys",
            "3",
        ])
        .env("APIKEYS_REQUEST_TIMEOUT_MS", "4000");
    let output = command.output().await.expect("run --print-config");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "max-active-keys = \"3\"  # flag",
        "request-timeout-ms = \"4000\"  # environment",
        "jwt-issuer = \"https://idp.test\"  # config file",
        "tls-client-allowed-subject = [\"gw-a\", \"gw-b\"]  # config file",
        "jwt-hs256-secret = \"<redacted>\"",
        "listen = \"127.0.0.1:50051\"  # default",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("hunter2") && !stdout.contains("file-secret-value"),
        "{stdout}"
    );
    let reparsed: toml::Table = stdout.parse().expect("--print-config output is TOML");
    assert!(reparsed.contains_key("database-url"));
}

#[tokio::test]
async fn server_runs_from_a_config_file() {
    let database = TestDatabase::new(Backend::Sqlite).await;
    let config = config_file(database.dir(), "max-active-keys = 1\n");
    let server = TestServer::builder(Backend::Sqlite)
        .args(&["--config", &config])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    assert_code(
        fixture
            .api()
            .create_key(&fixture.owner, &fixture.account, "second@acme.test")
            .await,
        Code::ResourceExhausted,
        "max-active-keys = 1 from the file: the sentinel key is the only one",
    );
}

#[tokio::test]
async fn calls_past_the_request_timeout_are_deadline_exceeded() {
    // argon2 with the default parameters takes tens of milliseconds: CreateKey cannot finish
    // within 1 ms, so the server must stop it and say why.
    let server = TestServer::builder(Backend::Sqlite)
        .args(&["--request-timeout-ms", "1"])
        .start()
        .await;
    let tokens = server.tokens();
    // Enabled straight on the database: the RPC itself might not fit in 1 ms.
    server.accounts(&["enable", "acme"]).await.success();
    assert_code(
        server
            .api()
            .create_key(&tokens.owner("acme"), "acme", "slow@acme.test")
            .await,
        Code::DeadlineExceeded,
        "CreateKey past a 1 ms request timeout",
    );
}

#[tokio::test]
async fn the_per_connection_call_limit_is_announced_to_clients() {
    let server = TestServer::builder(Backend::Sqlite)
        .args(&["--max-concurrent-calls-per-connection", "3"])
        .start()
        .await;
    assert_eq!(announced_stream_limit(server.addr()).await, 3);
}

/// The SETTINGS_MAX_CONCURRENT_STREAMS the server sends on a new HTTP/2 connection.
async fn announced_stream_limit(address: std::net::SocketAddr) -> usize {
    use std::future::{Future as _, poll_fn};
    use std::pin::Pin;
    use std::task::Poll;

    let socket = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let (_requests, mut connection) = h2::client::handshake(socket)
        .await
        .expect("HTTP/2 handshake");
    // Until the server's SETTINGS arrive the limit reads as unbounded; the connection applies
    // them when it is polled and wakes this task when more frames arrive.
    let settled = poll_fn(|context| {
        if let Poll::Ready(result) = Pin::new(&mut connection).poll(context) {
            panic!("the server closed the connection: {result:?}");
        }
        match connection.max_concurrent_send_streams() {
            usize::MAX => Poll::Pending,
            limit => Poll::Ready(limit),
        }
    });
    tokio::time::timeout(std::time::Duration::from_secs(10), settled)
        .await
        .expect("the server's SETTINGS within 10 s")
}
