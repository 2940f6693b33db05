//! kill -9 in the middle of a burst of CreateKey and RevokeKey: after a restart, every
//! acknowledged create exists with a working secret and every acknowledged revoke holds.

use apikeys_test_support::Backend;

use super::burst::{Burst, assert_acknowledged_calls_held, assert_revoked_inactive};
use crate::harness::{Fixture, TestServer};

backend_suite!(acknowledged_writes_survive_kill_9);

/// Keys made before the burst for it to revoke.
const KEYS_TO_REVOKE: usize = 12;
const WORKERS: usize = 6;

async fn acknowledged_writes_survive_kill_9(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--max-active-keys", "100000"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let mut to_revoke = Vec::new();
    for i in 0..KEYS_TO_REVOKE {
        let created = fixture.create_key(&format!("old-{i}@acme.test")).await;
        to_revoke.push((created.key.expect("key").client_id, created.client_secret));
    }
    let ids = to_revoke.iter().map(|(id, _)| id.clone()).collect();
    let burst = Burst::start(fixture.api(), &fixture, ids, WORKERS);
    burst.wait_for_acks(3 * WORKERS).await;

    // SIGKILL while calls are in flight: no shutdown code runs.
    fixture.server.restart().await;
    let acknowledged = burst.finish().await;

    assert!(!acknowledged.created.is_empty() && !acknowledged.revoked.is_empty());
    assert_acknowledged_calls_held(&fixture, &acknowledged).await;
    let revoked: Vec<_> = to_revoke
        .into_iter()
        .filter(|(id, _)| acknowledged.revoked.contains(id))
        .collect();
    assert_revoked_inactive(&fixture, &revoked).await;
    fixture.assert_intact().await;
}
