//! Hostile and odd input to the HTTP front: bodies past the 16 KiB cap, huge headers, unknown
//! paths; HTTP/1.1 and HTTP/2 prior knowledge alike; gRPC and HTTP on the same port, down to the
//! same HTTP/2 connection.

use std::net::SocketAddr;
use std::time::Duration;

use apikeys_proto::pb::ListKeysRequest;
use reqwest::Version;
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;

use super::client::{Answer, Http, form_encode};
use super::{Failures, assert_oauth_error, assert_token_answer, company_json, issue_token};
use crate::harness::{Fixture, TestServer};

const CAP: usize = 16 * 1024;

/// Sends `head` and then `body` on a fresh connection, ignoring a write the server cut short,
/// and returns what came back: up to the end of one answer, the server closing, or 10 s.
async fn raw_exchange(addr: SocketAddr, head: String, body: Vec<u8>) -> String {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&body).await;
        }
        writer
    });
    let mut received = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut buffer = [0u8; 8192];
    while !holds_one_answer(&received) {
        match tokio::time::timeout_at(deadline, reader.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
    writing.abort();
    String::from_utf8_lossy(&received).into_owned()
}

/// Whether `bytes` hold a complete HTTP/1.1 answer with a `content-length` body.
fn holds_one_answer(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok());
    length.is_some_and(|length| body.len() >= length)
}

#[tokio::test]
async fn bodies_past_16_kib_are_413() {
    let fixture = Fixture::new(apikeys_test_support::Backend::Sqlite).await;
    let (id, secret) = (&fixture.sentinel_id, &fixture.sentinel_secret);
    // RFC 6749 §3.2: unknown parameters are ignored, so padding leaves a valid request.
    let padded = |len: usize| {
        let form = form_encode(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ]);
        let pad = len - form.len() - "&pad=".len();
        format!("{form}&pad={}", "p".repeat(pad))
    };
    let at_cap = fixture
        .http()
        .post("/auth/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(padded(CAP))
        .send()
        .await;
    assert_token_answer(&at_cap, "a form of exactly 16 KiB");
    for http in [fixture.http(), Http::h2(fixture.server.addr())] {
        let over = http
            .post("/auth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(padded(CAP + 1))
            .send()
            .await;
        assert_oauth_error(
            &over,
            413,
            "invalid_request",
            &format!("16 KiB + 1 over {:?}", over.version),
        );
    }
    // 1 MiB, announced up front: refused, whether or not the server reads it.
    let mib = 1024 * 1024;
    let head = format!(
        "POST /auth/token HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {mib}\r\nconnection: close\r\n\r\n",
        fixture.server.addr()
    );
    let answer = raw_exchange(fixture.server.addr(), head, vec![b' '; mib]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "1 MiB body: {answer:?}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{answer:?}"
    );
    // Chunked, with no length to refuse it by.
    let head = format!(
        "POST /auth/token HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        fixture.server.addr()
    );
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, " ".repeat(64 * 1024));
    let chunked: Vec<u8> = chunk.repeat(16).into_bytes();
    let answer = raw_exchange(fixture.server.addr(), head, chunked).await;
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "1 MiB chunked body: {answer:?}"
    );
    issue_token(&fixture.http(), id, secret).await;
}

#[tokio::test]
async fn huge_headers_are_refused_or_cut_and_the_server_keeps_serving() {
    let mut fixture = Fixture::new(apikeys_test_support::Backend::Sqlite).await;
    let partner = crate::ext_authz::envoy::basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let gateway = fixture.gateway_header();
    for http in [fixture.http(), Http::h2(fixture.server.addr())] {
        for (what, size, may_pass) in [("100 KiB", 100 * 1024, true), ("1 MiB", 1024 * 1024, false)]
        {
            for path in ["/auth/check", "/auth/token", "/livez"] {
                let result = http
                    .get(path)
                    .header("x-gateway-authorization", &gateway)
                    .header("authorization", &partner)
                    .header("cookie", &"c".repeat(size))
                    .try_send()
                    .await;
                let what = format!("a {what} cookie to {path}");
                match result {
                    // Closing the connection is a refusal too.
                    Err(error) => eprintln!("{what}: connection closed ({error})"),
                    Ok(answer) => {
                        assert!(answer.status < 500, "{what}: {answer:?}");
                        assert!(
                            may_pass || matches!(answer.status, 400 | 413 | 431),
                            "{what} was accepted: {answer:?}"
                        );
                    }
                }
            }
        }
        let many = (0..500).fold(http.get("/auth/check"), |req, i| {
            req.header(&format!("x-h{i}"), "v")
        });
        if let Ok(answer) = many.try_send().await {
            assert!(answer.status < 500, "500 headers: {answer:?}");
        }
        fixture.server.assert_running();
        let livez = http.get("/livez").send().await;
        livez.assert_status(200, "livez after huge headers");
    }
    fixture.assert_intact().await;
}

#[tokio::test]
async fn unknown_paths_are_404_not_found() {
    let server = TestServer::start(apikeys_test_support::Backend::Sqlite).await;
    let cases = [
        ("GET", "/"),
        ("GET", "/nope"),
        ("POST", "/auth/tokens"),
        ("GET", "/auth"),
        ("GET", "/.well-known/openid-configuration"),
        ("GET", "/.well-known/jwks.json/extra"),
        ("POST", "/oauth/token"),
        ("GET", "/livez/extra"),
        // Looks like a gRPC method of no service, in a request that is not gRPC. (A path
        // under a served gRPC service belongs to that service: docs/http.md.)
        ("POST", "/apikeys.v1.NoSuchService/Method"),
    ];
    let mut failures = Failures::default();
    for http in [Http::new(server.addr()), Http::h2(server.addr())] {
        for (method, path) in cases {
            let answer = http
                .request(method, path)
                .header("content-type", "application/json")
                .send()
                .await;
            let what = format!("{method} {path} over {:?}", answer.version);
            failures.check(&what, || {
                answer
                    .assert_status(404, &what)
                    .assert_no_store(&what)
                    .assert_json(&json!({"error": "not_found"}), &what);
            });
        }
    }
    failures.assert_none(2 * cases.len());
}

#[tokio::test]
async fn paths_under_a_grpc_service_get_grpc_answers_whatever_the_content_type() {
    let server = TestServer::start(apikeys_test_support::Backend::Sqlite).await;
    for http in [Http::new(server.addr()), Http::h2(server.addr())] {
        let answer = http
            .request("POST", "/apikeys.v1.ApiKeyService/NoSuchMethod")
            .header("content-type", "application/json")
            .send()
            .await;
        let what = format!(
            "unknown method of a served service over {:?}",
            answer.version
        );
        assert_eq!(
            answer.header("content-type"),
            Some("application/grpc"),
            "{what}: {answer:?}"
        );
        assert!(answer.header("grpc-status").is_some(), "{what}: {answer:?}");
    }
}

/// A gRPC frame of an empty message: no compression, length 0.
const EMPTY_GRPC_MESSAGE: [u8; 5] = [0, 0, 0, 0, 0];

#[tokio::test]
async fn grpc_and_http_share_the_port_and_one_http2_connection() {
    let fixture = Fixture::new(apikeys_test_support::Backend::Sqlite).await;
    let addr = fixture.server.addr();
    let h2 = Http::h2(addr);
    // HTTP/2 and HTTP/1.1 on the port of the gRPC services.
    let answer = h2
        .post_json(
            "/auth/token",
            &company_json(&fixture.sentinel_id, &fixture.sentinel_secret),
        )
        .await;
    assert_eq!(answer.version, Version::HTTP_2, "{answer:?}");
    let token = assert_token_answer(&answer, "/auth/token over HTTP/2");
    let introspected = fixture
        .api()
        .introspect_token(&fixture.gateway, &token)
        .await
        .expect("gRPC Introspect of an HTTP token");
    assert!(introspected.active);
    let keys = fixture
        .api()
        .list_keys(&fixture.owner, &fixture.account, 0, "")
        .await
        .expect("gRPC ListKeys next to HTTP");
    assert!(keys.keys.iter().any(|k| k.client_id == fixture.sentinel_id));
    let http1 = fixture.http().get("/readyz").send().await;
    assert_eq!(http1.version, Version::HTTP_11);
    http1.assert_status(200, "HTTP/1.1 /readyz");

    // gRPC health on the same HTTP/2 client (one pooled connection) as the HTTP calls above.
    let health: Answer = h2
        .post("/grpc.health.v1.Health/Check")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(EMPTY_GRPC_MESSAGE.to_vec())
        .send()
        .await;
    health.assert_status(200, "gRPC health over the HTTP client");
    assert!(
        health
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/grpc")),
        "{health:?}"
    );
    // One message: `status: SERVING` (field 1, varint 1).
    assert_eq!(health.body, [0, 0, 0, 0, 2, 0x08, 0x01], "{health:?}");

    // A gRPC call to an unknown service stays UNIMPLEMENTED. (An unknown method of a known
    // service is UNAUTHENTICATED without a caller token: the service's authentication runs
    // first, as before the HTTP front.)
    let mut grpc = tonic::client::Grpc::new(fixture.api().channel());
    grpc.ready().await.expect("channel ready");
    let unknown = grpc
        .unary::<ListKeysRequest, ListKeysRequest, _>(
            tonic::Request::new(ListKeysRequest::default()),
            PathAndQuery::from_static("/apikeys.v1.NoSuchService/NoSuchMethod"),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    assert_eq!(unknown.map(|_| ()).unwrap_err().code(), Code::Unimplemented);
    let raw = h2
        .post("/auth/nothing.Here/Either")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(EMPTY_GRPC_MESSAGE.to_vec())
        .send()
        .await;
    assert_eq!(
        raw.header("grpc-status"),
        Some("12"),
        "gRPC to an unknown path: {raw:?}"
    );
}
