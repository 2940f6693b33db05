//! Health, served as grpc.health.v1 and as `/livez` / `/readyz`: the apikeys services are
//! SERVING while the store answers, NOT_SERVING while it does not, and NOT_SERVING once shutdown
//! begins. [`LIVENESS`] ignores the store: it says the process is up and not shutting down, so
//! an orchestrator's liveness probe does not restart every replica during a database outage
//! (readiness uses "").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use apikeys_store::Database;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health as GrpcHealth, HealthServer};
use tonic_health::server::HealthReporter;

/// The services whose status is reported, plus "" for the server as a whole.
pub const SERVICE_NAMES: &[&str] = &[
    "",
    "apikeys.v1.ApiKeyService",
    "apikeys.v1.AccountService",
    "apikeys.v1.IntrospectionService",
    "apikeys.v1.TokenService",
];

/// SERVING from start until shutdown begins, whatever the store does.
pub const LIVENESS: &str = "apikeys.liveness";

/// The server's health, as the gRPC health service reports it and the HTTP probes read it.
#[derive(Clone)]
pub struct Health {
    reporter: HealthReporter,
    state: Arc<State>,
}

struct State {
    ready: AtomicBool,
    live: AtomicBool,
}

impl Health {
    /// Everything SERVING, and the gRPC service that reports it.
    pub async fn serving() -> (Self, HealthServer<impl GrpcHealth>) {
        let (reporter, service) = tonic_health::server::health_reporter();
        let health = Self {
            reporter,
            state: Arc::new(State {
                ready: AtomicBool::new(true),
                live: AtomicBool::new(true),
            }),
        };
        health.set_ready(true).await;
        health
            .reporter
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        (health, service)
    }

    /// Whether the store answers and shutdown has not begun (`""` is SERVING).
    pub fn is_ready(&self) -> bool {
        self.state.ready.load(Ordering::Relaxed)
    }

    /// Whether shutdown has not begun ([`LIVENESS`] is SERVING).
    pub fn is_live(&self) -> bool {
        self.state.live.load(Ordering::Relaxed)
    }

    async fn set_ready(&self, ready: bool) {
        self.state.ready.store(ready, Ordering::Relaxed);
        let status = if ready {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in SERVICE_NAMES {
            self.reporter.set_service_status(*name, status).await;
        }
    }

    /// Everything NOT_SERVING, liveness included: the server is draining.
    pub async fn shutting_down(&self) {
        self.state.live.store(false, Ordering::Relaxed);
        self.set_ready(false).await;
        self.reporter
            .set_service_status(LIVENESS, ServingStatus::NotServing)
            .await;
    }

    /// Probes the store every `interval` and reports transitions; runs until the task is
    /// aborted (before shutdown reports NOT_SERVING, so a store coming back during the drain
    /// cannot report SERVING again).
    pub async fn monitor_store(self, db: Database, interval: Duration) {
        let mut serving = true;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let reachable = matches!(
                tokio::time::timeout(interval.max(Duration::from_secs(1)), db.ping()).await,
                Ok(Ok(()))
            );
            if reachable != serving {
                serving = reachable;
                if serving {
                    tracing::info!("credential store reachable again; serving");
                } else {
                    tracing::warn!("credential store unreachable; health is NOT_SERVING");
                }
                self.set_ready(serving).await;
            }
        }
    }
}
