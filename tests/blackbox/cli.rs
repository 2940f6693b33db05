//! The command line: `serve`'s stdout contract and bad config, `migrate`, `accounts`.

use apikeys_test_support::{Backend, TestDatabase};

use tonic::Code;

use crate::harness::{Fixture, TestServer, assert_code, run_apikeys};

backend_suite!(
    serve_prints_only_the_listening_line,
    serve_rejects_incomplete_jwt_config,
    migrate_is_idempotent_and_accounts_commands_work,
    serve_reads_its_config_from_env,
);

async fn serve_prints_only_the_listening_line(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert!(
        server.stdout_before_listening().is_empty(),
        "stdout before the listening line: {:?}",
        server.stdout_before_listening()
    );
    assert_eq!(server.addr().ip().to_string(), "127.0.0.1");
    assert_ne!(server.addr().port(), 0, "port 0 must be resolved");
}

async fn serve_rejects_incomplete_jwt_config(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let base = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        database.url(),
    ];
    for (what, extra) in [
        (
            "a secret without issuer and audience",
            vec!["--jwt-hs256-secret", "s3cret"],
        ),
        (
            "a secret without audience",
            vec![
                "--jwt-hs256-secret",
                "s3cret",
                "--jwt-issuer",
                "https://idp.test",
            ],
        ),
        (
            "a secret without issuer",
            vec!["--jwt-hs256-secret", "s3cret", "--jwt-audience", "apikeys"],
        ),
        (
            "an unparsable listen address",
            vec!["--listen", "not-an-address"],
        ),
        ("a non-numeric key limit", vec!["--max-active-keys", "ten"]),
    ] {
        let args: Vec<&str> = base.iter().copied().chain(extra).collect();
        let output = run_apikeys(&args).await;
        assert!(
            !output.status.success(),
            "serve with {what} exited 0: {output:?}"
        );
        assert!(
            !output.stderr.trim().is_empty(),
            "serve with {what} gave no message on stderr"
        );
        assert!(
            !output.stdout.contains("apikeys listening on"),
            "serve with {what} started listening"
        );
    }
}

async fn migrate_is_idempotent_and_accounts_commands_work(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let url = database.url();
    for run in 1..=2 {
        let output = run_apikeys(&["migrate", "--database-url", url]).await;
        assert!(output.status.success(), "migrate run {run}: {output:?}");
    }
    let show = |account: &'static str| async move {
        let output = run_apikeys(&["accounts", "show", account, "--database-url", url]).await;
        output.success().to_owned()
    };
    let shown = show("acme").await;
    assert!(shown.contains("account_id=acme"), "{shown:?}");
    assert!(shown.contains("api_access_enabled=false"), "{shown:?}");

    // Global flags are accepted before the subcommand too.
    run_apikeys(&["--database-url", url, "accounts", "enable", "acme"])
        .await
        .success();
    let shown = show("acme").await;
    assert!(shown.contains("api_access_enabled=true"), "{shown:?}");
    assert!(shown.contains("update_time="), "{shown:?}");
    assert!(show("globex").await.contains("api_access_enabled=false"));

    run_apikeys(&["accounts", "disable", "acme", "--database-url", url])
        .await
        .success();
    assert!(show("acme").await.contains("api_access_enabled=false"));
}

async fn serve_reads_its_config_from_env(backend: Backend) {
    // Listen address, database URL, JWT secret, issuer and audience as APIKEYS_* variables.
    let server = TestServer::builder(backend)
        .config_in_env()
        .env("APIKEYS_MAX_ACTIVE_KEYS", "2")
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    fixture.create_key("second@acme.test").await;
    let status = assert_code(
        fixture
            .api()
            .create_key(&fixture.owner, &fixture.account, "third@acme.test")
            .await,
        Code::ResourceExhausted,
        "3rd key with APIKEYS_MAX_ACTIVE_KEYS=2",
    );
    assert!(status.message().contains('2'), "{:?}", status.message());
    fixture.assert_intact().await;
}
