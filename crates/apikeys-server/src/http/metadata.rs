//! What clients and gateways discover: the access-token signing keys as a JWKS, and the RFC 8414
//! authorization server metadata.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};

use super::response::json;
use super::{HttpState, introspect, token};
use crate::access_tokens::AccessTokens;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The documents, built once: the metadata never changes while serving, and the JWKS is read
/// from the key set at each request.
pub struct Documents {
    metadata: Arc<str>,
    cache_control: HeaderValue,
}

impl Documents {
    pub fn new(public_url: &str, tokens: &AccessTokens, max_age: Duration) -> Self {
        let metadata = serde_json::json!({
            "issuer": tokens.issuer(),
            "token_endpoint": format!("{public_url}{}", token::PATH),
            "jwks_uri": format!("{public_url}{JWKS_PATH}"),
            "introspection_endpoint": format!("{public_url}{}", introspect::PATH),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": [],
        });
        let cache_control = HeaderValue::try_from(format!("public, max-age={}", max_age.as_secs()))
            .unwrap_or_else(|_| HeaderValue::from_static("no-store"));
        Self {
            metadata: metadata.to_string().into(),
            cache_control,
        }
    }

    fn cacheable(&self, body: String) -> Response {
        let mut response = json(StatusCode::OK, body);
        response
            .headers_mut()
            .insert(CACHE_CONTROL, self.cache_control.clone());
        response
    }
}

/// `GET /.well-known/jwks.json`: the same set as `TokenService.GetJwks`. A key is in it the
/// publish-ahead time before it signs (see `access_tokens`).
pub async fn jwks(State(state): State<HttpState>) -> Response {
    state.0.metadata.cacheable(state.0.tokens.jwks_json())
}

/// `GET /.well-known/oauth-authorization-server`.
pub async fn authorization_server(State(state): State<HttpState>) -> Response {
    let documents = &state.0.metadata;
    documents.cacheable(documents.metadata.to_string())
}
