//! `apikeys`: the gRPC service that owns the API credentials of corporate accounts.

mod access_tokens;
mod auth;
mod cmd;
mod crypto;
mod error;
mod gateway;
mod health;
mod http;
mod layers;
mod services;
mod telemetry;
mod transport;
mod verification;

use std::process::ExitCode;

use crate::cmd::args::Command;

/// jemalloc rather than the system allocator: with the verification cache filled from many
/// threads, glibc's per-thread arenas keep tens of MiB of fragmented memory resident
/// (`apikeys-bench run --scenarios rss` measures it).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Threads tokio may start for blocking work (its default is 512). While serving, SQLite is what
/// needs them: one per pooled connection inside a store operation, plus the thread that takes over
/// a worker's tasks meanwhile (migrations and PostgreSQL host lookups use a few more, briefly).
/// Without a bound, tokio starts a new thread under a burst whenever none is idle, each keeping
/// its own allocator cache.
const MAX_BLOCKING_THREADS: usize = 8;

fn main() -> ExitCode {
    let command_line = match cmd::config_file::parse() {
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
        match telemetry::init(cli.global.log_format.into(), export) {
            Ok(telemetry) => telemetry,
            Err(error) => {
                eprintln!("error: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    };
    let result = runtime.block_on(cmd::run(cli));
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
