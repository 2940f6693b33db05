//! The bare baseline of the warm scenarios: one server, built as `apikeys serve` is (tonic's
//! transport `Server` accepting HTTP/1.1 and HTTP/2 on one port, gRPC services and axum routes
//! composed in one `Routes`, tokio's multi-thread runtime, jemalloc), that answers with fixed
//! answers of realistic size and does no work: a for gRPC Introspect, h for HTTP forward auth.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use apikeys_proto::pb::introspection_service_server::{
    IntrospectionService, IntrospectionServiceServer,
};
use apikeys_proto::pb::{IntrospectRequest, IntrospectResponse};
use axum::body::Body;
use axum::response::Response as HttpResponse;
use axum::routing::any;
use http::header::{self, HeaderName, HeaderValue};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// The same limits `apikeys serve` sets, so the baseline runs the same tonic stack.
const MAX_REQUEST_BYTES: usize = 64 * 1024;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CALLS_PER_CONNECTION: u32 = 1024;
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// The identity the bare answers name (what a warm key of the bench looks like).
pub const BARE_CLIENT_ID: &str = "akc_JpDiPC6klLfhjIO19876ePmP";
/// The identity headers of an allow (the server's default ext_authz header names).
pub const ACCOUNT_HEADER: HeaderName = HeaderName::from_static("x-account-id");
pub const CLIENT_HEADER: HeaderName = HeaderName::from_static("x-client-id");
const BARE_ACCOUNT_ID: &str = "bench-warm";
const AUTH_HEADERS_TO_REMOVE: HeaderName =
    HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// The bare baseline: same request/response shapes as `apikeys.v1.IntrospectionService`,
/// a fixed active response of realistic size, no work at all.
#[derive(Debug, Clone)]
pub struct BareIntrospection {
    response: IntrospectResponse,
}

impl Default for BareIntrospection {
    fn default() -> Self {
        Self {
            response: IntrospectResponse {
                active: true,
                client_id: BARE_CLIENT_ID.to_owned(),
                account_id: BARE_ACCOUNT_ID.to_owned(),
                email: "ops@bench.example".to_owned(),
                create_time: Some(prost_types::Timestamp {
                    seconds: 1_790_000_000,
                    nanos: 123_456_000,
                }),
                expire_time: None,
            },
        }
    }
}

#[tonic::async_trait]
impl IntrospectionService for BareIntrospection {
    async fn introspect(
        &self,
        _request: Request<IntrospectRequest>,
    ) -> Result<Response<IntrospectResponse>, Status> {
        Ok(Response::new(self.response.clone()))
    }
}

/// A forward-auth allow as `apikeys serve` answers it (docs/http.md): `200`, no body, the
/// identity headers, the header Envoy removes, `Cache-Control: no-store`.
async fn bare_forward_auth() -> HttpResponse {
    let mut response = HttpResponse::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(ACCOUNT_HEADER, HeaderValue::from_static(BARE_ACCOUNT_ID));
    headers.insert(CLIENT_HEADER, HeaderValue::from_static(BARE_CLIENT_ID));
    headers.insert(
        AUTH_HEADERS_TO_REMOVE,
        HeaderValue::from_static("authorization"),
    );
    response
}

/// The gRPC service and the HTTP routes, composed as `apikeys serve` composes its own.
fn bare_routes() -> Routes {
    let http = axum::Router::new()
        .route("/auth/check", any(bare_forward_auth))
        .route("/auth/check/{*path}", any(bare_forward_auth));
    Routes::from(http).add_service(
        IntrospectionServiceServer::new(BareIntrospection::default())
            .max_decoding_message_size(MAX_REQUEST_BYTES),
    )
}

/// Serves the bare baseline on `listener` with the tonic settings of `apikeys serve`: HTTP/1.1
/// and HTTP/2 on one port.
pub async fn serve_bare(listener: TcpListener) -> anyhow::Result<()> {
    tonic::transport::Server::builder()
        .accept_http1(true)
        .timeout(REQUEST_TIMEOUT)
        .max_concurrent_streams(MAX_CALLS_PER_CONNECTION)
        .add_routes(bare_routes())
        // As `apikeys serve` does: `serve_with_incoming` ignores the builder's TCP settings.
        .serve_with_incoming(
            TcpIncoming::from(listener)
                .with_nodelay(Some(true))
                .with_keepalive(Some(TCP_KEEPALIVE)),
        )
        .await
        .context("bare server failed")
}

/// `apikeys-bench bare-server`: prints `bare listening on ADDR`, serves until killed.
pub async fn bare_server_main(listen: SocketAddr) -> anyhow::Result<()> {
    use std::io::Write;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "bare listening on {addr}")?;
        stdout.flush()?;
    }
    serve_bare(listener).await
}
