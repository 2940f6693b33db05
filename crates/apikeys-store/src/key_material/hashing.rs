use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

thread_local! {
    /// argon2's working memory (m KiB), kept by each hashing thread between jobs: allocating it
    /// per hash had the allocator return it to the kernel and the kernel zero-fill it again on
    /// the next one, a third of a verification's time.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// `argon2.hash_password` on this thread's reusable memory; the same PHC string as argon2's.
fn compute<'a>(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'a>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_buffer = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
    let params = argon2.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks_needed = params.block_count();
    let output = Output::init_with(output_len, |out| {
        let mut run = |blocks: &mut [Block]| {
            argon2.hash_password_into_with_memory(password, salt_bytes, out, blocks)
        };
        BLOCKS
            .with(|cell| match cell.try_borrow_mut() {
                Ok(mut blocks) => {
                    if blocks.len() < blocks_needed {
                        blocks.resize(blocks_needed, Block::default());
                    }
                    run(&mut blocks[..blocks_needed])
                }
                // Not reached (no job runs inside another); a fresh buffer is still correct.
                Err(_) => run(&mut vec![Block::default(); blocks_needed]),
            })
            .map_err(Into::into)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
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
    fn hashes_are_interchangeable_with_argon2s_own_api() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let hasher = cheap();
        let secret = ClientSecret::generate();
        // Stored before the reusable-memory path existed: argon2's own hash_password.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = hasher
            .argon2
            .hash_password(secret.expose().as_bytes(), &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify(&secret, &SecretHash(theirs.clone())));
        assert!(!hasher.verify(&ClientSecret::generate(), &SecretHash(theirs)));
        // Ours verifies with argon2's own verifier, and has the same PHC shape.
        let ours = hasher.hash(&secret).unwrap();
        let parsed = PasswordHash::new(ours.as_str()).unwrap();
        assert!(
            hasher
                .argon2
                .verify_password(secret.expose().as_bytes(), &parsed)
                .is_ok()
        );
        assert!(
            ours.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{}",
            ours.as_str()
        );
        // A bigger cost after a smaller one on the same thread reuses and grows the buffer.
        let bigger = SecretHasher::new(HashingParams {
            memory_kib: 256,
            iterations: 1,
            parallelism: 2,
        })
        .unwrap();
        let big = bigger.hash(&secret).unwrap();
        assert!(hasher.verify(&secret, &big) && bigger.verify(&secret, &ours));
    }

    /// A PHC string with the given parameter segment and a well-formed salt and hash.
    fn phc_with(params: &str) -> SecretHash {
        SecretHash::from_stored(format!(
            "$argon2id$v=19${params}$c29tZXNhbHRzb21lc2FsdA$\
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ))
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
        assert_eq!(hasher.vet(&hash), Ok(()));
        assert!(!hasher.needs_rehash(&hash));
    }

    #[test]
    fn hashes_made_with_other_parameters_still_verify_and_need_a_rehash() {
        let secret = ClientSecret::generate();
        let old = cheap().hash(&secret).unwrap();
        let current = SecretHasher::new(HashingParams {
            memory_kib: 128,
            iterations: 2,
            parallelism: 1,
        })
        .unwrap();
        assert!(current.verify(&secret, &old));
        assert!(current.needs_rehash(&old));
        let fresh = current.hash(&secret).unwrap();
        assert!(current.verify(&secret, &fresh));
        assert!(!current.needs_rehash(&fresh));
    }

    #[test]
    fn garbage_stored_hash_verifies_nothing() {
        let hasher = cheap();
        let secret = ClientSecret::generate();
        let long = "$".repeat(1 << 20);
        for garbage in ["garbage", "", "$argon2id$", long.as_str()] {
            let stored = SecretHash::from_stored(garbage.into());
            assert_eq!(
                hasher.vet(&stored),
                Err(StoredHashRejection::Unparseable),
                "{:.40}",
                garbage
            );
            assert!(!hasher.verify(&secret, &stored));
            assert!(!hasher.needs_rehash(&stored));
        }
    }

    #[test]
    fn other_algorithms_are_refused() {
        let hasher = cheap();
        for stored in [
            "$argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=16$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "$pbkdf2-sha256$i=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let stored = SecretHash::from_stored(stored.into());
            assert_eq!(
                hasher.vet(&stored),
                Err(StoredHashRejection::WrongAlgorithm)
            );
            assert!(!hasher.verify(&ClientSecret::generate(), &stored));
        }
    }

    #[test]
    fn hostile_costs_are_refused_before_argon2_allocates() {
        // Were any of these handed to argon2, the test would allocate 4 GiB or spin for hours.
        let hasher = cheap();
        for params in [
            "m=4194304,t=1,p=1",
            "m=64,t=4294967295,p=1",
            "m=2040,t=1,p=255",
            "m=4194304,t=4294967295,p=255",
        ] {
            let stored = phc_with(params);
            assert_eq!(
                hasher.vet(&stored),
                Err(StoredHashRejection::CostOverCap),
                "{params}"
            );
            assert!(!hasher.verify(&ClientSecret::generate(), &stored));
        }
        // Out of argon2's own range (m below 8 × p, p above 2^24 - 1): unusable either way.
        for params in ["m=8,t=1,p=255", "m=64,t=1,p=99999999", "m=64,t=0,p=1"] {
            assert_eq!(
                hasher.vet(&phc_with(params)),
                Err(StoredHashRejection::Unparseable),
                "{params}"
            );
        }
    }

    #[test]
    fn caps_allow_the_owasp_default_and_four_times_the_configured_cost() {
        let caps = cheap().caps;
        assert_eq!(caps.memory_kib, 4 * 19_456);
        assert_eq!(caps.iterations, 8);
        assert_eq!(caps.parallelism, 4);
        let big = HashingParams {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 2,
        }
        .stored_hash_caps();
        assert_eq!(
            (big.memory_kib, big.iterations, big.parallelism),
            (262_144, 12, 8)
        );
        assert_eq!(cheap().vet(&phc_with("m=77824,t=8,p=4")), Ok(()));
    }

    #[test]
    fn default_parameters_are_owasp() {
        let hasher = SecretHasher::new(HashingParams::default()).unwrap();
        let hash = hasher.hash(&ClientSecret::generate()).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }
}
