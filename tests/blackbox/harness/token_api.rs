//! TokenService calls and Introspect by access token.

use apikeys_proto::pb::token_service_client::TokenServiceClient;
use apikeys_proto::pb::{
    GetJwksRequest, IntrospectRequest, IntrospectResponse, IssueTokenRequest, IssueTokenResponse,
};
use tonic::Status;
use tonic::transport::Channel;

use super::api::{Api, authorization, bearer};

impl Api {
    pub fn token_service(&self) -> TokenServiceClient<Channel> {
        TokenServiceClient::new(self.channel())
    }

    /// IssueToken with `caller` (a gateway token) on behalf of the partner's credentials.
    pub async fn issue_token(
        &self,
        caller: Option<&str>,
        client_id: &str,
        client_secret: &str,
    ) -> Result<IssueTokenResponse, Status> {
        let request = IssueTokenRequest {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        };
        self.token_service()
            .issue_token(authorization(caller.map(bearer), request))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn jwks(&self) -> Result<serde_json::Value, Status> {
        let response = self
            .token_service()
            .get_jwks(GetJwksRequest {})
            .await?
            .into_inner();
        Ok(serde_json::from_str(&response.jwks_json).expect("GetJwks returns JSON"))
    }

    pub async fn introspect_token(
        &self,
        caller: &str,
        access_token: &str,
    ) -> Result<IntrospectResponse, Status> {
        let request = IntrospectRequest {
            token: access_token.into(),
            ..IntrospectRequest::default()
        };
        self.introspection()
            .introspect(authorization(Some(bearer(caller)), request))
            .await
            .map(|r| r.into_inner())
    }
}
