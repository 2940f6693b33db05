//! `apikeys-bench run`: orders the scenarios so that each ratio's two sides are measured close
//! together (for each concurrency, rounds in which a, b1, b2, c1, c2, h, f1, f2 and t take
//! turns: warm.rs),
//! then each argon2-bound scenario in rounds with its own raw argon2 baseline (argon2_bound.rs),
//! then the memory measurement.

mod argon2_bound;
mod warm;

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tonic::transport::Channel;

use crate::RunArgs;
use crate::load::{Call, LoadConfig, LoadResult, run_closed_loop};
use crate::report::{Machine, Report, Row, Settings, command_line, loadavg};
use crate::scenarios::http::{self, HttpCall, Prepared};
use crate::scenarios::{Scenario, rss};
use crate::servers::{ServerProcess, connect_channels, locate_apikeys};

pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    tokio::select! {
        result = run_all(args) => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted; spawned servers are killed"),
    }
}

struct Ctx {
    args: RunArgs,
    selected: Vec<Scenario>,
    report: Report,
}

impl Ctx {
    fn has(&self, scenario: Scenario) -> bool {
        self.selected.contains(&scenario)
    }

    fn load_config(&self, concurrency: usize) -> LoadConfig {
        LoadConfig {
            concurrency,
            warmup: Duration::from_secs_f64(self.args.warmup_secs),
            duration: Duration::from_secs_f64(self.args.duration_secs),
            server_pid: None,
        }
    }

    fn channel_count(&self, concurrency: usize) -> usize {
        concurrency.min(self.args.max_channels).max(1)
    }

    /// One closed-loop measurement on fresh channels, with the server's CPU time; not a row
    /// until [`Ctx::record`] (a row sums the slices of all its rounds).
    async fn measure_slice<C: Call>(
        &self,
        server: &ServerProcess,
        mut config: LoadConfig,
        make: impl Fn(Channel) -> C,
    ) -> anyhow::Result<LoadResult> {
        config.server_pid = Some(server.pid);
        let channels =
            connect_channels(server.addr, self.channel_count(config.concurrency)).await?;
        run_closed_loop(config, |task| make(channels[task % channels.len()].clone())).await
    }

    /// One closed-loop measurement over HTTP/1.1, each task on a fresh keep-alive connection of
    /// its own, with the server's CPU time.
    async fn measure_http_slice(
        &self,
        server: &ServerProcess,
        mut config: LoadConfig,
        requests: &Arc<Vec<Prepared>>,
    ) -> anyhow::Result<LoadResult> {
        config.server_pid = Some(server.pid);
        let mut connections = http::connect_all(server.addr, config.concurrency.max(1))
            .await?
            .into_iter();
        run_closed_loop(config, |_task| {
            HttpCall::new(server.addr, connections.next(), Arc::clone(requests))
        })
        .await
    }

    /// Prints a measured row and adds it to the report.
    fn record(&mut self, scenario: Scenario, result: LoadResult) {
        let channel_count = if scenario.is_http() {
            result.concurrency
        } else {
            self.channel_count(result.concurrency)
        };
        let row = Row::measured(scenario, channel_count, &result);
        eprintln!(
            "  {:<3} c={:<4} {:>9.0} rps  p50 {:>6} µs  p99 {:>6} µs  p999 {:>6} µs  errors {}{}",
            scenario,
            result.concurrency,
            row.rps,
            row.p50_us,
            row.p99_us,
            row.p999_us,
            row.errors,
            row.first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        self.report.rows.push(row);
    }
}

async fn run_all(args: RunArgs) -> anyhow::Result<()> {
    if !(args.duration_secs > 0.0 && args.warmup_secs >= 0.0 && args.turn_warmup_secs >= 0.0) {
        bail!("--duration-secs must be > 0, --warmup-secs and --turn-warmup-secs >= 0");
    }
    if args.concurrency.contains(&0) || args.cold_concurrency.contains(&0) {
        bail!("concurrency must be at least 1");
    }
    let selected = Scenario::parse_list(&args.scenarios)?;
    let needs_apikeys = selected
        .iter()
        .any(|s| !matches!(s, Scenario::Bare | Scenario::BareHttp));
    let apikeys_bin = if needs_apikeys {
        Some(locate_apikeys(args.apikeys_bin.clone()).await?)
    } else {
        None
    };
    let json_path = args.json.clone();
    let settings = Settings {
        duration_secs: args.duration_secs,
        warmup_secs: args.warmup_secs,
        rounds: args.rounds.max(1),
        turn_warmup_secs: args.turn_warmup_secs,
        cold_rounds: args.cold_rounds.max(1),
        concurrency: args.concurrency.clone(),
        cold_concurrency: args.cold_concurrency.clone(),
        max_channels: args.max_channels,
        warm_keys: args.warm_keys,
        apikeys_bin: apikeys_bin.as_ref().map(|p| p.display().to_string()),
    };
    let mut ctx = Ctx {
        report: Report::new(command_line(), settings, Machine::probe()),
        args,
        selected,
    };

    let log_dir = tempfile::Builder::new()
        .prefix("apikeys-bench-logs-")
        .tempdir()?;
    let main = warm::warm_phase(&mut ctx, apikeys_bin.as_deref(), log_dir.path()).await?;
    if let Some(main) = main {
        if ctx.has(Scenario::CreateKey) {
            argon2_bound::create_key_phase(&mut ctx, &main).await?;
        }
        main.stop().await;
    }
    if let Some(bin) = &apikeys_bin {
        if ctx.has(Scenario::ColdIntrospect) {
            argon2_bound::cold_phase(&mut ctx, bin).await?;
        }
        if ctx.has(Scenario::Rss) {
            eprintln!("rss: {} keys …", ctx.args.rss_keys);
            match rss::measure(bin, ctx.args.rss_keys, ctx.args.max_channels).await {
                Ok(report) => ctx.report.rss = Some(report),
                Err(error) => {
                    eprintln!("  rss failed: {error:#}");
                    ctx.report.rss_error = Some(format!("{error:#}"));
                }
            }
        }
    }

    ctx.report.machine.loadavg_at_end = loadavg();
    ctx.report.sort_rows();
    ctx.report.compute_ratios();
    ctx.report.compute_targets();
    println!("\n{}", ctx.report.table());
    if let Some(path) = json_path {
        let json = serde_json::to_string_pretty(&ctx.report)?;
        std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}
