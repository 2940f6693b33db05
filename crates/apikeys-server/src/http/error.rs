//! The one place where errors become HTTP answers: OAuth 2.0 errors (RFC 6749 §5.2, RFC 6750
//! §3) as JSON `{"error", "error_description"}`, overload and outage as `503` with
//! `Retry-After`.

use std::borrow::Cow;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use tonic::Code;

use super::response::json;
use crate::error::ApiError;

/// `WWW-Authenticate` of the token endpoint's `invalid_client` after HTTP Basic.
pub const BASIC_CHALLENGE: &str = r#"Basic realm="apikeys""#;
/// `WWW-Authenticate` of the introspection endpoint's `invalid_token`.
pub const BEARER_CHALLENGE: &str = r#"Bearer realm="apikeys""#;
const INSUFFICIENT_SCOPE_CHALLENGE: &str =
    r#"Bearer realm="apikeys", error="insufficient_scope", scope="introspect""#;

#[derive(Debug)]
pub enum HttpError {
    /// `400 invalid_request`: the request is malformed; the description names what.
    InvalidRequest(Cow<'static, str>),
    /// `413 invalid_request`: the body is larger than the endpoint reads.
    TooLarge,
    UnsupportedGrantType,
    InvalidScope,
    /// `401 invalid_client`, whatever was wrong with the client credentials.
    InvalidClient {
        basic: bool,
    },
    /// `401 invalid_token`: the caller token of an introspection is missing or invalid.
    InvalidCallerToken,
    /// `403 insufficient_scope`: the caller token lacks the `introspect` scope.
    InsufficientScope,
    /// `429`: too many wrong secrets for this client id lately.
    Throttled {
        retry_after: Duration,
    },
    /// `503`: the store is down or the hashing pool is full.
    Unavailable,
    /// `500`: a fault of this server; details are in its log.
    Internal,
}

impl HttpError {
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(description.into())
    }
}

/// Infrastructure failures are `503` (the caller may retry) or `500`; the details go to the
/// log through the one map of [`ApiError`] to status codes, never to the caller.
impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        match tonic::Status::from(error).code() {
            Code::Unavailable | Code::ResourceExhausted => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, error, description): (StatusCode, &str, Cow<'static, str>) = match &self {
            Self::InvalidRequest(description) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                description.clone(),
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the body is larger than {} bytes", super::MAX_BODY_BYTES).into(),
            ),
            Self::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be client_credentials".into(),
            ),
            Self::InvalidScope => (
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "access tokens carry no scopes: send no scope".into(),
            ),
            Self::InvalidClient { .. } => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "invalid client credentials".into(),
            ),
            Self::InvalidCallerToken => (
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a caller token with the introspect scope is required".into(),
            ),
            Self::InsufficientScope => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "the caller token lacks the introspect scope".into(),
            ),
            Self::Throttled { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed attempts for this client id, retry later".into(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the credential service is unavailable, retry later".into(),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error".into(),
            ),
        };
        let body = serde_json::json!({ "error": error, "error_description": description });
        let mut response = json(status, body.to_string());
        let headers = response.headers_mut();
        match self {
            Self::InvalidClient { basic: true } => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BASIC_CHALLENGE));
            }
            Self::InvalidCallerToken => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(BEARER_CHALLENGE));
            }
            Self::InsufficientScope => {
                headers.insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static(INSUFFICIENT_SCOPE_CHALLENGE),
                );
            }
            Self::Throttled { retry_after } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(retry_after.as_secs().max(1)));
            }
            Self::Unavailable => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use apikeys_store::StoreError;

    use super::*;

    #[test]
    fn infrastructure_failures_are_retryable_or_internal_without_details() {
        let unavailable = HttpError::from(ApiError::from(StoreError::Unavailable(
            "connection to postgres://app:pw@db failed".into(),
        )));
        assert!(matches!(unavailable, HttpError::Unavailable));
        let response = unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert!(matches!(
            HttpError::from(ApiError::Overloaded("hashing pool full")),
            HttpError::Unavailable
        ));
        assert!(matches!(
            HttpError::from(ApiError::Internal("boom".into())),
            HttpError::Internal
        ));
    }

    #[test]
    fn challenges_follow_what_the_client_sent() {
        let basic = HttpError::InvalidClient { basic: true }.into_response();
        assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(basic.headers()[WWW_AUTHENTICATE], BASIC_CHALLENGE);
        let posted = HttpError::InvalidClient { basic: false }.into_response();
        assert!(posted.headers().get(WWW_AUTHENTICATE).is_none());
        let throttled = HttpError::Throttled {
            retry_after: Duration::from_secs(60),
        }
        .into_response();
        assert_eq!(throttled.headers()[RETRY_AFTER], "60");
    }
}
