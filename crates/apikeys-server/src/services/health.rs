//! grpc.health.v1: the apikeys services are SERVING while the store answers, NOT_SERVING while it
//! does not, and NOT_SERVING once shutdown begins. [`LIVENESS`] ignores the store: it says the
//! process is up and not shutting down, so an orchestrator's liveness probe does not restart
//! every replica during a database outage (readiness uses "").

use std::time::Duration;

use apikeys_store::Database;
use tonic_health::ServingStatus;
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

pub async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for name in SERVICE_NAMES {
        reporter.set_service_status(*name, status).await;
    }
}

/// Probes the store every `interval` and reports transitions; runs until the task is aborted.
pub async fn monitor_store(reporter: HealthReporter, db: Database, interval: Duration) {
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
                set_all(&reporter, ServingStatus::Serving).await;
            } else {
                tracing::warn!("credential store unreachable; health is NOT_SERVING");
                set_all(&reporter, ServingStatus::NotServing).await;
            }
        }
    }
}
