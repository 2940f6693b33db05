//! The subcommands other than `serve`: `migrate`, `token` and `accounts`.

use std::io::Write;

use apikeys_store::{AccountId, Actor, PoolOptions};

use super::args::{AccountsAction, GlobalArgs, MintTokenArgs};
use super::startup::{database_url, local_key_path, open_store};
use crate::auth::{CallerTokenRequest, LocalSigningKey};

pub async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    open_store(&database_url(global)?, &PoolOptions::default()).await?;
    println!("migrations applied");
    Ok(())
}

/// Mints a local-mode caller token with the key `serve` uses; refuses when that key does not
/// exist, since a token signed with any other key would be rejected.
pub fn token(global: &GlobalArgs, args: MintTokenArgs) -> anyhow::Result<()> {
    let key = LocalSigningKey::load(&local_key_path(global, &database_url(global)?))?;
    let token = key.mint(&CallerTokenRequest {
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
    let store = open_store(&database_url(global)?, &PoolOptions::default()).await?;
    let actor = Actor::new(format!("cli:{}", os_user_name()));
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

/// The user running the command, for the audit trail: the account of the process's user id,
/// whatever `$USER` says (it is empty under many service managers and `sudo -i` shells).
fn os_user_name() -> String {
    whoami::username()
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
