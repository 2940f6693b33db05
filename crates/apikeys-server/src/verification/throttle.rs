use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use apikeys_store::ClientId;
use moka::sync::Cache;

/// After `max_failures` wrong secrets for one client id within `window`, further attempts are
/// refused without touching the database or argon2 until the window (counted from the first
/// failure) ends. `max_failures` 0 disables throttling.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    pub max_failures: u32,
    pub window: Duration,
}

/// Most client ids tracked at once; a spray of random ids cannot grow it without bound.
const MAX_TRACKED_IDS: u64 = 100_000;

pub struct FailureThrottle {
    failures: Option<Cache<ClientId, Arc<AtomicU32>>>,
    max_failures: u32,
}

impl FailureThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        let failures = (settings.max_failures > 0 && !settings.window.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_TRACKED_IDS)
                .time_to_live(settings.window)
                .build()
        });
        Self {
            failures,
            max_failures: settings.max_failures,
        }
    }

    pub fn is_throttled(&self, client_id: &ClientId) -> bool {
        self.failures
            .as_ref()
            .and_then(|failures| failures.get(client_id))
            .is_some_and(|count| count.load(Ordering::Relaxed) >= self.max_failures)
    }

    pub fn note_failure(&self, client_id: &ClientId) {
        if let Some(failures) = &self.failures {
            let count = failures.get_with_by_ref(client_id, || Arc::new(AtomicU32::new(0)));
            let total = count.fetch_add(1, Ordering::Relaxed) + 1;
            if total == self.max_failures {
                tracing::warn!(client_id = %client_id, "repeated wrong secrets; throttling this client id");
            }
        }
    }

    pub fn forget(&self, client_id: &ClientId) {
        if let Some(failures) = &self.failures {
            failures.invalidate(client_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_after_the_limit_and_forgets_on_success() {
        let throttle = FailureThrottle::new(ThrottleSettings {
            max_failures: 3,
            window: Duration::from_secs(60),
        });
        let id = ClientId::generate();
        let other = ClientId::generate();
        for _ in 0..2 {
            throttle.note_failure(&id);
        }
        assert!(!throttle.is_throttled(&id));
        throttle.note_failure(&id);
        assert!(throttle.is_throttled(&id));
        assert!(!throttle.is_throttled(&other));
        throttle.forget(&id);
        assert!(!throttle.is_throttled(&id));
    }

    #[test]
    fn the_window_ends_the_throttle() {
        let throttle = FailureThrottle::new(ThrottleSettings {
            max_failures: 1,
            window: Duration::from_millis(50),
        });
        let id = ClientId::generate();
        throttle.note_failure(&id);
        assert!(throttle.is_throttled(&id));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while throttle.is_throttled(&id) {
            assert!(
                std::time::Instant::now() < deadline,
                "throttle outlived its window"
            );
            std::thread::yield_now();
        }
    }
}
