//! `apikeys serve`: wires the store, caller authentication, hashing pool, health and reflection
//! into one tonic server, and drains it on SIGTERM / Ctrl-C.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apikeys_proto::pb::account_service_server::AccountServiceServer;
use apikeys_proto::pb::api_key_service_server::ApiKeyServiceServer;
use apikeys_proto::pb::introspection_service_server::IntrospectionServiceServer;
use apikeys_store::{HashingParams, PoolOptions, SecretHasher};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{Authenticator, IdentityProvider, LocalSigningKey, VerificationKeys};
use crate::cli::{GlobalArgs, IdentityArgs, ServeArgs};
use crate::commands::{local_key_path, open_store};
use crate::health;
use crate::revocation;
use crate::secret_work::SecretWork;
use crate::services::{AccountServiceImpl, ApiKeyServiceImpl, IntrospectionServiceImpl, KeyLimits};
use crate::usage::UsageRecorder;
use crate::verification::{CacheSettings, CredentialVerifier, ThrottleSettings};

/// Largest request accepted; real requests are well under 1 KiB.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn serve(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<()> {
    let pool_options = PoolOptions {
        max_connections: args.db_max_connections.max(1),
        ..PoolOptions::default()
    };
    let store = open_store(global, &pool_options).await?;
    let authenticator = Authenticator::new(verification_keys(global, &args.identity)?);

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
    let introspection =
        IntrospectionServiceServer::new(IntrospectionServiceImpl::new(Arc::clone(&verifier)))
            .max_decoding_message_size(MAX_REQUEST_BYTES);

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

    let result = tonic::transport::Server::builder()
        .timeout(REQUEST_TIMEOUT)
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(api_keys, authenticator.clone()))
        .add_service(InterceptedService::new(accounts, authenticator.clone()))
        .add_service(InterceptedService::new(introspection, authenticator))
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listener),
            shutdown_signal(health_reporter),
        )
        .await;
    monitor.abort();
    usage_flusher.abort();
    for task in change_feed {
        task.abort();
    }
    usage.flush(&store).await;
    result.context("gRPC server failed")?;
    tracing::info!("shut down cleanly");
    Ok(())
}

fn verification_keys(
    global: &GlobalArgs,
    identity: &IdentityArgs,
) -> anyhow::Result<VerificationKeys> {
    let issuer = identity.jwt_issuer.clone().unwrap_or_default();
    let audience = identity.jwt_audience.clone().unwrap_or_default();
    let provider = if let Some(secret) = &identity.jwt_hs256_secret {
        Some(IdentityProvider::Hs256Secret {
            secret: secret.as_bytes().to_vec(),
            issuer,
            audience,
        })
    } else if let Some(path) = &identity.jwt_public_key_file {
        Some(IdentityProvider::PublicKeyPem {
            path: path.clone(),
            issuer,
            audience,
        })
    } else {
        identity
            .jwt_jwks_file
            .as_ref()
            .map(|path| IdentityProvider::JwksFile {
                path: path.clone(),
                issuer,
                audience,
            })
    };
    match provider {
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

async fn shutdown_signal(health: HealthReporter) {
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
    health::set_all(&health, ServingStatus::NotServing).await;
}
