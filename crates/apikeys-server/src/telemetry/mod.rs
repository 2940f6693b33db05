//! Logs to stderr, as text or JSON, filtered by RUST_LOG (default `info`); and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry traces and metrics over OTLP/gRPC.
//!
//! The OpenTelemetry SDK reads the standard `OTEL_*` variables itself: exporter headers and
//! timeout, `OTEL_BSP_*` batching, `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_TRACES_SAMPLER`, and the
//! resource from `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` (service name `apikeys` when
//! neither names one). Without an endpoint no exporter, tracer or OpenTelemetry layer exists.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

pub mod metrics;
pub mod propagation;

/// Target of the per-RPC span and `rpc finished` event (`RUST_LOG=apikeys::rpc=debug`).
pub const RPC_TARGET: &str = "apikeys::rpc";
/// Target of the span of every request the HTTP front answers (`RUST_LOG=apikeys::http=debug`).
pub const HTTP_TARGET: &str = "apikeys::http";

/// How log lines are written on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

const DEFAULT_SERVICE_NAME: &str = "apikeys";
/// Only our own spans and events become OpenTelemetry data, at `info` and above whatever
/// RUST_LOG says, plus the RPC server span and the handler spans of the hot path (Introspect,
/// Check), which are `debug` so that logging without OTLP never builds them: dependencies'
/// spans (h2, hyper, tonic, the exporter's own gRPC calls) stay out of traces, so exporting
/// never traces itself.
fn traced(metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    target.starts_with("apikeys")
        && (*metadata.level() <= tracing::Level::INFO
            || (metadata.is_span()
                && (target == RPC_TARGET
                    || target.starts_with(HTTP_TARGET)
                    || target.starts_with("apikeys::services"))))
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// Whether OTLP export is on: the RPC layer then propagates trace context and records metrics.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// The exporters to flush on exit; empty without OTLP.
#[must_use = "call shutdown() on exit, or buffered spans and metrics are lost"]
pub struct Telemetry {
    providers: Option<(SdkTracerProvider, SdkMeterProvider)>,
}

impl Telemetry {
    /// Exports what is still buffered and stops the exporters. Call after the server drained,
    /// from outside the async runtime but while it still runs (it carries the exporters' calls).
    pub fn shutdown(self) {
        let Some((traces, meters)) = self.providers else {
            return;
        };
        if let Err(error) = traces.shutdown() {
            tracing::warn!(%error, "flushing traces on exit failed");
        }
        if let Err(error) = meters.shutdown() {
            tracing::warn!(%error, "flushing metrics on exit failed");
        }
    }
}

/// Installs logging, plus OTLP export when `export` and `OTEL_EXPORTER_OTLP_ENDPOINT` say so.
/// Must run inside the Tokio runtime that will carry the exporters' gRPC calls.
pub fn init(format: LogFormat, export: bool) -> anyhow::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    if !(export && otlp_configured()) {
        // A global filter: callsites RUST_LOG disables cost nothing, as before OTLP existed.
        tracing_subscriber::registry()
            .with(filter)
            .with(log_layer(format))
            .try_init()?;
        return Ok(Telemetry { providers: None });
    }

    let resource = resource();
    let traces = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .context("cannot set up the OTLP span exporter")?,
        )
        .build();
    let meters = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_periodic_exporter(
            opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .build()
                .context("cannot set up the OTLP metric exporter")?,
        )
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    opentelemetry::global::set_tracer_provider(traces.clone());
    opentelemetry::global::set_meter_provider(meters.clone());
    metrics::install();
    EXPORTING.store(true, Ordering::Relaxed);

    let spans = tracing_opentelemetry::layer()
        .with_tracer(traces.tracer(DEFAULT_SERVICE_NAME))
        .with_filter(filter_fn(traced));
    // Per-layer filters: RUST_LOG picks what is logged, not what is traced.
    tracing_subscriber::registry()
        .with(log_layer(format).with_filter(filter))
        .with(spans)
        .try_init()?;
    Ok(Telemetry {
        providers: Some((traces, meters)),
    })
}

fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().flatten_event(true).boxed(),
    }
}

fn otlp_configured() -> bool {
    let set = |var| std::env::var(var).is_ok_and(|value| !value.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    set("OTEL_EXPORTER_OTLP_ENDPOINT") && !disabled
}

/// The SDK's detectors (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, SDK attributes), with our
/// service name instead of `unknown_service` when neither variable names one.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder()
            .with_service_name(DEFAULT_SERVICE_NAME)
            .build()
    }
}
