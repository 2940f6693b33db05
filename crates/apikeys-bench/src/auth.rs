//! Caller tokens for the bench: HS256 JWTs signed with the secret the bench gives `apikeys serve`
//! (`--jwt-hs256-secret`), one per account, carrying every right the bench needs
//! (owner of the account, staff, and the `introspect` scope).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Serialize;
use tonic::metadata::Ascii;
use tonic::metadata::MetadataValue;

pub const ISSUER: &str = "bench";
pub const AUDIENCE: &str = "apikeys";

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    email: &'a str,
    account_id: &'a str,
    role: &'a str,
    staff: bool,
    scope: &'a str,
    iss: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// The identity provider the bench plays.
#[derive(Clone)]
pub struct Minter {
    secret: String,
}

impl Minter {
    pub fn random() -> Self {
        let secret = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect();
        Self { secret }
    }

    /// The value for `--jwt-hs256-secret`.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `authorization: Bearer …` for an owner of `account_id` who is also staff and a gateway.
    pub fn bearer(&self, account_id: &str) -> anyhow::Result<MetadataValue<Ascii>> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("clock before 1970")?
            .as_secs();
        let claims = Claims {
            sub: "bench",
            email: "bench@bench.example",
            account_id,
            role: "owner",
            staff: true,
            scope: "introspect",
            iss: ISSUER,
            aud: AUDIENCE,
            iat: now,
            exp: now + 24 * 3600,
        };
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(self.secret.as_bytes()),
        )
        .context("cannot sign caller token")?;
        Ok(format!("Bearer {token}").parse()?)
    }
}
