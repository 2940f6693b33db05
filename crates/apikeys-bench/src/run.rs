//! `apikeys-bench run`: orders the scenarios so that each ratio's two sides are measured close
//! together (for each concurrency, rounds in which a, b1, b2, c1 and c2 take turns), then each
//! argon2-bound scenario right after its own raw argon2 baseline, then the memory measurement.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use bytes::Bytes;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::RunArgs;
use crate::load::{Call, LoadConfig, LoadResult, run_closed_loop};
use crate::report::{Machine, Report, Row, Settings, command_line, loadavg};
use crate::scenarios::Scenario;
use crate::scenarios::calls::{
    CheckCall, CreateKeyCall, IntrospectCall, Key, bare_requests, basic_check_requests,
    bearer_check_requests, credential_requests, token_requests,
};
use crate::scenarios::cold::{self, Argon2Params, Argon2Rate};
use crate::scenarios::rss;
use crate::scenarios::setup::{Apikeys, create_keys, enable_account, introspect_all, issue_tokens};
use crate::servers::{
    ServerProcess, connect_channels, flag_default, locate_apikeys, serve_help, spawn_bare,
};

const CACHE_FLAG: &str = "--verification-cache-max-entries";
const WARM_ACCOUNT: &str = "bench-warm";
const CREATE_ACCOUNT: &str = "bench-create";
const COLD_ACCOUNT: &str = "bench-cold";
const COLD_KEYS: usize = 8;

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
    argon2_params: Argon2Params,
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

    /// One row of an argon2-bound `scenario` and its baseline, the raw argon2id rate (measured
    /// in this process while the server idles): in rounds, each a raw slice then a scenario
    /// slice, so both sides of the ratio see the same spells of background load.
    async fn measure_argon2_bound<C: Call>(
        &mut self,
        scenario: Scenario,
        server: &ServerProcess,
        concurrency: usize,
        make: impl Fn(Channel) -> C,
    ) -> anyhow::Result<()> {
        let params = self.argon2_params;
        let threads = self.report.machine.nproc;
        let rounds = self.args.cold_rounds.max(1);
        let mut config = self.load_config(concurrency);
        config.duration = Duration::from_secs_f64(self.args.duration_secs.max(2.0) / rounds as f64);
        eprintln!(
            "  {scenario} c={concurrency}: {rounds} rounds of raw argon2id (m={} KiB, t={}, p={}) on {threads} threads, then {scenario}, {:.1} s each …",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            config.duration.as_secs_f64()
        );
        let mut rates = Vec::with_capacity(rounds);
        let mut total: Option<LoadResult> = None;
        for _round in 0..rounds {
            rates.push(
                cold::measure(scenario.id(), concurrency, params, threads, config.duration).await?,
            );
            let result = self.measure_slice(server, config, &make).await?;
            match total.as_mut() {
                Some(total) => total.absorb(result)?,
                None => total = Some(result),
            }
        }
        let rate = Argon2Rate::mean(rates).context("no argon2 round")?;
        eprintln!("    raw argon2id {:.1} hashes/s", rate.per_second);
        self.report.argon2.push(rate);
        self.record(scenario, total.context("no round measured")?);
        Ok(())
    }

    fn channel_count(&self, concurrency: usize) -> usize {
        concurrency.min(self.args.max_channels).max(1)
    }

    fn unavailable(&mut self, scenario: Scenario, concurrencies: &[usize], reason: &str) {
        eprintln!("  {scenario} not available: {reason}");
        self.report
            .not_available
            .push(format!("{scenario} ({}): {reason}", scenario.description()));
        for &concurrency in concurrencies {
            self.report
                .rows
                .push(Row::not_available(scenario, concurrency, reason));
        }
    }

    /// One closed-loop measurement on fresh channels, with the server's CPU time; not yet a row.
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

    /// Prints a measured row and adds it to the report.
    fn record(&mut self, scenario: Scenario, result: LoadResult) {
        let channel_count = self.channel_count(result.concurrency);
        let row = Row::measured(scenario, channel_count, &result, false);
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
    let needs_apikeys = selected.iter().any(|s| *s != Scenario::Bare);
    let apikeys_bin = if needs_apikeys {
        Some(locate_apikeys(args.apikeys_bin.clone()).await?)
    } else {
        None
    };
    let json_path = args.json.clone();
    let mut ctx = Ctx {
        report: Report {
            command: command_line(),
            settings: Settings {
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
            },
            machine: Machine::probe(),
            argon2: Vec::new(),
            rows: Vec::new(),
            targets: Vec::new(),
            rss: None,
            rss_error: None,
            not_available: Vec::new(),
        },
        args,
        selected,
        argon2_params: Argon2Params::default(),
    };
    let help = match &apikeys_bin {
        Some(bin) => serve_help(bin).await?,
        None => String::new(),
    };

    ctx.argon2_params = {
        let defaults = Argon2Params::default();
        let param = |flag: &str, fallback: u32| {
            flag_default(&help, flag)
                .flatten()
                .and_then(|value| u32::try_from(value).ok())
                .unwrap_or(fallback)
        };
        Argon2Params {
            memory_kib: param("--argon2-memory-kib", defaults.memory_kib),
            iterations: param("--argon2-iterations", defaults.iterations),
            parallelism: param("--argon2-parallelism", defaults.parallelism),
        }
    };

    let log_dir = tempfile::Builder::new()
        .prefix("apikeys-bench-logs-")
        .tempdir()?;
    warm_phase(&mut ctx, apikeys_bin.as_ref(), log_dir.path()).await?;
    if let Some(bin) = &apikeys_bin {
        if ctx.has(Scenario::ColdIntrospect) {
            cold_phase(&mut ctx, bin, &help).await?;
        }
        if ctx.has(Scenario::Rss) {
            eprintln!("rss: {} keys …", ctx.args.rss_keys);
            match rss::measure(bin, &help, ctx.args.rss_keys, ctx.args.max_channels).await {
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

/// What the warm scenarios need from the main apikeys instance.
struct Warm {
    auth: MetadataValue<Ascii>,
    credentials: Arc<Vec<Bytes>>,
    tokens: Result<Arc<Vec<Bytes>>, String>,
    checks_basic: Arc<Vec<Bytes>>,
    checks_bearer: Result<Arc<Vec<Bytes>>, String>,
}

async fn prepare_warm(ctx: &Ctx, server: &Apikeys) -> anyhow::Result<Warm> {
    let channels = server.process.channels(4).await?;
    let minter = &server.minter;
    let auth = minter.bearer(WARM_ACCOUNT)?;
    enable_account(channels[0].clone(), minter, WARM_ACCOUNT).await?;
    let count = ctx.args.warm_keys.max(1);
    eprintln!("  creating {count} keys (default argon2 cost) …");
    let keys: Vec<Key> = create_keys(
        &channels,
        minter,
        &[WARM_ACCOUNT.to_owned()],
        count,
        8,
        None,
    )
    .await?;
    eprintln!("  introspecting each once to warm the cache …");
    introspect_all(&channels, auth.clone(), &keys, 8, None).await?;
    let tokens = if ctx.has(Scenario::WarmTokens) || ctx.has(Scenario::CheckBearer) {
        issue_tokens(&channels, auth.clone(), &keys).await?
    } else {
        Err("not selected".to_owned())
    };
    Ok(Warm {
        auth,
        credentials: Arc::new(credential_requests(&keys)),
        checks_basic: Arc::new(basic_check_requests(&keys)),
        checks_bearer: tokens
            .as_ref()
            .map(|tokens| Arc::new(bearer_check_requests(tokens)))
            .map_err(Clone::clone),
        tokens: tokens.map(|tokens| Arc::new(token_requests(&tokens))),
    })
}

/// Probes one call; `Err(reason)` when the RPC is UNIMPLEMENTED (the service does not exist yet).
async fn probe<C: Call>(what: &str, mut call: C) -> Result<(), String> {
    match call.call(0).await {
        Err(error) if error.code == Some(Code::Unimplemented) => {
            Err(format!("{what} answers UNIMPLEMENTED ({})", error.message))
        }
        _ => Ok(()),
    }
}

async fn warm_phase(
    ctx: &mut Ctx,
    apikeys_bin: Option<&PathBuf>,
    log_dir: &Path,
) -> anyhow::Result<()> {
    let warm_selected = [
        Scenario::WarmCredentials,
        Scenario::WarmTokens,
        Scenario::CheckBasic,
        Scenario::CheckBearer,
        Scenario::CreateKey,
    ]
    .iter()
    .any(|s| ctx.has(*s));
    let bare = if ctx.has(Scenario::Bare) {
        eprintln!("starting the bare baseline server …");
        Some(spawn_bare(log_dir).await?)
    } else {
        None
    };
    let main = match (apikeys_bin, warm_selected) {
        (Some(bin), true) => {
            eprintln!("starting apikeys (warm) …");
            Some(Apikeys::start(bin, "apikeys (warm)", &[], false).await?)
        }
        _ => None,
    };
    let warm = match &main {
        Some(server)
            if [
                Scenario::WarmCredentials,
                Scenario::WarmTokens,
                Scenario::CheckBasic,
                Scenario::CheckBearer,
            ]
            .iter()
            .any(|s| ctx.has(*s)) =>
        {
            Some(prepare_warm(ctx, server).await?)
        }
        _ => None,
    };

    // Which warm scenarios can run: probe each once.
    let mut runnable: Vec<Scenario> = Vec::new();
    if bare.is_some() {
        runnable.push(Scenario::Bare);
    }
    if let (Some(server), Some(warm)) = (&main, &warm) {
        let channel = connect_channels(server.process.addr, 1).await?.remove(0);
        let candidates: [(Scenario, Result<(), String>); 4] = [
            (Scenario::WarmCredentials, Ok(())),
            (
                Scenario::WarmTokens,
                warm.tokens.as_ref().map(|_| ()).map_err(Clone::clone),
            ),
            (Scenario::CheckBasic, Ok(())),
            (
                Scenario::CheckBearer,
                warm.checks_bearer
                    .as_ref()
                    .map(|_| ())
                    .map_err(Clone::clone),
            ),
        ];
        for (scenario, prepared) in candidates {
            if !ctx.has(scenario) {
                continue;
            }
            let available = match (scenario, prepared) {
                (_, Err(reason)) => Err(reason),
                (Scenario::CheckBasic | Scenario::CheckBearer, Ok(())) => {
                    probe(
                        "envoy.service.auth.v3.Authorization/Check",
                        CheckCall::new(
                            channel.clone(),
                            warm.auth.clone(),
                            Arc::clone(&warm.checks_basic),
                        ),
                    )
                    .await
                }
                _ => Ok(()),
            };
            match available {
                Ok(()) => runnable.push(scenario),
                Err(reason) => {
                    let concurrencies = ctx.args.concurrency.clone();
                    ctx.unavailable(scenario, &concurrencies, &reason);
                }
            }
        }
    }

    if !runnable.is_empty() {
        eprintln!(
            "warm scenarios {:?}, {} s each in {} rounds taking turns, {} s warmup per turn …",
            runnable.iter().map(|s| s.id()).collect::<Vec<_>>(),
            ctx.args.duration_secs,
            ctx.args.rounds.max(1),
            ctx.args.turn_warmup_secs
        );
    }
    // Rounds: the warm scenarios take turns, each measured for duration/rounds per round, so a
    // slow spell of a shared machine falls on both sides of every ratio alike.
    let rounds = ctx.args.rounds.max(1);
    let bare_requests = Arc::new(bare_requests());
    // The bare server ignores it, but the bytes on the wire are the same.
    let bare_auth = crate::auth::Minter::random().bearer(WARM_ACCOUNT)?;
    for concurrency in ctx.args.concurrency.clone() {
        let mut slice = ctx.load_config(concurrency);
        slice.duration = slice.duration.div_f64(rounds as f64);
        slice.warmup = Duration::from_secs_f64(ctx.args.turn_warmup_secs);
        let mut totals: Vec<(Scenario, LoadResult)> = Vec::new();
        for _round in 0..rounds {
            for &scenario in &runnable {
                let result = match scenario {
                    Scenario::Bare => {
                        let server = bare.as_ref().context("bare server")?;
                        ctx.measure_slice(server, slice, |channel| {
                            IntrospectCall::new(
                                channel,
                                bare_auth.clone(),
                                Arc::clone(&bare_requests),
                            )
                        })
                        .await?
                    }
                    Scenario::WarmCredentials | Scenario::WarmTokens => {
                        let server = main.as_ref().context("apikeys")?;
                        let warm = warm.as_ref().context("warm setup")?;
                        let requests = if scenario == Scenario::WarmTokens {
                            Arc::clone(warm.tokens.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?)
                        } else {
                            Arc::clone(&warm.credentials)
                        };
                        ctx.measure_slice(&server.process, slice, |channel| {
                            IntrospectCall::new(channel, warm.auth.clone(), Arc::clone(&requests))
                        })
                        .await?
                    }
                    Scenario::CheckBasic | Scenario::CheckBearer => {
                        let server = main.as_ref().context("apikeys")?;
                        let warm = warm.as_ref().context("warm setup")?;
                        let requests = if scenario == Scenario::CheckBearer {
                            Arc::clone(
                                warm.checks_bearer
                                    .as_ref()
                                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                            )
                        } else {
                            Arc::clone(&warm.checks_basic)
                        };
                        ctx.measure_slice(&server.process, slice, |channel| {
                            CheckCall::new(channel, warm.auth.clone(), Arc::clone(&requests))
                        })
                        .await?
                    }
                    _ => continue,
                };
                match totals.iter_mut().find(|(seen, _)| *seen == scenario) {
                    Some((_, total)) => total.absorb(result)?,
                    None => totals.push((scenario, result)),
                }
            }
        }
        for (scenario, total) in totals {
            ctx.record(scenario, total);
        }
    }
    if let Some(bare) = bare {
        bare.stop().await;
    }

    if let (true, Some(server)) = (ctx.has(Scenario::CreateKey), &main) {
        eprintln!("CreateKey (default argon2 cost) …");
        let channels = server.process.channels(1).await?;
        enable_account(channels[0].clone(), &server.minter, CREATE_ACCOUNT).await?;
        let auth = server.minter.bearer(CREATE_ACCOUNT)?;
        for concurrency in ctx.args.cold_concurrency.clone() {
            ctx.measure_argon2_bound(
                Scenario::CreateKey,
                &server.process,
                concurrency,
                |channel| CreateKeyCall {
                    client: ApiKeyServiceClient::new(channel),
                    auth: auth.clone(),
                    account_id: CREATE_ACCOUNT.to_owned(),
                },
            )
            .await?;
        }
    }
    if let Some(main) = main {
        main.stop().await;
    }
    Ok(())
}

async fn cold_phase(ctx: &mut Ctx, bin: &Path, help: &str) -> anyhow::Result<()> {
    let concurrencies = ctx.args.cold_concurrency.clone();
    if flag_default(help, CACHE_FLAG).is_none() {
        ctx.unavailable(
            Scenario::ColdIntrospect,
            &concurrencies,
            &format!("apikeys serve has no {CACHE_FLAG} flag yet (cannot disable the cache)"),
        );
        return Ok(());
    }
    eprintln!("starting apikeys (cold, {CACHE_FLAG} 0) …");
    let extra = [CACHE_FLAG.to_owned(), "0".to_owned()];
    let server = match Apikeys::start(bin, "apikeys (cold)", &extra, false).await {
        Ok(server) => server,
        Err(error) => {
            ctx.unavailable(
                Scenario::ColdIntrospect,
                &concurrencies,
                &format!("apikeys did not start with {CACHE_FLAG} 0: {error:#}"),
            );
            return Ok(());
        }
    };
    let channels = server.process.channels(2).await?;
    enable_account(channels[0].clone(), &server.minter, COLD_ACCOUNT).await?;
    let keys = create_keys(
        &channels,
        &server.minter,
        &[COLD_ACCOUNT.to_owned()],
        COLD_KEYS,
        2,
        None,
    )
    .await?;
    let auth = server.minter.bearer(COLD_ACCOUNT)?;
    let requests = Arc::new(credential_requests(&keys));
    eprintln!("cold Introspect (argon2 per call) …");
    for concurrency in concurrencies {
        ctx.measure_argon2_bound(
            Scenario::ColdIntrospect,
            &server.process,
            concurrency,
            |channel| IntrospectCall::new(channel, auth.clone(), Arc::clone(&requests)),
        )
        .await?;
    }
    server.stop().await;
    Ok(())
}
