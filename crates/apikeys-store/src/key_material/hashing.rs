use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

use super::ClientSecret;
use crate::error::StoreError;

/// argon2id cost parameters. Defaults follow OWASP: m = 19456 KiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashingParams {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// An argon2id PHC string; the only form in which a secret is ever stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_stored(phc: String) -> Self {
        Self(phc)
    }
}

/// Hashes and verifies client secrets. Both are CPU-bound for tens of milliseconds: call them
/// from a blocking thread, never on the async runtime.
#[derive(Clone)]
pub struct SecretHasher {
    argon2: Argon2<'static>,
}

impl SecretHasher {
    pub fn new(params: HashingParams) -> Result<Self, StoreError> {
        let params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| StoreError::Hashing(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        })
    }

    pub fn hash(&self, secret: &ClientSecret) -> Result<SecretHash, StoreError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(secret.expose().as_bytes(), &salt)
            .map(|hash| SecretHash(hash.to_string()))
            .map_err(|e| StoreError::Hashing(e.to_string()))
    }

    /// True only if `secret` matches `stored`. A stored value that is not a PHC string verifies
    /// nothing. The parameters embedded in `stored` are the ones used, so hashes made with older
    /// parameters keep working.
    pub fn verify(&self, secret: &ClientSecret, stored: &SecretHash) -> bool {
        let Ok(parsed) = PasswordHash::new(stored.as_str()) else {
            tracing::error!("stored secret hash is not a valid PHC string");
            return false;
        };
        self.argon2
            .verify_password(secret.expose().as_bytes(), &parsed)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> SecretHasher {
        SecretHasher::new(HashingParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hash_is_argon2id_phc_and_verifies_only_the_right_secret() {
        let hasher = cheap();
        let secret = ClientSecret::generate();
        let hash = hasher.hash(&secret).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(!hash.as_str().contains(secret.expose()));
        assert!(hasher.verify(&secret, &hash));
        assert!(!hasher.verify(&ClientSecret::generate(), &hash));
    }

    #[test]
    fn hashes_made_with_other_parameters_still_verify() {
        let secret = ClientSecret::generate();
        let old = cheap().hash(&secret).unwrap();
        let current = SecretHasher::new(HashingParams {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(current.verify(&secret, &old));
    }

    #[test]
    fn garbage_stored_hash_verifies_nothing() {
        let secret = ClientSecret::generate();
        assert!(!cheap().verify(&secret, &SecretHash::from_stored("garbage".into())));
    }

    #[test]
    fn default_parameters_are_owasp() {
        let hasher = SecretHasher::new(HashingParams::default()).unwrap();
        let hash = hasher.hash(&ClientSecret::generate()).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
