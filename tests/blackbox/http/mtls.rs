//! The HTTP routes under `--tls-cert` with mutual TLS: an allowed gateway certificate replaces
//! the caller token of `/oauth/introspect` and the `x-gateway-authorization` of `/auth/check`;
//! another certificate does not. Requests go over HTTP/2 (ALPN `h2`) on a tonic channel, which
//! is an HTTP client like any other.

use std::pin::Pin;

use serde_json::Value;
use tonic::codegen::{Body as _, Service as _, http};
use tonic::transport::Channel;

use crate::ext_authz::envoy::basic;
use crate::harness::{Api, Fixture, TestCa, TestServer, tls_channel};

const GATEWAY_SUBJECT: &str = "gateway.internal";

/// A whole answer over a tonic channel.
struct TlsAnswer {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl TlsAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{} body is not JSON ({e}): {:?}", self.status, self.body))
    }
}

/// Sends `method path` with `headers` and `body` on `channel`, reads the whole answer.
async fn send(
    channel: &Channel,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TlsAnswer {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(tonic::body::Body::new(body.to_owned()))
        .expect("request");
    let mut channel = channel.clone();
    std::future::poll_fn(|cx| channel.poll_ready(cx))
        .await
        .expect("channel ready");
    let response = channel.call(request).await.expect("an HTTP answer");
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.expect("body frame").into_data() {
            bytes.extend_from_slice(&data);
        }
    }
    TlsAnswer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: bytes,
    }
}

/// A TLS server requiring client certificates from `ca`, allowing `GATEWAY_SUBJECT`, with
/// `acme` enabled and the sentinel key made over TLS.
async fn mtls_fixture(ca: &TestCa) -> Fixture {
    let cert = ca.server_cert();
    let (cert_file, key_file) = (
        cert.cert_file.display().to_string(),
        cert.key_file.display().to_string(),
    );
    let ca_file = ca.cert_file().display().to_string();
    let server = TestServer::builder(apikeys_test_support::Backend::Sqlite)
        .args(&[
            "--tls-cert",
            &cert_file,
            "--tls-key",
            &key_file,
            "--tls-client-ca",
            &ca_file,
            "--tls-client-allowed-subject",
            GATEWAY_SUBJECT,
        ])
        .start()
        .await;
    // The fixture's gRPC calls go through the harness's plaintext channel, which a TLS server
    // refuses; so the fixture is made over TLS by hand.
    let api = Api::from_channel(tls_channel(server.addr(), ca, None).await.expect("tls"));
    let tokens = server.tokens().clone();
    api.set_api_access(&tokens.staff(), "acme", true)
        .await
        .expect("enable acme");
    let sentinel = api
        .create_key(&tokens.owner("acme"), "acme", "sentinel@acme.test")
        .await
        .expect("CreateKey");
    Fixture {
        server,
        account: "acme".into(),
        owner: tokens.owner("acme"),
        staff: tokens.staff(),
        gateway: tokens.gateway(),
        sentinel_id: sentinel.key.expect("key").client_id,
        sentinel_secret: sentinel.client_secret,
    }
}

#[tokio::test]
async fn an_allowed_gateway_certificate_stands_in_for_the_caller_token() {
    let ca = TestCa::new("apikeys test CA");
    let fixture = mtls_fixture(&ca).await;
    let gateway_cert = ca.client_cert(GATEWAY_SUBJECT);
    let gateway = tls_channel(fixture.server.addr(), &ca, Some(&gateway_cert))
        .await
        .expect("mTLS connect");
    let form = "application/x-www-form-urlencoded";
    let token_body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        fixture.sentinel_id, fixture.sentinel_secret
    );
    let issued = send(
        &gateway,
        "POST",
        "/auth/token",
        &[("content-type", form)],
        &token_body,
    )
    .await;
    assert_eq!(issued.status, 200, "{:?}", issued.json());
    let token = issued.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();

    let introspected = send(
        &gateway,
        "POST",
        "/oauth/introspect",
        &[("content-type", form)],
        &format!("token={token}"),
    )
    .await;
    assert_eq!(introspected.status, 200, "{:?}", introspected.json());
    let body = introspected.json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], fixture.sentinel_id.as_str(), "{body}");

    let partner = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let check = send(
        &gateway,
        "GET",
        "/auth/check",
        &[("authorization", &partner)],
        "",
    )
    .await;
    assert_eq!(
        check.status, 200,
        "forward auth by certificate: {:?}",
        check.headers
    );
    assert_eq!(check.header("x-account-id"), Some("acme"));
    assert_eq!(
        check.header("x-client-id"),
        Some(fixture.sentinel_id.as_str())
    );
    assert!(check.body.is_empty());

    // The default public URL of a TLS server is https.
    let metadata = send(
        &gateway,
        "GET",
        "/.well-known/oauth-authorization-server",
        &[],
        "",
    )
    .await;
    assert_eq!(
        metadata.json()["token_endpoint"],
        format!("https://{}/auth/token", fixture.server.addr())
    );
}

#[tokio::test]
async fn another_client_certificate_is_no_gateway() {
    let ca = TestCa::new("apikeys test CA");
    let fixture = mtls_fixture(&ca).await;
    let intruder_cert = ca.client_cert("intruder.internal");
    let intruder = tls_channel(fixture.server.addr(), &ca, Some(&intruder_cert))
        .await
        .expect("mTLS connect");
    let introspected = send(
        &intruder,
        "POST",
        "/oauth/introspect",
        &[("content-type", "application/x-www-form-urlencoded")],
        "token=anything",
    )
    .await;
    assert_eq!(introspected.status, 401);
    assert_eq!(introspected.json()["error"], "invalid_token");
    let partner = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let check = send(
        &intruder,
        "GET",
        "/auth/check",
        &[("authorization", &partner)],
        "",
    )
    .await;
    assert_eq!(check.status, 403, "{:?}", check.headers);
    assert!(check.body.is_empty());
    assert!(check.header("x-account-id").is_none());
    // With the gateway's caller token it is a gateway again.
    let gateway_header = format!("Bearer {}", fixture.gateway);
    let check = send(
        &intruder,
        "GET",
        "/auth/check",
        &[
            ("authorization", &partner),
            ("x-gateway-authorization", &gateway_header),
        ],
        "",
    )
    .await;
    assert_eq!(check.status, 200, "{:?}", check.headers);
}
