use std::sync::Arc;
use std::time::{Duration, Instant};

use apikeys_store::ClientId;
use quick_cache::sync::Cache;
use subtle::ConstantTimeEq;

use super::VerifiedKey;
use crate::crypto::keyed_digest::{Digest, KeyedDigest};
use crate::verification::clock::Now;

/// Size and lifetime of the verification cache. `max_entries` 0 disables it.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_entries: u64,
    pub ttl: Duration,
}

pub type SecretDigest = Digest;

/// A verified key and, when it was verified with its secret, a keyed BLAKE3 digest of that
/// secret under a random per-process key: the secret itself is never kept, and a digest is
/// useless outside this process.
#[derive(Clone)]
pub struct CachedKey {
    pub key: Arc<VerifiedKey>,
    digest: Option<SecretDigest>,
    cached_at: Instant,
}

impl CachedKey {
    pub fn with_digest(key: Arc<VerifiedKey>, digest: SecretDigest) -> Self {
        Self {
            key,
            digest: Some(digest),
            cached_at: Instant::now(),
        }
    }

    pub fn without_digest(key: Arc<VerifiedKey>) -> Self {
        Self {
            key,
            digest: None,
            cached_at: Instant::now(),
        }
    }

    /// `None` when the entry holds no digest; otherwise a constant-time comparison.
    pub fn matches(&self, digest: &SecretDigest) -> Option<bool> {
        self.digest
            .as_ref()
            .map(|stored| bool::from(stored.ct_eq(digest)))
    }
}

/// A client id (`akc_` + 24 characters) held inline: no allocation per cached key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CacheKey([u8; CACHE_KEY_LEN]);

const CACHE_KEY_LEN: usize = 28;

impl CacheKey {
    /// `None` for anything that is not a well-formed client id; such ids are never cached.
    fn of(client_id: &str) -> Option<Self> {
        client_id.as_bytes().try_into().ok().map(Self)
    }
}

/// quick_cache rather than moka: at 100 000 keys moka's per-entry bookkeeping (~500 bytes)
/// dominated the process's memory; quick_cache's S3-FIFO keeps ~tens of bytes per entry. It has
/// no time-to-live of its own, so entries carry their insertion time and expire when read.
pub struct VerificationCache {
    entries: Option<Cache<CacheKey, CachedKey>>,
    ttl: Duration,
    digest: KeyedDigest,
}

impl VerificationCache {
    pub fn new(settings: CacheSettings) -> Self {
        let entries = (settings.max_entries > 0 && !settings.ttl.is_zero())
            .then(|| Cache::new(usize::try_from(settings.max_entries).unwrap_or(usize::MAX)));
        Self {
            entries,
            ttl: settings.ttl,
            digest: KeyedDigest::random(),
        }
    }

    /// Of a secret as presented, once [`apikeys_store::ClientSecret::is_well_formed`] has
    /// accepted it.
    pub fn digest(&self, secret: &str) -> SecretDigest {
        self.digest.of(secret.as_bytes())
    }

    pub fn get(&self, client_id: &ClientId, now: &Now) -> Option<CachedKey> {
        let entries = self.entries.as_ref()?;
        let key = CacheKey::of(client_id.as_str())?;
        let cached = entries.get(&key)?;
        if now.instant().saturating_duration_since(cached.cached_at) < self.ttl {
            return Some(cached);
        }
        entries.remove(&key);
        None
    }

    pub fn insert(&self, client_id: ClientId, entry: CachedKey) {
        if let (Some(entries), Some(key)) = (&self.entries, CacheKey::of(client_id.as_str())) {
            entries.insert(key, entry);
        }
    }

    pub fn insert_if_absent(&self, client_id: ClientId, entry: CachedKey) {
        if let (Some(entries), Some(key)) = (&self.entries, CacheKey::of(client_id.as_str()))
            && !entries.contains_key(&key)
        {
            entries.insert(key, entry);
        }
    }

    pub fn evict(&self, client_id: &str) {
        if let (Some(entries), Some(key)) = (&self.entries, CacheKey::of(client_id)) {
            entries.remove(&key);
        }
    }

    /// A scan of the cache: suspensions are rare, and 100 000 entries take milliseconds.
    pub fn evict_account(&self, account_id: &str) {
        if let Some(entries) = &self.entries {
            entries.retain(|_, cached| cached.key.account_id() != account_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_client_id_fits_the_inline_key() {
        for _ in 0..100 {
            let client_id = ClientId::generate();
            assert!(CacheKey::of(client_id.as_str()).is_some(), "{client_id:?}");
        }
        assert!(CacheKey::of("akc_short").is_none());
    }
}
