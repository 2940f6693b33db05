use std::sync::Arc;
use std::time::{Duration, Instant};

use apikeys_store::{ClientId, ClientSecret};
use quick_cache::sync::Cache;
use subtle::ConstantTimeEq;

use super::VerifiedKey;
use crate::keyed_digest::{Digest, KeyedDigest};

/// Size and lifetime of the verification cache. `max_entries` 0 disables it.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_entries: u64,
    pub ttl: Duration,
}

pub type SecretDigest = Digest;

/// A verified key and, when it was verified with its secret, an HMAC-SHA256 of that secret
/// under a random per-process key: the secret itself is never kept, and a digest is useless
/// outside this process.
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

/// quick_cache rather than moka: at 100 000 keys moka's per-entry bookkeeping (~500 bytes)
/// dominated the process's memory; quick_cache's S3-FIFO keeps ~tens of bytes per entry. It has
/// no time-to-live of its own, so entries carry their insertion time and expire when read.
pub struct VerificationCache {
    entries: Option<Cache<ClientId, CachedKey>>,
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

    pub fn digest(&self, secret: &ClientSecret) -> SecretDigest {
        self.digest.of(secret.expose().as_bytes())
    }

    pub fn get(&self, client_id: &ClientId) -> Option<CachedKey> {
        let entries = self.entries.as_ref()?;
        let cached = entries.get(client_id.as_str())?;
        if cached.cached_at.elapsed() < self.ttl {
            return Some(cached);
        }
        entries.remove(client_id.as_str());
        None
    }

    pub fn insert(&self, client_id: ClientId, entry: CachedKey) {
        if let Some(entries) = &self.entries {
            entries.insert(client_id, entry);
        }
    }

    pub fn insert_if_absent(&self, client_id: ClientId, entry: CachedKey) {
        if let Some(entries) = &self.entries
            && !entries.contains_key(client_id.as_str())
        {
            entries.insert(client_id, entry);
        }
    }

    pub fn evict(&self, client_id: &str) {
        if let Some(entries) = &self.entries {
            entries.remove(client_id);
        }
    }

    /// A scan of the cache: suspensions are rare, and 100 000 entries take milliseconds.
    pub fn evict_account(&self, account_id: &str) {
        if let Some(entries) = &self.entries {
            entries.retain(|_, cached| cached.key.account_id != account_id);
        }
    }
}
