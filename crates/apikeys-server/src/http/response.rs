//! Building answers: JSON bodies, empty bodies, and the fallbacks for unknown paths and methods.
//! Every answer is built here with `Cache-Control: no-store`; the JWKS and the metadata replace
//! it with their cache policy.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};

pub use crate::layers::rpc::is_grpc;

/// `status` with a JSON body.
pub fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = empty(status);
    *response.body_mut() = body.into();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `status` with an empty body.
pub fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A route's path with a method it does not answer: `405` (axum adds `Allow`).
pub async fn method_not_allowed() -> Response {
    json(
        StatusCode::METHOD_NOT_ALLOWED,
        r#"{"error":"method_not_allowed"}"#,
    )
}

/// Any path that is neither a route nor a gRPC method: gRPC `UNIMPLEMENTED` for a gRPC
/// request, as tonic answers an unknown method, and `404` otherwise.
pub async fn not_found(request: Request) -> Response {
    if is_grpc(request.headers()) {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    json(StatusCode::NOT_FOUND, r#"{"error":"not_found"}"#)
}
