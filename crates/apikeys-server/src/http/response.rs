//! Building answers: JSON bodies, empty bodies, and the fallback for unknown paths.

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};

pub use crate::layers::rpc::is_grpc;

/// `status` with a JSON body.
pub fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
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
