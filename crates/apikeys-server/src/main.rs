//! `apikeys`: the gRPC service that owns the API credentials of corporate accounts.

mod auth;
mod check;
mod cli;
mod commands;
mod config;
mod decode_status;
mod error;
mod health;
mod keyed_digest;
mod metrics;
mod now;
mod request_timeout;
mod revocation;
mod rpc_layer;
mod secret_file;
mod secret_work;
mod server;
mod services;
mod telemetry;
mod tls;
mod tokens;
mod usage;
mod verification;

use std::process::ExitCode;

use crate::cli::Command;

/// jemalloc rather than the system allocator: with the verification cache filled from many
/// threads, glibc's per-thread arenas kept tens of MiB of fragmented memory resident.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Threads tokio may start for blocking work (its default is 512). While serving, SQLite is what
/// needs them: one per pooled connection inside a store operation, plus the thread that takes over
/// a worker's tasks meanwhile (migrations and PostgreSQL host lookups use a few more, briefly).
/// Under a burst tokio started a new thread whenever none was idle (32–36 in the memory
/// benchmark), each keeping its own allocator cache.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    let command_line = match config::parse() {
        Ok(command_line) => command_line,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cli = command_line.cli;
    if let Command::Serve(args) = &cli.command
        && args.print_config
    {
        print!("{}", command_line.effective.render("serve"));
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let telemetry = {
        // The OTLP exporters' gRPC channels live on this runtime; only `serve` exports.
        let _runtime = runtime.enter();
        let export = matches!(cli.command, Command::Serve(_));
        match telemetry::init(cli.global.log_format, export) {
            Ok(telemetry) => telemetry,
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => server::serve(&cli.global, *args).await,
            Command::Migrate => commands::migrate(&cli.global).await,
            Command::Token(args) => commands::token(&cli.global, args),
            Command::Accounts { action } => commands::accounts(&cli.global, action).await,
        }
    });
    // After the graceful drain, while the runtime still carries the exporters' last calls.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
