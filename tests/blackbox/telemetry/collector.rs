//! An in-process OTLP/gRPC collector: keeps every trace and metric export it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// How long the server may take to export what a test waits for.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Received {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
}

impl Received {
    pub fn spans(&self) -> impl Iterator<Item = &Span> {
        self.traces
            .iter()
            .flat_map(|export| &export.resource_spans)
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans)
    }

    pub fn metrics(&self) -> impl Iterator<Item = &Metric> {
        self.metrics
            .iter()
            .flat_map(|export| &export.resource_metrics)
            .flat_map(|resource| &resource.scope_metrics)
            .flat_map(|scope| &scope.metrics)
    }

    /// Resource attributes of every export, traces and metrics.
    pub fn resource_attributes(&self) -> impl Iterator<Item = &KeyValue> {
        let traces = self
            .traces
            .iter()
            .flat_map(|export| &export.resource_spans)
            .filter_map(|r| r.resource.as_ref());
        let metrics = self
            .metrics
            .iter()
            .flat_map(|export| &export.resource_metrics)
            .filter_map(|r| r.resource.as_ref());
        traces.chain(metrics).flat_map(|r| &r.attributes)
    }

    /// Every export as protobuf bytes and as `Debug` text, to search for leaked strings. The
    /// bytes are the decoded request encoded again: the same fields the wire carried, since
    /// exporter and collector share one schema (no unknown fields are dropped).
    pub fn dumps(&self) -> Vec<(Vec<u8>, String)> {
        let traces = self
            .traces
            .iter()
            .map(|export| (export.encode_to_vec(), format!("{export:?}")));
        let metrics = self
            .metrics
            .iter()
            .map(|export| (export.encode_to_vec(), format!("{export:?}")));
        traces.chain(metrics).collect()
    }
}

/// The collector's shared state; clones see the same exports.
#[derive(Clone, Default)]
pub struct Collector {
    received: Arc<Mutex<Received>>,
    arrived: Arc<Notify>,
}

impl Collector {
    /// Serves OTLP trace and metric exports on 127.0.0.1 (a free port) for the rest of the test.
    pub async fn start() -> (Self, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the collector");
        let addr = listener.local_addr().expect("collector address");
        let collector = Self::default();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(collector.clone()))
                .add_service(MetricsServiceServer::new(collector.clone()))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (collector, addr)
    }

    pub fn received(&self) -> MutexGuard<'_, Received> {
        self.received.lock().expect("collector state")
    }

    /// Waits, with a deadline, for exports that make `probe` return something; woken by each
    /// export rather than polling on a timer.
    pub async fn wait_for<T>(
        &self,
        what: &str,
        mut probe: impl FnMut(&Received) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + EXPORT_TIMEOUT;
        loop {
            if let Some(found) = probe(&self.received()) {
                return found;
            }
            if tokio::time::timeout_at(deadline, self.arrived.notified())
                .await
                .is_err()
            {
                let received = self.received();
                let spans: Vec<&str> = received.spans().map(|s| s.name.as_str()).collect();
                let metrics: Vec<&str> = received.metrics().map(|m| m.name.as_str()).collect();
                panic!(
                    "{what}: not exported within {EXPORT_TIMEOUT:?}; spans {spans:?}, \
                     metrics {metrics:?}"
                );
            }
        }
    }

    fn note_arrival(&self) {
        // `notify_one` keeps a permit when nobody waits yet, so no export is missed.
        self.arrived.notify_one();
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.received().traces.push(request.into_inner());
        self.note_arrival();
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.received().metrics.push(request.into_inner());
        self.note_arrival();
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// The value of attribute `key` among `attributes`, as a string or integer.
pub fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

pub fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attribute(attributes, key) {
        Some(Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key) {
        Some(Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}
