//! Forward auth as the gateways that cannot run here send it, per their documentation and
//! source, and the parts of the answer each one acts on. nginx `auth_request` runs for real in
//! tests/gateways/; here only the shape of its subrequest.

use apikeys_test_support::Backend;

use super::client::Answer;
use super::forward_auth::{assert_allowed, removed_headers};
use crate::ext_authz::envoy::basic;
use crate::harness::Fixture;

backend_suite!(
    traefik_forward_auth,
    caddy_forward_auth,
    envoy_ext_authz_http_service,
    nginx_auth_request_subrequest,
);

/// The original request of a partner behind each gateway.
const ORIGINAL_URI: &str = "/v1/payments?limit=10";

/// What Traefik copies upstream (`authResponseHeaders`) or Caddy (`copy_headers`) on a 2xx.
const COPIED: [&str; 2] = ["x-account-id", "x-client-id"];

/// Whether Traefik / Caddy let the request through: any 2xx. Otherwise they return the auth
/// answer (status, headers, body) to the client as it is.
fn two_xx(answer: &Answer) -> bool {
    (200..300).contains(&answer.status)
}

/// Traefik `forwardAuth` (pkg/middlewares/auth/forward.go): a request to `address` with method
/// GET (or the original one with `preserveRequestMethod: true`), no body (`forwardBody` off), the
/// original headers minus hop-by-hop ones, plus `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`
/// and `-For`. Traefik cannot add a header of its own to the auth request, so it proves itself
/// with `tls.cert`/`tls.key` or a `headers` middleware's `customRequestHeaders` placed before
/// forwardAuth; the latter is what is sent here.
async fn traefik_forward_auth(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let partner = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    for method in ["GET", "POST"] {
        let answer = fixture
            .http()
            .request(method, "/auth/check")
            .header("x-gateway-authorization", &fixture.gateway_header())
            .header("authorization", &partner)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .header("user-agent", "partner-sdk/1.2.3")
            .header("x-forwarded-method", "POST")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "api.example.com")
            .header("x-forwarded-uri", ORIGINAL_URI)
            .header("x-forwarded-for", "203.0.113.7")
            // A partner's own attempt, replaced by authResponseHeaders on a 2xx.
            .header("x-account-id", "globex")
            .send()
            .await;
        let what = format!("Traefik, {method}");
        assert!(two_xx(&answer), "{what}: {answer:?}");
        assert_allowed(
            &answer,
            "acme",
            &fixture.sentinel_id,
            &["authorization"],
            &what,
        );
        for name in COPIED {
            assert!(
                answer.header(name).is_some(),
                "{what}: {name} to copy: {answer:?}"
            );
        }
    }
    let denied = fixture
        .http()
        .get("/auth/check")
        .header("x-gateway-authorization", &fixture.gateway_header())
        .header("authorization", &basic(&fixture.sentinel_id, "aks_wrong"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", ORIGINAL_URI)
        .send()
        .await;
    assert!(
        !two_xx(&denied),
        "Traefik lets a wrong secret through: {denied:?}"
    );
    // Traefik returns this to the partner verbatim: the challenge, and no reason.
    assert_eq!(denied.status, 401, "{denied:?}");
    assert_eq!(
        denied.header("www-authenticate"),
        Some(r#"Basic realm="api""#)
    );
    assert!(denied.body.is_empty(), "{denied:?}");
}

/// Caddy `forward_auth` (caddyserver.com/docs/caddyfile/directives/forward_auth): a
/// `reverse_proxy` with `method GET`, `rewrite <uri>` (here `uri /auth/check`), the original
/// headers plus `X-Forwarded-For`/`-Proto`/`-Host` (reverse_proxy's own) and `header_up
/// X-Forwarded-Method {method}`, `X-Forwarded-Uri {uri}`; any reverse_proxy subdirective works,
/// so `header_up x-gateway-authorization "Bearer …"` proves the gateway. On a 2xx it copies
/// `copy_headers` into the original request.
async fn caddy_forward_auth(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let pair = format!("{}:{}", fixture.sentinel_id, fixture.sentinel_secret);
    let answer = fixture
        .http()
        .get("/auth/check")
        .header("x-gateway-authorization", &fixture.gateway_header())
        .header("x-api-key", &pair)
        .header("accept", "*/*")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "api.example.com")
        .header("x-forwarded-method", "DELETE")
        .header("x-forwarded-uri", "/v1/payments/42")
        .send()
        .await;
    assert!(two_xx(&answer), "Caddy: {answer:?}");
    assert_allowed(
        &answer,
        "acme",
        &fixture.sentinel_id,
        &["authorization", "x-api-key"],
        "Caddy with an API key",
    );
    let denied = fixture
        .http()
        .get("/auth/check")
        .header("x-gateway-authorization", &fixture.gateway_header())
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/v1/payments")
        .send()
        .await;
    assert!(
        !two_xx(&denied),
        "Caddy lets a request without credentials through"
    );
    assert_eq!(
        denied.header("www-authenticate"),
        Some(r#"Bearer realm="api""#),
        "{denied:?}"
    );
}

/// Envoy `ext_authz` with `http_service`: the original method, `path_prefix` + the original
/// path, the headers `authorization_request.allowed_headers` lets through (Authorization,
/// Host and Content-Length always) plus `authorization_request.headers_to_add` (the gateway's
/// proof), no body unless `with_request_body`. Only exactly 200 allows; then
/// `allowed_upstream_headers` copies the identity and `x-envoy-auth-headers-to-remove` removes
/// the credentials from the upstream request. Envoy talks HTTP/1.1 to such a cluster unless it
/// is configured for HTTP/2, so both are sent.
async fn envoy_ext_authz_http_service(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let partner = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    for http in [fixture.http(), super::Http::h2(fixture.server.addr())] {
        for method in ["GET", "POST", "PATCH", "OPTIONS"] {
            let answer = http
                .request(method, &format!("/auth/check{ORIGINAL_URI}"))
                .header("x-gateway-authorization", &fixture.gateway_header())
                .header("authorization", &partner)
                .header("content-length", "0")
                .header("x-forwarded-proto", "https")
                .header("x-request-id", "3f1c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f")
                .header("x-envoy-expected-rq-timeout-ms", "200")
                .send()
                .await;
            let what = format!("Envoy HTTP service, {method} over {:?}", answer.version);
            assert_eq!(
                answer.status, 200,
                "{what}: only exactly 200 allows: {answer:?}"
            );
            assert_allowed(
                &answer,
                "acme",
                &fixture.sentinel_id,
                &["authorization"],
                &what,
            );
            assert_eq!(removed_headers(&answer), ["authorization"], "{what}");
        }
    }
    let denied = fixture
        .http()
        .post(&format!("/auth/check{ORIGINAL_URI}"))
        .header("x-gateway-authorization", &fixture.gateway_header())
        .header("authorization", "Bearer expired-or-garbage")
        .header("content-length", "0")
        .send()
        .await;
    // Envoy sends a denial's status and headers (WWW-Authenticate is let through by default)
    // to the partner.
    assert_eq!(denied.status, 401, "{denied:?}");
    assert_eq!(
        denied.header("www-authenticate"),
        Some(r#"Bearer realm="api""#)
    );
}

/// nginx `auth_request /auth-check` with `location = /auth-check { internal; proxy_pass
/// http://apikeys/auth/check; proxy_pass_request_body off; proxy_set_header Content-Length "";
/// proxy_set_header X-Original-URI $request_uri; proxy_set_header x-gateway-authorization …; }`:
/// a GET subrequest without body carrying the original headers. nginx acts on 2xx (allow), 401
/// and 403 (deny with that status); `auth_request_set` reads the identity headers.
async fn nginx_auth_request_subrequest(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let partner = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let subrequest = |authorization: String| {
        fixture
            .http()
            .get("/auth/check")
            .header("host", "api.example.com")
            .header("x-original-uri", ORIGINAL_URI)
            .header("x-gateway-authorization", &fixture.gateway_header())
            .header("authorization", &authorization)
            .header("connection", "close")
            .send()
    };
    let allowed = subrequest(partner).await;
    assert_allowed(
        &allowed,
        "acme",
        &fixture.sentinel_id,
        &["authorization"],
        "nginx subrequest",
    );
    let denied = subrequest(basic(&fixture.sentinel_id, "aks_wrong")).await;
    assert_eq!(
        denied.status, 401,
        "nginx maps only 401 and 403 to a denial: {denied:?}"
    );
}
