//! `deploy/envoy/envoy.yaml` is parsed and checked against what the server really serves. No
//! Envoy runs here, so this is the guard against the config drifting from the service.

use std::path::Path;

use apikeys_test_support::Backend;
use envoy_types::pb::envoy::service::auth::v3::{CheckRequest, CheckResponse};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Code, Request};
use yaml_rust2::{Yaml, YamlLoader};

use super::envoy::{assert_allowed, basic, http_request};
use crate::harness::{Fixture, bearer, run_apikeys};

/// The method Envoy calls; written out rather than taken from generated code.
const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

fn envoy_config() -> Yaml {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/envoy/envoy.yaml");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "one YAML document");
    docs.remove(0)
}

fn list(yaml: &Yaml) -> &[Yaml] {
    yaml.as_vec()
        .map_or_else(|| panic!("not a list: {yaml:?}"), Vec::as_slice)
}

fn named<'a>(items: &'a Yaml, name: &str) -> &'a Yaml {
    list(items)
        .iter()
        .find(|item| item["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("nothing named {name}"))
}

fn socket_ports(cluster: &Yaml) -> Vec<i64> {
    list(&cluster["load_assignment"]["endpoints"])
        .iter()
        .flat_map(|endpoints| list(&endpoints["lb_endpoints"]))
        .filter_map(|lb| lb["endpoint"]["address"]["socket_address"]["port_value"].as_i64())
        .collect()
}

#[test]
fn envoy_config_points_ext_authz_at_this_service() {
    let config = envoy_config();
    let resources = &config["static_resources"];

    let listener = named(&resources["listeners"], "partner_api");
    assert_eq!(
        listener["address"]["socket_address"]["port_value"].as_i64(),
        Some(8080)
    );
    let manager = named(
        &list(&listener["filter_chains"])[0]["filters"],
        "envoy.filters.network.http_connection_manager",
    );
    let filters = &manager["typed_config"]["http_filters"];
    let names: Vec<_> = list(filters)
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["envoy.filters.http.ext_authz", "envoy.filters.http.router"],
        "ext_authz runs before the router"
    );

    let ext_authz = &named(filters, "envoy.filters.http.ext_authz")["typed_config"];
    assert_eq!(
        ext_authz["@type"].as_str(),
        Some("type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz")
    );
    assert_eq!(ext_authz["transport_api_version"].as_str(), Some("V3"));
    assert_eq!(ext_authz["failure_mode_allow"].as_bool(), Some(false));
    assert_eq!(
        ext_authz["status_on_error"]["code"].as_str(),
        Some("ServiceUnavailable")
    );
    assert_ne!(ext_authz["include_peer_certificate"].as_bool(), Some(true));
    assert!(
        ext_authz["with_request_body"].is_badvalue(),
        "no request body"
    );
    assert!(ext_authz["http_service"].is_badvalue(), "gRPC, not HTTP");
    let grpc = &ext_authz["grpc_service"];
    assert_eq!(grpc["envoy_grpc"]["cluster_name"].as_str(), Some("apikeys"));
    assert_eq!(grpc["timeout"].as_str(), Some("0.25s"));
    let metadata = list(&grpc["initial_metadata"]);
    assert_eq!(metadata.len(), 1);
    assert_eq!(metadata[0]["key"].as_str(), Some("authorization"));
    assert!(
        metadata[0]["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("Bearer ")),
        "the gateway token is sent as `Bearer <token>`"
    );
    let allowed: Vec<_> = list(&ext_authz["allowed_headers"]["patterns"])
        .iter()
        .filter_map(|p| p["exact"].as_str())
        .collect();
    assert_eq!(allowed, ["authorization", "x-api-key"]);

    let apikeys = named(&resources["clusters"], "apikeys");
    assert_eq!(socket_ports(apikeys), [50051]);
    let options = &apikeys["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert!(
        !options["explicit_http_config"]["http2_protocol_options"].is_badvalue(),
        "gRPC needs HTTP/2 to apikeys"
    );
    let health = &list(&apikeys["health_checks"])[0]["grpc_health_check"]["service_name"];
    assert_eq!(health.as_str(), Some("apikeys.v1.IntrospectionService"));

    let upstream = named(&resources["clusters"], "partner_api");
    assert_eq!(socket_ports(upstream), [9000]);
}

/// The port, the health-checked service and the RPC path in the config are the server's own.
#[tokio::test]
async fn envoy_config_matches_the_running_server() {
    let help = run_apikeys(&["serve", "--help"]).await;
    assert!(
        help.success().contains("127.0.0.1:50051"),
        "serve listens on 50051 by default"
    );

    let fixture = Fixture::new(Backend::Sqlite).await;
    assert_eq!(
        fixture
            .api()
            .health("apikeys.v1.IntrospectionService")
            .await
            .expect("health of the service Envoy probes"),
        1,
        "SERVING"
    );

    let mut grpc = tonic::client::Grpc::new(fixture.api().channel());
    grpc.ready().await.expect("channel ready");
    let mut request = Request::new(http_request(&[(
        "authorization",
        &basic(&fixture.sentinel_id, &fixture.sentinel_secret),
    )]));
    request
        .metadata_mut()
        .insert("authorization", bearer(&fixture.gateway));
    let response = grpc
        .unary::<CheckRequest, CheckResponse, _>(
            request,
            PathAndQuery::from_static(CHECK_PATH),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_or_else(|s| panic!("{CHECK_PATH}: {s:?}"))
        .into_inner();
    assert_allowed(
        &response,
        ("x-account-id", "x-client-id"),
        &fixture.account,
        &fixture.sentinel_id,
        &["authorization"],
        CHECK_PATH,
    );

    // The service is not served under any other name.
    let mut grpc = tonic::client::Grpc::new(fixture.api().channel());
    grpc.ready().await.expect("channel ready");
    let wrong = grpc
        .unary::<CheckRequest, CheckResponse, _>(
            Request::new(CheckRequest::default()),
            PathAndQuery::from_static("/envoy.service.auth.v2.Authorization/Check"),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    assert_eq!(wrong.map(|_| ()).unwrap_err().code(), Code::Unimplemented);
}
