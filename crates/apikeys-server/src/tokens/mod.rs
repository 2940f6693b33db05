//! Access tokens: short-lived JWTs this service issues in exchange for client credentials
//! (TokenService.IssueToken) and recognises again in Introspect and ext_authz Check.

use std::sync::Arc;

use crate::error::ApiError;
use crate::verification::VerifiedKey;

/// The live key behind a valid access token.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub key: Arc<VerifiedKey>,
    /// Unix seconds.
    pub expires_at: i64,
}

pub struct AccessTokens {}

impl AccessTokens {
    /// The key behind `token` if the token is well-signed, unexpired, and its key is still live
    /// (not revoked, account not suspended). Errors are infrastructure failures only.
    pub async fn verify(&self, token: &str) -> Result<Option<TokenSubject>, ApiError> {
        let _ = token;
        Ok(None)
    }
}
