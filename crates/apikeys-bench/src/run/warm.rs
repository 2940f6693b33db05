//! The warm scenarios a, b1, b2, c1, c2 (gRPC) and h, f1, f2, t (HTTP/1.1): for each
//! concurrency, rounds in which they take turns, each measured for duration/rounds, so a slow
//! spell of a shared machine falls on both sides of every ratio alike instead of on whichever
//! scenario ran during it.

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
    CheckCall, IntrospectCall, Key, bare_key, bare_requests, basic_check_requests,
    bearer_check_requests, credential_requests, token_requests,
};
use crate::scenarios::http::{self, Prepared};
use crate::scenarios::setup::{Apikeys, create_keys, enable_account, introspect_all, issue_tokens};
use crate::servers::{BARE_CLIENT_ID, ServerProcess, spawn_bare};

pub(super) const WARM_ACCOUNT: &str = "bench-warm";

/// The scenarios measured on the main apikeys instance with a warm verification cache.
const ON_APIKEYS: [Scenario; 7] = [
    Scenario::WarmCredentials,
    Scenario::WarmTokens,
    Scenario::CheckBasic,
    Scenario::CheckBearer,
    Scenario::ForwardBasic,
    Scenario::ForwardBearer,
    Scenario::Token,
];

/// What the warm scenarios send, prepared on the main apikeys instance.
struct Warm {
    auth: MetadataValue<Ascii>,
    credentials: Arc<Vec<Bytes>>,
    checks_basic: Arc<Vec<Bytes>>,
    forward_basic: Arc<Vec<Prepared>>,
    issue: Arc<Vec<Prepared>>,
    /// Access tokens are issued only when b2, c2 or f2 is selected.
    tokens: Option<Arc<Vec<Bytes>>>,
    checks_bearer: Option<Arc<Vec<Bytes>>>,
    forward_bearer: Option<Arc<Vec<Prepared>>>,
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
    let needs_tokens = [
        Scenario::WarmTokens,
        Scenario::CheckBearer,
        Scenario::ForwardBearer,
    ];
    let tokens = if needs_tokens.iter().any(|scenario| ctx.has(*scenario)) {
        Some(issue_tokens(&channels, auth.clone(), &keys).await?)
    } else {
        None
    };
    let forward_bearer = match &tokens {
        Some(tokens) => Some(Arc::new(http::forward_auth_bearer(&keys, tokens, &auth)?)),
        None => None,
    };
    Ok(Warm {
        credentials: Arc::new(credential_requests(&keys)),
        checks_basic: Arc::new(basic_check_requests(&keys)),
        forward_basic: Arc::new(http::forward_auth_basic(&keys, &auth)?),
        issue: Arc::new(http::issue_token_requests(&keys)?),
        checks_bearer: tokens
            .as_ref()
            .map(|tokens| Arc::new(bearer_check_requests(tokens))),
        tokens: tokens.map(|tokens| Arc::new(token_requests(&tokens))),
        forward_bearer,
        auth,
    })
}

/// What a turn sends.
enum Load {
    Introspect(MetadataValue<Ascii>, Arc<Vec<Bytes>>),
    /// An ext_authz Check.
    Check(MetadataValue<Ascii>, Arc<Vec<Bytes>>),
    /// HTTP/1.1 requests, a connection per task.
    Http(Arc<Vec<Prepared>>),
}

/// One scenario's turn in a round: where it calls, with what.
struct Turn<'a> {
    scenario: Scenario,
    server: &'a ServerProcess,
    load: Load,
}

/// Starts the bare baseline and the main apikeys instance as the selection needs, runs the
/// warm rounds, stops the bare server and returns the main instance (CreateKey runs on it next).
pub(super) async fn warm_phase(
    ctx: &mut Ctx,
    apikeys_bin: Option<&Path>,
    log_dir: &Path,
) -> anyhow::Result<Option<Apikeys>> {
    let bare = if ctx.has(Scenario::Bare) || ctx.has(Scenario::BareHttp) {
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
        // The bare server ignores the caller token, but the bytes on the wire are the same.
        let auth = Minter::random().bearer(WARM_ACCOUNT)?;
        if ctx.has(Scenario::Bare) {
            turns.push(Turn {
                scenario: Scenario::Bare,
                server: bare,
                load: Load::Introspect(auth.clone(), Arc::new(bare_requests())),
            });
        }
        if ctx.has(Scenario::BareHttp) {
            let request = http::forward_auth(0, &http::basic(&bare_key()), &auth, BARE_CLIENT_ID)?;
            turns.push(Turn {
                scenario: Scenario::BareHttp,
                server: bare,
                load: Load::Http(Arc::new(vec![request])),
            });
        }
    }
    if let (Some(server), Some(warm)) = (&main, warm) {
        let auth = &warm.auth;
        for (scenario, load) in [
            (
                Scenario::WarmCredentials,
                Some(Load::Introspect(auth.clone(), warm.credentials)),
            ),
            (
                Scenario::WarmTokens,
                warm.tokens.map(|t| Load::Introspect(auth.clone(), t)),
            ),
            (
                Scenario::CheckBasic,
                Some(Load::Check(auth.clone(), warm.checks_basic)),
            ),
            (
                Scenario::CheckBearer,
                warm.checks_bearer.map(|c| Load::Check(auth.clone(), c)),
            ),
            (Scenario::ForwardBasic, Some(Load::Http(warm.forward_basic))),
            (Scenario::ForwardBearer, warm.forward_bearer.map(Load::Http)),
            (Scenario::Token, Some(Load::Http(warm.issue))),
        ] {
            if let (true, Some(load)) = (ctx.has(scenario), load) {
                turns.push(Turn {
                    scenario,
                    server: &server.process,
                    load,
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
                let result = match &turn.load {
                    Load::Introspect(auth, requests) => {
                        ctx.measure_slice(turn.server, slice, |channel| {
                            IntrospectCall::new(channel, auth.clone(), Arc::clone(requests))
                        })
                        .await?
                    }
                    Load::Check(auth, requests) => {
                        ctx.measure_slice(turn.server, slice, |channel| {
                            CheckCall::new(channel, auth.clone(), Arc::clone(requests))
                        })
                        .await?
                    }
                    Load::Http(requests) => {
                        ctx.measure_http_slice(turn.server, slice, requests).await?
                    }
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
