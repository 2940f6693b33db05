//! W3C trace context (`traceparent`, `tracestate`) from request headers, so a server span
//! continues the caller's trace when OTLP export is on.

use http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Reads `traceparent` / `tracestate` from HTTP headers (gRPC metadata on HTTP/2 included).
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes the trace context in `headers`, if any, the parent of `span`.
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // Fails only without the OpenTelemetry layer, which exporting installs.
    let _ = span.set_parent(parent);
}
