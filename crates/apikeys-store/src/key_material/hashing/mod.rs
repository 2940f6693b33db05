mod working_memory;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

use super::ClientSecret;
use crate::error::StoreError;
use working_memory::compute;

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

impl HashingParams {
    /// The most a stored hash may ask for: four times the configured cost, and never less than
    /// four times the OWASP default, so hashes made before the cost was tuned down (or up, within
    /// reason) keep verifying while a hostile row (m = 4 GiB, t = 2^32-1) cannot make one
    /// verification allocate gigabytes or spin for hours.
    pub fn stored_hash_caps(&self) -> HashingParams {
        let default = HashingParams::default();
        HashingParams {
            memory_kib: self
                .memory_kib
                .max(default.memory_kib)
                .saturating_mul(STORED_COST_FACTOR),
            iterations: self
                .iterations
                .max(default.iterations)
                .saturating_mul(STORED_COST_FACTOR),
            parallelism: self
                .parallelism
                .max(default.parallelism)
                .saturating_mul(STORED_COST_FACTOR),
        }
    }
}

/// How far above the configured cost a stored hash may go; see [`HashingParams::stored_hash_caps`].
const STORED_COST_FACTOR: u32 = 4;
/// Longest stored PHC string parsed; real ones are ~100 bytes.
const MAX_STORED_HASH_LEN: usize = 512;

/// Why a stored hash was refused without being used; for the alert log line, never for callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredHashRejection {
    /// Not a PHC string at all, or too long to be one of ours.
    Unparseable,
    /// A PHC string of another algorithm or argon2 version.
    WrongAlgorithm,
    /// argon2id with parameters above [`HashingParams::stored_hash_caps`].
    CostOverCap,
}

impl StoredHashRejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unparseable => "unparseable",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::CostOverCap => "cost_over_cap",
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
    current: HashingParams,
    caps: HashingParams,
}

impl SecretHasher {
    pub fn new(params: HashingParams) -> Result<Self, StoreError> {
        let argon2_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| StoreError::Hashing(format!("invalid argon2 parameters: {e}")))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params),
            current: params,
            caps: params.stored_hash_caps(),
        })
    }

    pub fn hash(&self, secret: &ClientSecret) -> Result<SecretHash, StoreError> {
        let salt = SaltString::generate(&mut OsRng);
        compute(&self.argon2, secret.expose().as_bytes(), salt.as_salt())
            .map(|hash| SecretHash(hash.to_string()))
            .map_err(|e| StoreError::Hashing(e.to_string()))
    }

    /// Whether `stored` may be verified at all: an argon2id v19 PHC string whose cost is within
    /// the caps. Cheap (a parse, no allocation beyond it): call it before queueing a
    /// verification, so a hostile row costs nothing.
    pub fn vet(&self, stored: &SecretHash) -> Result<(), StoredHashRejection> {
        self.parse_vetted(stored).map(|_| ())
    }

    /// True only if `secret` matches `stored`. The parameters embedded in `stored` are the ones
    /// used, so hashes made with older parameters keep working; a stored value that fails
    /// [`SecretHasher::vet`] verifies nothing and is never handed to argon2.
    pub fn verify(&self, secret: &ClientSecret, stored: &SecretHash) -> bool {
        let Ok(parsed) = self.parse_vetted(stored) else {
            return false;
        };
        let (Some(salt), Some(expected), Ok(params)) =
            (parsed.salt, parsed.hash, Params::try_from(&parsed))
        else {
            return false;
        };
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        compute(&argon2, secret.expose().as_bytes(), salt)
            .ok()
            .and_then(|computed| computed.hash)
            // `Output` compares in constant time.
            .is_some_and(|computed| computed == expected)
    }

    /// Whether `stored` (already verified) was made with other parameters than the current
    /// ones, so it should be replaced by a fresh hash of the same secret.
    pub fn needs_rehash(&self, stored: &SecretHash) -> bool {
        let Ok(parsed) = self.parse_vetted(stored) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        params.m_cost() != self.current.memory_kib
            || params.t_cost() != self.current.iterations
            || params.p_cost() != self.current.parallelism
            || params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
                != Params::DEFAULT_OUTPUT_LEN
    }

    fn parse_vetted<'a>(
        &self,
        stored: &'a SecretHash,
    ) -> Result<PasswordHash<'a>, StoredHashRejection> {
        if stored.as_str().len() > MAX_STORED_HASH_LEN {
            return Err(StoredHashRejection::Unparseable);
        }
        let parsed =
            PasswordHash::new(stored.as_str()).map_err(|_| StoredHashRejection::Unparseable)?;
        if Algorithm::try_from(parsed.algorithm) != Ok(Algorithm::Argon2id)
            || parsed.version != Some(Version::V0x13.into())
        {
            return Err(StoredHashRejection::WrongAlgorithm);
        }
        // Params::try_from rejects values argon2 itself cannot use; the caps bound the rest.
        let params = Params::try_from(&parsed).map_err(|_| StoredHashRejection::Unparseable)?;
        if params.m_cost() > self.caps.memory_kib
            || params.t_cost() > self.caps.iterations
            || params.p_cost() > self.caps.parallelism
        {
            return Err(StoredHashRejection::CostOverCap);
        }
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err(StoredHashRejection::Unparseable);
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests;
