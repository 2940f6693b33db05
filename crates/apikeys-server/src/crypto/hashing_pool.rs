//! argon2id hashing and verification on a bounded set of blocking threads. Each job costs tens of
//! milliseconds of CPU, so at most `workers` run at once and at most `max_queued` wait; beyond
//! that callers get RESOURCE_EXHAUSTED at once instead of an unbounded queue.
//!
//! The threads are dedicated (`argon2-N`), not tokio's blocking pool: every job allocates the
//! argon2 memory (m KiB, 19 MiB by default), and on whichever of tokio's up to 512 blocking
//! threads it ran, the allocator would keep that block in that thread's arena: hundreds of MiB
//! under a brute-force attack. With `workers` fixed threads it is at most `workers` blocks.
//!
//! Admitted jobs wait in the threads' own queue, so a thread that finishes a hash takes the next
//! one at once, without going to sleep and waiting for an async task to hand it over. A job
//! whose caller has gone (cancelled call, deadline) is skipped when its turn comes.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use apikeys_store::{ClientSecret, SecretHash, SecretHasher, StoreError};

use crate::error::ApiError;
use crate::telemetry::metrics;

type Job = Box<dyn FnOnce() + Send>;

pub struct HashingPool {
    hasher: SecretHasher,
    /// The dedicated hashing threads' queue; they exit when it is dropped.
    jobs: crossbeam_channel::Sender<Job>,
    /// Jobs queued or running.
    admitted: Arc<AtomicUsize>,
    running: Arc<AtomicUsize>,
    max_admitted: usize,
    /// Verified against when a client id is unknown, so that costs the same as a wrong secret.
    decoy_hash: SecretHash,
}

impl HashingPool {
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
        let admitted = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicUsize::new(0));
        metrics::observe_argon2_jobs({
            let admitted = Arc::clone(&admitted);
            let running = Arc::clone(&running);
            move || {
                let running = running.load(Ordering::Acquire);
                let queued = admitted.load(Ordering::Acquire).saturating_sub(running);
                (queued as u64, running as u64)
            }
        });
        Ok(Self {
            hasher,
            jobs: start_threads(workers)?,
            admitted,
            running,
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
        // Held by the job, not by this future: a job stays counted until a thread has run or
        // skipped it, so the queue never holds more than `max_admitted` jobs.
        let admission = Counted::try_enter(&self.admitted, self.max_admitted)?;
        let admitted_at = Instant::now();
        let hasher = self.hasher.clone();
        let running = Arc::clone(&self.running);
        let span = tracing::Span::current();
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            let _entered = span.enter();
            let running = Counted::enter(&running);
            let started = Instant::now();
            let outcome = job(&hasher);
            let ran = started.elapsed();
            drop(running);
            // Released before the caller hears back, so its next job is admitted at once.
            drop(admission);
            metrics::record_argon2(operation, started - admitted_at, ran);
            // The caller may have gone (cancelled call): nobody to tell.
            let _ = done.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_| ApiError::Overloaded("the hashing pool is shut down"))?;
        // A job that panicked dropped `done` without an answer.
        result
            .await
            .map_err(|_| ApiError::Store(StoreError::Hashing("hashing job failed".into())))
    }
}

/// Starts `workers` threads taking jobs from one queue; they exit when its sender is dropped.
fn start_threads(workers: usize) -> Result<crossbeam_channel::Sender<Job>, StoreError> {
    // Unbounded here because admission bounds it.
    let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
    for index in 0..workers {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{index}"))
            .spawn(move || {
                for job in receiver {
                    // A panicking job must not take a worker with it; its caller sees an error.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(|e| StoreError::Hashing(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
}

/// One job counted in `counter` (admitted, or running) until dropped, also when a job panics.
struct Counted(Arc<AtomicUsize>);

impl Counted {
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

    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(counter))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use apikeys_store::HashingParams;

    use super::*;

    fn work(workers: usize, queued: usize) -> Arc<HashingPool> {
        let hasher = SecretHasher::new(HashingParams {
            memory_kib: 1024,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        Arc::new(HashingPool::new(hasher, workers, queued).unwrap())
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

    #[tokio::test]
    async fn sequential_jobs_on_a_pool_without_a_queue_are_never_refused() {
        let work = work(1, 0);
        for _ in 0..200 {
            work.run("test", |_| ())
                .await
                .expect("a free worker takes the job");
        }
    }

    /// Waits, with a deadline, until `condition` holds.
    async fn until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_queued_job_whose_caller_has_gone_is_skipped() {
        let work = work(1, 4);
        let (release, released) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let work = Arc::clone(&work);
            async move { work.run("test", move |_| released.recv().ok()).await }
        });
        until("the first job runs", || {
            work.running.load(Ordering::Acquire) == 1
        })
        .await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let abandoned = tokio::spawn({
            let work = Arc::clone(&work);
            let ran = Arc::clone(&ran);
            async move {
                work.run("test", move |_| ran.store(true, Ordering::Release))
                    .await
            }
        });
        until("the second job is queued", || {
            work.admitted.load(Ordering::Acquire) == 2
        })
        .await;
        abandoned.abort();
        assert!(abandoned.await.unwrap_err().is_cancelled());

        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        // The worker has passed the abandoned job once it runs one queued after it.
        work.run("test", |_| ()).await.unwrap();
        assert!(!ran.load(Ordering::Acquire), "the abandoned job was run");
        assert_eq!(work.admitted.load(Ordering::Acquire), 0);
        assert_eq!(work.running.load(Ordering::Acquire), 0);
    }
}
