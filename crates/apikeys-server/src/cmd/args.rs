//! Command line and environment: every flag also reads an `APIKEYS_*` variable.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod serve;

pub use self::serve::{IdentityArgs, ServeArgs, TlsArgs};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "apikeys",
    version,
    about = "API credentials of corporate accounts, served over gRPC"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Where the data lives: sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        env = "APIKEYS_DATABASE_URL",
        default_value = "sqlite://apikeys.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Local-mode signing key file [default: `<sqlite file>.signing-key`, or ./apikeys.signing-key
    /// on PostgreSQL].
    #[arg(long, env = "APIKEYS_LOCAL_SIGNING_KEY_FILE", global = true)]
    pub local_signing_key_file: Option<PathBuf>,

    /// TOML file of settings: each key is a long flag name (`listen = "0.0.0.0:50051"`). Flags
    /// and APIKEYS_* variables take precedence over it.
    #[arg(long, env = "APIKEYS_CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Log format on stderr. The level is set with RUST_LOG (default: info).
    #[arg(long, env = "APIKEYS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl From<LogFormat> for telemetry::LogFormat {
    fn from(format: LogFormat) -> Self {
        match format {
            LogFormat::Text => Self::Text,
            LogFormat::Json => Self::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve gRPC until SIGTERM or Ctrl-C.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a caller token signed with the local-mode key (development only).
    Token(MintTokenArgs),
    /// Switch API access of an account, straight on the database.
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
}

#[derive(Debug, Args)]
pub struct MintTokenArgs {
    /// The caller's user id (`sub`).
    #[arg(long)]
    pub sub: String,
    /// The caller's account (`account_id`).
    #[arg(long)]
    pub account: Option<String>,
    /// The caller's role on the account: owner, admin, member, …
    #[arg(long)]
    pub role: Option<String>,
    /// The caller's email.
    #[arg(long)]
    pub email: Option<String>,
    /// Mark the caller as company staff (may switch API access).
    #[arg(long)]
    pub staff: bool,
    /// Space-separated scopes, e.g. `introspect` for a gateway.
    #[arg(long)]
    pub scope: Option<String>,
    /// Lifetime of the token in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub enum AccountsAction {
    /// Turn API access on.
    Enable { account_id: String },
    /// Turn API access off: every key of the account stops working at once.
    Disable { account_id: String },
    /// Print the account's API access state.
    Show { account_id: String },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli =
            Cli::try_parse_from(["apikeys", "migrate", "--database-url", "sqlite://x.db"]).unwrap();
        assert_eq!(cli.global.database_url, "sqlite://x.db");
    }

    #[test]
    fn identity_provider_needs_issuer_and_audience() {
        let missing = Cli::try_parse_from(["apikeys", "serve", "--jwt-hs256-secret", "s"]);
        assert!(missing.is_err());
        let complete = Cli::try_parse_from([
            "apikeys",
            "serve",
            "--jwt-hs256-secret",
            "s",
            "--jwt-issuer",
            "i",
            "--jwt-audience",
            "a",
        ]);
        assert!(complete.is_ok());
    }

    #[test]
    fn ext_authz_header_names_are_lower_case_tokens() {
        let Command::Serve(args) = Cli::try_parse_from([
            "apikeys",
            "serve",
            "--ext-authz-api-key-header",
            "X-Partner-Key",
        ])
        .unwrap()
        .command
        else {
            panic!("serve expected");
        };
        assert_eq!(args.ext_authz.ext_authz_api_key_header, "x-partner-key");
        assert_eq!(args.ext_authz.ext_authz_account_header, "x-account-id");
        assert_eq!(args.ext_authz.ext_authz_client_header, "x-client-id");
        for bad in ["", "x key", "x:key", ":path", "Authorization", "é"] {
            let parsed =
                Cli::try_parse_from(["apikeys", "serve", "--ext-authz-client-header", bad]);
            assert!(parsed.is_err(), "{bad:?}");
        }
    }
}
