//! Typed clients of the three services (plus health) on one channel, with bearer metadata.

use std::net::SocketAddr;
use std::time::Duration;

use apikeys_proto::pb::{
    Account, CreateKeyRequest, CreateKeyResponse, GetAccountRequest, IntrospectRequest,
    IntrospectResponse, ListAuditEventsRequest, ListAuditEventsResponse, ListKeysRequest,
    ListKeysResponse, RevokeKeyRequest, RevokeKeyResponse, SetApiAccessRequest,
    account_service_client::AccountServiceClient, api_key_service_client::ApiKeyServiceClient,
    introspection_service_client::IntrospectionServiceClient,
};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Every RPC fails the test instead of hanging past this.
const RPC_TIMEOUT: Duration = Duration::from_secs(30);

/// `Bearer <token>` as a metadata value.
pub fn bearer(token: &str) -> AsciiMetadataValue {
    format!("Bearer {token}")
        .parse()
        .expect("token is valid metadata")
}

/// Wraps `message` in a request carrying `authorization: <value>`, or no such metadata at all.
pub fn authorization<T>(value: Option<AsciiMetadataValue>, message: T) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(value) = value {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Clients for one running server.
#[derive(Clone)]
pub struct Api {
    channel: Channel,
}

impl Api {
    pub(super) async fn connect(addr: SocketAddr) -> Self {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint uri")
            .connect_timeout(Duration::from_secs(10))
            .timeout(RPC_TIMEOUT)
            // Lazy: a server started with TLS is reached through its own TLS channel, and this
            // plaintext one must not fail the start.
            .connect_lazy();
        Self { channel }
    }

    /// Clients over a channel the test made itself (e.g. TLS with a client certificate).
    pub fn from_channel(channel: Channel) -> Self {
        Self { channel }
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    pub fn keys(&self) -> ApiKeyServiceClient<Channel> {
        ApiKeyServiceClient::new(self.channel())
    }

    pub fn accounts(&self) -> AccountServiceClient<Channel> {
        AccountServiceClient::new(self.channel())
    }

    pub fn introspection(&self) -> IntrospectionServiceClient<Channel> {
        IntrospectionServiceClient::new(self.channel())
    }

    /// Envoy's ext_authz client (`envoy.service.auth.v3.Authorization`).
    pub fn ext_authz(&self) -> AuthorizationClient<Channel> {
        AuthorizationClient::new(self.channel())
    }

    /// `Authorization/Check` with `authorization: <auth>` as gRPC metadata (Envoy's
    /// `initial_metadata`), or none.
    pub async fn check(
        &self,
        auth: Option<AsciiMetadataValue>,
        request: CheckRequest,
    ) -> Result<CheckResponse, Status> {
        self.ext_authz()
            .check(authorization(auth, request))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn create_key(
        &self,
        token: &str,
        account: &str,
        email: &str,
    ) -> Result<CreateKeyResponse, Status> {
        self.create_key_with(
            token,
            CreateKeyRequest {
                account_id: account.into(),
                email: email.into(),
                display_name: String::new(),
            },
        )
        .await
    }

    pub async fn create_key_with(
        &self,
        token: &str,
        request: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, Status> {
        let request = authorization(Some(bearer(token)), request);
        self.keys()
            .create_key(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn list_keys(
        &self,
        token: &str,
        account: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<ListKeysResponse, Status> {
        let request = ListKeysRequest {
            account_id: account.into(),
            page_size,
            page_token: page_token.into(),
        };
        let request = authorization(Some(bearer(token)), request);
        self.keys().list_keys(request).await.map(|r| r.into_inner())
    }

    /// The client ids of one page of up to 1000 keys, asserting it is the only page.
    pub async fn active_client_ids(&self, token: &str, account: &str) -> Vec<String> {
        let page = self
            .list_keys(token, account, 1000, "")
            .await
            .unwrap_or_else(|s| panic!("ListKeys {account}: {s:?}"));
        assert!(
            page.next_page_token.is_empty(),
            "more than one page of keys"
        );
        page.keys.into_iter().map(|k| k.client_id).collect()
    }

    pub async fn revoke_key(
        &self,
        token: &str,
        account: &str,
        client_id: &str,
    ) -> Result<RevokeKeyResponse, Status> {
        let request = RevokeKeyRequest {
            account_id: account.into(),
            client_id: client_id.into(),
        };
        let request = authorization(Some(bearer(token)), request);
        self.keys()
            .revoke_key(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn list_audit_events(
        &self,
        token: &str,
        account: &str,
        page_size: i32,
        page_token: &str,
    ) -> Result<ListAuditEventsResponse, Status> {
        let request = ListAuditEventsRequest {
            account_id: account.into(),
            page_size,
            page_token: page_token.into(),
        };
        let request = authorization(Some(bearer(token)), request);
        self.keys()
            .list_audit_events(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn set_api_access(
        &self,
        token: &str,
        account: &str,
        enabled: bool,
    ) -> Result<Account, Status> {
        let request = SetApiAccessRequest {
            account_id: account.into(),
            enabled,
        };
        let request = authorization(Some(bearer(token)), request);
        self.accounts()
            .set_api_access(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn get_account(&self, token: &str, account: &str) -> Result<Account, Status> {
        let request = GetAccountRequest {
            account_id: account.into(),
        };
        let request = authorization(Some(bearer(token)), request);
        self.accounts()
            .get_account(request)
            .await
            .map(|r| r.into_inner())
    }

    pub async fn introspect(
        &self,
        token: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<IntrospectResponse, Status> {
        let request = IntrospectRequest {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            ..IntrospectRequest::default()
        };
        let request = authorization(Some(bearer(token)), request);
        self.introspection()
            .introspect(request)
            .await
            .map(|r| r.into_inner())
    }

    /// The health status (as the proto enum's integer) of `service`; needs no token.
    pub async fn health(&self, service: &str) -> Result<i32, Status> {
        let request = HealthCheckRequest {
            service: service.into(),
        };
        HealthClient::new(self.channel())
            .check(request)
            .await
            .map(|r| r.into_inner().status)
    }
}
