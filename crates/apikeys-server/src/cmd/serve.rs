//! `apikeys serve`: opens the store and the key files, starts the verification path and the
//! background tasks, serves gRPC until SIGTERM / Ctrl-C and drains.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use apikeys_store::{SecretHasher, Store};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::shutdown::{ShutdownSignals, drain_within};
use super::startup::{CallerIdentity, Intervals, ServeSettings, open_store};
use crate::access_tokens::{AccessTokens, KEK_BYTES, Kek};
use crate::auth::{Authenticator, LocalSigningKey, VerificationKeys};
use crate::crypto::{HashingPool, key_file};
use crate::gateway::Gateway;
use crate::health::Health;
use crate::http::{self, HttpParts, HttpState};
use crate::services::{self, Components};
use crate::telemetry::metrics;
use crate::transport::{incoming, tls};
use crate::verification::usage::UsageRecorder;
use crate::verification::{CredentialVerifier, revocation_feed};

pub async fn serve(settings: ServeSettings) -> anyhow::Result<()> {
    let signals = ShutdownSignals::install().context("cannot install signal handlers")?;
    // TLS files first: a wrong path should stop the server before it touches the database.
    let tls = settings
        .tls
        .as_ref()
        .map(|tls| tls::load(&tls.files))
        .transpose()?;
    let store = open_store(&settings.database_url, &settings.pool).await?;
    metrics::observe_db_pool(store.database().clone());
    let components = start_components(&settings, &store).await?;
    let (health, health_service) = Health::serving().await;

    let listen = settings.listener.listen;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local_addr = listener.local_addr()?;
    let public_url = settings.http.public_url.clone().unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{local_addr}")
    });
    let http = http::routes(HttpState::new(
        &settings.http,
        &public_url,
        HttpParts {
            authenticator: components.authenticator.clone(),
            tokens: Arc::clone(&components.access_tokens),
            gateway: Arc::clone(&components.gateway),
            health: health.clone(),
            throttle_window: settings.throttle.window,
        },
    )?);
    // Built before the listening line: a certificate and key that do not match must stop the
    // server before it announces itself.
    let router = services::router(&settings.grpc, tls, health_service, &components, http)?;
    let store_monitor = tokio::spawn(
        health
            .clone()
            .monitor_store(store.database().clone(), settings.intervals.health_check),
    );
    let tasks = BackgroundTasks::spawn(&settings.intervals, &store, &components);

    tracing::info!(address = %local_addr, database = %store.database().url().redacted(), "serving");
    {
        // The one line on stdout: scripts and tests wait for it instead of sleeping.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "apikeys listening on {local_addr}")?;
        stdout.flush()?;
    }

    let (shutdown, shutdown_requested) = signals.received(health, store_monitor.abort_handle());
    let server = router.serve_with_incoming_shutdown(
        incoming::accepted_connections(listener, settings.listener.tcp_keepalive),
        shutdown,
    );
    let result = drain_within(server, &shutdown_requested, settings.listener.drain_timeout)
        .await
        .unwrap_or(Ok(()));
    store_monitor.abort();
    tasks.stop();
    components.usage.flush(&store).await;
    result.context("gRPC server failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// The verification path and what the services share, ready to serve.
async fn start_components(settings: &ServeSettings, store: &Store) -> anyhow::Result<Components> {
    let mut authenticator = Authenticator::new(verification_keys(&settings.identity)?);
    if let Some(allow_list) = settings
        .tls
        .as_ref()
        .and_then(|tls| tls.client_allow_list.clone())
    {
        authenticator = authenticator.with_client_certificates(allow_list);
    }
    let hashing = &settings.hashing;
    let hashing_pool = Arc::new(HashingPool::new(
        SecretHasher::new(hashing.params)?,
        hashing.workers,
        hashing.queue_limit,
    )?);
    let usage = Arc::new(UsageRecorder::default());
    let verifier = Arc::new(CredentialVerifier::new(
        store.clone(),
        Arc::clone(&hashing_pool),
        Arc::clone(&usage),
        settings.cache,
        settings.throttle,
    ));
    let kek = Kek::new(&key_file::load_or_create(
        &settings.token_kek_file,
        KEK_BYTES,
    )?)?;
    let access_tokens = AccessTokens::start(
        store.clone(),
        Arc::clone(&verifier),
        kek,
        settings.tokens.clone(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot prepare access-token signing keys: {e}"))?;
    let gateway = Arc::new(Gateway::new(
        Arc::clone(&verifier),
        Arc::clone(&access_tokens),
        settings.gateway_headers.clone(),
    ));
    Ok(Components {
        store: store.clone(),
        authenticator,
        hashing_pool,
        usage,
        verifier,
        access_tokens,
        gateway,
    })
}

fn verification_keys(identity: &CallerIdentity) -> anyhow::Result<VerificationKeys> {
    match identity {
        CallerIdentity::Provider(provider) => Ok(VerificationKeys::from_provider(provider)?),
        CallerIdentity::Local { key_file } => {
            let key = LocalSigningKey::load_or_create(key_file)?;
            tracing::warn!(
                key_file = %key.path().display(),
                "LOCAL MODE: no identity provider configured (--jwt-hs256-secret, \
                 --jwt-public-key-file or --jwt-jwks-file); caller tokens are signed with the \
                 local key file and minted with `apikeys token`. Not for production."
            );
            Ok(key.verification_keys())
        }
    }
}

/// The tasks that run beside the server until shutdown.
struct BackgroundTasks(Vec<JoinHandle<()>>);

impl BackgroundTasks {
    fn spawn(intervals: &Intervals, store: &Store, components: &Components) -> Self {
        let usage = Arc::clone(&components.usage);
        let usage_store = store.clone();
        let flush_interval = intervals.last_used_flush;
        let tokens = Arc::clone(&components.access_tokens);
        let maintenance_interval = intervals.key_maintenance;
        let mut tasks = vec![
            tokio::spawn(async move {
                usage.flush_periodically(usage_store, flush_interval).await;
            }),
            tokio::spawn(async move { tokens.maintain_periodically(maintenance_interval).await }),
        ];
        tasks.extend(revocation_feed::spawn(
            store.clone(),
            Arc::clone(&components.verifier),
            intervals.revocation_poll,
        ));
        Self(tasks)
    }

    fn stop(self) {
        for task in self.0 {
            task.abort();
        }
    }
}
