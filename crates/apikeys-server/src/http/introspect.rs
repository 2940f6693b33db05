//! `POST /oauth/introspect` (RFC 7662): is this access token live, and whose is it? The caller
//! authenticates as a gateway does on gRPC; anything not live is exactly `{"active":false}`.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::AUTHORIZATION;
use tracing::{Instrument as _, field};

use super::HttpState;
use super::callers;
use super::error::HttpError;
use super::form::{Form, MediaType, media_type, read_body};
use super::response::json;
use crate::auth::authorize_introspection;
use crate::error::ApiError;
use crate::telemetry::metrics::{self, Decider, Outcome};

pub const PATH: &str = "/oauth/introspect";

/// RFC 7662 §2.2: an inactive answer says nothing else.
const INACTIVE: &str = r#"{"active":false}"#;

pub async fn introspect(State(state): State<HttpState>, request: Request) -> Response {
    let span = tracing::debug_span!("OAuthIntrospect", client_id = field::Empty);
    async move {
        match answer(&state, request).await {
            Ok(response) => response,
            Err(error) => error.into_response(),
        }
    }
    .instrument(span)
    .await
}

async fn answer(state: &HttpState, request: Request) -> Result<Response, HttpError> {
    let (parts, body) = request.into_parts();
    let caller = callers::authenticate(&state.0.authenticator, &parts, &AUTHORIZATION)
        .map_err(|_| HttpError::InvalidCallerToken)?;
    authorize_introspection(&caller).map_err(|error| match error {
        ApiError::PermissionDenied(_) => HttpError::InsufficientScope,
        _ => HttpError::InvalidCallerToken,
    })?;
    if media_type(&parts.headers) != Some(MediaType::Form) {
        return Err(HttpError::invalid_request(
            "content-type must be application/x-www-form-urlencoded",
        ));
    }
    let form = Form::parse(&read_body(body).await?)?;
    // `token_type_hint` may name any type: the only tokens here are access tokens.
    let token = form.require("token")?;
    let subject = state.0.tokens.verify(token).await;
    metrics::record_outcome(Decider::OAuthIntrospect, Outcome::of_lookup(&subject));
    let Some(subject) = subject? else {
        return Ok(json(StatusCode::OK, INACTIVE));
    };
    let key = &subject.key;
    tracing::Span::current().record("client_id", key.client_id());
    let body = serde_json::json!({
        "active": true,
        "client_id": key.client_id(),
        "sub": key.client_id(),
        "account_id": key.account_id(),
        "exp": subject.expires_at,
        "iat": subject.issued_at,
        "iss": state.0.tokens.issuer(),
        "token_type": "Bearer",
    });
    Ok(json(StatusCode::OK, body.to_string()))
}
