//! Memory with many cached keys: an `apikeys serve` with cheap hashing
//! (`--argon2-memory-kib 8 --argon2-iterations 1`: a cache entry's size does not depend on the
//! argon2 cost, and 100 000 default-cost hashes would take about half an hour on 2 cores),
//! N keys created over gRPC concurrently, each introspected once so all are cached, then VmRSS
//! of the server process from /proc.

use std::path::Path;

use serde::Serialize;

use crate::scenarios::setup::{Apikeys, create_keys, enable_account, introspect_all};
use crate::servers::flag_default;

/// The limit.
pub const RSS_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
const KEYS_PER_ACCOUNT: usize = 1_000;
const CACHE_FLAG: &str = "--verification-cache-max-entries";

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
    pub note: Option<String>,
}

pub async fn measure(
    apikeys_bin: &Path,
    serve_help: &str,
    keys: usize,
    channel_count: usize,
) -> anyhow::Result<RssReport> {
    let mut extra: Vec<String> = ["--argon2-memory-kib", "8", "--argon2-iterations", "1"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let note = match flag_default(serve_help, CACHE_FLAG) {
        None => Some(format!(
            "apikeys serve has no {CACHE_FLAG}: measured with its built-in cache settings"
        )),
        Some(Some(default)) if default < keys as u64 => {
            extra.extend([CACHE_FLAG.to_owned(), keys.to_string()]);
            Some(format!(
                "{CACHE_FLAG} defaults to {default} < {keys}: raised to {keys} for this measurement"
            ))
        }
        Some(_) => None,
    };
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
        note,
    })
}
