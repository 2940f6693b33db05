//! Ed25519 keys that sign access tokens, and their sealing under the key-encryption key (KEK)
//! before they are stored: the database never holds a usable private key.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::NaiveDateTime;
use jsonwebtoken::{DecodingKey, EncodingKey};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};
use secrecy::{ExposeSecret, SecretSlice};

use apikeys_store::SigningKeyRecord;

pub const ALGORITHM: &str = "EdDSA";
pub const KEK_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot generate a signing key")]
    Generate,
    #[error("signing key {kid} cannot be unsealed: wrong key-encryption key or corrupt row")]
    Unseal { kid: String },
    #[error("signing key {kid} uses unsupported algorithm {algorithm}")]
    Algorithm { kid: String, algorithm: String },
}

/// Seals and unseals private keys (AES-256-GCM, random nonce, the kid as associated data so a
/// sealed key cannot be moved to another row).
pub struct Kek(LessSafeKey);

impl Kek {
    pub fn new(secret: &SecretSlice<u8>) -> Result<Self, SigningKeyError> {
        let key = UnboundKey::new(&AES_256_GCM, secret.expose_secret())
            .map_err(|_| SigningKeyError::Generate)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String, SigningKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SigningKeyError::Generate)?;
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| SigningKeyError::Generate)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, SigningKeyError> {
        let unseal = || SigningKeyError::Unseal {
            kid: kid.to_owned(),
        };
        let bytes = STANDARD.decode(sealed).map_err(|_| unseal())?;
        if bytes.len() < NONCE_LEN {
            return Err(unseal());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| unseal())?;
        let mut buffer = ciphertext.to_vec();
        let plaintext = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| unseal())?;
        Ok(plaintext.to_vec())
    }
}

/// A usable signing key: both halves in the forms jsonwebtoken wants, and the public half for
/// the JWKS.
pub struct SigningKey {
    pub kid: String,
    pub created_at: NaiveDateTime,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// Base64url of the raw 32-byte Ed25519 public key (the JWK `x`).
    pub public_x: String,
}

impl SigningKey {
    /// A fresh key and the row that stores it.
    pub fn generate(
        kek: &Kek,
        created_at: NaiveDateTime,
    ) -> Result<(Self, SigningKeyRecord), SigningKeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| SigningKeyError::Generate)?;
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| SigningKeyError::Generate)?;
        let mut kid_bytes = [0u8; 12];
        rng.fill(&mut kid_bytes)
            .map_err(|_| SigningKeyError::Generate)?;
        let kid = URL_SAFE_NO_PAD.encode(kid_bytes);
        let public_x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let record = SigningKeyRecord {
            kid: kid.clone(),
            algorithm: ALGORITHM.to_owned(),
            sealed_private_key: kek.seal(&kid, pkcs8.as_ref())?,
            public_key: public_x.clone(),
            created_at,
        };
        let key = Self::from_parts(kid, created_at, pkcs8.as_ref(), public_x)?;
        Ok((key, record))
    }

    pub fn from_record(kek: &Kek, record: &SigningKeyRecord) -> Result<Self, SigningKeyError> {
        if record.algorithm != ALGORITHM {
            return Err(SigningKeyError::Algorithm {
                kid: record.kid.clone(),
                algorithm: record.algorithm.clone(),
            });
        }
        let pkcs8 = kek.open(&record.kid, &record.sealed_private_key)?;
        Self::from_parts(
            record.kid.clone(),
            record.created_at,
            &pkcs8,
            record.public_key.clone(),
        )
    }

    fn from_parts(
        kid: String,
        created_at: NaiveDateTime,
        pkcs8: &[u8],
        public_x: String,
    ) -> Result<Self, SigningKeyError> {
        let public = URL_SAFE_NO_PAD
            .decode(&public_x)
            .map_err(|_| SigningKeyError::Unseal { kid: kid.clone() })?;
        Ok(Self {
            encoding: EncodingKey::from_ed_der(pkcs8),
            decoding: DecodingKey::from_ed_der(&public),
            kid,
            created_at,
            public_x,
        })
    }

    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.public_x,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek(byte: u8) -> Kek {
        Kek::new(&SecretSlice::from(vec![byte; KEK_BYTES])).unwrap()
    }

    #[test]
    fn a_stored_key_reopens_only_with_its_kek_and_row() {
        let now = chrono::Utc::now().naive_utc();
        let (key, record) = SigningKey::generate(&kek(1), now).unwrap();
        assert!(!record.sealed_private_key.is_empty());
        let reopened = SigningKey::from_record(&kek(1), &record).unwrap();
        assert_eq!(reopened.kid, key.kid);
        assert!(matches!(
            SigningKey::from_record(&kek(2), &record),
            Err(SigningKeyError::Unseal { .. })
        ));
        let mut moved = record.clone();
        moved.kid = "another-row".into();
        assert!(SigningKey::from_record(&kek(1), &moved).is_err());
    }
}
