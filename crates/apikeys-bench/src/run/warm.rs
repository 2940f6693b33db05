//! The warm scenarios a, b1, b2, c1 and c2: for each concurrency, rounds in which they take
//! turns, each measured for duration/rounds, so a slow spell of a shared machine falls on both
//! sides of every ratio alike instead of on whichever scenario ran during it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use tonic::metadata::{Ascii, MetadataValue};

use super::Ctx;
use crate::auth::Minter;
use crate::load::LoadResult;
use crate::scenarios::Scenario;
use crate::scenarios::calls::{
    CheckCall, IntrospectCall, Key, bare_requests, basic_check_requests, bearer_check_requests,
    credential_requests, token_requests,
};
use crate::scenarios::setup::{Apikeys, create_keys, enable_account, introspect_all, issue_tokens};
use crate::servers::{ServerProcess, spawn_bare};

pub(super) const WARM_ACCOUNT: &str = "bench-warm";

/// The scenarios measured on the main apikeys instance with a warm verification cache.
const ON_APIKEYS: [Scenario; 4] = [
    Scenario::WarmCredentials,
    Scenario::WarmTokens,
    Scenario::CheckBasic,
    Scenario::CheckBearer,
];

/// What the warm scenarios send, prepared on the main apikeys instance.
struct Warm {
    auth: MetadataValue<Ascii>,
    credentials: Arc<Vec<Bytes>>,
    checks_basic: Arc<Vec<Bytes>>,
    /// Access tokens are issued only when b2 or c2 is selected.
    tokens: Option<Arc<Vec<Bytes>>>,
    checks_bearer: Option<Arc<Vec<Bytes>>>,
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
        Some(issue_tokens(&channels, auth.clone(), &keys).await?)
    } else {
        None
    };
    Ok(Warm {
        auth,
        credentials: Arc::new(credential_requests(&keys)),
        checks_basic: Arc::new(basic_check_requests(&keys)),
        checks_bearer: tokens
            .as_ref()
            .map(|tokens| Arc::new(bearer_check_requests(tokens))),
        tokens: tokens.map(|tokens| Arc::new(token_requests(&tokens))),
    })
}

/// One scenario's turn in a round: where it calls, with what.
struct Turn<'a> {
    scenario: Scenario,
    server: &'a ServerProcess,
    auth: MetadataValue<Ascii>,
    requests: Arc<Vec<Bytes>>,
    /// An ext_authz Check rather than an Introspect.
    check: bool,
}

/// Starts the bare baseline and the main apikeys instance as the selection needs, runs the
/// warm rounds, stops the bare server and returns the main instance (CreateKey runs on it next).
pub(super) async fn warm_phase(
    ctx: &mut Ctx,
    apikeys_bin: Option<&Path>,
    log_dir: &Path,
) -> anyhow::Result<Option<Apikeys>> {
    let bare = if ctx.has(Scenario::Bare) {
        eprintln!("starting the bare baseline server …");
        Some(spawn_bare(log_dir).await?)
    } else {
        None
    };
    let on_apikeys = ON_APIKEYS.iter().any(|s| ctx.has(*s));
    let main = match apikeys_bin {
        Some(bin) if on_apikeys || ctx.has(Scenario::CreateKey) => {
            eprintln!("starting apikeys (warm) …");
            Some(Apikeys::start(bin, "apikeys (warm)", &[], false).await?)
        }
        _ => None,
    };
    let warm = match &main {
        Some(server) if on_apikeys => Some(prepare_warm(ctx, server).await?),
        _ => None,
    };

    let mut turns = Vec::new();
    if let Some(bare) = &bare {
        turns.push(Turn {
            scenario: Scenario::Bare,
            server: bare,
            // The bare server ignores it, but the bytes on the wire are the same.
            auth: Minter::random().bearer(WARM_ACCOUNT)?,
            requests: Arc::new(bare_requests()),
            check: false,
        });
    }
    if let (Some(server), Some(warm)) = (&main, &warm) {
        for (scenario, requests, check) in [
            (Scenario::WarmCredentials, Some(&warm.credentials), false),
            (Scenario::WarmTokens, warm.tokens.as_ref(), false),
            (Scenario::CheckBasic, Some(&warm.checks_basic), true),
            (Scenario::CheckBearer, warm.checks_bearer.as_ref(), true),
        ] {
            if let (true, Some(requests)) = (ctx.has(scenario), requests) {
                turns.push(Turn {
                    scenario,
                    server: &server.process,
                    auth: warm.auth.clone(),
                    requests: Arc::clone(requests),
                    check,
                });
            }
        }
    }
    take_turns(ctx, &turns).await?;
    if let Some(bare) = bare {
        bare.stop().await;
    }
    Ok(main)
}

async fn take_turns(ctx: &mut Ctx, turns: &[Turn<'_>]) -> anyhow::Result<()> {
    if turns.is_empty() {
        return Ok(());
    }
    let rounds = ctx.args.rounds.max(1);
    eprintln!(
        "warm scenarios {:?}, {} s each in {rounds} rounds taking turns, {} s warmup per turn …",
        turns
            .iter()
            .map(|turn| turn.scenario.id())
            .collect::<Vec<_>>(),
        ctx.args.duration_secs,
        ctx.args.turn_warmup_secs
    );
    for concurrency in ctx.args.concurrency.clone() {
        let mut slice = ctx.load_config(concurrency);
        slice.duration = slice.duration.div_f64(rounds as f64);
        slice.warmup = Duration::from_secs_f64(ctx.args.turn_warmup_secs);
        let mut totals: Vec<Option<LoadResult>> = turns.iter().map(|_| None).collect();
        for _round in 0..rounds {
            for (turn, total) in turns.iter().zip(&mut totals) {
                let (auth, requests) = (&turn.auth, &turn.requests);
                let result = if turn.check {
                    ctx.measure_slice(turn.server, slice, |channel| {
                        CheckCall::new(channel, auth.clone(), Arc::clone(requests))
                    })
                    .await?
                } else {
                    ctx.measure_slice(turn.server, slice, |channel| {
                        IntrospectCall::new(channel, auth.clone(), Arc::clone(requests))
                    })
                    .await?
                };
                match total {
                    Some(total) => total.absorb(result)?,
                    None => *total = Some(result),
                }
            }
        }
        for (turn, total) in turns.iter().zip(totals) {
            ctx.record(turn.scenario, total.context("no round measured")?);
        }
    }
    Ok(())
}
