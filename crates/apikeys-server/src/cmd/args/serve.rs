//! The flags of `apikeys serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use apikeys_store::HashingParams;
use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the chosen address is printed on stdout).
    #[arg(long, env = "APIKEYS_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Most active keys one account may hold.
    #[arg(
        long,
        env = "APIKEYS_MAX_ACTIVE_KEYS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=100_000)
    )]
    pub max_active_keys: u32,

    /// Most database connections in the pool.
    #[arg(long, env = "APIKEYS_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: usize,

    /// Longest wait for a pooled database connection (a free one, a new one, or a recycled
    /// one), in milliseconds; past it a call fails with UNAVAILABLE instead of queueing.
    #[arg(long, env = "APIKEYS_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub db_acquire_timeout_ms: u64,

    /// After SIGTERM / Ctrl-C, how long calls in progress may take to finish before the server
    /// exits anyway, in seconds.
    #[arg(
        long,
        env = "APIKEYS_SHUTDOWN_DRAIN_TIMEOUT_SECS",
        default_value_t = 15
    )]
    pub shutdown_drain_timeout_secs: u64,

    /// How often the store is probed for the health service, in milliseconds.
    #[arg(
        long,
        env = "APIKEYS_HEALTH_CHECK_INTERVAL_MS",
        default_value_t = 2_000
    )]
    pub health_check_interval_ms: u64,

    /// How often the last use of keys is written to the database, in milliseconds.
    #[arg(
        long,
        env = "APIKEYS_LAST_USED_FLUSH_INTERVAL_MS",
        default_value_t = 5_000
    )]
    pub last_used_flush_interval_ms: u64,

    /// Validate the configuration, key files, TLS files and the database (connection and
    /// migration state, changing nothing), print a summary and exit.
    #[arg(long, conflicts_with = "print_config")]
    pub check_config: bool,

    /// Print the effective configuration, secrets redacted, and exit.
    #[arg(long)]
    pub print_config: bool,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub identity: IdentityArgs,

    #[command(flatten)]
    pub hashing: HashingArgs,

    #[command(flatten)]
    pub verification: VerificationArgs,

    #[command(flatten)]
    pub ext_authz: Box<ExtAuthzArgs>,

    #[command(flatten)]
    pub tokens: TokenArgs,

    #[command(flatten)]
    pub http: HttpArgs,
}

/// The HTTP front: token endpoint, OAuth metadata, JWKS, introspection, forward auth.
#[derive(Debug, Args)]
pub struct HttpArgs {
    /// The base URL partners and gateways reach this service at (`https://api.example.com`):
    /// the OAuth metadata's URLs are built from it [default: http://<listen address>, https
    /// with --tls-cert].
    #[arg(long, env = "APIKEYS_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,

    /// `Cache-Control: max-age` of the JWKS and the OAuth metadata, in seconds.
    #[arg(long, env = "APIKEYS_JWKS_MAX_AGE_SECS", default_value_t = 300)]
    pub jwks_max_age_secs: u64,

    /// Request header in which a forward-auth gateway presents its caller token
    /// (`Bearer <token>`); the partner's own `authorization` header is never taken for it.
    #[arg(
        long,
        env = "APIKEYS_FORWARD_AUTH_GATEWAY_HEADER",
        default_value = "x-gateway-authorization",
        value_parser = header_name
    )]
    pub forward_auth_gateway_header: String,
}

/// An absolute `http://` or `https://` URL without query or fragment; a trailing `/` is dropped.
fn public_url(value: &str) -> Result<String, String> {
    let url = value.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with https:// or http://")?;
    let valid = !rest.is_empty()
        && url.len() <= 2048
        && !rest.contains(['?', '#', ' ', '"', '<', '>', '\\'])
        && rest.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(
            "must be an absolute URL without query or fragment, e.g. https://api.example.com"
                .into(),
        );
    }
    Ok(url.to_owned())
}

/// TLS for every connection, and optionally client certificates (mutual TLS).
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// PEM certificate chain of this server; with --tls-key, every connection is TLS.
    #[arg(long, env = "APIKEYS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "APIKEYS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA bundle for client certificates (mutual TLS). Clients may still connect without a
    /// certificate and authenticate with a bearer token; a presented certificate must verify.
    #[arg(long, env = "APIKEYS_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,

    /// Client certificate subject (common name, DNS or URI name) allowed to call Introspect and
    /// Check without a bearer token. Repeat the flag, or separate with commas in the variable.
    #[arg(
        long,
        env = "APIKEYS_TLS_CLIENT_ALLOWED_SUBJECT",
        value_delimiter = ',',
        requires = "tls_client_ca"
    )]
    pub tls_client_allowed_subject: Vec<String>,
}

/// Bounds on what callers can make one server do.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Longest a call may run before it is answered DEADLINE_EXCEEDED, in milliseconds.
    #[arg(long, env = "APIKEYS_REQUEST_TIMEOUT_MS", default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,

    /// Most calls in progress on one connection, announced to the client as HTTP/2's
    /// SETTINGS_MAX_CONCURRENT_STREAMS: gRPC clients hold further calls until a stream is free.
    #[arg(long, env = "APIKEYS_MAX_CONCURRENT_CALLS_PER_CONNECTION", default_value_t = 1_024,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_calls_per_connection: u32,

    /// TCP keepalive: probe a connection idle this long, in seconds, so the kernel closes
    /// those whose peer is gone; 0 disables it.
    #[arg(long, env = "APIKEYS_TCP_KEEPALIVE_SECS", default_value_t = 60)]
    pub tcp_keepalive_secs: u64,

    /// HTTP/2 keepalive: ping an idle connection this often, in seconds; 0 (the default)
    /// disables it. hyper notes the time of every frame while it is on (see docs/architecture.md).
    #[arg(
        long,
        env = "APIKEYS_HTTP2_KEEPALIVE_INTERVAL_SECS",
        default_value_t = 0
    )]
    pub http2_keepalive_interval_secs: u64,

    /// HTTP/2 keepalive: close a connection whose ping is not answered within this, in seconds.
    #[arg(
        long,
        env = "APIKEYS_HTTP2_KEEPALIVE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub http2_keepalive_timeout_secs: u64,
}

/// Access tokens issued by TokenService.IssueToken.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// `iss` of issued access tokens and `issuer` of the OAuth metadata [default: --public-url,
    /// or `apikeys` without one]. With --public-url too, the two must be equal.
    #[arg(long, env = "APIKEYS_TOKEN_ISSUER")]
    pub token_issuer: Option<String>,

    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, env = "APIKEYS_TOKEN_TTL_SECS", default_value_t = 3_600)]
    pub token_ttl_secs: u64,

    /// How long one signing key signs before a new one takes over, in seconds.
    #[arg(
        long,
        env = "APIKEYS_TOKEN_KEY_ROTATION_SECS",
        default_value_t = 86_400
    )]
    pub token_key_rotation_secs: u64,

    /// How long a new signing key is in the JWKS before it signs anything, in seconds: at least
    /// the longest time a gateway caches the JWKS (Envoy's jwt_authn: 600 s by default). At
    /// most half of --token-key-rotation-secs is used.
    #[arg(
        long,
        env = "APIKEYS_TOKEN_KEY_PUBLISH_AHEAD_SECS",
        default_value_t = 900
    )]
    pub token_key_publish_ahead_secs: u64,

    /// File holding the key that seals token-signing keys in the database (created if missing;
    /// every replica must use the same one) [default: `<sqlite file>.token-kek`, or
    /// ./apikeys.token-kek on PostgreSQL].
    #[arg(long, env = "APIKEYS_TOKEN_KEK_FILE")]
    pub token_kek_file: Option<PathBuf>,
}

/// Envoy ext_authz (`envoy.service.auth.v3.Authorization/Check`): which request headers carry
/// credentials and which ones the upstream receives.
#[derive(Debug, Args)]
pub struct ExtAuthzArgs {
    /// Request header holding `client_id:client_secret` (when there is no `authorization` header).
    #[arg(
        long,
        env = "APIKEYS_EXT_AUTHZ_API_KEY_HEADER",
        default_value = "x-api-key",
        value_parser = header_name
    )]
    pub ext_authz_api_key_header: String,

    /// Header set on allowed requests to the key's Account ID (overwriting what the client sent).
    #[arg(
        long,
        env = "APIKEYS_EXT_AUTHZ_ACCOUNT_HEADER",
        default_value = "x-account-id",
        value_parser = header_name
    )]
    pub ext_authz_account_header: String,

    /// Header set on allowed requests to the key's Client ID (overwriting what the client sent).
    #[arg(
        long,
        env = "APIKEYS_EXT_AUTHZ_CLIENT_HEADER",
        default_value = "x-client-id",
        value_parser = header_name
    )]
    pub ext_authz_client_header: String,
}

/// An HTTP header name (RFC 9110 token, not `authorization`), in lower case as Envoy keys them.
fn header_name(value: &str) -> Result<String, String> {
    const TCHAR_SYMBOLS: &str = "!#$%&'*+-.^_`|~";
    let valid = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || TCHAR_SYMBOLS.contains(c));
    if !valid {
        return Err("must be an HTTP header name of at most 128 characters".into());
    }
    let name = value.to_ascii_lowercase();
    if name == "authorization" {
        return Err("`authorization` is always read and removed; name another header".into());
    }
    Ok(name)
}

/// The introspection hot path: cache, throttle, revocation feed.
#[derive(Debug, Args)]
pub struct VerificationArgs {
    /// Most verified keys kept in memory; 0 disables the cache (argon2 on every call).
    #[arg(
        long,
        env = "APIKEYS_VERIFICATION_CACHE_MAX_ENTRIES",
        default_value_t = 100_000
    )]
    pub verification_cache_max_entries: u64,

    /// How long a verification is trusted without asking the database again, in seconds.
    #[arg(
        long,
        env = "APIKEYS_VERIFICATION_CACHE_TTL_SECS",
        default_value_t = 300
    )]
    pub verification_cache_ttl_secs: u64,

    /// Wrong secrets for one client id before it is throttled; 0 disables throttling.
    #[arg(
        long,
        env = "APIKEYS_FAILURE_THROTTLE_MAX_FAILURES",
        default_value_t = 10
    )]
    pub failure_throttle_max_failures: u32,

    /// Length of the throttle window, counted from the first failure, in seconds.
    #[arg(
        long,
        env = "APIKEYS_FAILURE_THROTTLE_WINDOW_SECS",
        default_value_t = 60
    )]
    pub failure_throttle_window_secs: u64,

    /// The longest a revocation or suspension made elsewhere may go unseen here when its
    /// PostgreSQL notification is lost, in milliseconds: the audit trail is polled twice in
    /// this interval (the safety net behind LISTEN/NOTIFY).
    #[arg(
        long,
        env = "APIKEYS_REVOCATION_POLL_INTERVAL_MS",
        default_value_t = 1_000
    )]
    pub revocation_poll_interval_ms: u64,
}

/// The identity provider whose tokens callers present. None of these: local mode.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// HS256 shared secret of the identity provider.
    #[arg(
        long,
        env = "APIKEYS_JWT_HS256_SECRET",
        hide_env_values = true,
        conflicts_with_all = ["jwt_public_key_file", "jwt_jwks_file"],
        requires_all = ["jwt_issuer", "jwt_audience"]
    )]
    pub jwt_hs256_secret: Option<String>,

    /// PEM public key of the identity provider (RSA, EC P-256 or Ed25519).
    #[arg(
        long,
        env = "APIKEYS_JWT_PUBLIC_KEY_FILE",
        conflicts_with = "jwt_jwks_file",
        requires_all = ["jwt_issuer", "jwt_audience"]
    )]
    pub jwt_public_key_file: Option<PathBuf>,

    /// JWKS file of the identity provider; tokens select a key by `kid`.
    #[arg(long, env = "APIKEYS_JWT_JWKS_FILE", requires_all = ["jwt_issuer", "jwt_audience"])]
    pub jwt_jwks_file: Option<PathBuf>,

    /// Required `iss` of caller tokens.
    #[arg(long, env = "APIKEYS_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` of caller tokens.
    #[arg(long, env = "APIKEYS_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

#[derive(Debug, Args)]
pub struct HashingArgs {
    /// argon2id memory cost in KiB (OWASP: 19456).
    #[arg(long, env = "APIKEYS_ARGON2_MEMORY_KIB", default_value_t = HashingParams::default().memory_kib)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations (OWASP: 2).
    #[arg(long, env = "APIKEYS_ARGON2_ITERATIONS", default_value_t = HashingParams::default().iterations)]
    pub argon2_iterations: u32,

    /// argon2id lanes (OWASP: 1).
    #[arg(long, env = "APIKEYS_ARGON2_PARALLELISM", default_value_t = HashingParams::default().parallelism)]
    pub argon2_parallelism: u32,

    /// Threads hashing at once [default: the number of cores].
    #[arg(long, env = "APIKEYS_HASH_WORKERS")]
    pub hash_workers: Option<usize>,

    /// Hashing jobs allowed to wait; beyond that calls fail fast with RESOURCE_EXHAUSTED.
    #[arg(long, env = "APIKEYS_HASH_QUEUE_LIMIT", default_value_t = 64)]
    pub hash_queue_limit: usize,
}
