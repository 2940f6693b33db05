//! Rehash-on-verify: a key whose stored hash was made with older argon2 parameters gets a fresh
//! hash of the same secret after its next successful verification, so raising the cost reaches
//! every key that is still in use without asking partners for new secrets.

use std::sync::Arc;

use apikeys_store::{ClientId, ClientSecret, SecretHash, Store};

use crate::crypto::HashingPool;

/// Hashes `secret` with the current parameters on the hashing pool and swaps it in for `old`,
/// off the caller's path. Best effort: a full pool, a store error or a concurrent swap by
/// another replica leaves the old hash in place, and the next verification tries again.
pub fn spawn(
    store: Store,
    hashing_pool: Arc<HashingPool>,
    client_id: ClientId,
    secret: ClientSecret,
    old: SecretHash,
) {
    tokio::spawn(async move {
        let fresh = match hashing_pool.hash(secret).await {
            Ok(fresh) => fresh,
            Err(error) => {
                tracing::debug!(client_id = %client_id, %error, "rehash postponed");
                return;
            }
        };
        match store.replace_secret_hash(&client_id, &old, &fresh).await {
            Ok(true) => {
                tracing::info!(client_id = %client_id, "secret rehashed with current parameters")
            }
            Ok(false) => {
                tracing::debug!(client_id = %client_id, "rehash skipped: hash changed meanwhile")
            }
            Err(error) => tracing::warn!(client_id = %client_id, %error, "rehash not stored"),
        }
    });
}
