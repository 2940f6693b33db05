use std::sync::Arc;

use apikeys_proto::pb;
use apikeys_proto::pb::introspection_service_server::IntrospectionService;
use tonic::{Request, Response, Status};
use tracing::{Instrument as _, Span, field};

use super::{caller, convert};
use crate::access_tokens::AccessTokens;
use crate::auth::{Caller, authorize_introspection};
use crate::error::ApiError;
use crate::telemetry::metrics::{self, Decider, Outcome};
use crate::verification::{self, CredentialVerifier, Verdict, VerifiedKey};

pub struct IntrospectionServiceImpl {
    verifier: Arc<CredentialVerifier>,
    tokens: Arc<AccessTokens>,
}

/// RFC 7662 §2.2: an inactive answer says nothing else.
fn inactive() -> pb::IntrospectResponse {
    pb::IntrospectResponse::default()
}

fn active(key: &VerifiedKey) -> pb::IntrospectResponse {
    pb::IntrospectResponse {
        active: true,
        client_id: key.client_id().to_owned(),
        account_id: key.account_id().to_owned(),
        email: key.email().to_owned(),
        create_time: Some(convert::timestamp(key.created_at)),
        expire_time: None,
    }
}

impl IntrospectionServiceImpl {
    pub fn new(verifier: Arc<CredentialVerifier>, tokens: Arc<AccessTokens>) -> Self {
        Self { verifier, tokens }
    }

    async fn introspect_credentials(
        &self,
        caller: &Caller,
        request: pb::IntrospectRequest,
        span: &Span,
    ) -> Result<pb::IntrospectResponse, ApiError> {
        authorize_introspection(caller)?;
        if !request.token.is_empty() {
            let subject = self.tokens.verify(&request.token).await;
            metrics::record_outcome(Decider::Introspect, Outcome::of_lookup(&subject));
            return Ok(match subject? {
                Some(subject) => {
                    span.record("client_id", subject.key.client_id());
                    pb::IntrospectResponse {
                        expire_time: Some(prost_types::Timestamp {
                            seconds: subject.expires_at,
                            nanos: 0,
                        }),
                        ..active(&subject.key)
                    }
                }
                None => inactive(),
            });
        }
        let verdict = self
            .verifier
            .verify_secret(&request.client_id, &request.client_secret)
            .await;
        metrics::record_outcome(Decider::Introspect, verification::outcome(&verdict));
        Ok(match verdict? {
            Verdict::Active(key) => {
                span.record("client_id", key.client_id());
                active(&key)
            }
            Verdict::Inactive(reason) => {
                tracing::debug!(reason = reason.as_str(), "credentials inactive");
                inactive()
            }
        })
    }
}

#[tonic::async_trait]
impl IntrospectionService for IntrospectionServiceImpl {
    async fn introspect(
        &self,
        request: Request<pb::IntrospectRequest>,
    ) -> Result<Response<pb::IntrospectResponse>, Status> {
        // `debug`: the gateway's hot path pays nothing for this span at the default log level;
        // OTLP export includes it at any level (see telemetry/mod.rs). Made here, not by
        // `#[instrument]`, so the client id is recorded on it without a `Span::current()`
        // lookup per call.
        let span = tracing::debug_span!("Introspect", client_id = field::Empty);
        async {
            let caller = caller(&request)?;
            Ok(Response::new(
                self.introspect_credentials(&caller, request.into_inner(), &span)
                    .await?,
            ))
        }
        .instrument(span.clone())
        .await
    }
}
