//! The command line: its definition and config file, the start-up settings `serve` and
//! `--check-config` share, and one module per subcommand.

mod admin;
pub mod args;
mod check_config;
pub mod config_file;
mod serve;
mod shutdown;
mod startup;

use self::args::{Cli, Command};
use self::startup::ServeSettings;

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let settings = ServeSettings::from_args(&cli.global, &args)?;
            if args.check_config {
                check_config::run(&settings).await
            } else {
                serve::serve(settings).await
            }
        }
        Command::Migrate => admin::migrate(&cli.global).await,
        Command::Token(args) => admin::token(&cli.global, args),
        Command::Accounts { action } => admin::accounts(&cli.global, action).await,
    }
}
