//! `apikeys-bench timing`: can the response time tell a right secret from a wrong one?
//!
//! For one known client id, Introspect is called with the right secret, with a well-formed wrong
//! secret (another key's, so format and checksum are valid), and with an unknown client id,
//! interleaved round-robin at concurrency 1 so drift in machine load hits every variant alike.
//! Once with the verification cache warm (right and wrong are both a keyed digest and a
//! constant-time comparison) and once with the cache off (every call pays argon2; an unknown
//! client id is checked against a decoy hash). With the cache warm an unknown client id is not
//! compared: it costs a database lookup and a decoy hash, like any key not used in the last
//! TTL, and says nothing about a known key's secret. The failure throttle is switched off for the
//! run, or wrong secrets would be answered early once throttled, which is the point of it.
//!
//! A variant is indistinguishable when its median differs from the right secret's by no more
//! than the noise: twice the difference between the medians of the two halves of the right
//! secret's own samples, and never less than 5 % of its median.

use std::time::Instant;

use anyhow::{Context, bail};
use apikeys_proto::pb::IntrospectRequest;
use apikeys_proto::pb::introspection_service_client::IntrospectionServiceClient;
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::scenarios::calls::{Key, authorized};
use crate::scenarios::setup::{Apikeys, create_keys, enable_account};
use crate::servers::locate_apikeys;

const ACCOUNT: &str = "timing";
/// Smallest relative difference of medians treated as signal rather than noise.
const NOISE_FLOOR: f64 = 0.05;

#[derive(Debug, Clone, Args)]
pub struct TimingArgs {
    /// Rounds with the cache warm (each round calls every variant once).
    #[arg(long, default_value_t = 2_000)]
    pub warm_rounds: usize,

    /// Rounds with the cache off (argon2 on every call, tens of milliseconds each).
    #[arg(long, default_value_t = 60)]
    pub cold_rounds: usize,

    /// The `apikeys` binary; built with `cargo build --release -p apikeys-server` if absent.
    #[arg(long, env = "APIKEYS_BIN")]
    pub apikeys_bin: Option<std::path::PathBuf>,

    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct VariantReport {
    variant: &'static str,
    samples: u64,
    p50_us: u64,
    p90_us: u64,
    /// Median relative to the right secret's median.
    p50_ratio: f64,
    indistinguishable: bool,
}

#[derive(Debug, Serialize)]
struct PhaseReport {
    phase: &'static str,
    server_args: Vec<String>,
    /// Relative noise: the bound a variant's median must stay within.
    noise: f64,
    variants: Vec<VariantReport>,
}

/// The three ways of presenting a credential for one known client id.
struct Variants {
    right: IntrospectRequest,
    wrong_secret: IntrospectRequest,
    unknown_client: IntrospectRequest,
}

impl Variants {
    fn new(target: &Key, other: &Key) -> Self {
        let request = |client_id: &str, secret: &str| IntrospectRequest {
            client_id: client_id.to_owned(),
            client_secret: secret.to_owned(),
            token: String::new(),
        };
        // Same length and alphabet as a real id, never issued: the last character changed.
        let mut unknown = target.client_id.clone();
        let last = unknown.pop().unwrap_or('A');
        unknown.push(if last == 'Z' { 'Y' } else { 'Z' });
        Self {
            right: request(&target.client_id, &target.client_secret),
            wrong_secret: request(&target.client_id, &other.client_secret),
            unknown_client: request(&unknown, &target.client_secret),
        }
    }

    fn all(&self, with_unknown: bool) -> Vec<(&'static str, &IntrospectRequest, bool)> {
        let mut all = vec![
            ("right secret", &self.right, true),
            ("wrong secret", &self.wrong_secret, false),
        ];
        if with_unknown {
            all.push(("unknown client id", &self.unknown_client, false));
        }
        all
    }
}

pub async fn run(args: TimingArgs) -> anyhow::Result<()> {
    let bin = locate_apikeys(args.apikeys_bin.clone()).await?;
    let throttle_off = ["--failure-throttle-max-failures", "0"];
    let mut phases = Vec::new();
    for (phase, rounds, extra, with_unknown) in [
        ("warm cache", args.warm_rounds, vec![], false),
        (
            "cache off (argon2 each call)",
            args.cold_rounds,
            vec!["--verification-cache-max-entries", "0"],
            true,
        ),
    ] {
        let server_args: Vec<String> = throttle_off
            .iter()
            .chain(extra.iter())
            .map(|s| (*s).to_owned())
            .collect();
        eprintln!("timing: {phase}, {rounds} rounds …");
        phases.push(measure_phase(&bin, phase, rounds, server_args, with_unknown).await?);
    }
    print_report(&phases);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&phases)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if phases
        .iter()
        .flat_map(|phase| &phase.variants)
        .any(|variant| !variant.indistinguishable)
    {
        bail!("a variant's response time stands out beyond the noise");
    }
    Ok(())
}

async fn measure_phase(
    bin: &std::path::Path,
    phase: &'static str,
    rounds: usize,
    server_args: Vec<String>,
    with_unknown: bool,
) -> anyhow::Result<PhaseReport> {
    let server = Apikeys::start(bin, "apikeys (timing)", &server_args, false).await?;
    let channels = server.process.channels(1).await?;
    enable_account(channels[0].clone(), &server.minter, ACCOUNT).await?;
    let keys = create_keys(&channels, &server.minter, &[ACCOUNT.to_owned()], 2, 1, None).await?;
    let variants = Variants::new(&keys[0], &keys[1]);
    let presented = variants.all(with_unknown);
    let count = presented.len();
    let auth = server.minter.bearer(ACCOUNT)?;
    let mut client = IntrospectionServiceClient::new(channels[0].clone());

    // Unmeasured warm-up: fills the cache (warm phase) and the connection's buffers.
    for _ in 0..(rounds / 10).max(3) {
        for (_, request, expect_active) in &presented {
            call(&mut client, &auth, request, *expect_active).await?;
        }
    }
    let mut histograms: Vec<Histogram<u64>> = (0..count)
        .map(|_| Histogram::new(3))
        .collect::<Result<_, _>>()?;
    let mut right_halves = [Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?];
    for round in 0..rounds {
        // Rotate the order too, so no variant always follows the same one.
        for offset in 0..count {
            let index = (round + offset) % count;
            let (_, request, expect_active) = presented[index];
            let started = Instant::now();
            call(&mut client, &auth, request, expect_active).await?;
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            histograms[index].record(micros.max(1))?;
            if index == 0 {
                right_halves[round % 2].record(micros.max(1))?;
            }
        }
    }
    server.stop().await;

    let right_p50 = histograms[0].value_at_quantile(0.5).max(1) as f64;
    let split = (right_halves[0].value_at_quantile(0.5) as f64
        - right_halves[1].value_at_quantile(0.5) as f64)
        .abs()
        / right_p50;
    let noise = (2.0 * split).max(NOISE_FLOOR);
    let variants = presented
        .iter()
        .zip(&histograms)
        .map(|((name, _, _), histogram)| {
            let p50 = histogram.value_at_quantile(0.5);
            let ratio = p50 as f64 / right_p50;
            VariantReport {
                variant: name,
                samples: histogram.len(),
                p50_us: p50,
                p90_us: histogram.value_at_quantile(0.9),
                p50_ratio: ratio,
                indistinguishable: (ratio - 1.0).abs() <= noise,
            }
        })
        .collect();
    Ok(PhaseReport {
        phase,
        server_args,
        noise,
        variants,
    })
}

async fn call(
    client: &mut IntrospectionServiceClient<Channel>,
    auth: &MetadataValue<Ascii>,
    request: &IntrospectRequest,
    expect_active: bool,
) -> anyhow::Result<()> {
    let answer = client
        .introspect(authorized(auth, request.clone()))
        .await
        .context("Introspect failed")?
        .into_inner();
    if answer.active != expect_active {
        bail!(
            "Introspect answered active={} where {expect_active} was expected",
            answer.active
        );
    }
    Ok(())
}

fn print_report(phases: &[PhaseReport]) {
    println!(
        "{:<30} {:<18} {:>8} {:>9} {:>9} {:>8}  verdict",
        "phase", "variant", "samples", "p50 µs", "p90 µs", "p50×"
    );
    for phase in phases {
        for variant in &phase.variants {
            println!(
                "{:<30} {:<18} {:>8} {:>9} {:>9} {:>8.3}  {}",
                phase.phase,
                variant.variant,
                variant.samples,
                variant.p50_us,
                variant.p90_us,
                variant.p50_ratio,
                if variant.indistinguishable {
                    format!("within noise (±{:.3})", phase.noise)
                } else {
                    format!("STANDS OUT (noise ±{:.3})", phase.noise)
                }
            );
        }
    }
}
