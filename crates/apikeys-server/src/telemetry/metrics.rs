//! The service's OpenTelemetry metrics.
//!
//! Instruments are built once, from the global meter, when OTLP export starts
//! ([`crate::telemetry::init`]). Without OTLP they are never built and every recording function
//! returns after one atomic load, so the Introspect/Check hot path pays nothing else.
//! Attributes are `&'static str`s or numbers: recording allocates nothing on our side.

use std::sync::OnceLock;
use std::time::Duration;

use apikeys_store::Database;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

/// Instrumentation scope of every instrument below.
const METER_NAME: &str = "apikeys";

pub const RPC_CALLS: &str = "apikeys.rpc.calls";
pub const RPC_DURATION: &str = "rpc.server.call.duration";
pub const HTTP_DURATION: &str = "http.server.request.duration";
pub const INTROSPECTION_OUTCOMES: &str = "apikeys.introspection.outcomes";
pub const CACHE_LOOKUPS: &str = "apikeys.verification.cache.lookups";
pub const ARGON2_JOBS: &str = "apikeys.argon2.jobs";
pub const ARGON2_QUEUE_DURATION: &str = "apikeys.argon2.queue.duration";
pub const ARGON2_DURATION: &str = "apikeys.argon2.duration";
pub const DB_CONNECTIONS: &str = "db.client.connection.count";
pub const DB_CONNECTIONS_MAX: &str = "db.client.connection.max";
pub const DB_PENDING_REQUESTS: &str = "db.client.connection.pending_requests";

/// Seconds, from a cached verification (tens of µs) to argon2 under load (seconds).
const SECONDS_BOUNDARIES: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

static INSTRUMENTS: OnceLock<Instruments> = OnceLock::new();

struct Instruments {
    rpc_calls: Counter<u64>,
    rpc_duration: Histogram<f64>,
    http_duration: Histogram<f64>,
    introspection_outcomes: Counter<u64>,
    cache_lookups: Counter<u64>,
    argon2_queue_duration: Histogram<f64>,
    argon2_duration: Histogram<f64>,
}

/// Builds the instruments from the global meter provider; call once it exports.
pub fn install() {
    INSTRUMENTS.get_or_init(|| Instruments::new(&opentelemetry::global::meter(METER_NAME)));
}

/// Whether metrics are recorded at all (OTLP export is on).
pub fn enabled() -> bool {
    INSTRUMENTS.get().is_some()
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Self {
            rpc_calls: meter
                .u64_counter(RPC_CALLS)
                .with_description("gRPC calls served, by method and final status code")
                .build(),
            rpc_duration: seconds_histogram(
                meter,
                RPC_DURATION,
                "Time from request to final status, by method and status code",
            ),
            http_duration: seconds_histogram(
                meter,
                HTTP_DURATION,
                "Time from HTTP request to response headers, by method, route and status code",
            ),
            introspection_outcomes: meter
                .u64_counter(INTROSPECTION_OUTCOMES)
                .with_description(
                    "Credential decisions of Introspect, Check, forward auth and OAuth \
                     introspection, by outcome",
                )
                .build(),
            cache_lookups: meter
                .u64_counter(CACHE_LOOKUPS)
                .with_description("Verification cache lookups, by credential kind and result")
                .build(),
            argon2_queue_duration: seconds_histogram(
                meter,
                ARGON2_QUEUE_DURATION,
                "Time an argon2 job waited for a hashing worker",
            ),
            argon2_duration: seconds_histogram(
                meter,
                ARGON2_DURATION,
                "Time an argon2 hash or verification ran",
            ),
        }
    }
}

fn seconds_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(SECONDS_BOUNDARIES.to_vec())
        .build()
}

/// One finished RPC: `method` holds the `rpc.system`, `rpc.service` and `rpc.method` attributes.
pub fn record_rpc(method: &[KeyValue; 3], code: i32, elapsed: Duration) {
    let Some(instruments) = INSTRUMENTS.get() else {
        return;
    };
    let [system, service, name] = method.clone();
    let attributes = [
        system,
        service,
        name,
        KeyValue::new("rpc.grpc.status_code", i64::from(code)),
    ];
    instruments.rpc_calls.add(1, &attributes);
    instruments
        .rpc_duration
        .record(elapsed.as_secs_f64(), &attributes);
}

/// One HTTP request answered by the HTTP front (not gRPC): `route` is the matched route
/// pattern, or `unknown`.
pub fn record_http(method: &'static str, route: &'static str, status: u16, elapsed: Duration) {
    let Some(instruments) = INSTRUMENTS.get() else {
        return;
    };
    instruments.http_duration.record(
        elapsed.as_secs_f64(),
        &[
            KeyValue::new("http.request.method", method),
            KeyValue::new("http.route", route),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ],
    );
}

/// Which RPC or HTTP endpoint decided about a presented credential.
#[derive(Debug, Clone, Copy)]
pub enum Decider {
    Introspect,
    Check,
    /// `/auth/check`.
    ForwardAuth,
    /// `POST /oauth/introspect`.
    OAuthIntrospect,
}

/// What Introspect or Check decided. `Error`: the store or hashing pool could not answer.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    Active,
    Inactive,
    Throttled,
    Error,
}

impl Outcome {
    /// The outcome of a lookup that finds a live key or none (access-token checks).
    pub fn of_lookup<T, E>(found: &Result<Option<T>, E>) -> Self {
        match found {
            Ok(Some(_)) => Self::Active,
            Ok(None) => Self::Inactive,
            Err(_) => Self::Error,
        }
    }
}

pub fn record_outcome(decider: Decider, outcome: Outcome) {
    let Some(instruments) = INSTRUMENTS.get() else {
        return;
    };
    let method = match decider {
        Decider::Introspect => "Introspect",
        Decider::Check => "Check",
        Decider::ForwardAuth => "ForwardAuth",
        Decider::OAuthIntrospect => "OAuthIntrospect",
    };
    let outcome = match outcome {
        Outcome::Active => "active",
        Outcome::Inactive => "inactive",
        Outcome::Throttled => "throttled",
        Outcome::Error => "error",
    };
    instruments.introspection_outcomes.add(
        1,
        &[
            KeyValue::new("rpc.method", method),
            KeyValue::new("outcome", outcome),
        ],
    );
}

/// The credential a verification-cache lookup was for.
#[derive(Debug, Clone, Copy)]
pub enum Credential {
    ClientSecret,
    AccessToken,
}

pub fn record_cache_lookup(credential: Credential, hit: bool) {
    let Some(instruments) = INSTRUMENTS.get() else {
        return;
    };
    let credential = match credential {
        Credential::ClientSecret => "client_secret",
        Credential::AccessToken => "access_token",
    };
    instruments.cache_lookups.add(
        1,
        &[
            KeyValue::new("credential", credential),
            KeyValue::new("result", if hit { "hit" } else { "miss" }),
        ],
    );
}

/// One argon2 job: how long it waited for a worker and how long it ran.
pub fn record_argon2(operation: &'static str, waited: Duration, ran: Duration) {
    let Some(instruments) = INSTRUMENTS.get() else {
        return;
    };
    let attributes = [KeyValue::new("operation", operation)];
    instruments
        .argon2_queue_duration
        .record(waited.as_secs_f64(), &attributes);
    instruments
        .argon2_duration
        .record(ran.as_secs_f64(), &attributes);
}

/// Reports the hashing pool's queued and running jobs, as read by `jobs`, at each export.
pub fn observe_argon2_jobs(jobs: impl Fn() -> (u64, u64) + Send + Sync + 'static) {
    if !enabled() {
        return;
    }
    let queued = [KeyValue::new("state", "queued")];
    let running = [KeyValue::new("state", "running")];
    opentelemetry::global::meter(METER_NAME)
        .u64_observable_gauge(ARGON2_JOBS)
        .with_description("argon2 jobs waiting for a hashing worker or running on one")
        .with_callback(move |observer| {
            let (queued_jobs, running_jobs) = jobs();
            observer.observe(queued_jobs, &queued);
            observer.observe(running_jobs, &running);
        })
        .build();
}

/// Reports the database pool's connections at each export.
pub fn observe_db_pool(database: Database) {
    if !enabled() {
        return;
    }
    let meter = opentelemetry::global::meter(METER_NAME);
    let pool = KeyValue::new("db.client.connection.pool.name", "apikeys");
    let idle = [
        pool.clone(),
        KeyValue::new("db.client.connection.state", "idle"),
    ];
    let used = [
        pool.clone(),
        KeyValue::new("db.client.connection.state", "used"),
    ];
    meter
        .u64_observable_gauge(DB_CONNECTIONS)
        .with_description("Open database connections, idle or used")
        .with_callback({
            let database = database.clone();
            move |observer| {
                let usage = database.pool_usage();
                observer.observe(count(usage.idle), &idle);
                observer.observe(count(usage.open.saturating_sub(usage.idle)), &used);
            }
        })
        .build();
    meter
        .u64_observable_gauge(DB_CONNECTIONS_MAX)
        .with_description("The most connections the pool opens")
        .with_callback({
            let database = database.clone();
            let attributes = [pool.clone()];
            move |observer| observer.observe(count(database.pool_usage().max_size), &attributes)
        })
        .build();
    meter
        .u64_observable_gauge(DB_PENDING_REQUESTS)
        .with_description("Callers waiting for a database connection")
        .with_callback(move |observer| {
            observer.observe(
                count(database.pool_usage().waiting),
                std::slice::from_ref(&pool),
            );
        })
        .build();
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
