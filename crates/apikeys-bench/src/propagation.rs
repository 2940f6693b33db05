//! `apikeys-bench propagation`: how long after a revocation is committed through replica A does
//! replica B, which shares A's PostgreSQL database and had the key in its verification cache,
//! answer `active=false` for it? A distribution over many keys, in two modes:
//!
//! - notify: normal operation, B learns through LISTEN/NOTIFY;
//! - poll: B's LISTEN connection is killed before each revocation, so the notification is lost
//!   and only B's periodic poll of the audit trail (`--revocation-poll-interval-ms`) can tell it.
//!
//! The clock starts when A answers RevokeKey (the change is committed) and stops when an
//! Introspect on B, called back to back, answers inactive. Also kept: the time since the
//! request was sent, and the duration of that last Introspect, which missed the cache and
//! verified the secret again (argon2) before answering; the time until it began is when B
//! learnt of the revocation, give or take one cached call.

mod listener;
mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use apikeys_proto::pb::introspection_service_client::IntrospectionServiceClient;
use apikeys_proto::pb::{IntrospectRequest, RevokeKeyRequest};
use apikeys_test_support::{POSTGRES_URL_VAR, TestDatabase};
use clap::{Args, ValueEnum};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use rand::Rng;
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use self::listener::ListenerWatch;
use self::report::{ModeReport, PropagationReport, Sample};
use crate::auth::{AUDIENCE, ISSUER, Minter};
use crate::report::{Machine, command_line, loadavg};
use crate::scenarios::calls::{Key, authorized};
use crate::scenarios::setup::{MAX_ACTIVE_KEYS, create_keys, enable_account, introspect_all};
use crate::servers::{ServerProcess, locate_apikeys};

const ACCOUNT: &str = "propagation";
/// A sample still active this long after the revocation is a failure, not a slow sample.
const SAMPLE_DEADLINE: Duration = Duration::from_secs(10);
/// For B's listener to (re)connect: the server waits a second before reconnecting.
const LISTENER_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Notify,
    Poll,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Notify => "notify",
            Self::Poll => "poll",
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct PropagationArgs {
    /// Modes to measure: notify (LISTEN/NOTIFY) and poll (B's LISTEN connection killed before
    /// each revocation, so only the periodic poll can tell B).
    #[arg(long, value_delimiter = ',', default_value = "notify,poll")]
    pub modes: Vec<Mode>,

    /// Samples (one revoked key each) in notify mode.
    #[arg(long, default_value_t = 200)]
    pub samples: usize,

    /// Samples in poll mode; each takes up to a poll interval, plus B's listener reconnecting.
    #[arg(long, default_value_t = 20)]
    pub poll_samples: usize,

    /// `--revocation-poll-interval-ms` of both replicas; poll mode's target.
    #[arg(long, default_value_t = 1_000)]
    pub poll_interval_ms: u64,

    /// The PostgreSQL server on which a scratch database is created (and dropped).
    #[arg(long, env = POSTGRES_URL_VAR, hide_env_values = true)]
    pub postgres_url: Option<String>,

    /// The `apikeys` binary; built with `cargo build --release -p apikeys-server` if absent.
    #[arg(long, env = "APIKEYS_BIN")]
    pub apikeys_bin: Option<PathBuf>,

    /// Also write the report (with every sample) as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub async fn run(args: PropagationArgs) -> anyhow::Result<()> {
    let admin_url = args.postgres_url.clone().with_context(|| {
        format!(
            "no PostgreSQL server: pass --postgres-url or set {POSTGRES_URL_VAR} \
             (e.g. postgres://postgres@127.0.0.1:5432/test)"
        )
    })?;
    // TestDatabase panics when the server is unreachable; say it plainly instead.
    AsyncPgConnection::establish(&admin_url)
        .await
        .context("cannot connect to the PostgreSQL server of --postgres-url")?;
    let bin = locate_apikeys(args.apikeys_bin.clone()).await?;
    let mut report = PropagationReport {
        command: command_line(),
        poll_interval_ms: args.poll_interval_ms,
        machine: Machine::probe(),
        modes: Vec::new(),
    };
    let database = TestDatabase::postgres_on(&admin_url).await;
    let minter = Minter::random();
    // One after the other: the first migrates the fresh database and creates the token KEK.
    let a = start_replica(&bin, "A", &database, &minter, args.poll_interval_ms).await?;
    let b = start_replica(&bin, "B", &database, &minter, args.poll_interval_ms).await?;
    let measured = measure(&args, database.url(), &minter, &a, &b).await;
    b.stop().await;
    a.stop().await;
    drop(database);
    report.modes = measured?;
    report.machine.loadavg_at_end = loadavg();
    report.print();
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(failure) = report.modes.iter().find_map(|mode| mode.failure.as_ref()) {
        bail!("{failure}");
    }
    Ok(())
}

/// `apikeys serve` on the shared database, verifying the bench's tokens (one HS256 secret for
/// both replicas, so one caller token works on either).
async fn start_replica(
    bin: &Path,
    name: &str,
    database: &TestDatabase,
    minter: &Minter,
    poll_interval_ms: u64,
) -> anyhow::Result<ServerProcess> {
    let kek = database.dir().join("token-kek");
    let args = [
        "serve",
        "--database-url",
        database.url(),
        "--listen",
        "127.0.0.1:0",
        "--jwt-hs256-secret",
        minter.secret(),
        "--jwt-issuer",
        ISSUER,
        "--jwt-audience",
        AUDIENCE,
        "--max-active-keys",
        &MAX_ACTIVE_KEYS.to_string(),
        "--revocation-poll-interval-ms",
        &poll_interval_ms.to_string(),
        // Every replica must use the same KEK; the default is a file in the working directory.
        "--token-kek-file",
        &kek.display().to_string(),
        // An entry expired before its sample would be re-read from the database and show the
        // revocation at once, measuring nothing.
        "--verification-cache-ttl-secs",
        "86400",
    ]
    .map(str::to_owned);
    let log = database.dir().join(format!("replica-{name}.stderr.log"));
    ServerProcess::spawn(&format!("replica {name}"), bin, &args, log).await
}

async fn measure(
    args: &PropagationArgs,
    database_url: &str,
    minter: &Minter,
    a: &ServerProcess,
    b: &ServerProcess,
) -> anyhow::Result<Vec<ModeReport>> {
    let channels_a = a.channels(1).await?;
    let channels_b = b.channels(1).await?;
    enable_account(channels_a[0].clone(), minter, ACCOUNT).await?;
    let count = |mode: &Mode| match mode {
        Mode::Notify => args.samples,
        Mode::Poll => args.poll_samples,
    };
    let total = args.modes.iter().map(count).sum();
    let accounts = [ACCOUNT.to_owned()];
    let keys = create_keys(&channels_a, minter, &accounts, total, 4, Some("keys on A")).await?;
    let auth = minter.bearer(ACCOUNT)?;
    let mut watch = ListenerWatch::connect(database_url, b.pid).await?;
    watch.wait_listening(LISTENER_DEADLINE).await?;
    let mut reports = Vec::new();
    let mut remaining = keys.as_slice();
    for &mode in &args.modes {
        let (keys, rest) = remaining.split_at(count(&mode));
        remaining = rest;
        // Just before the mode, so the entries are as fresh as they can be.
        introspect_all(&channels_b, auth.clone(), keys, 4, Some("warming B")).await?;
        let mut run = ModeRun {
            mode,
            revoke: ApiKeyServiceClient::new(channels_a[0].clone()),
            introspect: IntrospectionServiceClient::new(channels_b[0].clone()),
            auth: auth.clone(),
            poll_interval: Duration::from_millis(args.poll_interval_ms),
        };
        reports.push(run.measure(keys, &mut watch).await?);
    }
    Ok(reports)
}

struct ModeRun {
    mode: Mode,
    revoke: ApiKeyServiceClient<Channel>,
    introspect: IntrospectionServiceClient<Channel>,
    auth: MetadataValue<Ascii>,
    poll_interval: Duration,
}

impl ModeRun {
    async fn measure(
        &mut self,
        keys: &[Key],
        watch: &mut ListenerWatch,
    ) -> anyhow::Result<ModeReport> {
        eprintln!(
            "propagation: {}, {} samples …",
            self.mode.name(),
            keys.len()
        );
        let listening_before = watch.listening().await?;
        let mut samples = Vec::with_capacity(keys.len());
        let mut failure = None;
        for (index, key) in keys.iter().enumerate() {
            if self.mode == Mode::Poll {
                // Lands each revocation at a random point of B's poll cycle: the kill waits
                // for B's reconnect, which is paced by the same second as the previous kill.
                let jitter = rand::thread_rng().gen_range(0..self.poll_interval.as_micros().max(1));
                tokio::time::sleep(Duration::from_micros(u64::try_from(jitter)?)).await;
                let pids = watch.wait_listening(LISTENER_DEADLINE).await?;
                watch.terminate(&pids, LISTENER_DEADLINE).await?;
            }
            match self.sample(key).await? {
                Some(sample) => samples.push(sample),
                None => {
                    failure = Some(format!(
                        "{} sample {index}: replica B still answered active {SAMPLE_DEADLINE:?} \
                         after the revocation was committed on A",
                        self.mode.name()
                    ));
                    break;
                }
            }
        }
        let mut notes = Vec::new();
        if self.mode == Mode::Notify && watch.listening().await? != listening_before {
            notes.push(
                "B's LISTEN connection changed during the run: samples after that may have \
                 been caught by the poll"
                    .to_owned(),
            );
        }
        Ok(ModeReport::judge(
            self.mode,
            samples,
            self.poll_interval,
            failure,
            notes,
        ))
    }

    /// Revokes `key` on A, then introspects it on B back to back until B answers inactive;
    /// `None` past the deadline.
    async fn sample(&mut self, key: &Key) -> anyhow::Result<Option<Sample>> {
        let revoke = RevokeKeyRequest {
            account_id: ACCOUNT.to_owned(),
            client_id: key.client_id.clone(),
        };
        let introspect = IntrospectRequest {
            client_id: key.client_id.clone(),
            client_secret: key.client_secret.clone(),
            token: String::new(),
        };
        let sent = Instant::now();
        self.revoke
            .revoke_key(authorized(&self.auth, revoke))
            .await
            .context("RevokeKey on replica A")?;
        let answered = Instant::now();
        let mut calls = 0;
        loop {
            let call_started = Instant::now();
            let answer = self
                .introspect
                .introspect(authorized(&self.auth, introspect.clone()))
                .await
                .context("Introspect on replica B")?
                .into_inner();
            calls += 1;
            let now = Instant::now();
            if !answer.active {
                return Ok(Some(Sample {
                    since_answer_ms: millis(now - answered),
                    since_send_ms: millis(now - sent),
                    last_call_ms: millis(now - call_started),
                    calls,
                }));
            }
            if now - answered > SAMPLE_DEADLINE {
                return Ok(None);
            }
            // No sleep: a sleep's granularity would be part of the measurement.
            tokio::task::yield_now().await;
        }
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}
