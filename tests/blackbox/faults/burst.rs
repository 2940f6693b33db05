//! A burst of CreateKey and RevokeKey calls from several workers, remembering every call the
//! server acknowledged, so a test can interrupt the server and check each one held.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::DEADLINE;
use crate::harness::{Api, Fixture, assert_inactive, eventually};

/// Calls per worker at most: the burst ends by itself even if nobody stops it.
const MAX_CALLS_PER_WORKER: usize = 2_000;

/// What the server acknowledged.
#[derive(Debug, Default)]
pub struct Acknowledged {
    /// (client id, client secret) of each created key.
    pub created: Vec<(String, String)>,
    /// Client ids of revoked keys.
    pub revoked: Vec<String>,
    /// The error that stopped each worker that met one.
    pub errors: Vec<tonic::Status>,
}

pub struct Burst {
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicUsize>,
    acknowledged: Arc<Mutex<Acknowledged>>,
    workers: Vec<JoinHandle<()>>,
}

impl Burst {
    /// Starts `workers` workers on `fixture`'s account through `api`, alternating CreateKey
    /// with RevokeKey of a key from `to_revoke` while any is left. A worker stops at its first
    /// error (e.g. the server went away).
    pub fn start(api: &Api, fixture: &Fixture, to_revoke: Vec<String>, workers: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(AtomicUsize::new(0));
        let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
        let to_revoke = Arc::new(Mutex::new(to_revoke));
        let workers = (0..workers)
            .map(|worker| {
                let api = api.clone();
                let (owner, account) = (fixture.owner.clone(), fixture.account.clone());
                let (stop, acks) = (Arc::clone(&stop), Arc::clone(&acks));
                let acknowledged = Arc::clone(&acknowledged);
                let to_revoke = Arc::clone(&to_revoke);
                tokio::spawn(async move {
                    for call in 0..MAX_CALLS_PER_WORKER {
                        if stop.load(Ordering::Acquire) {
                            return;
                        }
                        let revoke = call % 2 == 1;
                        let next = revoke.then(|| to_revoke.lock().expect("lock").pop());
                        let ok = match next.flatten() {
                            Some(client_id) => {
                                revoke_one(&api, &owner, &account, client_id, &acknowledged).await
                            }
                            None => {
                                let email = format!("burst-{worker}-{call}@acme.test");
                                create_one(&api, &owner, &account, &email, &acknowledged).await
                            }
                        };
                        if !ok {
                            return;
                        }
                        acks.fetch_add(1, Ordering::AcqRel);
                    }
                })
            })
            .collect();
        Self {
            stop,
            acks,
            acknowledged,
            workers,
        }
    }

    /// Waits until the server has acknowledged at least `count` calls.
    pub async fn wait_for_acks(&self, count: usize) {
        let acks = Arc::clone(&self.acks);
        eventually(&format!("{count} acknowledged calls"), DEADLINE, || {
            let acks = Arc::clone(&acks);
            async move { acks.load(Ordering::Acquire) >= count }
        })
        .await;
    }

    /// Stops the workers and returns what was acknowledged.
    pub async fn finish(self) -> Acknowledged {
        self.stop.store(true, Ordering::Release);
        for worker in self.workers {
            worker.await.expect("burst worker");
        }
        std::mem::take(&mut *self.acknowledged.lock().expect("lock"))
    }
}

async fn create_one(
    api: &Api,
    owner: &str,
    account: &str,
    email: &str,
    acknowledged: &Mutex<Acknowledged>,
) -> bool {
    match api.create_key(owner, account, email).await {
        Err(status) => {
            acknowledged.lock().expect("lock").errors.push(status);
            false
        }
        Ok(created) => {
            let client_id = created.key.expect("CreateKey returns the key").client_id;
            acknowledged
                .lock()
                .expect("lock")
                .created
                .push((client_id, created.client_secret));
            true
        }
    }
}

async fn revoke_one(
    api: &Api,
    owner: &str,
    account: &str,
    client_id: String,
    acknowledged: &Mutex<Acknowledged>,
) -> bool {
    match api.revoke_key(owner, account, &client_id).await {
        Ok(_) => {
            acknowledged.lock().expect("lock").revoked.push(client_id);
            true
        }
        Err(status) => {
            acknowledged.lock().expect("lock").errors.push(status);
            false
        }
    }
}

/// Every acknowledged create exists and its secret verifies; every acknowledged revoke holds.
pub async fn assert_acknowledged_calls_held(fixture: &Fixture, acknowledged: &Acknowledged) {
    let api = fixture.api();
    let listed = api
        .active_client_ids(&fixture.owner, &fixture.account)
        .await;
    for (client_id, secret) in &acknowledged.created {
        assert!(
            listed.contains(client_id),
            "acknowledged key {client_id} is not listed"
        );
        let response = api
            .introspect(&fixture.gateway, client_id, secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect {client_id}: {s:?}"));
        assert!(
            response.active,
            "acknowledged key {client_id} is not active"
        );
    }
    for client_id in &acknowledged.revoked {
        assert!(
            !listed.contains(client_id),
            "revoked key {client_id} is still listed"
        );
    }
}

/// Introspects each revoked key with its secret: all inactive.
pub async fn assert_revoked_inactive(fixture: &Fixture, revoked: &[(String, String)]) {
    for (client_id, secret) in revoked {
        let response = fixture
            .api()
            .introspect(&fixture.gateway, client_id, secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect {client_id}: {s:?}"));
        assert_inactive(&response, "an acknowledged revocation after the restart");
    }
}
