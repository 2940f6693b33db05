//! The HTTP-front gateway configurations that no gateway runs here: Envoy's ext_authz in HTTP
//! mode and its jwt_authn variant (`deploy/envoy/`), and Traefik's forwardAuth
//! (`deploy/traefik/`). They parse and name the routes and headers of docs/http.md. nginx and
//! Caddy run their files for real in `tests/gateways/run.sh`.

use std::path::Path;

use yaml_rust2::Yaml;

use super::files::{scalar, strings, yaml};

const PORT: i64 = 50051;

fn docs_http() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/http.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every string the configurations rely on is one docs/http.md names.
fn documented(items: &[&str]) {
    let docs = docs_http();
    for item in items {
        assert!(docs.contains(item), "docs/http.md does not mention {item}");
    }
}

fn list(node: &Yaml) -> &[Yaml] {
    node.as_vec()
        .map_or_else(|| panic!("not a list: {node:?}"), Vec::as_slice)
}

/// The HTTP filters of the one listener, by name, in order.
fn http_filters(config: &Yaml) -> Vec<(String, Yaml)> {
    let listener = &list(&config["static_resources"]["listeners"])[0];
    let manager = &list(&list(&listener["filter_chains"])[0]["filters"])[0];
    list(&manager["typed_config"]["http_filters"])
        .iter()
        .map(|f| (scalar(&f["name"], "filter name"), f["typed_config"].clone()))
        .collect()
}

fn filter<'a>(filters: &'a [(String, Yaml)], name: &str) -> &'a Yaml {
    &filters
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no filter {name}"))
        .1
}

fn exact_patterns(node: &Yaml) -> Vec<String> {
    list(&node["patterns"])
        .iter()
        .map(|p| scalar(&p["exact"], "exact pattern"))
        .collect()
}

fn apikeys_port(config: &Yaml) -> i64 {
    let cluster = list(&config["static_resources"]["clusters"])
        .iter()
        .find(|c| c["name"].as_str() == Some("apikeys"))
        .expect("an apikeys cluster");
    let endpoint = &list(&list(&cluster["load_assignment"]["endpoints"])[0]["lb_endpoints"])[0];
    endpoint["endpoint"]["address"]["socket_address"]["port_value"]
        .as_i64()
        .expect("port")
}

#[test]
fn envoy_http_ext_authz_asks_the_forward_auth_route() {
    let config = yaml("envoy/envoy-http-ext-authz.yaml");
    let filters = http_filters(&config);
    let names: Vec<_> = filters.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["envoy.filters.http.ext_authz", "envoy.filters.http.router"]
    );
    let ext_authz = filter(&filters, "envoy.filters.http.ext_authz");
    assert!(ext_authz["grpc_service"].is_badvalue(), "HTTP, not gRPC");
    let http = &ext_authz["http_service"];
    assert_eq!(http["server_uri"]["cluster"].as_str(), Some("apikeys"));
    assert_eq!(http["path_prefix"].as_str(), Some("/auth/check"));
    let added = list(&http["authorization_request"]["headers_to_add"]);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["key"].as_str(), Some("x-gateway-authorization"));
    assert!(
        scalar(&added[0]["value"], "value").starts_with("Bearer "),
        "the gateway token is sent as `Bearer <token>`"
    );
    let response = &http["authorization_response"];
    assert_eq!(
        exact_patterns(&response["allowed_upstream_headers"]),
        ["x-account-id", "x-client-id"]
    );
    assert_eq!(
        exact_patterns(&ext_authz["allowed_headers"]),
        ["authorization", "x-api-key"]
    );
    assert_eq!(ext_authz["failure_mode_allow"].as_bool(), Some(false));
    assert_eq!(
        ext_authz["status_on_error"]["code"].as_str(),
        Some("ServiceUnavailable")
    );
    assert!(ext_authz["with_request_body"].is_badvalue(), "no body");
    assert_eq!(apikeys_port(&config), PORT);
    documented(&[
        "`/auth/check/{*path}`",
        "`x-gateway-authorization`",
        "`x-account-id`",
        "`x-client-id`",
        "`x-api-key`",
        "`GET /readyz`",
    ]);
}

#[test]
fn envoy_jwt_authn_validates_against_the_published_jwks() {
    let config = yaml("envoy/envoy-jwt-authn.yaml");
    let filters = http_filters(&config);
    let names: Vec<_> = filters.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.header_mutation",
            "envoy.filters.http.jwt_authn",
            "envoy.filters.http.router"
        ],
        "the client's identity headers are removed before jwt_authn adds the real ones"
    );
    let removed: Vec<_> = list(
        &filter(&filters, "envoy.filters.http.header_mutation")["mutations"]["request_mutations"],
    )
    .iter()
    .map(|m| scalar(&m["remove"], "remove"))
    .collect();
    assert_eq!(removed, ["x-account-id", "x-client-id"]);

    let jwt = filter(&filters, "envoy.filters.http.jwt_authn");
    let provider = &jwt["providers"]["apikeys"];
    let issuer = scalar(&provider["issuer"], "issuer");
    let jwks = &provider["remote_jwks"];
    assert_eq!(
        scalar(&jwks["http_uri"]["uri"], "uri"),
        format!("{issuer}/.well-known/jwks.json")
    );
    assert_eq!(jwks["http_uri"]["cluster"].as_str(), Some("apikeys"));
    let cache: u64 = scalar(&jwks["cache_duration"], "cache_duration")
        .strip_suffix('s')
        .and_then(|secs| secs.parse().ok())
        .expect("cache_duration in seconds");
    assert!(
        cache <= 900,
        "cache_duration {cache} s exceeds --token-key-publish-ahead-secs' default (900 s)"
    );
    assert_eq!(provider["forward"].as_bool(), Some(false));
    let claims: Vec<_> = list(&provider["claim_to_headers"])
        .iter()
        .map(|c| {
            (
                scalar(&c["claim_name"], "claim"),
                scalar(&c["header_name"], "header"),
            )
        })
        .collect();
    assert_eq!(
        claims,
        [
            ("account_id".to_owned(), "x-account-id".to_owned()),
            ("sub".to_owned(), "x-client-id".to_owned())
        ]
    );
    let rule = &list(&jwt["rules"])[0];
    assert_eq!(rule["match"]["prefix"].as_str(), Some("/"));
    assert_eq!(rule["requires"]["provider_name"].as_str(), Some("apikeys"));
    assert_eq!(apikeys_port(&config), PORT);
    documented(&[
        "`GET /.well-known/jwks.json`",
        "`account_id`",
        "`sub` = client id",
    ]);
}

#[test]
fn traefik_forward_auth_chain() {
    let config = yaml("traefik/apikeys-gateway.yml");
    let http = &config["http"];
    assert_eq!(
        strings(
            &http["routers"]["partner-api"]["middlewares"],
            "middlewares"
        ),
        [
            "apikeys-gateway-token",
            "apikeys-auth",
            "apikeys-strip-credentials"
        ],
        "the token is set before forwardAuth, the credentials removed after it"
    );
    let middlewares = &http["middlewares"];
    let token = scalar(
        &middlewares["apikeys-gateway-token"]["headers"]["customRequestHeaders"]["X-Gateway-Authorization"],
        "X-Gateway-Authorization",
    );
    assert!(token.starts_with("Bearer "), "{token}");
    let auth = &middlewares["apikeys-auth"]["forwardAuth"];
    assert_eq!(
        auth["address"].as_str(),
        Some(format!("http://apikeys:{PORT}/auth/check").as_str())
    );
    assert_eq!(auth["trustForwardHeader"].as_bool(), Some(false));
    assert_eq!(
        strings(&auth["authRequestHeaders"], "authRequestHeaders"),
        ["Authorization", "X-Api-Key", "X-Gateway-Authorization"]
    );
    assert_eq!(
        strings(&auth["authResponseHeaders"], "authResponseHeaders"),
        ["X-Account-Id", "X-Client-Id"]
    );
    let strip = &middlewares["apikeys-strip-credentials"]["headers"]["customRequestHeaders"];
    for header in ["Authorization", "X-Api-Key", "X-Gateway-Authorization"] {
        assert_eq!(strip[header].as_str(), Some(""), "{header} is removed");
    }
}
