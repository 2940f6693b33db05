//! `apikeys`: the gRPC service that owns the API credentials of corporate accounts.

mod auth;
mod cli;
mod commands;
mod error;
mod health;
mod keyed_digest;
mod revocation;
mod secret_file;
mod secret_work;
mod server;
mod services;
mod telemetry;
mod tokens;
mod usage;
mod verification;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::serve(&cli.global, args).await,
            Command::Migrate => commands::migrate(&cli.global).await,
            Command::Token(args) => commands::token(&cli.global, args),
            Command::Accounts { action } => commands::accounts(&cli.global, action).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
