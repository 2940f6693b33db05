//! Telemetry: with `OTEL_EXPORTER_OTLP_ENDPOINT` the server exports traces and metrics over
//! OTLP/gRPC to an in-process collector; its RPC spans continue the caller's W3C trace; nothing
//! exported or logged (even at RUST_LOG=trace) contains a secret.

mod collector;
mod traced_calls;

use std::time::Duration;

use apikeys_test_support::Backend;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::trace::v1::Span;

use self::collector::{Collector, Received, int_attribute, string_attribute};
use self::traced_calls::{CallerTrace, Secrets, hex, traced_calls};
use crate::harness::{Fixture, TestServer};

backend_suite!(
    rpc_spans_continue_the_callers_trace_and_metrics_arrive,
    buffered_telemetry_is_flushed_on_graceful_shutdown,
    trace_level_logs_show_no_secret,
);

const SERVICE_NAME: &str = "apikeys-telemetry-test";
/// `SpanKind::SPAN_KIND_SERVER` in OTLP.
const SPAN_KIND_SERVER: i32 = 2;
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// (server span name, handler span name, calls, calls reaching the handler) of the RPCs
/// [`traced_calls`] makes: the refused Introspect stops at caller authentication.
const TRACED_RPCS: &[(&str, &str, usize, usize)] = &[
    ("apikeys.v1.ApiKeyService/CreateKey", "CreateKey", 1, 1),
    (
        "apikeys.v1.IntrospectionService/Introspect",
        "Introspect",
        4,
        3,
    ),
    ("apikeys.v1.TokenService/IssueToken", "IssueToken", 1, 1),
    ("envoy.service.auth.v3.Authorization/Check", "Check", 2, 2),
];

const EXPECTED_METRICS: &[&str] = &[
    "apikeys.rpc.calls",
    "rpc.server.call.duration",
    "apikeys.introspection.outcomes",
    "apikeys.verification.cache.lookups",
    "apikeys.argon2.jobs",
    "apikeys.argon2.queue.duration",
    "apikeys.argon2.duration",
    "db.client.connection.count",
    "db.client.connection.max",
    "db.client.connection.pending_requests",
];

async fn exporting_server(backend: Backend, endpoint: &str, interval_ms: &str) -> Fixture {
    let server = TestServer::builder(backend)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_SERVICE_NAME", SERVICE_NAME)
        .env(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=blackbox",
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", interval_ms)
        .env("OTEL_METRIC_EXPORT_INTERVAL", interval_ms)
        .start()
        .await;
    Fixture::with_server(server).await
}

/// Every traced RPC has a server span in the caller's trace whose parent is the caller's span,
/// and its handler span is that server span's child; `None` until all have arrived.
fn complete_trace(received: &Received, trace: &CallerTrace) -> Option<Vec<Span>> {
    let spans: Vec<Span> = received
        .spans()
        .filter(|s| trace.has_trace_id(s))
        .cloned()
        .collect();
    let count = |name: &str| spans.iter().filter(|s| s.name == name).count();
    let all_there = TRACED_RPCS
        .iter()
        .all(|(rpc, handler, calls, handled)| count(rpc) == *calls && count(handler) == *handled);
    all_there.then_some(spans)
}

async fn rpc_spans_continue_the_callers_trace_and_metrics_arrive(backend: Backend) {
    let (collector, addr) = Collector::start().await;
    let fixture = exporting_server(backend, &format!("http://{addr}"), "100").await;
    let trace = CallerTrace::random();
    let calls = traced_calls(&fixture, &trace).await;

    let spans = collector
        .wait_for("the traced RPCs' spans", |r| complete_trace(r, &trace))
        .await;
    for (rpc, handler, _, _) in TRACED_RPCS {
        let servers: Vec<&Span> = spans.iter().filter(|s| s.name == *rpc).collect();
        for server in &servers {
            assert_eq!(
                hex(&server.parent_span_id),
                trace.span_id,
                "{rpc}: the server span's parent is the caller's span"
            );
            assert_eq!(server.kind, SPAN_KIND_SERVER, "{rpc}: a server span");
            let attributes = &server.attributes;
            assert_eq!(string_attribute(attributes, "rpc.system"), Some("grpc"));
            assert_eq!(
                string_attribute(attributes, "rpc.method"),
                Some(*handler),
                "{rpc}"
            );
            assert!(
                int_attribute(attributes, "rpc.grpc.status_code").is_some(),
                "{rpc}: the final status code is recorded"
            );
        }
        for child in spans.iter().filter(|s| s.name == *handler) {
            assert!(
                servers.iter().any(|s| s.span_id == child.parent_span_id),
                "{handler}: the handler span is a child of an RPC server span"
            );
        }
    }
    let codes = |rpc: &str| -> Vec<i64> {
        let mut codes: Vec<i64> = spans
            .iter()
            .filter(|s| s.name == rpc)
            .filter_map(|s| int_attribute(&s.attributes, "rpc.grpc.status_code"))
            .collect();
        codes.sort_unstable();
        codes
    };
    // OK arrives in trailers, UNAUTHENTICATED (16) in a trailers-only response's headers.
    assert_eq!(
        codes("apikeys.v1.IntrospectionService/Introspect"),
        [0, 0, 0, 16]
    );
    assert_eq!(codes("envoy.service.auth.v3.Authorization/Check"), [0, 0]);
    let introspect_client_ids: Vec<&str> = spans
        .iter()
        .filter(|s| s.name == "Introspect")
        .filter_map(|s| string_attribute(&s.attributes, "client_id"))
        .collect();
    assert!(
        introspect_client_ids.contains(&calls.client_id.as_str()),
        "Introspect spans name the client id: {introspect_client_ids:?}"
    );

    collector
        .wait_for("every metric", |r| {
            let names: Vec<&str> = r.metrics().map(|m| m.name.as_str()).collect();
            EXPECTED_METRICS
                .iter()
                .all(|name| names.contains(name))
                .then_some(())
        })
        .await;
    collector
        .wait_for("active outcomes of Introspect and Check", |r| {
            let outcomes = outcome_points(r);
            (outcomes.contains(&("Introspect".into(), "active".into()))
                && outcomes.contains(&("Check".into(), "active".into())))
            .then_some(())
        })
        .await;

    let received = collector.received();
    let resource: Vec<_> = received.resource_attributes().cloned().collect();
    assert_eq!(
        string_attribute(&resource, "service.name"),
        Some(SERVICE_NAME)
    );
    assert_eq!(
        string_attribute(&resource, "deployment.environment.name"),
        Some("blackbox")
    );
    assert_nothing_secret_exported(&received, &calls.secrets);
}

/// (rpc.method, outcome) of every introspection-outcome data point.
fn outcome_points(received: &Received) -> Vec<(String, String)> {
    received
        .metrics()
        .filter(|m| m.name == "apikeys.introspection.outcomes")
        .filter_map(|m| match &m.data {
            Some(Data::Sum(sum)) => Some(&sum.data_points),
            _ => None,
        })
        .flatten()
        .map(|point| {
            let get = |key| string_attribute(&point.attributes, key).unwrap_or_default();
            (get("rpc.method").to_owned(), get("outcome").to_owned())
        })
        .collect()
}

fn assert_nothing_secret_exported(received: &Received, secrets: &Secrets) {
    let dumps = received.dumps();
    assert!(!dumps.is_empty(), "something was exported");
    for (bytes, debug) in &dumps {
        secrets.assert_absent_from(bytes, "an exported request's bytes");
        secrets.assert_absent_from(debug.as_bytes(), "an exported request");
    }
}

async fn buffered_telemetry_is_flushed_on_graceful_shutdown(backend: Backend) {
    let (collector, addr) = Collector::start().await;
    // Nothing is exported for ten minutes: only the flush on exit can deliver this test's data.
    let mut fixture = exporting_server(backend, &format!("http://{addr}"), "600000").await;
    let trace = CallerTrace::random();
    let calls = traced_calls(&fixture, &trace).await;
    assert!(
        collector.received().traces.is_empty(),
        "no span export before the schedule delay"
    );

    let exit = fixture.server.signal_and_wait("TERM", EXIT_TIMEOUT).await;
    assert!(exit.success(), "graceful shutdown exited with {exit}");
    // The exporter waited for the collector's answers before the process exited.
    let received = collector.received();
    assert!(
        complete_trace(&received, &trace).is_some(),
        "every span of the traced calls was flushed on exit"
    );
    let names: Vec<&str> = received.metrics().map(|m| m.name.as_str()).collect();
    assert!(
        names.contains(&"apikeys.rpc.calls"),
        "metrics were flushed on exit: {names:?}"
    );
    assert_nothing_secret_exported(&received, &calls.secrets);
}

async fn trace_level_logs_show_no_secret(backend: Backend) {
    let server = TestServer::builder(backend)
        .env("RUST_LOG", "trace")
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let trace = CallerTrace::random();
    let calls = traced_calls(&fixture, &trace).await;

    let exit = fixture.server.signal_and_wait("TERM", EXIT_TIMEOUT).await;
    assert!(exit.success(), "graceful shutdown exited with {exit}");
    let logs = fixture.server.stderr_after_exit().await;
    // The logs cover the calls: the trace level is on and the new key's spans were logged.
    assert!(logs.contains("TRACE"), "RUST_LOG=trace logs at trace level");
    assert!(
        logs.contains(&calls.client_id),
        "the logs mention the new key's client id"
    );
    assert!(
        logs.contains("rpc finished"),
        "the RPC layer logs each call"
    );
    calls
        .secrets
        .assert_absent_from(logs.as_bytes(), "the server's trace-level logs");
}
