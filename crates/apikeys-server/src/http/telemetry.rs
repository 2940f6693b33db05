//! The server span and metrics of every request the HTTP front answers, as `layers::rpc` gives
//! gRPC calls: a span `HTTP {method} {route}` with `http.request.method`, `http.route` and
//! `http.response.status_code`, and the `http.server.request.duration` histogram. Answers get
//! `Cache-Control: no-store` unless their handler chose a cache policy.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::Method;
use http::header::{CACHE_CONTROL, HeaderValue};
use tracing::{Instrument as _, field};

use super::response::is_grpc;
use super::{forward_auth, introspect, metadata, probes, token};
use crate::telemetry::{self, HTTP_TARGET, metrics};

/// The route patterns, as `&'static str` metric attributes.
const ROUTES: &[&str] = &[
    token::PATH,
    metadata::JWKS_PATH,
    metadata::METADATA_PATH,
    introspect::PATH,
    forward_auth::PATH,
    forward_auth::SUBPATHS,
    probes::LIVEZ,
    probes::READYZ,
];

pub async fn observe(request: Request, next: Next) -> Response {
    // A gRPC call to an unknown method reaches the fallback: the RPC layer records it.
    if is_grpc(request.headers()) {
        return next.run(request).await;
    }
    let method = method_name(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|matched| ROUTES.iter().find(|route| **route == matched.as_str()))
        .copied()
        .unwrap_or("unknown");
    let span = tracing::debug_span!(
        target: HTTP_TARGET,
        "HTTP",
        otel.name = format_args!("{method} {route}").to_string(),
        http.request.method = method,
        http.route = route,
        http.response.status_code = field::Empty,
    );
    if telemetry::exporting() {
        telemetry::propagation::continue_trace(&span, request.headers());
    }
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    metrics::record_http(method, route, status, started.elapsed());
    if !response.headers().contains_key(CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The method as a metric attribute; any method outside RFC 9110's is `_OTHER`, as the
/// OpenTelemetry HTTP conventions say, so a client cannot mint metric series.
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}
