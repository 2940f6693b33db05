//! Envoy ext_authz: `envoy.service.auth.v3.Authorization/Check`, so Envoy can ask this service
//! directly whether a partner request carries live credentials.
//!
//! The caller (Envoy) is authenticated like an Introspect caller: a token with the `introspect`
//! scope in its gRPC metadata. The partner's credentials are in the HTTP request Envoy forwards,
//! and [`crate::gateway`] decides. The answer is OK with identity headers for the upstream, 401
//! for anything wrong with the credentials, or 503 when the store or hashing pool cannot answer;
//! never an allow on error.

mod credentials;
mod responses;

use std::sync::Arc;

use apikeys_proto::ext_authz::authorization_server::Authorization;
use apikeys_proto::ext_authz::{CheckRequest, CheckResponse};
use tonic::{Request, Response, Status};
use tracing::{Instrument as _, Span, field};

use self::credentials::RequestHeaders;
use super::caller;
use crate::auth::authorize_introspection;
use crate::error::ApiError;
use crate::gateway::{Decision, Gateway};
use crate::telemetry::metrics::Decider;

pub struct ExtAuthzService {
    gateway: Arc<Gateway>,
}

impl ExtAuthzService {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self { gateway }
    }

    /// The decision for one HTTP request, as Envoy's answer.
    async fn decide(&self, headers: &RequestHeaders<'_>, span: &Span) -> CheckResponse {
        let credentials = credentials::extract(headers, &self.gateway.headers().api_key_header);
        match self.gateway.decide(credentials, Decider::Check).await {
            Decision::Allow(key) => {
                span.record("client_id", key.client_id());
                responses::allowed(self.gateway.headers(), &key)
            }
            Decision::Deny => responses::unauthenticated(),
            Decision::Unavailable => responses::unavailable(),
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
            let headers = RequestHeaders::of(
                request.get_ref(),
                self.gateway.headers().credential_headers(),
            )
            .map_err(ApiError::from)?;
            Ok(Response::new(self.decide(&headers, &span).await))
        }
        .instrument(span.clone())
        .await
    }
}
