//! The hot path: is this Client ID + Client Secret live, and whose is it?
//!
//! 1. Malformed input (format, checksum) is inactive with no I/O.
//! 2. A cache hit compares a keyed digest of the secret in constant time: microseconds.
//! 3. A miss loads the key and runs argon2id on the bounded hashing pool, then fills the cache.
//! 4. Revocation and suspension evict entries (here before the RPC returns; on other replicas
//!    through the change feed), and an eviction epoch stops in-flight misses from re-filling
//!    an entry that was evicted while they ran.
//! 5. Repeated failures for one client id are throttled before they reach argon2.

mod cache;
pub mod clock;
mod rehash;
pub mod revocation_feed;
#[cfg(test)]
mod tests;
mod throttle;
pub mod usage;
mod verified_key;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use apikeys_store::{ClientId, ClientSecret, KeyCredential, Store};

pub use cache::CacheSettings;
pub use throttle::ThrottleSettings;
pub use verified_key::VerifiedKey;

use self::cache::{CachedKey, SecretDigest, VerificationCache};
use self::throttle::FailureThrottle;
use crate::crypto::HashingPool;
use crate::error::ApiError;
use crate::telemetry::metrics::{self, Credential, Outcome};
use crate::verification::clock::Now;
use crate::verification::usage::UsageRecorder;

/// The outcome of a verification. Why a credential is inactive is for logs and metrics only.
#[derive(Debug, Clone)]
pub enum Verdict {
    Active(Arc<VerifiedKey>),
    Inactive(InactiveReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveReason {
    Malformed,
    WrongSecret,
    Unusable,
    Throttled,
}

impl InactiveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongSecret => "wrong_secret",
            Self::Unusable => "unusable",
            Self::Throttled => "throttled",
        }
    }
}

/// The metrics outcome of a client-secret verification.
pub fn outcome<E>(verdict: &Result<Verdict, E>) -> Outcome {
    match verdict {
        Ok(Verdict::Active(_)) => Outcome::Active,
        Ok(Verdict::Inactive(InactiveReason::Throttled)) => Outcome::Throttled,
        Ok(Verdict::Inactive(_)) => Outcome::Inactive,
        Err(_) => Outcome::Error,
    }
}

pub struct CredentialVerifier {
    store: Store,
    hashing_pool: Arc<HashingPool>,
    usage: Arc<UsageRecorder>,
    cache: VerificationCache,
    throttle: FailureThrottle,
    eviction_epoch: AtomicU64,
}

impl CredentialVerifier {
    pub fn new(
        store: Store,
        hashing_pool: Arc<HashingPool>,
        usage: Arc<UsageRecorder>,
        cache: CacheSettings,
        throttle: ThrottleSettings,
    ) -> Self {
        Self {
            store,
            hashing_pool,
            usage,
            cache: VerificationCache::new(cache),
            throttle: FailureThrottle::new(throttle),
            eviction_epoch: AtomicU64::new(0),
        }
    }

    /// Verifies a presented Client ID + Client Secret. Errors are infrastructure failures
    /// (store down, hashing pool saturated), never a verdict about the credential.
    pub async fn verify_secret(&self, client_id: &str, secret: &str) -> Result<Verdict, ApiError> {
        // The secret is checked in place, not copied: a cached verification needs only its
        // digest. The slow path below takes its own copy for the hashing pool.
        let (Ok(client_id), true) = (
            ClientId::parse("client_id", client_id),
            ClientSecret::is_well_formed(secret),
        ) else {
            return Ok(Verdict::Inactive(InactiveReason::Malformed));
        };
        let digest = self.cache.digest(secret);
        let now = Now::read();
        let cached = self.cache.get(&client_id, &now);
        let matched = cached.as_ref().and_then(|cached| cached.matches(&digest));
        metrics::record_cache_lookup(Credential::ClientSecret, matched.is_some());
        if let Some(cached) = cached {
            match matched {
                Some(true) if cached.key.usable_at(&now) => {
                    self.note_use(&client_id, &cached.key, &now);
                    return Ok(Verdict::Active(cached.key));
                }
                Some(true) => {
                    self.cache.evict(client_id.as_str());
                    return Ok(Verdict::Inactive(InactiveReason::Unusable));
                }
                // A key has one secret, and this entry holds its digest: a mismatch is wrong.
                Some(false) => {
                    self.throttle.note_failure(&client_id);
                    return Ok(Verdict::Inactive(InactiveReason::WrongSecret));
                }
                // Filled by an access-token check, without a digest: verify the slow way.
                None => {}
            }
        }
        if self.throttle.is_throttled(&client_id) {
            return Ok(Verdict::Inactive(InactiveReason::Throttled));
        }
        let Some(secret) = ClientSecret::parse(secret) else {
            return Ok(Verdict::Inactive(InactiveReason::Malformed));
        };
        // Boxed: the store query and the hashing pool make this path's future kilobytes long,
        // and every caller's future would carry (and copy) that state on the cached path too.
        Box::pin(self.verify_with_store(client_id, secret, digest, now)).await
    }

    /// The slow path: the stored hash, argon2, and the cache filled on success.
    async fn verify_with_store(
        &self,
        client_id: ClientId,
        secret: ClientSecret,
        digest: SecretDigest,
        now: Now,
    ) -> Result<Verdict, ApiError> {
        let epoch = self.eviction_epoch.load(Ordering::Acquire);
        let credential = self.store.find_credential(&client_id).await?;
        let stored_hash = credential.as_ref().map(|c| c.secret_hash.clone());
        if let Some(stored) = &stored_hash
            && let Err(rejection) = self.hashing_pool.hasher().vet(stored)
        {
            // A row nobody here wrote (tampering, or a bad restore): never handed to argon2.
            tracing::error!(
                alert = "stored_hash_rejected",
                client_id = %client_id,
                reason = rejection.as_str(),
                "stored secret hash refused; the key answers inactive"
            );
            return Ok(Verdict::Inactive(InactiveReason::Unusable));
        }
        let matched = self
            .hashing_pool
            .verify(secret.clone(), stored_hash.clone())
            .await?;
        let Some(credential) = credential.filter(|_| matched) else {
            self.throttle.note_failure(&client_id);
            return Ok(Verdict::Inactive(InactiveReason::WrongSecret));
        };
        self.throttle.forget(&client_id);
        if let Some(stored) = stored_hash
            && self.hashing_pool.hasher().needs_rehash(&stored)
        {
            rehash::spawn(
                self.store.clone(),
                Arc::clone(&self.hashing_pool),
                client_id.clone(),
                secret,
                stored,
            );
        }
        let Some(key) = usable_key(credential, &now) else {
            return Ok(Verdict::Inactive(InactiveReason::Unusable));
        };
        if self.eviction_epoch.load(Ordering::Acquire) == epoch {
            self.cache.insert(
                client_id.clone(),
                CachedKey::with_digest(Arc::clone(&key), digest),
            );
        }
        self.note_use(&client_id, &key, &now);
        Ok(Verdict::Active(key))
    }

    /// Whether the key behind an already authenticated client id (e.g. the subject of a valid
    /// access token) is still usable at `now`: not revoked, not expired, account not suspended.
    pub async fn active_key(
        &self,
        client_id: &ClientId,
        now: &Now,
    ) -> Result<Option<Arc<VerifiedKey>>, ApiError> {
        let cached = self.cache.get(client_id, now);
        metrics::record_cache_lookup(Credential::AccessToken, cached.is_some());
        if let Some(cached) = cached {
            if cached.key.usable_at(now) {
                self.note_use(client_id, &cached.key, now);
                return Ok(Some(cached.key));
            }
            self.cache.evict(client_id.as_str());
            return Ok(None);
        }
        // Boxed for the reason given in `verify_secret`.
        Box::pin(self.load_key(client_id, now)).await
    }

    async fn load_key(
        &self,
        client_id: &ClientId,
        now: &Now,
    ) -> Result<Option<Arc<VerifiedKey>>, ApiError> {
        let epoch = self.eviction_epoch.load(Ordering::Acquire);
        let Some(credential) = self.store.find_credential(client_id).await? else {
            return Ok(None);
        };
        let Some(key) = usable_key(credential, now) else {
            return Ok(None);
        };
        if self.eviction_epoch.load(Ordering::Acquire) == epoch {
            self.cache.insert_if_absent(
                client_id.clone(),
                CachedKey::without_digest(Arc::clone(&key)),
            );
        }
        self.note_use(client_id, &key, now);
        Ok(Some(key))
    }

    /// Notes the use for `last_used_at`, once per key and second.
    fn note_use(&self, client_id: &ClientId, key: &VerifiedKey, now: &Now) {
        if key.first_use_in_second(now) {
            self.usage.record(client_id, now.naive_utc());
        }
    }

    /// Forgets a revoked key.
    pub fn evict_key(&self, client_id: &str) {
        self.eviction_epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.evict(client_id);
    }

    /// Forgets every key of an account that lost API access.
    pub fn evict_account(&self, account_id: &str) {
        self.eviction_epoch.fetch_add(1, Ordering::AcqRel);
        self.cache.evict_account(account_id);
    }
}

fn usable_key(credential: KeyCredential, now: &Now) -> Option<Arc<VerifiedKey>> {
    if !credential.is_usable_at(now.naive_utc()) {
        return None;
    }
    let key = credential.key;
    Some(Arc::new(VerifiedKey::new(
        &key.client_id,
        &key.account_id,
        &key.email,
        key.created_at,
        key.expires_at,
    )))
}
