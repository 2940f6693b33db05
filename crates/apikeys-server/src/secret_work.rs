//! argon2id hashing and verification on a bounded set of blocking threads. Each job costs tens of
//! milliseconds of CPU, so at most `workers` run at once and at most `max_queued` wait; beyond
//! that callers get RESOURCE_EXHAUSTED at once instead of an unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use apikeys_store::{ClientSecret, SecretHash, SecretHasher, StoreError};
use tokio::sync::Semaphore;

use crate::error::ApiError;

pub struct SecretWork {
    hasher: SecretHasher,
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
        let decoy_hash = hasher.hash(&ClientSecret::generate())?;
        let workers = workers.max(1);
        Ok(Self {
            hasher,
            permits: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            max_admitted: workers + max_queued,
            decoy_hash,
        })
    }

    pub async fn hash(&self, secret: ClientSecret) -> Result<SecretHash, ApiError> {
        self.run(move |hasher| hasher.hash(&secret))
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
            .run(move |hasher| hasher.verify(&secret, &hash))
            .await?;
        Ok(known && matched)
    }

    async fn run<R, F>(&self, job: F) -> Result<R, ApiError>
    where
        F: FnOnce(&SecretHasher) -> R + Send + 'static,
        R: Send + 'static,
    {
        let _admission = Admission::try_enter(&self.admitted, self.max_admitted)?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Overloaded("the hashing pool is shut down"))?;
        let hasher = self.hasher.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let _permit = permit;
            job(&hasher)
        })
        .await
        .map_err(|e| ApiError::Store(StoreError::Hashing(format!("hashing task failed: {e}"))))
    }
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
