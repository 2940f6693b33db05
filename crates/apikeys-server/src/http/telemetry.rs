//! The server span and metrics of every request the HTTP front answers, as `layers::rpc` gives
//! gRPC calls: a span `HTTP {method} {route}` with `http.request.method`, `http.route` and
//! `http.response.status_code`, and the `http.server.request.duration` histogram.
//!
//! A tower layer with its own future rather than `axum::middleware::from_fn`, which boxes every
//! request's future and clones the inner service per call: forward auth is a gateway's hot path.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::response::Response;
use http::{Method, Request};
use tower_layer::Layer;
use tower_service::Service;
use tracing::{Span, field};

use super::response::is_grpc;
use super::{forward_auth, introspect, metadata, probes, token};
use crate::telemetry::{self, HTTP_TARGET, metrics};

/// The route patterns, as `&'static str` metric attributes.
const ROUTES: &[&str] = &[
    forward_auth::SUBPATHS,
    forward_auth::PATH,
    token::PATH,
    introspect::PATH,
    metadata::JWKS_PATH,
    metadata::METADATA_PATH,
    probes::LIVEZ,
    probes::READYZ,
];

#[derive(Debug, Clone, Copy)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // A gRPC call to an unknown method reaches the fallback: the RPC layer records it.
        let record = if is_grpc(request.headers()) {
            None
        } else {
            Record::start(&request)
        };
        let inner = match &record {
            Some(record) => {
                let _entered = record.span.enter();
                self.inner.call(request)
            }
            None => self.inner.call(request),
        };
        ObserveFuture { inner, record }
    }
}

/// The span and clock of one request; absent when neither logs nor metrics want them.
struct Record {
    span: Span,
    method: &'static str,
    route: &'static str,
    started: Option<Instant>,
}

impl Record {
    fn start<B>(request: &Request<B>) -> Option<Self> {
        let metered = metrics::enabled();
        if !metered && !tracing::enabled!(target: HTTP_TARGET, tracing::Level::DEBUG) {
            return None;
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
            otel.kind = "server",
            http.request.method = method,
            http.route = route,
            http.response.status_code = field::Empty,
        );
        if telemetry::exporting() {
            telemetry::propagation::continue_trace(&span, request.headers());
        }
        Some(Self {
            span,
            method,
            route,
            started: metered.then(Instant::now),
        })
    }

    fn finish(self, response: &Response) {
        let status = response.status().as_u16();
        self.span.record("http.response.status_code", status);
        if let Some(started) = self.started {
            metrics::record_http(self.method, self.route, status, started.elapsed());
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        record: Option<Record>,
    }
}

impl<F, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.record.as_ref().map(|record| record.span.enter());
            ready!(this.inner.poll(cx))
        };
        Poll::Ready(result.inspect(|response| {
            if let Some(record) = this.record.take() {
                record.finish(response);
            }
        }))
    }
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
