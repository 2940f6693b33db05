use std::sync::Arc;
use std::time::Duration;

use apikeys_store::{ClientId, ClientSecret};
use hmac::{Hmac, Mac};
use moka::sync::Cache;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::VerifiedKey;

/// Size and lifetime of the verification cache. `max_entries` 0 disables it.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    pub max_entries: u64,
    pub ttl: Duration,
}

pub type SecretDigest = [u8; 32];

/// A verified key and, when it was verified with its secret, an HMAC-SHA256 of that secret
/// under a random per-process key: the secret itself is never kept, and a digest is useless
/// outside this process.
#[derive(Clone)]
pub struct CachedKey {
    pub key: Arc<VerifiedKey>,
    digest: Option<SecretDigest>,
}

impl CachedKey {
    pub fn with_digest(key: Arc<VerifiedKey>, digest: SecretDigest) -> Self {
        Self {
            key,
            digest: Some(digest),
        }
    }

    pub fn without_digest(key: Arc<VerifiedKey>) -> Self {
        Self { key, digest: None }
    }

    /// `None` when the entry holds no digest; otherwise a constant-time comparison.
    pub fn matches(&self, digest: &SecretDigest) -> Option<bool> {
        self.digest
            .as_ref()
            .map(|stored| bool::from(stored.ct_eq(digest)))
    }
}

pub struct VerificationCache {
    entries: Option<Cache<ClientId, CachedKey>>,
    hmac: Hmac<Sha256>,
}

impl VerificationCache {
    pub fn new(settings: CacheSettings) -> Self {
        let entries = (settings.max_entries > 0 && !settings.ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(settings.ttl)
                .support_invalidation_closures()
                .build()
        });
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self {
            entries,
            hmac: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length"),
        }
    }

    pub fn digest(&self, secret: &ClientSecret) -> SecretDigest {
        let mut mac = self.hmac.clone();
        mac.update(secret.expose().as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn get(&self, client_id: &ClientId) -> Option<CachedKey> {
        self.entries.as_ref()?.get(client_id)
    }

    pub fn insert(&self, client_id: ClientId, entry: CachedKey) {
        if let Some(entries) = &self.entries {
            entries.insert(client_id, entry);
        }
    }

    pub fn insert_if_absent(&self, client_id: ClientId, entry: CachedKey) {
        if let Some(entries) = &self.entries {
            entries.entry(client_id).or_insert(entry);
        }
    }

    pub fn evict(&self, client_id: &str) {
        if let Some(entries) = &self.entries {
            entries.invalidate(client_id);
        }
    }

    pub fn evict_account(&self, account_id: &str) {
        if let Some(entries) = &self.entries {
            let account_id = account_id.to_owned();
            // Entries matching the predicate are never returned again, even before the
            // background sweep removes them.
            if let Err(error) =
                entries.invalidate_entries_if(move |_, cached| cached.key.account_id == account_id)
            {
                tracing::error!(%error, "cannot invalidate an account's keys; clearing the cache");
                entries.invalidate_all();
            }
        }
    }
}
