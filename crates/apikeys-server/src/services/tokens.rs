use std::sync::Arc;

use apikeys_proto::pb;
use apikeys_proto::pb::token_service_server::TokenService;
use tonic::{Request, Response, Status};
use tracing::{Span, field, instrument};

use crate::access_tokens::{AccessTokens, Exchange};
use crate::auth::{Authenticator, authorize_introspection};
use crate::error::ApiError;

/// One message for every bad credential: nothing to learn from it.
const INVALID_CREDENTIALS: &str = "invalid client credentials";

/// Not behind the authentication interceptor: GetJwks is public, IssueToken authenticates its
/// caller itself.
pub struct TokenServiceImpl {
    authenticator: Authenticator,
    tokens: Arc<AccessTokens>,
}

impl TokenServiceImpl {
    pub fn new(authenticator: Authenticator, tokens: Arc<AccessTokens>) -> Self {
        Self {
            authenticator,
            tokens,
        }
    }

    async fn issue(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<pb::IssueTokenResponse, ApiError> {
        let caller = self.authenticator.authenticate(request.metadata())?;
        authorize_introspection(&caller)?;
        let request = request.into_inner();
        let issued = match self
            .tokens
            .exchange(&request.client_id, &request.client_secret)
            .await?
        {
            Exchange::Issued { token, key } => {
                Span::current().record("client_id", key.client_id());
                token
            }
            Exchange::Throttled => {
                return Err(ApiError::Overloaded(
                    "too many failed attempts for this client id, retry later",
                ));
            }
            Exchange::InvalidClient => return Err(ApiError::Unauthenticated(INVALID_CREDENTIALS)),
        };
        Ok(pb::IssueTokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer".to_owned(),
            expires_in: issued.expires_in,
        })
    }
}

#[tonic::async_trait]
impl TokenService for TokenServiceImpl {
    #[instrument(name = "IssueToken", skip_all, fields(client_id = field::Empty))]
    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::IssueTokenResponse>, Status> {
        Ok(Response::new(self.issue(request).await?))
    }

    #[instrument(name = "GetJwks", skip_all)]
    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Ok(Response::new(pb::GetJwksResponse {
            jwks_json: self.tokens.jwks_json(),
        }))
    }
}
