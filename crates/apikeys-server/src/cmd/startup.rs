//! The one path from the command line to the settings of `serve`: `serve` runs on them and
//! `--check-config` checks them, so both read every flag the same way.
//!
//! Building [`ServeSettings`] reads no file and opens nothing; what needs I/O (TLS files, key
//! files, the database) is named here and opened by the caller.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apikeys_store::{Database, DatabaseUrl, HashingParams, PoolOptions, SecretHasher, Store};

use crate::access_tokens::TokenSettings;
use crate::auth::{ClientAllowList, IdentityProvider};
use crate::cmd::args::{GlobalArgs, IdentityArgs, ServeArgs, TlsArgs};
use crate::gateway::GatewayHeaders;
use crate::http::HttpSettings;
use crate::services::{GrpcSettings, KeyLimits};
use crate::transport::tls::TlsFiles;
use crate::verification::{CacheSettings, ThrottleSettings};

/// Where caller tokens are verified.
pub enum CallerIdentity {
    /// The configured identity provider's keys.
    Provider(IdentityProvider),
    /// Local mode: tokens signed with the key in this file (created at first start).
    Local { key_file: PathBuf },
}

/// TLS of the listener: the files to load and, with client certificates, who may introspect.
pub struct TlsSettings {
    pub files: TlsFiles,
    pub client_allow_list: Option<Arc<ClientAllowList>>,
}

/// The listening socket and how long a shutdown may wait for calls in progress.
pub struct ListenerSettings {
    pub listen: SocketAddr,
    pub tcp_keepalive: Option<Duration>,
    pub drain_timeout: Duration,
}

/// How often the background tasks of `serve` run.
pub struct Intervals {
    pub health_check: Duration,
    pub last_used_flush: Duration,
    pub revocation_poll: Duration,
    pub key_maintenance: Duration,
}

/// The argon2 pool: the hash itself and how many run and wait at once.
pub struct HashingSettings {
    pub params: HashingParams,
    pub workers: usize,
    pub queue_limit: usize,
}

/// Everything `apikeys serve` runs on, parsed and checked.
pub struct ServeSettings {
    pub database_url: DatabaseUrl,
    pub pool: PoolOptions,
    pub listener: ListenerSettings,
    pub grpc: GrpcSettings,
    pub tls: Option<TlsSettings>,
    pub identity: CallerIdentity,
    pub token_kek_file: PathBuf,
    pub hashing: HashingSettings,
    pub cache: CacheSettings,
    pub throttle: ThrottleSettings,
    pub tokens: TokenSettings,
    pub gateway_headers: GatewayHeaders,
    pub http: HttpSettings,
    pub intervals: Intervals,
}

impl ServeSettings {
    pub fn from_args(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Self> {
        let database_url = database_url(global)?;
        let tls = tls_settings(&args.tls)?;
        let identity = match identity_provider(&args.identity)? {
            Some(provider) => CallerIdentity::Provider(provider),
            None => CallerIdentity::Local {
                key_file: local_key_path(global, &database_url),
            },
        };
        let token_kek_file = key_file_path(
            &database_url,
            args.tokens.token_kek_file.as_deref(),
            "token-kek",
        );
        let params = HashingParams {
            memory_kib: args.hashing.argon2_memory_kib,
            iterations: args.hashing.argon2_iterations,
            parallelism: args.hashing.argon2_parallelism,
        };
        // The hasher checks the parameters; `serve` builds its own from the same values.
        SecretHasher::new(params).context("invalid argon2 parameters")?;
        let gateway_headers = GatewayHeaders::new(
            &args.ext_authz.ext_authz_api_key_header,
            &args.ext_authz.ext_authz_account_header,
            &args.ext_authz.ext_authz_client_header,
        )?;
        let limits = &args.limits;
        let verification = &args.verification;
        let rotation_secs = args.tokens.token_key_rotation_secs.max(60);
        Ok(Self {
            database_url,
            pool: PoolOptions {
                max_connections: args.db_max_connections.max(1),
                acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms.max(1)),
            },
            listener: ListenerSettings {
                listen: args.listen,
                tcp_keepalive: seconds_unless_zero(limits.tcp_keepalive_secs),
                drain_timeout: Duration::from_secs(args.shutdown_drain_timeout_secs),
            },
            grpc: GrpcSettings {
                request_timeout: Duration::from_millis(limits.request_timeout_ms),
                max_concurrent_calls_per_connection: limits.max_concurrent_calls_per_connection,
                http2_keepalive_interval: seconds_unless_zero(limits.http2_keepalive_interval_secs),
                http2_keepalive_timeout: Duration::from_secs(
                    limits.http2_keepalive_timeout_secs.max(1),
                ),
                key_limits: KeyLimits {
                    max_active_keys: args.max_active_keys,
                },
            },
            gateway_headers,
            tls,
            identity,
            token_kek_file,
            hashing: HashingSettings {
                params,
                workers: args
                    .hashing
                    .hash_workers
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
                queue_limit: args.hashing.hash_queue_limit,
            },
            cache: CacheSettings {
                max_entries: verification.verification_cache_max_entries,
                ttl: Duration::from_secs(verification.verification_cache_ttl_secs),
            },
            throttle: ThrottleSettings {
                max_failures: verification.failure_throttle_max_failures,
                window: Duration::from_secs(verification.failure_throttle_window_secs),
            },
            tokens: TokenSettings {
                issuer: token_issuer(args)?,
                ttl: Duration::from_secs(args.tokens.token_ttl_secs.max(1)),
                rotation: Duration::from_secs(rotation_secs),
                publish_ahead: Duration::from_secs(args.tokens.token_key_publish_ahead_secs),
            },
            http: HttpSettings {
                public_url: args.http.public_url.clone(),
                jwks_max_age: Duration::from_secs(args.http.jwks_max_age_secs),
                gateway_header: args.http.forward_auth_gateway_header.clone(),
            },
            intervals: Intervals {
                health_check: Duration::from_millis(args.health_check_interval_ms.max(100)),
                last_used_flush: Duration::from_millis(args.last_used_flush_interval_ms.max(10)),
                revocation_poll: Duration::from_millis(
                    verification.revocation_poll_interval_ms.max(10),
                ),
                key_maintenance: Duration::from_secs(rotation_secs.min(3_600) / 4),
            },
        })
    }
}

/// `--token-issuer`, else `--public-url`, else `apikeys`; the metadata's issuer is the tokens'.
fn token_issuer(args: &ServeArgs) -> anyhow::Result<String> {
    match (&args.tokens.token_issuer, &args.http.public_url) {
        (Some(issuer), Some(url)) if issuer != url => anyhow::bail!(
            "--token-issuer ({issuer}) and --public-url ({url}) differ: the OAuth metadata's \
             issuer is the access tokens' iss, so set one of them, or both to the same URL"
        ),
        (Some(issuer), _) => Ok(issuer.clone()),
        (None, Some(url)) => Ok(url.clone()),
        (None, None) => Ok("apikeys".to_owned()),
    }
}

fn seconds_unless_zero(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// `--database-url`, parsed.
pub fn database_url(global: &GlobalArgs) -> anyhow::Result<DatabaseUrl> {
    DatabaseUrl::parse(&global.database_url).context("invalid --database-url")
}

/// The database at `url`, migrated and ready.
pub async fn open_store(url: &DatabaseUrl, options: &PoolOptions) -> anyhow::Result<Store> {
    let db = Database::connect(url, options)?;
    let applied = db
        .migrate()
        .await
        .with_context(|| format!("cannot prepare the database at {}", url.redacted()))?;
    if applied > 0 {
        tracing::info!(applied, database = %url.redacted(), "database migrations applied");
    }
    Ok(Store::new(db))
}

/// `--local-signing-key-file`, or the default beside the SQLite file (or in the working
/// directory on PostgreSQL).
pub fn local_key_path(global: &GlobalArgs, url: &DatabaseUrl) -> PathBuf {
    key_file_path(url, global.local_signing_key_file.as_deref(), "signing-key")
}

/// An explicit key file, or `<sqlite file>.<suffix>`, or `./apikeys.<suffix>` on PostgreSQL.
fn key_file_path(url: &DatabaseUrl, explicit: Option<&Path>, suffix: &str) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_owned();
    }
    match url.sqlite_path() {
        Some(db_file) => {
            let mut name = db_file.as_os_str().to_owned();
            name.push(format!(".{suffix}"));
            PathBuf::from(name)
        }
        None => PathBuf::from(format!("apikeys.{suffix}")),
    }
}

fn tls_settings(args: &TlsArgs) -> anyhow::Result<Option<TlsSettings>> {
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (None, None) => {
            if args.tls_client_ca.is_some() || !args.tls_client_allowed_subject.is_empty() {
                anyhow::bail!(
                    "--tls-client-ca and --tls-client-allowed-subject need --tls-cert and --tls-key"
                );
            }
            return Ok(None);
        }
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let client_allow_list = match &args.tls_client_ca {
        Some(_) => Some(Arc::new(ClientAllowList::new(
            &args.tls_client_allowed_subject,
        )?)),
        None if !args.tls_client_allowed_subject.is_empty() => {
            anyhow::bail!("--tls-client-allowed-subject needs --tls-client-ca")
        }
        None => None,
    };
    Ok(Some(TlsSettings {
        files: TlsFiles {
            cert,
            key,
            client_ca: args.tls_client_ca.clone(),
        },
        client_allow_list,
    }))
}

/// The configured identity provider; `None` is local mode. Checked here as well as by clap,
/// because values from a config file are defaults to clap and escape its `requires` rules.
fn identity_provider(identity: &IdentityArgs) -> anyhow::Result<Option<IdentityProvider>> {
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
