//! The decision a gateway asks for on every partner request, whichever way it asks (Envoy's
//! gRPC ext_authz Check, or HTTP forward auth): are the credentials the request carries live,
//! and whose key are they?
//!
//! The partner's credentials are `authorization: Bearer <access token>`, `authorization: Basic
//! base64(id:secret)`, or `id:secret` in the API-key header. Every failure is a denial: a store
//! or hashing-pool failure is [`Decision::Unavailable`], never an allow.

use std::sync::Arc;

pub use apikeys_credentials::{Credentials, Rejection};
use tonic::Status;

use crate::access_tokens::AccessTokens;
use crate::error::ApiError;
use crate::telemetry::metrics::{self, Decider, Outcome};
use crate::verification::{self, CredentialVerifier, Verdict, VerifiedKey};

/// Which request headers carry credentials and which ones tell the upstream whose key it was.
/// Names are lower case, as Envoy keys its header map and HTTP/2 sends them.
#[derive(Debug, Clone)]
pub struct GatewayHeaders {
    pub api_key_header: String,
    pub account_header: String,
    pub client_header: String,
}

impl GatewayHeaders {
    pub fn new(
        api_key_header: &str,
        account_header: &str,
        client_header: &str,
    ) -> anyhow::Result<Self> {
        let settings = Self {
            api_key_header: api_key_header.to_ascii_lowercase(),
            account_header: account_header.to_ascii_lowercase(),
            client_header: client_header.to_ascii_lowercase(),
        };
        let names = [
            "authorization",
            settings.api_key_header.as_str(),
            settings.account_header.as_str(),
            settings.client_header.as_str(),
        ];
        for (i, name) in names.iter().enumerate() {
            anyhow::ensure!(
                !names[..i].contains(name),
                "ext_authz headers must differ from each other and from `authorization`: \
                 `{name}` is named twice"
            );
        }
        Ok(settings)
    }

    /// The headers that carry credentials, removed before a request goes upstream.
    pub fn credential_headers(&self) -> [&str; 2] {
        ["authorization", &self.api_key_header]
    }
}

/// What the gateway is told.
pub enum Decision {
    /// The credentials are live: this is their key.
    Allow(Arc<VerifiedKey>),
    /// Missing, malformed, wrong, revoked, account without API access, throttled.
    Deny,
    /// The store or the hashing pool could not answer.
    Unavailable,
}

/// Decides for every gateway, with the verification path the gRPC services use.
pub struct Gateway {
    verifier: Arc<CredentialVerifier>,
    tokens: Arc<AccessTokens>,
    headers: GatewayHeaders,
}

impl Gateway {
    pub fn new(
        verifier: Arc<CredentialVerifier>,
        tokens: Arc<AccessTokens>,
        headers: GatewayHeaders,
    ) -> Self {
        Self {
            verifier,
            tokens,
            headers,
        }
    }

    pub fn headers(&self) -> &GatewayHeaders {
        &self.headers
    }

    /// The decision for the credentials read from one partner request. Infallible: every
    /// failure is a denial.
    pub async fn decide(
        &self,
        credentials: Result<Credentials<'_>, Rejection>,
        decider: Decider,
    ) -> Decision {
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(rejection) => {
                metrics::record_outcome(decider, Outcome::Inactive);
                tracing::debug!(reason = rejection.as_str(), "no usable credentials");
                return Decision::Deny;
            }
        };
        match self.live_key(credentials, decider).await {
            Ok(Some(key)) => Decision::Allow(key),
            Ok(None) => Decision::Deny,
            Err(error) => {
                // The one mapping of errors to codes also logs infrastructure details.
                let status = Status::from(error);
                tracing::debug!(code = ?status.code(), "credentials not checked; denying with 503");
                Decision::Unavailable
            }
        }
    }

    /// The key behind the credentials if they are live; errors are infrastructure failures.
    async fn live_key(
        &self,
        credentials: Credentials<'_>,
        decider: Decider,
    ) -> Result<Option<Arc<VerifiedKey>>, ApiError> {
        match credentials {
            Credentials::AccessToken(token) => {
                let subject = self.tokens.verify(token).await;
                metrics::record_outcome(decider, Outcome::of_lookup(&subject));
                let subject = subject?;
                if subject.is_none() {
                    tracing::debug!(reason = "invalid_access_token", "credentials inactive");
                }
                Ok(subject.map(|subject| subject.key))
            }
            Credentials::ClientSecret { client_id, secret } => {
                let verdict = self.verifier.verify_secret(&client_id, &secret).await;
                metrics::record_outcome(decider, verification::outcome(&verdict));
                match verdict? {
                    Verdict::Active(key) => Ok(Some(key)),
                    Verdict::Inactive(reason) => {
                        tracing::debug!(reason = reason.as_str(), "credentials inactive");
                        Ok(None)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_must_not_collide() {
        assert!(GatewayHeaders::new("x-api-key", "x-account-id", "x-client-id").is_ok());
        for (api_key, account, client) in [
            ("x-api-key", "x-api-key", "x-client-id"),
            ("x-api-key", "x-account-id", "X-Account-Id"),
            ("Authorization", "x-account-id", "x-client-id"),
            ("x-api-key", "x-account-id", "authorization"),
        ] {
            assert!(GatewayHeaders::new(api_key, account, client).is_err());
        }
    }
}
