//! Envoy ext_authz: `envoy.service.auth.v3.Authorization/Check`, so Envoy can ask this service
//! directly whether a partner request carries live credentials.
//!
//! The caller (Envoy) is authenticated like an Introspect caller: a token with the `introspect`
//! scope in its gRPC metadata. The partner's credentials are in the HTTP request Envoy forwards:
//! `authorization: Bearer <access token>`, `authorization: Basic base64(id:secret)`, or
//! `id:secret` in the API-key header. The answer is OK with identity headers for the upstream,
//! 401 for anything wrong with the credentials, or 503 when the store or hashing pool cannot
//! answer; never an allow on error.

mod credentials;
mod responses;

use std::sync::Arc;

use apikeys_proto::ext_authz::authorization_server::Authorization;
use apikeys_proto::ext_authz::{CheckRequest, CheckResponse};
use tonic::{Request, Response, Status};
use tracing::{Instrument as _, Span, field};

use self::credentials::{Credentials, RequestHeaders};
use super::caller;
use crate::access_tokens::AccessTokens;
use crate::auth::authorize_introspection;
use crate::error::ApiError;
use crate::telemetry::metrics::{self, Decider, Outcome};
use crate::verification::{self, CredentialVerifier, Verdict, VerifiedKey};

/// Which request headers carry credentials and which ones tell the upstream whose key it was.
/// Names are lower case, as Envoy keys its header map.
#[derive(Debug, Clone)]
pub struct ExtAuthzSettings {
    api_key_header: String,
    account_header: String,
    client_header: String,
}

impl ExtAuthzSettings {
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
    fn credential_headers(&self) -> [&str; 2] {
        ["authorization", &self.api_key_header]
    }
}

pub struct ExtAuthzService {
    verifier: Arc<CredentialVerifier>,
    tokens: Arc<AccessTokens>,
    settings: ExtAuthzSettings,
}

impl ExtAuthzService {
    pub fn new(
        verifier: Arc<CredentialVerifier>,
        tokens: Arc<AccessTokens>,
        settings: ExtAuthzSettings,
    ) -> Self {
        Self {
            verifier,
            tokens,
            settings,
        }
    }

    /// The decision for one HTTP request. Infallible: every failure is a denial.
    async fn decide(&self, headers: &RequestHeaders<'_>, span: &Span) -> CheckResponse {
        let credentials = match credentials::extract(headers, &self.settings.api_key_header) {
            Ok(credentials) => credentials,
            Err(rejection) => {
                metrics::record_outcome(Decider::Check, Outcome::Inactive);
                tracing::debug!(reason = rejection.as_str(), "no usable credentials");
                return responses::unauthenticated();
            }
        };
        match self.live_key(credentials).await {
            Ok(Some(key)) => {
                span.record("client_id", key.client_id());
                responses::allowed(&self.settings, &key)
            }
            Ok(None) => responses::unauthenticated(),
            Err(error) => {
                // The one mapping of errors to codes also logs infrastructure details.
                let status = Status::from(error);
                tracing::debug!(code = ?status.code(), "credentials not checked; denying with 503");
                responses::unavailable()
            }
        }
    }

    /// The key behind the credentials if they are live; errors are infrastructure failures.
    async fn live_key(
        &self,
        credentials: Credentials<'_>,
    ) -> Result<Option<Arc<VerifiedKey>>, ApiError> {
        match credentials {
            Credentials::AccessToken(token) => {
                let subject = self.tokens.verify(token).await;
                metrics::record_outcome(Decider::Check, Outcome::of_lookup(&subject));
                let subject = subject?;
                if subject.is_none() {
                    tracing::debug!(reason = "invalid_access_token", "credentials inactive");
                }
                Ok(subject.map(|subject| subject.key))
            }
            Credentials::ClientSecret { client_id, secret } => {
                let verdict = self.verifier.verify_secret(&client_id, &secret).await;
                metrics::record_outcome(Decider::Check, verification::outcome(&verdict));
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

#[tonic::async_trait]
impl Authorization for ExtAuthzService {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        // A `debug` span made here rather than by `#[instrument]`: see `introspect`.
        let span = tracing::debug_span!("Check", client_id = field::Empty);
        async {
            authorize_introspection(&*caller(&request)?)?;
            let headers = RequestHeaders::of(request.get_ref(), self.settings.credential_headers())
                .map_err(ApiError::from)?;
            Ok(Response::new(self.decide(&headers, &span).await))
        }
        .instrument(span.clone())
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_must_not_collide() {
        assert!(ExtAuthzSettings::new("x-api-key", "x-account-id", "x-client-id").is_ok());
        for (api_key, account, client) in [
            ("x-api-key", "x-api-key", "x-client-id"),
            ("x-api-key", "x-account-id", "X-Account-Id"),
            ("Authorization", "x-account-id", "x-client-id"),
            ("x-api-key", "x-account-id", "authorization"),
        ] {
            assert!(ExtAuthzSettings::new(api_key, account, client).is_err());
        }
    }
}
