//! Memory with many cached keys: an `apikeys serve` with cheap hashing
//! (`--argon2-memory-kib 8 --argon2-iterations 1`: a cache entry's size does not depend on the
//! argon2 cost, and 100 000 default-cost hashes would take about half an hour on 2 cores) and a
//! verification cache of N entries, N keys created over gRPC concurrently, each introspected
//! once so all are cached, then VmRSS of the server process from /proc.

use std::path::Path;

use serde::Serialize;

use crate::scenarios::setup::{Apikeys, create_keys, enable_account, introspect_all};

/// The limit.
pub const RSS_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
const KEYS_PER_ACCOUNT: usize = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct RssReport {
    pub keys: usize,
    pub accounts: usize,
    pub server_args: Vec<String>,
    pub rss_at_start_bytes: u64,
    pub rss_after_create_bytes: u64,
    /// The measurement the target is about: every key created and introspected once.
    pub rss_bytes: u64,
    pub hwm_bytes: u64,
    pub limit_bytes: u64,
}

pub async fn measure(
    apikeys_bin: &Path,
    keys: usize,
    channel_count: usize,
) -> anyhow::Result<RssReport> {
    // A cache of exactly `keys` entries: every key stays cached, whatever the server's default.
    let extra: Vec<String> = [
        "--argon2-memory-kib",
        "8",
        "--argon2-iterations",
        "1",
        "--verification-cache-max-entries",
        &keys.to_string(),
    ]
    .map(str::to_owned)
    .into();
    let server = Apikeys::start(apikeys_bin, "apikeys (rss)", &extra, true).await?;
    let channels = server.process.channels(channel_count).await?;
    let accounts: Vec<String> = (0..keys.div_ceil(KEYS_PER_ACCOUNT).max(1))
        .map(|index| format!("rss-{index:04}"))
        .collect();
    for account in &accounts {
        enable_account(channels[0].clone(), &server.minter, account).await?;
    }
    let (rss_at_start, _) = server.process.memory()?;
    eprintln!(
        "  rss: creating {keys} keys in {} accounts (cheap argon2) …",
        accounts.len()
    );
    let created = create_keys(
        &channels,
        &server.minter,
        &accounts,
        keys,
        32,
        Some("created keys"),
    )
    .await?;
    let (rss_after_create, _) = server.process.memory()?;
    eprintln!("  rss: introspecting each key once so all are cached …");
    let auth = server.minter.bearer(&accounts[0])?;
    introspect_all(&channels, auth, &created, 32, Some("introspected keys")).await?;
    let (rss, hwm) = server.process.memory()?;
    let mut server_args = vec!["serve".to_owned(), "--max-active-keys".to_owned()];
    server_args.push(crate::scenarios::setup::MAX_ACTIVE_KEYS.to_string());
    server_args.extend(extra);
    drop(channels);
    server.stop().await;
    Ok(RssReport {
        keys,
        accounts: accounts.len(),
        server_args,
        rss_at_start_bytes: rss_at_start,
        rss_after_create_bytes: rss_after_create,
        rss_bytes: rss,
        hwm_bytes: hwm,
        limit_bytes: RSS_LIMIT_BYTES,
    })
}
