//! A tower layer giving every gRPC call a server span (`rpc.service`, `rpc.method`, final
//! `rpc.grpc.status_code`) and, when OTLP export is on, the caller's W3C trace context as the
//! span's parent plus call count and latency metrics.
//!
//! The final status is where gRPC puts it: in the response headers of a trailers-only response
//! (how tonic answers a unary call with an error) or in the trailers after the body (OK and
//! streaming). A call whose response is dropped before either (the client reset the stream)
//! counts as CANCELLED. Add this layer first, so the statuses later layers produce or rewrite
//! (request timeout, decode errors) are the ones recorded.
//!
//! The span and a `rpc finished` event are logged at `debug` under the target [`RPC_TARGET`]
//! (`RUST_LOG=info,apikeys::rpc=debug`), so default logs look the same with or without OTLP.
//! Per call without OTLP at the default log level: one cached level check, nothing else. With
//! OTLP the span is always built and exported, whatever RUST_LOG says.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use opentelemetry::KeyValue;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use prost::Message;
use tonic::Code;
use tracing::{Level, Span, field};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry::RPC_TARGET as TARGET;
use crate::telemetry::metrics;
use crate::telemetry::propagation::HeaderExtractor;

/// Service and method of every RPC this server may answer; any other path is labelled
/// `unknown`, so a caller cannot mint new metric series by inventing paths.
#[derive(Clone)]
pub struct RpcLayer {
    shared: Arc<Shared>,
}

struct Shared {
    methods: HashMap<Box<str>, Arc<RpcMethod>>,
    unknown: Arc<RpcMethod>,
    /// Present while exporting: spans then continue the caller's trace.
    propagator: Option<TraceContextPropagator>,
}

struct RpcMethod {
    /// `package.Service/Method`, the OpenTelemetry span name.
    full_name: Box<str>,
    service: Box<str>,
    method: Box<str>,
    attributes: [KeyValue; 3],
}

impl RpcMethod {
    fn new(service: &str, method: &str) -> Self {
        let service: Arc<str> = service.into();
        let method: Arc<str> = method.into();
        Self {
            full_name: format!("{service}/{method}").into(),
            service: (*service).into(),
            method: (*method).into(),
            attributes: [
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", service),
                KeyValue::new("rpc.method", method),
            ],
        }
    }
}

impl RpcLayer {
    /// Knows every RPC `apikeys serve` answers.
    pub fn for_served_rpcs() -> anyhow::Result<Self> {
        Self::new(&[
            apikeys_proto::FILE_DESCRIPTOR_SET,
            apikeys_proto::ENVOY_AUTHORIZATION_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ])
    }

    /// Knows the RPCs of the given encoded `FileDescriptorSet`s.
    pub fn new(descriptor_sets: &[&[u8]]) -> anyhow::Result<Self> {
        let mut methods = HashMap::new();
        for encoded in descriptor_sets {
            let set = prost_types::FileDescriptorSet::decode(*encoded)?;
            for file in &set.file {
                for service in &file.service {
                    let service_name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        methods.insert(
                            format!("/{service_name}/{}", method.name()).into_boxed_str(),
                            Arc::new(RpcMethod::new(&service_name, method.name())),
                        );
                    }
                }
            }
        }
        Ok(Self {
            shared: Arc::new(Shared {
                methods,
                unknown: Arc::new(RpcMethod::new("unknown", "unknown")),
                propagator: crate::telemetry::exporting().then(TraceContextPropagator::new),
            }),
        })
    }
}

impl<S> tower_layer::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for RpcService<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<RpcBody<ResBody>>;
    type Error = S::Error;
    type Future = RpcFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // HTTP requests that are not gRPC get their span and metrics from the HTTP front.
        if !is_grpc(request.headers()) {
            return RpcFuture {
                inner: self.inner.call(request),
                call: None,
            };
        }
        let path = request.uri().path();
        let (span, metered) = match &self.shared.propagator {
            Some(propagator) => {
                let method = self.shared.method(path);
                let span = exported_span(method);
                let parent = propagator.extract(&HeaderExtractor(request.headers()));
                // Fails only without the OpenTelemetry layer, which exporting installs.
                let _ = span.set_parent(parent);
                (span, metrics::enabled().then(|| Arc::clone(method)))
            }
            None => (logged_span(&self.shared, path), None),
        };
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        // Nothing to record (no OTLP, debug logs off): the response passes through untouched.
        let call = (!span.is_disabled() || metered.is_some()).then(|| CallRecord {
            span,
            started: Instant::now(),
            method: metered,
            finished: false,
        });
        RpcFuture { inner, call }
    }
}

/// Whether a request is gRPC (`content-type: application/grpc`, `application/grpc+proto`, …).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"))
}

impl Shared {
    fn method(&self, path: &str) -> &Arc<RpcMethod> {
        self.methods.get(path).unwrap_or(&self.unknown)
    }
}

/// Without OTLP the span only serves the logs, at debug level: at the default `info` it is
/// never built, so the hot path pays one cached level check.
fn logged_span(shared: &Shared, path: &str) -> Span {
    if !tracing::enabled!(target: TARGET, Level::DEBUG) {
        return Span::none();
    }
    let method = shared.method(path);
    tracing::debug_span!(
        target: TARGET,
        "rpc",
        rpc.service = &*method.service,
        rpc.method = &*method.method,
        rpc.grpc.status_code = field::Empty,
    )
}

fn exported_span(method: &RpcMethod) -> Span {
    tracing::debug_span!(
        target: TARGET,
        "rpc",
        otel.name = &*method.full_name,
        otel.kind = "server",
        otel.status_code = field::Empty,
        rpc.system = "grpc",
        rpc.service = &*method.service,
        rpc.method = &*method.method,
        rpc.grpc.status_code = field::Empty,
    )
}

/// The span and clock of one call, until its final status is known.
struct CallRecord {
    span: Span,
    started: Instant,
    /// Present when metrics are recorded.
    method: Option<Arc<RpcMethod>>,
    finished: bool,
}

impl CallRecord {
    fn finish(&mut self, code: Code) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let elapsed = self.started.elapsed();
        self.span.record("rpc.grpc.status_code", code as i32);
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
        }
        tracing::debug!(
            target: TARGET,
            parent: &self.span,
            ?code,
            elapsed_us = elapsed.as_micros(),
            "rpc finished"
        );
        if let Some(method) = &self.method {
            metrics::record_rpc(&method.attributes, code as i32, elapsed);
        }
    }

    /// The status of a trailers-only response, which carries it in its headers.
    fn finish_from(&mut self, headers: &HeaderMap) -> bool {
        match headers.get(tonic::Status::GRPC_STATUS) {
            Some(status) => {
                self.finish(Code::from_bytes(status.as_bytes()));
                true
            }
            None => false,
        }
    }
}

impl Drop for CallRecord {
    fn drop(&mut self) {
        self.finish(Code::Cancelled);
    }
}

/// OpenTelemetry's gRPC server conventions: these codes mark the span as failed; the others
/// are the caller's doing.
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

pin_project_lite::pin_project! {
    pub struct RpcFuture<F> {
        #[pin]
        inner: F,
        call: Option<CallRecord>,
    }
}

impl<F, ResBody, E> Future for RpcFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<RpcBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span.enter());
            ready!(this.inner.poll(cx))
        };
        let mut call = this.call.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(record) = &mut call
                    && record.finish_from(response.headers())
                {
                    call = None;
                }
                Ok(response.map(|inner| RpcBody { inner, call }))
            }
            Err(error) => {
                if let Some(record) = &mut call {
                    record.finish(Code::Unknown);
                }
                Err(error)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// The response body, watched for the trailers that carry the final status.
    pub struct RpcBody<B> {
        #[pin]
        inner: B,
        call: Option<CallRecord>,
    }
}

impl<B: Body> Body for RpcBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(call) = this.call {
            match &frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref()
                        && !call.finish_from(trailers)
                    {
                        call.finish(Code::Unknown);
                    }
                }
                // The stream ended or failed without a status: the client sees an error.
                None | Some(Err(_)) => call.finish(Code::Unknown),
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;
