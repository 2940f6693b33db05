//! `apikeys-bench`: a closed-loop gRPC and HTTP/1.1 load generator that measures `apikeys serve`
//! against a bare server on the same stack (same message shapes, no work) and against the raw
//! argon2id rate, in one invocation on one machine, and reports every target as a ratio measured
//! in the same run (and the token endpoint's rate against its absolute floor).
//!
//! Run it with release builds of both the bench and the server:
//!
//! ```sh
//! cargo run --release -p apikeys-bench -- run
//! ```

mod auth;
mod load;
mod propagation;
mod report;
mod run;
mod scenarios;
mod servers;
mod soak;
mod timing;
mod transport;

/// The allocator of `apikeys serve` (jemalloc, one arena: see .cargo/config.toml), so the bare
/// baseline, which runs as this binary, differs from the server only in the work it skips: on
/// another allocator every warm ratio would compare allocators as much as work.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "apikeys-bench",
    version,
    about = "Load generator for apikeys: warm/cold Introspect, ext_authz Check, HTTP forward \
             auth, POST /auth/token and CreateKey, each as a ratio to a bare baseline on the \
             same stack or to the raw argon2id rate"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the benchmark and print the table, the targets and the machine.
    Run(RunArgs),
    /// Whether response times tell a right secret from a wrong one (warm cache and argon2).
    Timing(timing::TimingArgs),
    /// Mixed traffic for a bounded time: every answer checked, p99 per operation, RSS over time.
    Soak(soak::SoakArgs),
    /// How fast a revocation on one replica reaches another on the same PostgreSQL database.
    Propagation(propagation::PropagationArgs),
    /// The bare baseline: a tonic IntrospectionService and an axum forward-auth route on one
    /// port, answering fixed responses, no work.
    #[command(hide = true)]
    BareServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Measured seconds per scenario and concurrency (for the warm scenarios, split over the
    /// rounds).
    #[arg(long, default_value_t = 5.0)]
    pub duration_secs: f64,

    /// Unmeasured seconds before each round's slice of d and e.
    #[arg(long, default_value_t = 0.5)]
    pub warmup_secs: f64,

    /// Rounds per concurrency in which the warm scenarios (a, b1, b2, c1, c2, h, f1, f2, t) take
    /// turns, each measured for duration/rounds: a slow spell of a shared machine then falls on
    /// both sides of a ratio alike instead of on whichever scenario ran during it. Many short
    /// turns pair each slice with a bare slice close to it in time.
    #[arg(long, default_value_t = 25)]
    pub rounds: usize,

    /// Unmeasured seconds on a warm turn's fresh connections before its slice is measured.
    #[arg(long, default_value_t = 0.1)]
    pub turn_warmup_secs: f64,

    /// Rounds in which d and e take turns with the raw argon2id baseline, each measured for
    /// duration/rounds (at least 2 s in all: a hash takes tens of milliseconds).
    #[arg(long, default_value_t = 5)]
    pub cold_rounds: usize,

    /// Concurrencies (closed-loop tasks) for the warm scenarios a … c2 and h … t.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    pub concurrency: Vec<usize>,

    /// Concurrencies for the argon2-bound scenarios d (cold Introspect) and e (CreateKey).
    #[arg(long, value_delimiter = ',', default_value = "1,2,16")]
    pub cold_concurrency: Vec<usize>,

    /// Most HTTP/2 connections (tonic Channels) per gRPC scenario: min(concurrency, this). The
    /// HTTP/1.1 scenarios (h, f1, f2, t) open one connection per task.
    #[arg(long, default_value_t = 4)]
    pub max_channels: usize,

    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// The `apikeys` binary; built with `cargo build --release -p apikeys-server` if absent.
    #[arg(long, env = "APIKEYS_BIN")]
    pub apikeys_bin: Option<PathBuf>,

    /// Scenarios to run: a (bare gRPC), b1 (warm Introspect, client credentials), b2 (warm
    /// Introspect, access tokens), c1 / c2 (warm ext_authz Check, Basic / Bearer), h (bare
    /// HTTP/1.1), f1 / f2 (warm HTTP forward auth, Basic / Bearer), t (POST /auth/token),
    /// d (cold Introspect), e (CreateKey), rss (memory with --rss-keys cached keys); b, c and f
    /// select both variants.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "a,b1,b2,c1,c2,h,f1,f2,t,d,e,rss"
    )]
    pub scenarios: Vec<String>,

    /// Keys created, cached and then read in RSS scenario.
    #[arg(long, default_value_t = 100_000)]
    pub rss_keys: usize,

    /// Keys created and cycled through by the warm scenarios.
    #[arg(long, default_value_t = 100)]
    pub warm_keys: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The same runtime as `apikeys serve`: tokio's default multi-thread runtime.
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
            Command::Run(args) => run::run(args).await,
            Command::Timing(args) => timing::run(args).await,
            Command::Soak(args) => soak::run(args).await,
            Command::Propagation(args) => propagation::run(args).await,
            Command::BareServer { listen } => servers::bare_server_main(listen).await,
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
