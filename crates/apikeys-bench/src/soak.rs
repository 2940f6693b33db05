//! `apikeys-bench soak`: mixed traffic for a bounded time against one `apikeys serve` on a
//! SQLite file, checking every answer and watching the server's memory.
//!
//! Each worker loops over a weighted mix: warm Introspect of a known key, CreateKey followed by
//! a cold Introspect of the new key (argon2), ListKeys, and RevokeKey followed by an Introspect
//! that must answer inactive. Any answer that is wrong (a revoked key active, a new key
//! inactive) or any error status is counted; RESOURCE_EXHAUSTED, the documented answer of a
//! full hashing queue or of the key quota, is counted apart as a throttle. RSS is sampled every
//! few seconds: it is flat when the last third's peak is within 10 % (+4 MiB) of the middle
//! third's peak.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use apikeys_proto::pb::introspection_service_client::IntrospectionServiceClient;
use apikeys_proto::pb::{CreateKeyRequest, IntrospectRequest, ListKeysRequest, RevokeKeyRequest};
use clap::Args;
use hdrhistogram::Histogram;
use rand::Rng;
use serde::Serialize;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::scenarios::calls::{Key, authorized};
use crate::scenarios::setup::{Apikeys, create_keys, enable_account, introspect_all};
use crate::servers::locate_apikeys;

const ACCOUNTS: [&str; 4] = ["soak-0", "soak-1", "soak-2", "soak-3"];
const SEED_KEYS: usize = 200;
const RSS_SAMPLE_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Args)]
pub struct SoakArgs {
    /// How long the mixed traffic runs, in seconds.
    #[arg(long, default_value_t = 120)]
    pub duration_secs: u64,

    /// Concurrent workers (closed loop).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,

    /// HTTP/2 connections shared by the workers.
    #[arg(long, default_value_t = 4)]
    pub channels: usize,

    /// The `apikeys` binary; built with `cargo build --release -p apikeys-server` if absent.
    #[arg(long, env = "APIKEYS_BIN")]
    pub apikeys_bin: Option<std::path::PathBuf>,

    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
enum Operation {
    IntrospectWarm,
    CreateAndIntrospectCold,
    ListKeys,
    RevokeAndIntrospect,
}

impl Operation {
    /// Weights out of 100: mostly the gateway's hot path, as in production.
    fn pick(roll: u32) -> Self {
        match roll {
            0..85 => Self::IntrospectWarm,
            85..91 => Self::ListKeys,
            91..96 => Self::CreateAndIntrospectCold,
            _ => Self::RevokeAndIntrospect,
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct OperationReport {
    calls: u64,
    errors: u64,
    throttled: u64,
    p50_us: u64,
    p99_us: u64,
    p999_us: u64,
}

#[derive(Debug, Serialize)]
struct SoakReport {
    duration_secs: u64,
    concurrency: usize,
    operations: BTreeMap<Operation, OperationReport>,
    /// (seconds since start, VmRSS bytes)
    rss_samples: Vec<(f64, u64)>,
    rss_flat: bool,
    first_errors: Vec<String>,
}

/// What all workers share.
struct Shared {
    channels: Vec<Channel>,
    auths: Vec<MetadataValue<Ascii>>,
    /// Keys that are live; workers take some to revoke and add the ones they create.
    live: Mutex<Vec<(usize, Key)>>,
    /// Keys cached by the warm-up and never revoked.
    warm: Vec<Key>,
    outcomes: Mutex<BTreeMap<Operation, (Histogram<u64>, OperationReport)>>,
    first_errors: Mutex<Vec<String>>,
}

enum Outcome {
    Ok,
    Throttled,
    Failed(String),
}

pub async fn run(args: SoakArgs) -> anyhow::Result<()> {
    let bin = locate_apikeys(args.apikeys_bin.clone()).await?;
    let server = Apikeys::start(&bin, "apikeys (soak)", &[], false).await?;
    let channels = server.process.channels(args.channels.max(1)).await?;
    let accounts: Vec<String> = ACCOUNTS.iter().map(|a| (*a).to_owned()).collect();
    for account in &accounts {
        enable_account(channels[0].clone(), &server.minter, account).await?;
    }
    eprintln!("soak: creating {SEED_KEYS} keys …");
    let keys = create_keys(&channels, &server.minter, &accounts, SEED_KEYS, 8, None).await?;
    let auth = server.minter.bearer(&accounts[0])?;
    let (warm, revocable) = keys.split_at(SEED_KEYS / 2);
    introspect_all(&channels, auth, warm, 8, None).await?;
    let shared = Arc::new(Shared {
        channels,
        auths: accounts
            .iter()
            .map(|account| server.minter.bearer(account))
            .collect::<anyhow::Result<_>>()?,
        live: Mutex::new(
            revocable
                .iter()
                .enumerate()
                .map(|(index, key)| ((index + SEED_KEYS / 2) % ACCOUNTS.len(), key.clone()))
                .collect(),
        ),
        warm: warm.to_vec(),
        outcomes: Mutex::new(BTreeMap::new()),
        first_errors: Mutex::new(Vec::new()),
    });

    eprintln!(
        "soak: {} s of mixed traffic on {} workers …",
        args.duration_secs, args.concurrency
    );
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.duration_secs);
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|worker| tokio::spawn(work(Arc::clone(&shared), worker, deadline)))
        .collect();
    let mut rss_samples = Vec::new();
    while Instant::now() < deadline {
        let (rss, _) = server.process.memory()?;
        rss_samples.push((started.elapsed().as_secs_f64(), rss));
        tokio::time::sleep(RSS_SAMPLE_EVERY.min(deadline - Instant::now())).await;
    }
    for worker in workers {
        worker.await.context("soak worker panicked")?;
    }
    let (rss, _) = server.process.memory()?;
    rss_samples.push((started.elapsed().as_secs_f64(), rss));
    server.stop().await;

    let report = build_report(&args, &shared, rss_samples)?;
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let errors: u64 = report.operations.values().map(|op| op.errors).sum();
    if errors > 0 || !report.rss_flat {
        bail!(
            "soak failed: {errors} error(s), RSS flat: {}",
            report.rss_flat
        );
    }
    Ok(())
}

async fn work(shared: Arc<Shared>, worker: usize, deadline: Instant) {
    let mut sequence = worker;
    while Instant::now() < deadline {
        sequence += 1;
        let operation = Operation::pick(rand::thread_rng().gen_range(0..100));
        let channel = shared.channels[sequence % shared.channels.len()].clone();
        let started = Instant::now();
        let outcome = match perform(&shared, operation, channel, sequence).await {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Failed(format!("{error:#}")),
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        record(&shared, operation, micros, outcome);
    }
}

fn record(shared: &Shared, operation: Operation, micros: u64, outcome: Outcome) {
    let Ok(mut outcomes) = shared.outcomes.lock() else {
        return;
    };
    let (histogram, report) = outcomes.entry(operation).or_insert_with(|| {
        (
            Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid")),
            OperationReport::default(),
        )
    });
    report.calls += 1;
    match outcome {
        Outcome::Ok => {
            let _ = histogram.record(micros.max(1));
        }
        Outcome::Throttled => report.throttled += 1,
        Outcome::Failed(message) => {
            report.errors += 1;
            if let Ok(mut first) = shared.first_errors.lock()
                && first.len() < 10
            {
                first.push(format!("{operation:?}: {message}"));
            }
        }
    }
}

async fn perform(
    shared: &Shared,
    operation: Operation,
    channel: Channel,
    sequence: usize,
) -> anyhow::Result<Outcome> {
    let account = sequence % ACCOUNTS.len();
    let auth = &shared.auths[account];
    let mut keys = ApiKeyServiceClient::new(channel.clone());
    let mut introspection = IntrospectionServiceClient::new(channel);
    let introspect = |key: &Key| {
        authorized(
            auth,
            IntrospectRequest {
                client_id: key.client_id.clone(),
                client_secret: key.client_secret.clone(),
                token: String::new(),
            },
        )
    };
    let throttled = |status: &tonic::Status| status.code() == Code::ResourceExhausted;
    match operation {
        Operation::IntrospectWarm => {
            let key = &shared.warm[sequence % shared.warm.len()];
            let answer = introspection
                .introspect(introspect(key))
                .await?
                .into_inner();
            if !answer.active {
                bail!("a live cached key answered inactive");
            }
        }
        Operation::ListKeys => {
            let request = authorized(
                auth,
                ListKeysRequest {
                    account_id: ACCOUNTS[account].to_owned(),
                    page_size: 50,
                    page_token: String::new(),
                },
            );
            keys.list_keys(request).await?;
        }
        Operation::CreateAndIntrospectCold => {
            let request = CreateKeyRequest {
                account_id: ACCOUNTS[account].to_owned(),
                email: format!("soak{sequence}@bench.example"),
                display_name: String::new(),
            };
            let created = match keys.create_key(authorized(auth, request)).await {
                Err(status) if throttled(&status) => return Ok(Outcome::Throttled),
                other => other?.into_inner(),
            };
            let key = Key {
                client_id: created.key.context("CreateKey without key")?.client_id,
                client_secret: created.client_secret,
            };
            match introspection.introspect(introspect(&key)).await {
                Err(status) if throttled(&status) => return Ok(Outcome::Throttled),
                Err(status) => return Err(status.into()),
                Ok(answer) if !answer.get_ref().active => bail!("a new key answered inactive"),
                Ok(_) => {}
            }
            if let Ok(mut live) = shared.live.lock() {
                live.push((account, key));
            }
        }
        Operation::RevokeAndIntrospect => {
            let taken = shared.live.lock().ok().and_then(|mut live| live.pop());
            let Some((owner, key)) = taken else {
                return Ok(Outcome::Ok);
            };
            let request = authorized(
                &shared.auths[owner],
                RevokeKeyRequest {
                    account_id: ACCOUNTS[owner].to_owned(),
                    client_id: key.client_id.clone(),
                },
            );
            keys.revoke_key(request).await?;
            match introspection.introspect(introspect(&key)).await {
                Err(status) if throttled(&status) => return Ok(Outcome::Throttled),
                Err(status) => return Err(status.into()),
                Ok(answer) if answer.get_ref().active => bail!("a revoked key answered active"),
                Ok(_) => {}
            }
        }
    }
    Ok(Outcome::Ok)
}

fn build_report(
    args: &SoakArgs,
    shared: &Shared,
    rss_samples: Vec<(f64, u64)>,
) -> anyhow::Result<SoakReport> {
    let outcomes = shared
        .outcomes
        .lock()
        .map_err(|_| anyhow::anyhow!("a worker panicked holding the results"))?;
    let operations = outcomes
        .iter()
        .map(|(operation, (histogram, report))| {
            (
                *operation,
                OperationReport {
                    p50_us: histogram.value_at_quantile(0.5),
                    p99_us: histogram.value_at_quantile(0.99),
                    p999_us: histogram.value_at_quantile(0.999),
                    ..*report
                },
            )
        })
        .collect();
    let third = rss_samples.len() / 3;
    let peak = |samples: &[(f64, u64)]| samples.iter().map(|(_, rss)| *rss).max().unwrap_or(0);
    let middle = peak(&rss_samples[third..2 * third]);
    let last = peak(&rss_samples[2 * third..]);
    let rss_flat = third == 0 || (last as f64) <= middle as f64 * 1.1 + 4.0 * 1024.0 * 1024.0;
    let first_errors = shared
        .first_errors
        .lock()
        .map(|errors| errors.clone())
        .unwrap_or_default();
    Ok(SoakReport {
        duration_secs: args.duration_secs,
        concurrency: args.concurrency,
        operations,
        rss_samples,
        rss_flat,
        first_errors,
    })
}

fn print_report(report: &SoakReport) {
    println!(
        "{:<26} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "operation", "calls", "errors", "throttled", "p50 µs", "p99 µs", "p999 µs"
    );
    for (operation, op) in &report.operations {
        println!(
            "{:<26} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
            format!("{operation:?}"),
            op.calls,
            op.errors,
            op.throttled,
            op.p50_us,
            op.p99_us,
            op.p999_us
        );
    }
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let series: Vec<String> = report
        .rss_samples
        .iter()
        .map(|(at, rss)| format!("{at:.0}s:{:.1}", mib(*rss)))
        .collect();
    println!("RSS MiB over time: {}", series.join(" "));
    println!(
        "RSS flat (last third's peak within 10 % + 4 MiB of the middle third's): {}",
        report.rss_flat
    );
    for error in &report.first_errors {
        println!("error: {error}");
    }
}
