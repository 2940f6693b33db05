//! HMAC-SHA256 under a random key made when the process starts. The caches use it to recognise
//! a secret or token they have seen without keeping it; a digest is useless outside the process.

use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

pub type Digest = [u8; 32];

#[derive(Clone)]
pub struct KeyedDigest(Hmac<Sha256>);

impl KeyedDigest {
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self(Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length"))
    }

    pub fn of(&self, bytes: &[u8]) -> Digest {
        let mut mac = self.0.clone();
        mac.update(bytes);
        mac.finalize().into_bytes().into()
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
}
