//! argon2id hashing and verification on a bounded set of blocking threads. Each job costs tens of
//! milliseconds of CPU, so at most `workers` run at once and at most `max_queued` wait; beyond
//! that callers get RESOURCE_EXHAUSTED at once instead of an unbounded queue.
//!
//! The threads are dedicated (`argon2-N`), not tokio's blocking pool: every job allocates the
//! argon2 memory (m KiB, 19 MiB by default), and on whichever of tokio's up to 512 blocking
//! threads it ran, the allocator kept that block in that thread's arena. Under a brute-force
//! attack that was hundreds of MiB; with `workers` fixed threads it is at most `workers` blocks.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Instant;

use apikeys_store::{ClientSecret, SecretHash, SecretHasher, StoreError};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::metrics;

type Job = Box<dyn FnOnce() + Send>;

pub struct SecretWork {
    hasher: SecretHasher,
    /// The dedicated hashing threads' queue; they exit when it is dropped.
    jobs: mpsc::Sender<Job>,
    permits: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    max_admitted: usize,
    /// Verified against when a client id is unknown, so that costs the same as a wrong secret.
    decoy_hash: SecretHash,
}

impl SecretWork {
    pub fn new(
        hasher: SecretHasher,
        workers: usize,
        max_queued: usize,
    ) -> Result<Self, StoreError> {
        // On a short-lived thread: hashing keeps m KiB of argon2 memory per thread for reuse,
        // which the main thread has no use for.
        let decoy_hash = std::thread::scope(|scope| {
            scope
                .spawn(|| hasher.hash(&ClientSecret::generate()))
                .join()
                .unwrap_or_else(|_| Err(StoreError::Hashing("decoy hashing panicked".into())))
        })?;
        let workers = workers.max(1);
        let permits = Arc::new(Semaphore::new(workers));
        let admitted = Arc::new(AtomicUsize::new(0));
        metrics::observe_argon2_jobs({
            let permits = Arc::clone(&permits);
            let admitted = Arc::clone(&admitted);
            move || {
                let running = workers.saturating_sub(permits.available_permits());
                let queued = admitted.load(Ordering::Acquire).saturating_sub(running);
                (queued as u64, running as u64)
            }
        });
        Ok(Self {
            hasher,
            jobs: start_threads(workers)?,
            permits,
            admitted,
            max_admitted: workers + max_queued,
            decoy_hash,
        })
    }

    /// The hasher, for the cheap checks that need no pool slot (vetting a stored hash's cost,
    /// telling whether it was made with the current parameters).
    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }

    pub async fn hash(&self, secret: ClientSecret) -> Result<SecretHash, ApiError> {
        self.run("hash", move |hasher| hasher.hash(&secret))
            .await?
            .map_err(ApiError::from)
    }

    /// Verifies `secret` against `stored`; with `None` it verifies against a decoy and fails.
    pub async fn verify(
        &self,
        secret: ClientSecret,
        stored: Option<SecretHash>,
    ) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.decoy_hash.clone());
        let matched = self
            .run("verify", move |hasher| hasher.verify(&secret, &hash))
            .await?;
        Ok(known && matched)
    }

    /// `operation` names the job in metrics.
    async fn run<R, F>(&self, operation: &'static str, job: F) -> Result<R, ApiError>
    where
        F: FnOnce(&SecretHasher) -> R + Send + 'static,
        R: Send + 'static,
    {
        let _admission = Admission::try_enter(&self.admitted, self.max_admitted)?;
        let admitted_at = Instant::now();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Overloaded("the hashing pool is shut down"))?;
        let hasher = self.hasher.clone();
        let span = tracing::Span::current();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _entered = span.enter();
            let _permit = permit;
            let started = Instant::now();
            let outcome = job(&hasher);
            metrics::record_argon2(operation, started - admitted_at, started.elapsed());
            // The caller may have gone (cancelled call): nobody to tell.
            let _ = done.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::Overloaded("the hashing pool is shut down"))?;
        result
            .await
            .map_err(|_| ApiError::Store(StoreError::Hashing("hashing job failed".into())))
    }
}

/// Starts `workers` threads taking jobs from one queue.
fn start_threads(workers: usize) -> Result<mpsc::Sender<Job>, StoreError> {
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    for index in 0..workers {
        let receiver = Arc::clone(&receiver);
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                loop {
                    // The lock is held only while waiting for the next job, not while hashing.
                    let next = match receiver.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = next else { return };
                    // A panicking job must not take a worker with it; its caller sees an error.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(|e| StoreError::Hashing(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
}

/// Counts a job from admission until it finishes (queued or running).
struct Admission(Arc<AtomicUsize>);

impl Admission {
    fn try_enter(counter: &Arc<AtomicUsize>, limit: usize) -> Result<Self, ApiError> {
        let previous = counter.fetch_add(1, Ordering::AcqRel);
        if previous >= limit {
            counter.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Overloaded(
                "too many secret verifications in flight, retry later",
            ));
        }
        Ok(Self(Arc::clone(counter)))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use apikeys_store::HashingParams;

    use super::*;

    fn work(workers: usize, queued: usize) -> Arc<SecretWork> {
        let hasher = SecretHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        Arc::new(SecretWork::new(hasher, workers, queued).unwrap())
    }

    #[tokio::test]
    async fn verifies_right_secret_only_and_unknown_ids_fail() {
        let work = work(1, 4);
        let secret = ClientSecret::generate();
        let hash = work.hash(secret.clone()).await.unwrap();
        assert!(work.verify(secret.clone(), Some(hash)).await.unwrap());
        assert!(!work.verify(ClientSecret::generate(), None).await.unwrap());
    }

    #[tokio::test]
    async fn overflow_is_refused_not_queued() {
        let work = work(1, 1);
        let jobs: Vec<_> = (0..32)
            .map(|_| {
                let work = Arc::clone(&work);
                tokio::spawn(async move { work.hash(ClientSecret::generate()).await })
            })
            .collect();
        let mut refused = 0;
        for job in jobs {
            if let Err(ApiError::Overloaded(_)) = job.await.unwrap() {
                refused += 1;
            }
        }
        assert!(
            refused > 0,
            "a 1 + 1 pool must refuse some of 32 concurrent jobs"
        );
        assert_eq!(work.admitted.load(Ordering::Acquire), 0);
    }
}
