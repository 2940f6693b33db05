//! `apikeys serve`: wires the store, caller authentication, hashing pool, health and reflection
//! into one tonic server, and drains it on SIGTERM / Ctrl-C.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apikeys_proto::ext_authz::authorization_server::AuthorizationServer;
use apikeys_proto::pb::account_service_server::AccountServiceServer;
use apikeys_proto::pb::api_key_service_server::ApiKeyServiceServer;
use apikeys_proto::pb::introspection_service_server::IntrospectionServiceServer;
use apikeys_proto::pb::token_service_server::TokenServiceServer;
use apikeys_store::{HashingParams, PoolOptions, SecretHasher};
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{Authenticator, IdentityProvider, LocalSigningKey, VerificationKeys};
use crate::cli::{GlobalArgs, IdentityArgs, ServeArgs};
use crate::commands::{key_file_path, local_key_path, open_store};
use crate::health;
use crate::request_timeout::RequestTimeoutLayer;
use crate::revocation;
use crate::secret_file;
use crate::secret_work::SecretWork;
use crate::services::{
    AccountServiceImpl, ApiKeyServiceImpl, ExtAuthzService, ExtAuthzSettings,
    IntrospectionServiceImpl, KeyLimits, TokenServiceImpl,
};
use crate::tls;
use crate::tokens::{AccessTokens, KEK_BYTES, Kek, TokenSettings};
use crate::usage::UsageRecorder;
use crate::verification::{CacheSettings, CredentialVerifier, ThrottleSettings};

/// Largest request to our own services. The biggest legitimate one (CreateKey with a 128-byte
/// account id, a 254-byte email and a 200-character name) is under 1.5 KiB; 16 KiB leaves room
/// for growth while a hostile 1 MiB field is refused (RESOURCE_EXHAUSTED) before it is read.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest ext_authz CheckRequest. Envoy caps request headers at 60 KiB by default and
/// `with_request_body` is off; the request line can appear twice (in the headers and again in
/// `path`/`query`), so a maximal legitimate Check is about 2 × 60 KiB plus framing. 128 KiB
/// accepts that and no more.
const MAX_CHECK_REQUEST_BYTES: usize = 128 * 1024;

pub async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    if args.check_config {
        return crate::check::run(global, &args).await;
    }
    // TLS files first: a wrong path should stop the server before it touches the database.
    let tls = tls::load(&args.tls)?;
    let pool_options = PoolOptions {
        max_connections: args.db_max_connections.max(1),
        acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms.max(1)),
    };
    let store = open_store(global, &pool_options).await?;
    crate::metrics::observe_db_pool(store.database().clone());
    let mut authenticator = Authenticator::new(verification_keys(global, &args.identity)?);
    if let Some(allow_list) = tls.as_ref().and_then(|tls| tls.client_allow_list.clone()) {
        authenticator = authenticator.with_client_certificates(allow_list);
    }

    let hasher = SecretHasher::new(HashingParams {
        memory_kib: args.hashing.argon2_memory_kib,
        iterations: args.hashing.argon2_iterations,
        parallelism: args.hashing.argon2_parallelism,
    })?;
    let workers = args
        .hashing
        .hash_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let secrets = Arc::new(SecretWork::new(
        hasher,
        workers,
        args.hashing.hash_queue_limit,
    )?);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health::set_all(&health_reporter, ServingStatus::Serving).await;
    health_reporter
        .set_service_status(health::LIVENESS, ServingStatus::Serving)
        .await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(apikeys_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(apikeys_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let usage = Arc::new(UsageRecorder::default());
    let verification = &args.verification;
    let verifier = Arc::new(CredentialVerifier::new(
        store.clone(),
        Arc::clone(&secrets),
        Arc::clone(&usage),
        CacheSettings {
            max_entries: verification.verification_cache_max_entries,
            ttl: Duration::from_secs(verification.verification_cache_ttl_secs),
        },
        ThrottleSettings {
            max_failures: verification.failure_throttle_max_failures,
            window: Duration::from_secs(verification.failure_throttle_window_secs),
        },
    ));
    let api_keys = ApiKeyServiceServer::new(ApiKeyServiceImpl::new(
        store.clone(),
        Arc::clone(&secrets),
        Arc::clone(&usage),
        Arc::clone(&verifier),
        KeyLimits {
            max_active_keys: args.max_active_keys,
        },
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let accounts = AccountServiceServer::new(AccountServiceImpl::new(
        store.clone(),
        Arc::clone(&verifier),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let kek_path = key_file_path(global, args.tokens.token_kek_file.as_deref(), "token-kek")?;
    let kek = Kek::new(&secret_file::load_or_create(&kek_path, KEK_BYTES)?)?;
    let tokens = AccessTokens::start(
        store.clone(),
        Arc::clone(&verifier),
        kek,
        TokenSettings {
            issuer: args.tokens.token_issuer.clone(),
            ttl: Duration::from_secs(args.tokens.token_ttl_secs.max(1)),
            rotation: Duration::from_secs(args.tokens.token_key_rotation_secs.max(60)),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot prepare access-token signing keys: {e}"))?;
    let token_service = TokenServiceServer::new(TokenServiceImpl::new(
        authenticator.clone(),
        Arc::clone(&verifier),
        Arc::clone(&tokens),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let introspection = IntrospectionServiceServer::new(IntrospectionServiceImpl::new(
        Arc::clone(&verifier),
        Arc::clone(&tokens),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    // Envoy ext_authz: Check requests carry the whole HTTP request's headers (Envoy's own header
    // limit is 60 KiB by default), so they get a larger cap than our own small messages.
    let ext_authz = AuthorizationServer::new(ExtAuthzService::new(
        Arc::clone(&verifier),
        Arc::clone(&tokens),
        ExtAuthzSettings::new(
            &args.ext_authz.ext_authz_api_key_header,
            &args.ext_authz.ext_authz_account_header,
            &args.ext_authz.ext_authz_client_header,
        )?,
    ))
    .max_decoding_message_size(MAX_CHECK_REQUEST_BYTES);

    // Built before binding: a certificate and key that do not match must stop the server
    // before it announces itself.
    let limits = &args.limits;
    let keepalive = (limits.http2_keepalive_interval_secs > 0)
        .then(|| Duration::from_secs(limits.http2_keepalive_interval_secs));
    // The per-connection limit is HTTP/2's own, announced in SETTINGS: clients hold further
    // calls themselves. tonic's `concurrency_limit_per_connection` would instead accept any
    // number of streams and queue them behind a semaphore that every call passes through.
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_calls_per_connection)
        .http2_keepalive_interval(keepalive)
        .http2_keepalive_timeout(Some(Duration::from_secs(
            limits.http2_keepalive_timeout_secs.max(1),
        )));
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls.server)
            .context("invalid TLS configuration (--tls-cert, --tls-key, --tls-client-ca)")?;
    }
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local_addr = listener.local_addr()?;

    let monitor = tokio::spawn(health::monitor_store(
        health_reporter.clone(),
        store.database().clone(),
        Duration::from_millis(args.health_check_interval_ms.max(100)),
    ));

    let usage_flusher = tokio::spawn({
        let usage = Arc::clone(&usage);
        let store = store.clone();
        let interval = Duration::from_millis(args.last_used_flush_interval_ms.max(10));
        async move { usage.flush_periodically(store, interval).await }
    });

    let key_maintenance = tokio::spawn({
        let tokens = Arc::clone(&tokens);
        let interval =
            Duration::from_secs(args.tokens.token_key_rotation_secs.clamp(60, 3_600) / 4);
        async move { tokens.maintain_periodically(interval).await }
    });
    let change_feed = revocation::spawn(
        store.clone(),
        Arc::clone(&verifier),
        Duration::from_millis(verification.revocation_poll_interval_ms.max(10)),
    );

    tracing::info!(address = %local_addr, database = %store.database().url().redacted(), "serving");
    {
        // The one line on stdout: scripts and tests wait for it instead of sleeping.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "apikeys listening on {local_addr}")?;
        stdout.flush()?;
    }

    let shutdown_requested = Arc::new(tokio::sync::Notify::new());
    let server = builder
        .layer(crate::rpc_layer::RpcLayer::for_served_rpcs()?)
        .layer(crate::decode_status::DecodeStatusLayer)
        .layer(RequestTimeoutLayer::new(Duration::from_millis(
            args.limits.request_timeout_ms,
        )))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(api_keys, authenticator.clone()))
        .add_service(InterceptedService::new(accounts, authenticator.clone()))
        .add_service(InterceptedService::new(ext_authz, authenticator.clone()))
        .add_service(InterceptedService::new(introspection, authenticator))
        .add_service(token_service)
        .serve_with_incoming_shutdown(
            accepted_connections(
                listener,
                (limits.tcp_keepalive_secs > 0)
                    .then(|| Duration::from_secs(limits.tcp_keepalive_secs)),
            ),
            shutdown_signal(
                health_reporter,
                monitor.abort_handle(),
                Arc::clone(&shutdown_requested),
            ),
        );
    let drain_timeout = Duration::from_secs(args.shutdown_drain_timeout_secs);
    let result = drain_within(server, &shutdown_requested, drain_timeout)
        .await
        .unwrap_or(Ok(()));
    monitor.abort();
    usage_flusher.abort();
    key_maintenance.abort();
    for task in change_feed {
        task.abort();
    }
    usage.flush(&store).await;
    result.context("gRPC server failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Accepted connections with `TCP_NODELAY` and, when given, TCP keepalive after that much
/// idleness. `serve_with_incoming` ignores the builder's TCP settings. With Nagle's algorithm
/// on, a response written in several small segments waited for the client's delayed ACK, and
/// about one call in a thousand took 40–45 ms under load (`apikeys-bench`: the p999 of every
/// scenario, the bare baseline's too, and at times the p99). Keepalive is the kernel's: it finds
/// connections whose peer is gone at no cost per call, unlike HTTP/2 pings in hyper.
pub fn accepted_connections(listener: TcpListener, keepalive: Option<Duration>) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(keepalive)
}

fn verification_keys(
    global: &GlobalArgs,
    identity: &IdentityArgs,
) -> anyhow::Result<VerificationKeys> {
    match identity_provider(identity)? {
        Some(provider) => Ok(VerificationKeys::from_provider(&provider)?),
        None => {
            let path = local_key_path(global)?;
            let key = LocalSigningKey::load_or_create(&path)?;
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

/// The configured identity provider; `None` is local mode. Checked here as well as by clap,
/// because values from a config file are defaults to clap and escape its `requires` rules.
pub fn identity_provider(identity: &IdentityArgs) -> anyhow::Result<Option<IdentityProvider>> {
    let configured = [
        identity.jwt_hs256_secret.is_some(),
        identity.jwt_public_key_file.is_some(),
        identity.jwt_jwks_file.is_some(),
    ];
    if configured.iter().filter(|set| **set).count() > 1 {
        anyhow::bail!(
            "configure one identity provider: --jwt-hs256-secret, --jwt-public-key-file or \
             --jwt-jwks-file"
        );
    }
    if !configured.contains(&true) {
        return Ok(None);
    }
    let (Some(issuer), Some(audience)) = (&identity.jwt_issuer, &identity.jwt_audience) else {
        anyhow::bail!("an identity provider needs --jwt-issuer and --jwt-audience");
    };
    let (issuer, audience) = (issuer.clone(), audience.clone());
    Ok(Some(if let Some(secret) = &identity.jwt_hs256_secret {
        IdentityProvider::Hs256Secret {
            secret: secret.as_bytes().to_vec(),
            issuer,
            audience,
        }
    } else if let Some(path) = &identity.jwt_public_key_file {
        IdentityProvider::PublicKeyPem {
            path: path.clone(),
            issuer,
            audience,
        }
    } else {
        IdentityProvider::JwksFile {
            path: identity.jwt_jwks_file.clone().unwrap_or_default(),
            issuer,
            audience,
        }
    }))
}

/// Runs `server` to completion, or until `timeout` after `shutdown_requested` fires; `None`
/// means calls were still in progress when the drain timeout ended the wait.
async fn drain_within<T>(
    server: impl std::future::Future<Output = T>,
    shutdown_requested: &tokio::sync::Notify,
    timeout: Duration,
) -> Option<T> {
    let drain_deadline = async {
        shutdown_requested.notified().await;
        tokio::time::sleep(timeout).await;
    };
    tokio::select! {
        result = server => Some(result),
        () = drain_deadline => {
            tracing::warn!(
                timeout_secs = timeout.as_secs(),
                "drain timeout reached; abandoning calls still in progress"
            );
            None
        }
    }
}

async fn shutdown_signal(
    health: HealthReporter,
    store_monitor: tokio::task::AbortHandle,
    shutdown_requested: Arc<tokio::sync::Notify>,
) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining in-flight calls");
    // Stopped first, so a store coming back during the drain cannot report SERVING again.
    store_monitor.abort();
    health::set_all(&health, ServingStatus::NotServing).await;
    health
        .set_service_status(health::LIVENESS, ServingStatus::NotServing)
        .await;
    // A stored permit: the drain clock starts even if nobody waits yet.
    shutdown_requested.notify_one();
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    async fn accept_one(keepalive: Option<Duration>) -> tokio::net::TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = accepted_connections(listener, keepalive);
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        incoming.next().await.expect("a connection").unwrap()
    }

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_acks_and_probe_idle_peers() {
        let accepted = accept_one(Some(Duration::from_secs(75))).await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is off");
        let socket = socket2::SockRef::from(&accepted);
        assert!(socket.keepalive().unwrap(), "SO_KEEPALIVE is off");
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(75)
        );

        let accepted = accept_one(None).await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is off");
        assert!(!socket2::SockRef::from(&accepted).keepalive().unwrap());
    }
}
