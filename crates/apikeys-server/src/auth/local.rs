//! Local mode: with no identity provider configured, the server signs and accepts its own caller
//! tokens with a random HS256 key kept in a file beside its data. For development only.

use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use secrecy::{ExposeSecret, SecretSlice};
use serde::Serialize;

use super::keys::VerificationKeys;
use crate::crypto::key_file::{self, KeyFileError};

pub(crate) const LOCAL_ISSUER: &str = "apikeys-local";
pub(crate) const LOCAL_AUDIENCE: &str = "apikeys";
const KEY_BYTES: usize = 32;

/// The local-mode signing key, loaded from (or created in) its file.
pub struct LocalSigningKey {
    secret: SecretSlice<u8>,
    path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalKeyError {
    #[error("local signing key: {0}")]
    File(#[from] KeyFileError),
    #[error(
        "no local-mode signing key at {0}: `apikeys serve` creates it at its first start in \
         local mode; run `apikeys token` with the server's --database-url (the key sits beside \
         the SQLite file) or name the key with --local-signing-key-file"
    )]
    Missing(String),
    #[error("cannot sign the token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// What `apikeys token` puts in a caller token.
#[derive(Debug, Clone)]
pub struct CallerTokenRequest {
    pub subject: String,
    pub email: Option<String>,
    pub account_id: Option<String>,
    pub role: Option<String>,
    pub staff: bool,
    pub scope: Option<String>,
    pub ttl_seconds: u64,
}

#[derive(Serialize)]
struct LocalClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    staff: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
}

impl LocalSigningKey {
    /// Reads the key file, or creates it (mode 0600) with a fresh random key.
    pub fn load_or_create(path: &Path) -> Result<Self, LocalKeyError> {
        Ok(Self {
            secret: key_file::load_or_create(path, KEY_BYTES)?,
            path: path.to_owned(),
        })
    }

    /// Reads the key file the server made; never creates one, so a token minted with a key the
    /// server does not have cannot happen silently.
    pub fn load(path: &Path) -> Result<Self, LocalKeyError> {
        match key_file::load_existing(path, KEY_BYTES)? {
            Some(secret) => Ok(Self {
                secret,
                path: path.to_owned(),
            }),
            None => Err(LocalKeyError::Missing(path.display().to_string())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn verification_keys(&self) -> VerificationKeys {
        VerificationKeys::hs256(self.secret.expose_secret(), LOCAL_ISSUER, LOCAL_AUDIENCE)
    }

    pub fn mint(&self, request: &CallerTokenRequest) -> Result<String, LocalKeyError> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(request.ttl_seconds).unwrap_or(i64::MAX / 2);
        let claims = LocalClaims {
            iss: LOCAL_ISSUER,
            aud: LOCAL_AUDIENCE,
            sub: &request.subject,
            iat: now,
            exp: now.saturating_add(ttl),
            email: request.email.as_deref(),
            account_id: request.account_id.as_deref(),
            role: request.role.as_deref(),
            staff: request.staff,
            scope: request.scope.as_deref(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.secret.expose_secret()),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use tonic::metadata::{MetadataMap, MetadataValue};

    use super::*;
    use crate::auth::Authenticator;

    #[test]
    fn minted_tokens_verify_and_the_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("apikeys.db.signing-key");
        let key = LocalSigningKey::load_or_create(&path).unwrap();
        let token = key
            .mint(&CallerTokenRequest {
                subject: "jo".into(),
                email: None,
                account_id: Some("acme".into()),
                role: Some("owner".into()),
                staff: true,
                scope: Some("introspect".into()),
                ttl_seconds: 60,
            })
            .unwrap();

        let reloaded = LocalSigningKey::load_or_create(&path).unwrap();
        let mut metadata = MetadataMap::new();
        metadata.insert(
            "authorization",
            MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
        );
        let caller = Authenticator::new(reloaded.verification_keys())
            .authenticate(&metadata)
            .unwrap();
        assert_eq!(caller.subject, "jo");
        assert!(caller.staff);
        assert_eq!(caller.scopes, ["introspect"]);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
