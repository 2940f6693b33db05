//! The HTTP front: the partners' token endpoint, the OAuth 2.0 metadata and JWKS, RFC 7662
//! introspection, forward auth for HTTP gateways, and load-balancer probes. Served on the gRPC
//! port beside the gRPC services (see `services::router`); the contract is docs/http.md.
//!
//! Handlers are thin like the gRPC ones: read the request into domain values, call the same
//! domain functions (access tokens, the gateway decision), map the answer; [`error`] is the one
//! place where errors become HTTP answers.

mod callers;
mod error;
mod form;
mod forward_auth;
mod introspect;
mod metadata;
mod probes;
mod response;
mod telemetry;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{any, get, post};
use http::{HeaderName, HeaderValue};

use crate::access_tokens::AccessTokens;
use crate::auth::Authenticator;
use crate::gateway::Gateway;
use crate::health::Health;

/// Largest request body read: a token request or an introspection is well under 1 KiB.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// The settings of the HTTP front.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// `--public-url`; `None`: `http(s)://<listen address>`.
    pub public_url: Option<String>,
    /// `Cache-Control: max-age` of the JWKS and the metadata.
    pub jwks_max_age: Duration,
    /// The header a forward-auth gateway presents its caller token in (lower case).
    pub gateway_header: String,
}

/// What the handlers share.
struct Shared {
    authenticator: Authenticator,
    tokens: Arc<AccessTokens>,
    gateway: Arc<Gateway>,
    health: Health,
    gateway_header: HeaderName,
    /// The gateway's header names, ready for the answers of forward auth.
    account_header: HeaderName,
    client_header: HeaderName,
    api_key_header: HeaderName,
    /// `x-envoy-auth-headers-to-remove` when the API-key header carried the credentials.
    remove_with_api_key: HeaderValue,
    metadata: metadata::Documents,
    /// `Retry-After` of a throttled client id: the throttle's window.
    throttle_window: Duration,
}

#[derive(Clone)]
pub struct HttpState(Arc<Shared>);

/// What the HTTP front is built from.
pub struct HttpParts {
    pub authenticator: Authenticator,
    pub tokens: Arc<AccessTokens>,
    pub gateway: Arc<Gateway>,
    pub health: Health,
    pub throttle_window: Duration,
}

impl HttpState {
    /// `public_url` is the resolved base URL (`--public-url` or the listen address).
    pub fn new(
        settings: &HttpSettings,
        public_url: &str,
        parts: HttpParts,
    ) -> anyhow::Result<Self> {
        let header = |name: &str| HeaderName::from_bytes(name.as_bytes());
        let names = parts.gateway.headers();
        let metadata = metadata::Documents::new(public_url, &parts.tokens, settings.jwks_max_age);
        Ok(Self(Arc::new(Shared {
            gateway_header: header(&settings.gateway_header)?,
            account_header: header(&names.account_header)?,
            client_header: header(&names.client_header)?,
            api_key_header: header(&names.api_key_header)?,
            remove_with_api_key: HeaderValue::try_from(format!(
                "authorization, {}",
                names.api_key_header
            ))?,
            authenticator: parts.authenticator,
            tokens: parts.tokens,
            gateway: parts.gateway,
            health: parts.health,
            metadata,
            throttle_window: parts.throttle_window,
        })))
    }
}

/// Every route of the HTTP front, with its telemetry, and the fallback that answers any other
/// path (gRPC `UNIMPLEMENTED` to a gRPC request, `404` otherwise).
pub fn routes(state: HttpState) -> axum::Router {
    axum::Router::new()
        .route(token::PATH, post(token::issue))
        .route(metadata::JWKS_PATH, get(metadata::jwks))
        .route(metadata::METADATA_PATH, get(metadata::authorization_server))
        .route(introspect::PATH, post(introspect::introspect))
        .route(forward_auth::PATH, any(forward_auth::check))
        .route(forward_auth::SUBPATHS, any(forward_auth::check))
        .route(probes::LIVEZ, get(probes::livez))
        .route(probes::READYZ, get(probes::readyz))
        .fallback(response::not_found)
        .method_not_allowed_fallback(response::method_not_allowed)
        .layer(telemetry::ObserveLayer)
        .with_state(state)
}
