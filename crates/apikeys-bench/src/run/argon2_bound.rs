//! The argon2-bound scenarios, d (cold Introspect) and e (CreateKey), each row measured in
//! rounds with its baseline, the raw argon2id rate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use apikeys_store::HashingParams;
use tonic::transport::Channel;

use super::Ctx;
use crate::load::{Call, LoadResult};
use crate::scenarios::Scenario;
use crate::scenarios::calls::{CreateKeyCall, IntrospectCall, credential_requests};
use crate::scenarios::cold::{self, Argon2Rate};
use crate::scenarios::setup::{Apikeys, create_keys, enable_account};
use crate::servers::ServerProcess;

const CREATE_ACCOUNT: &str = "bench-create";
const COLD_ACCOUNT: &str = "bench-cold";
const COLD_KEYS: usize = 8;

impl Ctx {
    /// One row of an argon2-bound `scenario` and its baseline, the raw argon2id rate at the
    /// server's default cost (measured in this process while the server idles): in rounds, each
    /// a raw slice then a scenario slice, so both sides of the ratio see the same spells of
    /// background load.
    async fn measure_argon2_bound<C: Call>(
        &mut self,
        scenario: Scenario,
        server: &ServerProcess,
        concurrency: usize,
        make: impl Fn(Channel) -> C,
    ) -> anyhow::Result<()> {
        let params = HashingParams::default();
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
}

/// e: CreateKey at the default argon2 cost, on the main instance.
pub(super) async fn create_key_phase(ctx: &mut Ctx, server: &Apikeys) -> anyhow::Result<()> {
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
    Ok(())
}

/// d: Introspect with the verification cache off, on an instance of its own, so every call
/// verifies the secret with argon2.
pub(super) async fn cold_phase(ctx: &mut Ctx, bin: &Path) -> anyhow::Result<()> {
    eprintln!("starting apikeys (cold, --verification-cache-max-entries 0) …");
    let extra = ["--verification-cache-max-entries", "0"].map(str::to_owned);
    let server = Apikeys::start(bin, "apikeys (cold)", &extra, false).await?;
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
    for concurrency in ctx.args.cold_concurrency.clone() {
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
