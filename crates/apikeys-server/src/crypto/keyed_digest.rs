//! BLAKE3 in its keyed mode (a MAC, like HMAC) under a random key made when the process starts.
//! The caches use it to recognise a secret or token they have seen without keeping it; a digest
//! is useless outside the process.
//!
//! BLAKE3 rather than HMAC-SHA256: every warm call digests its secret or access token (and a
//! caller token the thread has not seen), and on CPUs without SHA instructions HMAC-SHA256 is
//! several times slower per byte (docs/architecture.md says where a warm call's time goes).

use rand::RngCore;
use rand::rngs::OsRng;

pub type Digest = [u8; 32];

#[derive(Clone)]
pub struct KeyedDigest {
    key: [u8; blake3::KEY_LEN],
}

impl KeyedDigest {
    pub fn random() -> Self {
        let mut key = [0u8; blake3::KEY_LEN];
        OsRng.fill_bytes(&mut key);
        Self { key }
    }

    pub fn of(&self, bytes: &[u8]) -> Digest {
        blake3::keyed_hash(&self.key, bytes).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_per_key_and_differ_across_keys() {
        let one = KeyedDigest::random();
        assert_eq!(one.of(b"aks_x"), one.of(b"aks_x"));
        assert_ne!(one.of(b"aks_x"), one.of(b"aks_y"));
        assert_ne!(one.of(b"aks_x"), KeyedDigest::random().of(b"aks_x"));
    }

    #[test]
    fn is_blake3_keyed_mode() {
        // The BLAKE3 reference test vectors' key and an empty input.
        let digest = KeyedDigest {
            key: *b"whats the Elvish word for friend",
        };
        assert_eq!(
            blake3::Hash::from(digest.of(b"")).to_hex().as_str(),
            "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"
        );
    }
}
