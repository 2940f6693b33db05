use secrecy::{ExposeSecret, SecretString};

use super::base62;

const PREFIX: &str = "aks_";
/// 43 base62 characters ≈ 256 random bits.
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const TOTAL_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

/// A Client Secret: `aks_` + 43 random base62 characters + a 6-character base62 CRC32 of
/// everything before it (GitHub-token style). The checksum lets secret scanners recognise
/// leaked secrets and lets us reject typos and garbage before any database or hashing work.
///
/// `Debug` is redacted; the plaintext is reachable only through [`ClientSecret::expose`].
#[derive(Clone)]
pub struct ClientSecret(SecretString);

impl ClientSecret {
    pub fn generate() -> Self {
        let mut secret = format!("{PREFIX}{}", base62::random_string(RANDOM_LEN));
        let checksum = checksum_digits(&secret);
        secret.extend(checksum.map(char::from));
        Self(SecretString::from(secret))
    }

    /// Returns `None` for anything that is not a well-formed secret with a valid checksum.
    /// Deliberately no reason: callers answer "inactive" whatever was wrong.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::is_well_formed(raw).then(|| Self(SecretString::from(raw.to_owned())))
    }

    /// What [`ClientSecret::parse`] accepts, checked without copying the secret: a cached
    /// verification needs only a digest of the presented text.
    pub fn is_well_formed(raw: &str) -> bool {
        // ASCII first: the split below is at a byte offset, which must be a char boundary.
        if raw.len() != TOTAL_LEN || !raw.is_ascii() || !raw.starts_with(PREFIX) {
            return false;
        }
        let (body, expected) = raw.split_at(TOTAL_LEN - CHECKSUM_LEN);
        base62::is_base62(&body[PREFIX.len()..]) && checksum_digits(body) == expected.as_bytes()
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

fn checksum_digits(body: &str) -> [u8; CHECKSUM_LEN] {
    base62::u32_fixed6(crc32fast::hash(body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_has_documented_shape_and_parses() {
        let secret = ClientSecret::generate();
        let raw = secret.expose();
        assert_eq!(raw.len(), 53);
        assert!(raw.starts_with("aks_"));
        assert!(ClientSecret::parse(raw).is_some());
    }

    #[test]
    fn any_single_character_change_fails_the_checksum() {
        let secret = ClientSecret::generate();
        let raw = secret.expose().to_owned();
        for position in 4..raw.len() {
            let mut bytes = raw.clone().into_bytes();
            bytes[position] = if bytes[position] == b'a' { b'b' } else { b'a' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(
                ClientSecret::parse(&tampered).is_none(),
                "position {position}"
            );
        }
    }

    #[test]
    fn garbage_is_rejected() {
        let long = "a".repeat(1 << 20);
        for bad in ["", "aks_", "not a secret", long.as_str(), "aks_ééééé"] {
            assert!(ClientSecret::parse(bad).is_none());
        }
    }

    #[test]
    fn multibyte_character_across_the_checksum_boundary_is_rejected_not_a_panic() {
        // 53 bytes whose byte 47 falls inside 'é': a byte-offset split there would panic.
        let raw = format!("aks_{}é{}", "a".repeat(42), "b".repeat(5));
        assert_eq!(raw.len(), 53);
        assert!(ClientSecret::parse(&raw).is_none());
    }

    #[test]
    fn debug_does_not_reveal_the_secret() {
        let secret = ClientSecret::generate();
        let shown = format!("{secret:?}");
        assert!(!shown.contains(&secret.expose()[4..]));
    }
}
