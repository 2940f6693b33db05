//! Forward auth: `/auth/check` and every path under it, any method, body ignored: the contract
//! of nginx `auth_request`, Traefik `forwardAuth`, Caddy `forward_auth` and Envoy's ext_authz in
//! HTTP mode (which appends the original path). The gateway forwards the partner request's
//! headers; the decision is the gRPC Check's ([`crate::gateway`]).

use std::sync::atomic::{AtomicU64, Ordering};

use apikeys_credentials::{HeaderLookup, Rejection};
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use tracing::{Instrument as _, field};

use super::HttpState;
use super::callers;
use super::response::empty;
use crate::auth::authorize_introspection;
use crate::gateway::Decision;
use crate::telemetry::metrics::Decider;
use crate::verification::VerifiedKey;

pub const PATH: &str = "/auth/check";
pub const SUBPATHS: &str = "/auth/check/{*path}";

const BASIC_CHALLENGE: HeaderValue = HeaderValue::from_static(r#"Basic realm="api""#);
const BEARER_CHALLENGE: HeaderValue = HeaderValue::from_static(r#"Bearer realm="api""#);
/// Envoy's HTTP mode removes the headers named here before the request goes upstream.
const HEADERS_TO_REMOVE: HeaderName = HeaderName::from_static("x-envoy-auth-headers-to-remove");

pub async fn check(State(state): State<HttpState>, request: Request) -> Response {
    // A `debug` span, as the gRPC Check's: the hot path pays for it only when it is exported.
    let span = tracing::debug_span!("ForwardAuth", client_id = field::Empty);
    async move {
        let (parts, _body) = request.into_parts();
        let shared = &state.0;
        let gateway = callers::authenticate(&shared.authenticator, &parts, &shared.gateway_header)
            .and_then(|caller| authorize_introspection(&caller));
        if let Err(reason) = gateway {
            log_unauthenticated_gateway(&reason.to_string());
            return empty(StatusCode::FORBIDDEN);
        }
        let lookup = ForwardedHeaders {
            headers: &parts.headers,
            api_key_header: &shared.api_key_header,
        };
        let credentials =
            apikeys_credentials::extract(&lookup, &shared.gateway.headers().api_key_header);
        match shared
            .gateway
            .decide(credentials, Decider::ForwardAuth)
            .await
        {
            Decision::Allow(key) => {
                tracing::Span::current().record("client_id", key.client_id());
                allowed(&state, &parts.headers, &key)
            }
            Decision::Deny => denied(&parts.headers),
            Decision::Unavailable => {
                let mut response = empty(StatusCode::SERVICE_UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        }
    }
    .instrument(span)
    .await
}

/// `200`, empty, with whose key it was (every identity header set, so a partner's forged one
/// cannot survive a gateway that copies them) and, for Envoy, which headers to strip.
fn allowed(state: &HttpState, request: &HeaderMap, key: &VerifiedKey) -> Response {
    let shared = &state.0;
    let mut response = empty(StatusCode::OK);
    let (Ok(account), Ok(client)) = (
        HeaderValue::from_str(key.account_id()),
        HeaderValue::from_str(key.client_id()),
    ) else {
        // Account and client ids are visible ASCII, so this does not happen; never allow
        // without them.
        tracing::error!("a key's ids cannot be sent as headers; denying with 503");
        return empty(StatusCode::SERVICE_UNAVAILABLE);
    };
    let headers = response.headers_mut();
    headers.insert(shared.account_header.clone(), account);
    headers.insert(shared.client_header.clone(), client);
    let remove = if request.contains_key(&shared.api_key_header) {
        shared.remove_with_api_key.clone()
    } else {
        HeaderValue::from_static("authorization")
    };
    headers.insert(HEADERS_TO_REMOVE, remove);
    response
}

/// `401`, empty, with a challenge in the scheme the partner used; never a reason.
fn denied(request: &HeaderMap) -> Response {
    let basic = request
        .get(AUTHORIZATION)
        .and_then(|value| value.as_bytes().get(..6))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"basic "));
    let mut response = empty(StatusCode::UNAUTHORIZED);
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        if basic {
            BASIC_CHALLENGE
        } else {
            BEARER_CHALLENGE
        },
    );
    response
}

/// A gateway that does not authenticate is refused loudly, so a misconfigured one is noticed;
/// at most one line a second, so a flood of such requests cannot flood the log.
fn log_unauthenticated_gateway(reason: &str) {
    static LAST_LOGGED_SECOND: AtomicU64 = AtomicU64::new(0);
    let second = jsonwebtoken::get_current_timestamp();
    if LAST_LOGGED_SECOND.swap(second, Ordering::Relaxed) != second {
        tracing::warn!(
            reason,
            "forward-auth gateway not authenticated; answering 403"
        );
    }
}

/// The forwarded request's headers: a credential header sent twice is ambiguous, not picked.
/// The two names looked up are known ahead, so neither is parsed per request.
struct ForwardedHeaders<'a> {
    headers: &'a HeaderMap,
    api_key_header: &'a HeaderName,
}

impl<'a> HeaderLookup<'a> for ForwardedHeaders<'a> {
    fn get(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        let name = if name == AUTHORIZATION.as_str() {
            &AUTHORIZATION
        } else if name == self.api_key_header.as_str() {
            self.api_key_header
        } else {
            return Ok(None);
        };
        let mut values = self.headers.get_all(name).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(Rejection::Ambiguous);
        }
        std::str::from_utf8(value.as_bytes())
            .map(Some)
            .map_err(|_| Rejection::Malformed)
    }
}
