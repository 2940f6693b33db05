//! Preparing an `apikeys serve` instance: a temp SQLite database, the bench as identity
//! provider, accounts with API access, keys created (concurrently, with progress) and warmed.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use apikeys_proto::pb::account_service_client::AccountServiceClient;
use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use apikeys_proto::pb::introspection_service_client::IntrospectionServiceClient;
use apikeys_proto::pb::token_service_client::TokenServiceClient;
use apikeys_proto::pb::{
    CreateKeyRequest, IntrospectRequest, IssueTokenRequest, SetApiAccessRequest,
};
use tempfile::TempDir;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use crate::auth::{AUDIENCE, ISSUER, Minter};
use crate::scenarios::calls::{Key, authorized};
use crate::servers::ServerProcess;

/// Most keys one account holds in the bench (`--max-active-keys`; the server allows up to 100 000).
pub const MAX_ACTIVE_KEYS: u32 = 100_000;

/// A running `apikeys serve` on a temp SQLite database; killed and deleted on drop.
pub struct Apikeys {
    pub process: ServerProcess,
    pub minter: Minter,
    // Dropped after the process (field order), so the database outlives the server.
    _dir: TempDir,
}

impl Apikeys {
    /// Starts `apikeys serve` with the bench's HS256 secret and `extra` flags. `in_memory_dir`
    /// puts the database in /dev/shm (used to create 100 000 keys quickly: no fsync cost).
    pub async fn start(
        bin: &Path,
        name: &str,
        extra: &[String],
        in_memory_dir: bool,
    ) -> anyhow::Result<Self> {
        let shm = Path::new("/dev/shm");
        let dir = if in_memory_dir && shm.is_dir() {
            tempfile::Builder::new()
                .prefix("apikeys-bench-")
                .tempdir_in(shm)?
        } else {
            tempfile::Builder::new()
                .prefix("apikeys-bench-")
                .tempdir()?
        };
        let minter = Minter::random();
        let mut args = vec![
            "serve".to_owned(),
            "--database-url".to_owned(),
            format!("sqlite://{}", dir.path().join("apikeys.db").display()),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--jwt-hs256-secret".to_owned(),
            minter.secret().to_owned(),
            "--jwt-issuer".to_owned(),
            ISSUER.to_owned(),
            "--jwt-audience".to_owned(),
            AUDIENCE.to_owned(),
            "--max-active-keys".to_owned(),
            MAX_ACTIVE_KEYS.to_string(),
        ];
        args.extend(extra.iter().cloned());
        let log = dir.path().join("apikeys.stderr.log");
        let process = ServerProcess::spawn(name, bin, &args, log).await?;
        Ok(Self {
            process,
            minter,
            _dir: dir,
        })
    }

    pub async fn stop(self) {
        self.process.stop().await;
    }
}

/// Staff switch API access on for `account_id`.
pub async fn enable_account(
    channel: Channel,
    minter: &Minter,
    account_id: &str,
) -> anyhow::Result<()> {
    let request = authorized(
        &minter.bearer(account_id)?,
        SetApiAccessRequest {
            account_id: account_id.to_owned(),
            enabled: true,
        },
    );
    AccountServiceClient::new(channel)
        .set_api_access(request)
        .await
        .with_context(|| format!("SetApiAccess {account_id}"))?;
    Ok(())
}

/// Runs `work(index)` for `0..total` on `concurrency` tasks; prints progress when `label` is set.
pub async fn for_each_index<T, F, Fut>(
    total: usize,
    concurrency: usize,
    label: Option<&str>,
    work: F,
) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let work = Arc::new(work);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let progress = label.map(|label| {
        let label = label.to_owned();
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(2));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let count = done.load(Ordering::Relaxed);
                let rate = count as f64 / started.elapsed().as_secs_f64();
                eprintln!("    {label}: {count}/{total} ({rate:.0}/s)");
            }
        })
    });
    let mut tasks = Vec::new();
    for _ in 0..concurrency.clamp(1, total.max(1)) {
        let work = Arc::clone(&work);
        let next = Arc::clone(&next);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return Ok::<_, anyhow::Error>(out);
                }
                out.push((index, work(index).await?));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let mut results = Vec::with_capacity(total);
    let mut failure = None;
    for task in tasks {
        match task.await.context("setup task panicked")? {
            Ok(items) => results.extend(items),
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(progress) = progress {
        progress.abort();
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if let Some(label) = label {
        eprintln!(
            "    {label}: {total}/{total} in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, item)| item).collect())
}

/// Creates `total` keys spread round-robin over `accounts`, retrying overload answers.
pub async fn create_keys(
    channels: &[Channel],
    minter: &Minter,
    accounts: &[String],
    total: usize,
    concurrency: usize,
    label: Option<&str>,
) -> anyhow::Result<Vec<Key>> {
    let auths: Vec<MetadataValue<Ascii>> = accounts
        .iter()
        .map(|account| minter.bearer(account))
        .collect::<anyhow::Result<_>>()?;
    let shared = Arc::new((channels.to_vec(), accounts.to_vec(), auths));
    for_each_index(total, concurrency, label, move |index| {
        let shared = Arc::clone(&shared);
        async move {
            let (channels, accounts, auths) = &*shared;
            let mut client = ApiKeyServiceClient::new(channels[index % channels.len()].clone());
            let account = index % accounts.len();
            let mut attempt = 0;
            loop {
                let request = authorized(
                    &auths[account],
                    CreateKeyRequest {
                        account_id: accounts[account].clone(),
                        email: format!("key{index}@bench.example"),
                        display_name: String::new(),
                    },
                );
                match client.create_key(request).await {
                    Ok(response) => {
                        let response = response.into_inner();
                        let key = response.key.context("CreateKey answered without a key")?;
                        return Ok(Key {
                            client_id: key.client_id,
                            client_secret: response.client_secret,
                        });
                    }
                    Err(status)
                        if attempt < 20
                            && matches!(
                                status.code(),
                                Code::ResourceExhausted | Code::Unavailable
                            ) =>
                    {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                    }
                    Err(status) => bail!("CreateKey failed: {status}"),
                }
            }
        }
    })
    .await
}

/// Introspects every key once (fills the verification cache); all must be active.
pub async fn introspect_all(
    channels: &[Channel],
    auth: MetadataValue<Ascii>,
    keys: &[Key],
    concurrency: usize,
    label: Option<&str>,
) -> anyhow::Result<()> {
    let shared = Arc::new((channels.to_vec(), keys.to_vec(), auth));
    for_each_index(keys.len(), concurrency, label, move |index| {
        let shared = Arc::clone(&shared);
        async move {
            let (channels, keys, auth) = &*shared;
            let mut client =
                IntrospectionServiceClient::new(channels[index % channels.len()].clone());
            let request = authorized(
                auth,
                IntrospectRequest {
                    client_id: keys[index].client_id.clone(),
                    client_secret: keys[index].client_secret.clone(),
                    token: String::new(),
                },
            );
            let response = client.introspect(request).await?.into_inner();
            if !response.active {
                bail!("a fresh key introspected as inactive");
            }
            Ok(())
        }
    })
    .await?;
    Ok(())
}

/// IssueToken for every key: one access token per key, in the keys' order.
pub async fn issue_tokens(
    channels: &[Channel],
    auth: MetadataValue<Ascii>,
    keys: &[Key],
) -> anyhow::Result<Vec<String>> {
    let shared = Arc::new((channels.to_vec(), keys.to_vec(), auth));
    for_each_index(keys.len(), 8, None, move |index| {
        let shared = Arc::clone(&shared);
        async move {
            let (channels, keys, auth) = &*shared;
            let mut client = TokenServiceClient::new(channels[index % channels.len()].clone());
            let request = authorized(
                auth,
                IssueTokenRequest {
                    client_id: keys[index].client_id.clone(),
                    client_secret: keys[index].client_secret.clone(),
                },
            );
            let response = client
                .issue_token(request)
                .await
                .context("IssueToken failed")?
                .into_inner();
            if response.access_token.is_empty() {
                bail!("IssueToken answered an empty token");
            }
            Ok(response.access_token)
        }
    })
    .await
}
