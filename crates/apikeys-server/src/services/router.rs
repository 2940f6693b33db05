//! The server of one `apikeys serve`: every gRPC service, with health and reflection, beside the
//! HTTP routes, all behind the shared tower layers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apikeys_proto::ext_authz::authorization_server::AuthorizationServer;
use apikeys_proto::pb::account_service_server::AccountServiceServer;
use apikeys_proto::pb::api_key_service_server::ApiKeyServiceServer;
use apikeys_proto::pb::introspection_service_server::IntrospectionServiceServer;
use apikeys_proto::pb::token_service_server::TokenServiceServer;
use apikeys_store::Store;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::ServerTlsConfig;
use tonic::transport::server::Router;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_reflection::server::{v1, v1alpha};
use tower_layer::{Identity, Stack};

use super::{
    AccountServiceImpl, ApiKeyServiceImpl, ExtAuthzService, IntrospectionServiceImpl, KeyLimits,
    TokenServiceImpl,
};
use crate::access_tokens::AccessTokens;
use crate::auth::Authenticator;
use crate::crypto::HashingPool;
use crate::gateway::Gateway;
use crate::layers::decode_status::DecodeStatusLayer;
use crate::layers::request_timeout::RequestTimeoutLayer;
use crate::layers::rpc::RpcLayer;
use crate::transport::tls::INVALID_TLS_CONFIG;
use crate::verification::CredentialVerifier;
use crate::verification::usage::UsageRecorder;

/// Largest request to our own services. The biggest legitimate one (CreateKey with a 128-byte
/// account id, a 254-byte email and a 200-character name) is under 1.5 KiB; 16 KiB leaves room
/// for growth while a hostile 1 MiB field is refused (RESOURCE_EXHAUSTED) before it is read.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Largest ext_authz CheckRequest. Envoy caps request headers at 60 KiB by default and
/// `with_request_body` is off; the request line can appear twice (in the headers and again in
/// `path`/`query`), so a maximal legitimate Check is about 2 × 60 KiB plus framing. 128 KiB
/// accepts that and no more.
const MAX_CHECK_REQUEST_BYTES: usize = 128 * 1024;

/// Largest HTTP/2 header list (all request headers, decoded). A forward-auth request carries
/// the partner request's headers, and Envoy accepts 60 KiB of them by default; gRPC metadata
/// (a caller token is at most 8 KiB) is far below it. HTTP/1.1 requests are bounded by hyper's
/// read buffer (about 400 KiB); past either limit the answer is `431`.
const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

/// What the services share: the store, the caller authenticator and the verification path.
pub struct Components {
    pub store: Store,
    pub authenticator: Authenticator,
    pub hashing_pool: Arc<HashingPool>,
    pub usage: Arc<UsageRecorder>,
    pub verifier: Arc<CredentialVerifier>,
    pub access_tokens: Arc<AccessTokens>,
    pub gateway: Arc<Gateway>,
}

/// How the gRPC server treats connections and calls, and the services' own settings.
pub struct GrpcSettings {
    pub request_timeout: Duration,
    pub max_concurrent_calls_per_connection: u32,
    pub http2_keepalive_interval: Option<Duration>,
    pub http2_keepalive_timeout: Duration,
    pub key_limits: KeyLimits,
}

/// Every gRPC service beside the `http` routes, ready to serve on a listener. gRPC requests are
/// routed by their path (`/package.Service/Method`); `http`'s fallback answers every other path.
pub fn router(
    settings: &GrpcSettings,
    tls: Option<ServerTlsConfig>,
    health: HealthServer<impl Health>,
    components: &Components,
    http: axum::Router,
) -> anyhow::Result<Router<RouterLayers>> {
    // The per-connection limit is HTTP/2's own, announced in SETTINGS: clients hold further
    // calls themselves. tonic's `concurrency_limit_per_connection` would instead accept any
    // number of streams and queue them behind a semaphore that every call passes through.
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(settings.max_concurrent_calls_per_connection)
        .http2_keepalive_interval(settings.http2_keepalive_interval)
        .http2_keepalive_timeout(Some(settings.http2_keepalive_timeout))
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .accept_http1(true);
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).context(INVALID_TLS_CONFIG)?;
    }
    let Components {
        store,
        authenticator,
        hashing_pool,
        usage,
        verifier,
        access_tokens,
        gateway,
    } = components;
    let api_keys = ApiKeyServiceServer::new(ApiKeyServiceImpl::new(
        store.clone(),
        Arc::clone(hashing_pool),
        Arc::clone(usage),
        Arc::clone(verifier),
        settings.key_limits,
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let accounts =
        AccountServiceServer::new(AccountServiceImpl::new(store.clone(), Arc::clone(verifier)))
            .max_decoding_message_size(MAX_REQUEST_BYTES);
    let tokens = TokenServiceServer::new(TokenServiceImpl::new(
        authenticator.clone(),
        Arc::clone(access_tokens),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    let introspection = IntrospectionServiceServer::new(IntrospectionServiceImpl::new(
        Arc::clone(verifier),
        Arc::clone(access_tokens),
    ))
    .max_decoding_message_size(MAX_REQUEST_BYTES);
    // Check requests carry the whole HTTP request's headers, so they get a larger cap.
    let ext_authz = AuthorizationServer::new(ExtAuthzService::new(Arc::clone(gateway)))
        .max_decoding_message_size(MAX_CHECK_REQUEST_BYTES);
    let (reflection_v1, reflection_v1alpha) = reflection()?;
    let routes = Routes::from(http)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(InterceptedService::new(api_keys, authenticator.clone()))
        .add_service(InterceptedService::new(accounts, authenticator.clone()))
        .add_service(InterceptedService::new(ext_authz, authenticator.clone()))
        .add_service(InterceptedService::new(
            introspection,
            authenticator.clone(),
        ))
        .add_service(tokens);
    Ok(builder
        .layer(RpcLayer::for_served_rpcs()?)
        .layer(DecodeStatusLayer)
        .layer(RequestTimeoutLayer::new(settings.request_timeout))
        .add_routes(routes))
}

/// The tower layers of [`router`], in the order they are added: RPC span and metrics, decode
/// status, request timeout.
pub type RouterLayers =
    Stack<RequestTimeoutLayer, Stack<DecodeStatusLayer, Stack<RpcLayer, Identity>>>;

/// Server reflection (v1 and v1alpha) of every served service, for grpcurl and `buf curl`.
fn reflection() -> anyhow::Result<(
    v1::ServerReflectionServer<impl v1::ServerReflection>,
    v1alpha::ServerReflectionServer<impl v1alpha::ServerReflection>,
)> {
    let builder = || {
        DESCRIPTOR_SETS.iter().fold(
            tonic_reflection::server::Builder::configure(),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}

/// The descriptors reflection serves.
const DESCRIPTOR_SETS: &[&[u8]] = &[
    apikeys_proto::FILE_DESCRIPTOR_SET,
    apikeys_proto::ENVOY_AUTHORIZATION_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
];
