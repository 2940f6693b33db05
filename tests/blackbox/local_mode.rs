//! Local mode: `serve` without `--jwt-*` key options trusts tokens minted by `apikeys token`
//! with the same signing key file; `apikeys accounts` works straight on the database.
//! `apikeys token` only signs with a key file that exists: `serve` creates it, `token` never does.

use std::path::{Path, PathBuf};

use apikeys_test_support::{Backend, TestDatabase};
use serde_json::{Value, json};
use tonic::Code;

use crate::harness::{TestServer, Tokens, apikeys, assert_code, assert_inactive, decode_claims};

backend_suite!(
    local_mode_story,
    local_mode_rejects_foreign_tokens,
    token_ttl_sets_expiry,
    token_without_a_signing_key_fails_and_creates_none,
    token_signs_with_the_key_serve_created,
);

/// Claims of a staff caller, as `apikeys token` arguments.
const STAFF: [&str; 7] = [
    "--sub",
    "ops",
    "--account",
    "hubpay",
    "--role",
    "member",
    "--staff",
];

async fn local_mode_story(backend: Backend) {
    let server = TestServer::builder(backend).local_mode().start().await;
    assert!(
        server.local_key_file().is_file(),
        "serve did not create the signing key file"
    );
    let api = server.api();
    let owner = server
        .local_token(&[
            "--sub",
            "alice",
            "--account",
            "acme",
            "--role",
            "owner",
            "--email",
            "alice@acme.test",
        ])
        .await;
    let claims = decode_claims(&owner);
    assert_eq!(claims.get("iss"), Some(&json!("apikeys-local")));
    let aud = claims.get("aud").cloned().unwrap_or(Value::Null);
    assert!(
        aud == json!("apikeys") || aud == json!(["apikeys"]),
        "aud is {aud}"
    );
    assert_eq!(claims.get("sub"), Some(&json!("alice")));
    assert_eq!(claims.get("account_id"), Some(&json!("acme")));
    assert_eq!(claims.get("role"), Some(&json!("owner")));
    assert_eq!(claims.get("email"), Some(&json!("alice@acme.test")));
    assert!(claims.get("exp").is_some_and(Value::is_i64), "exp missing");

    let staff = server
        .local_token(&[
            "--sub",
            "ops",
            "--account",
            "hubpay",
            "--role",
            "member",
            "--staff",
        ])
        .await;
    let gateway = server
        .local_token(&[
            "--sub",
            "gw",
            "--account",
            "hubpay",
            "--role",
            "service",
            "--scope",
            "introspect",
        ])
        .await;

    let show = server.accounts(&["show", "acme"]).await;
    assert!(
        show.success().contains("api_access_enabled=false"),
        "accounts show before enabling: {show:?}"
    );
    assert_code(
        api.create_key(&owner, "acme", "partner@acme.test").await,
        Code::FailedPrecondition,
        "CreateKey before `accounts enable`",
    );

    server.accounts(&["enable", "acme"]).await.success();
    let show = server.accounts(&["show", "acme"]).await;
    let shown = show.success();
    assert!(
        shown.contains("account_id=acme"),
        "accounts show: {shown:?}"
    );
    assert!(
        shown.contains("api_access_enabled=true"),
        "accounts show: {shown:?}"
    );
    assert!(
        api.get_account(&staff, "acme")
            .await
            .expect("GetAccount with a local staff token")
            .api_access_enabled,
        "the server does not see `accounts enable`"
    );

    let created = api
        .create_key(&owner, "acme", "partner@acme.test")
        .await
        .expect("CreateKey with a local owner token");
    let key = created.key.expect("key");
    assert_eq!(key.creator, "alice");
    let response = api
        .introspect(&gateway, &key.client_id, &created.client_secret)
        .await
        .expect("Introspect with a local gateway token");
    assert!(response.active);
    assert_eq!(response.account_id, "acme");

    server.accounts(&["disable", "acme"]).await.success();
    let show = server.accounts(&["show", "acme"]).await;
    assert!(show.success().contains("api_access_enabled=false"));
    // The CLI writes straight to the database: a running server learns of it from the change
    // feed (NOTIFY on PostgreSQL, the audit-trail poll on both), within the poll interval (1 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let response = loop {
        let response = api
            .introspect(&gateway, &key.client_id, &created.client_secret)
            .await
            .expect("Introspect after `accounts disable`");
        if !response.active || std::time::Instant::now() > deadline {
            break response;
        }
        tokio::task::yield_now().await;
    };
    assert_inactive(&response, "key of an account disabled with the CLI");

    api.set_api_access(&staff, "acme", true)
        .await
        .expect("SetApiAccess with a local staff token");
    let show = server.accounts(&["show", "acme"]).await;
    assert!(show.success().contains("api_access_enabled=true"));
    let response = api
        .introspect(&gateway, &key.client_id, &created.client_secret)
        .await
        .expect("Introspect after re-enabling");
    assert!(response.active);
}

async fn local_mode_rejects_foreign_tokens(backend: Backend) {
    let server = TestServer::builder(backend).local_mode().start().await;
    let other = TestServer::builder(backend).local_mode().start().await;
    let staff_args = [
        "--sub",
        "ops",
        "--account",
        "hubpay",
        "--role",
        "member",
        "--staff",
    ];

    let own = server.local_token(&staff_args).await;
    server
        .api()
        .get_account(&own, "acme")
        .await
        .expect("a token from the server's own key file works");

    let foreign = other.local_token(&staff_args).await;
    assert_code(
        server.api().get_account(&foreign, "acme").await,
        Code::Unauthenticated,
        "a token from another signing key file",
    );
    let hs256 = Tokens::random()
        .user("ops", "hubpay", "member")
        .staff()
        .issuer("apikeys-local")
        .audience("apikeys")
        .sign();
    assert_code(
        server.api().get_account(&hs256, "acme").await,
        Code::Unauthenticated,
        "an HS256 token with a random secret",
    );
    let unsigned = Tokens::random()
        .user("ops", "hubpay", "member")
        .staff()
        .issuer("apikeys-local")
        .audience("apikeys")
        .unsigned();
    assert_code(
        server.api().get_account(&unsigned, "acme").await,
        Code::Unauthenticated,
        "an alg=none token with local issuer and audience",
    );
}

async fn token_ttl_sets_expiry(backend: Backend) {
    let server = TestServer::builder(backend).local_mode().start().await;
    let token = server
        .local_token(&[
            "--sub",
            "alice",
            "--account",
            "acme",
            "--role",
            "owner",
            "--ttl-seconds",
            "120",
        ])
        .await;
    let claims = decode_claims(&token);
    let exp = claims.get("exp").and_then(Value::as_i64).expect("exp");
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("fits");
    assert!(
        (now + 60..=now + 180).contains(&exp),
        "exp {exp} is not about now + 120 (now {now})"
    );
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64) {
        assert_eq!(exp - iat, 120, "exp - iat");
    }
    let staff = server
        .local_token(&[
            "--sub",
            "ops",
            "--account",
            "hubpay",
            "--role",
            "member",
            "--staff",
        ])
        .await;
    server
        .api()
        .get_account(&staff, "acme")
        .await
        .expect("a fresh local token works");
}

/// Where `serve` and `token` put the signing key by default: beside the SQLite file, or in the
/// working directory `dir` on PostgreSQL.
fn default_key_file(database: &TestDatabase, dir: &Path) -> PathBuf {
    match database.url().strip_prefix("sqlite://") {
        Some(db_file) => PathBuf::from(format!("{db_file}.signing-key")),
        None => dir.join("apikeys.signing-key"),
    }
}

/// The `*.signing-key` / `*.key` files in `dir`.
fn key_files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "signing-key" || ext == "key")
        })
        .collect()
}

/// A token signed with a key no server uses would be refused everywhere: without the key
/// file, `apikeys token` fails, names the file it looked for, prints no token and creates no key
/// (at the default place, or where `--local-signing-key-file` points).
async fn token_without_a_signing_key_fails_and_creates_none(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let work_dir = tempfile::tempdir().expect("working directory");
    let default = default_key_file(&database, work_dir.path());
    let explicit = work_dir.path().join("missing.key");
    let explicit_arg = explicit.display().to_string();
    // On PostgreSQL the default is relative to the working directory; the error may name it
    // either way, so only its file name is looked for.
    let default_named = match backend {
        Backend::Sqlite => default.display().to_string(),
        Backend::Postgres => "apikeys.signing-key".to_owned(),
    };
    let cases = [
        ("at the default place", Vec::new(), &default, default_named),
        (
            "named by --local-signing-key-file",
            vec!["--local-signing-key-file", explicit_arg.as_str()],
            &explicit,
            explicit_arg.clone(),
        ),
    ];
    for (what, extra, key_file, named) in cases {
        let mut args = vec!["token", "--database-url", database.url()];
        args.extend(STAFF);
        args.extend(extra);
        let output = apikeys(&args).current_dir(work_dir.path()).run().await;
        assert!(
            !output.status.success(),
            "apikeys token without a key file {what} exited 0: {output:?}"
        );
        assert!(
            output.stdout.trim().is_empty(),
            "apikeys token without a key file {what} printed {:?}",
            output.stdout
        );
        assert!(
            output.stderr.contains(&named),
            "the error of apikeys token without a key file {what} does not name {named}: {:?}",
            output.stderr
        );
        assert!(
            !key_file.exists(),
            "apikeys token created {} ({what})",
            key_file.display()
        );
    }
    assert_eq!(
        key_files_in(work_dir.path()),
        Vec::<PathBuf>::new(),
        "key files in the working directory"
    );
    assert_eq!(
        key_files_in(database.dir()),
        Vec::<PathBuf>::new(),
        "key files beside the database"
    );
}

/// Once `serve` has created the key at its default place, `apikeys token` finds it there with
/// only `--database-url` (and the same working directory), and the server accepts its tokens;
/// `--local-signing-key-file` naming that key works as well. Neither rewrites the key.
async fn token_signs_with_the_key_serve_created(backend: Backend) {
    let server = TestServer::builder(backend)
        .local_mode_with_default_key_file()
        .start()
        .await;
    let key_file = server.local_key_file().to_owned();
    let key = std::fs::read(&key_file)
        .unwrap_or_else(|e| panic!("serve did not create {}: {e}", key_file.display()));
    let dir = key_file.parent().expect("the key file is in a directory");

    let mut args = vec!["token", "--database-url", server.database_url()];
    args.extend(STAFF);
    let output = apikeys(&args).current_dir(dir).run().await;
    let by_default = output.success().trim().to_owned();
    server
        .api()
        .get_account(&by_default, "acme")
        .await
        .expect("a token signed with the key found at the default place works");

    let explicit = server.local_token(&STAFF).await;
    server
        .api()
        .get_account(&explicit, "acme")
        .await
        .expect("a token signed with the key named by --local-signing-key-file works");
    assert_eq!(
        std::fs::read(&key_file).expect("read the key file"),
        key,
        "apikeys token changed the key file"
    );
}
