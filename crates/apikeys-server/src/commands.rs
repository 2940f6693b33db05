//! The subcommands other than `serve`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use apikeys_store::{AccountId, Actor, Database, DatabaseUrl, PoolOptions, Store};

use crate::auth::{LocalSigningKey, TokenRequest};
use crate::cli::{AccountsAction, GlobalArgs, MintTokenArgs};

/// The database URL from the command line, migrated and ready.
pub async fn open_store(global: &GlobalArgs, options: &PoolOptions) -> anyhow::Result<Store> {
    let url = DatabaseUrl::parse(&global.database_url).context("invalid --database-url")?;
    let db = Database::connect(&url, options)?;
    let applied = db
        .migrate()
        .await
        .with_context(|| format!("cannot prepare the database at {}", url.redacted()))?;
    if applied > 0 {
        tracing::info!(applied, database = %url.redacted(), "database migrations applied");
    }
    Ok(Store::new(db))
}

/// `--local-signing-key-file`, or the default beside the SQLite file (or in the working
/// directory on PostgreSQL).
pub fn local_key_path(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    key_file_path(
        global,
        global.local_signing_key_file.as_deref(),
        "signing-key",
    )
}

/// An explicit key file, or `<sqlite file>.<suffix>`, or `./apikeys.<suffix>` on PostgreSQL.
pub fn key_file_path(
    global: &GlobalArgs,
    explicit: Option<&Path>,
    suffix: &str,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    let url = DatabaseUrl::parse(&global.database_url).context("invalid --database-url")?;
    Ok(match url.sqlite_path() {
        Some(db_file) => {
            let mut name = db_file.as_os_str().to_owned();
            name.push(format!(".{suffix}"));
            PathBuf::from(name)
        }
        None => PathBuf::from(format!("apikeys.{suffix}")),
    })
}

pub async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    open_store(global, &PoolOptions::default()).await?;
    println!("migrations applied");
    Ok(())
}

pub fn token(global: &GlobalArgs, args: MintTokenArgs) -> anyhow::Result<()> {
    let path = local_key_path(global)?;
    let key = LocalSigningKey::load_or_create(&path)?;
    let token = key.mint(&TokenRequest {
        subject: args.sub,
        email: args.email,
        account_id: args.account,
        role: args.role,
        staff: args.staff,
        scope: args.scope,
        ttl_seconds: args.ttl_seconds,
    })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{token}")?;
    Ok(())
}

pub async fn accounts(global: &GlobalArgs, action: AccountsAction) -> anyhow::Result<()> {
    let store = open_store(global, &PoolOptions::default()).await?;
    let actor = Actor::new(format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    ));
    let (account_id, change) = match &action {
        AccountsAction::Enable { account_id } => (account_id, Some(true)),
        AccountsAction::Disable { account_id } => (account_id, Some(false)),
        AccountsAction::Show { account_id } => (account_id, None),
    };
    let account_id = AccountId::parse("account_id", account_id)?;
    let account = match change {
        Some(enabled) => Some(store.set_api_access(&account_id, enabled, &actor).await?),
        None => store.get_account(&account_id).await?,
    };
    let (enabled, updated) = match &account {
        Some(account) => (
            account.api_access_enabled,
            account.updated_at.and_utc().to_rfc3339(),
        ),
        None => (false, "never".to_owned()),
    };
    println!("account_id={account_id} api_access_enabled={enabled} update_time={updated}");
    Ok(())
}
