//! Requests shaped like the ones Envoy's ext_authz filter sends, and assertions on the answers.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envoy_types::pb::envoy::config::core::v3::address::Address as AddressKind;
use envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier;
use envoy_types::pb::envoy::config::core::v3::{
    Address, HeaderMap, HeaderValue, Metadata, SocketAddress,
};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Peer, Request};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use envoy_types::pb::google::protobuf::Timestamp;
use tonic::Code;

/// `HeaderValueOption.append_action` OVERWRITE_IF_EXISTS_OR_ADD.
const OVERWRITE_IF_EXISTS_OR_ADD: i32 = 2;

fn peer(ip: &str, port: u32) -> Peer {
    Peer {
        address: Some(Address {
            address: Some(AddressKind::SocketAddress(SocketAddress {
                address: ip.into(),
                port_specifier: Some(PortSpecifier::PortValue(port)),
                ..SocketAddress::default()
            })),
        }),
        ..Peer::default()
    }
}

/// What Envoy (`transport_api_version: V3`, `with_request_body` off) sends for
/// `POST https://api.example.com/v1/payments` from a partner, with `headers` added (lower-case
/// names, as Envoy's map has them).
pub fn http_request(headers: &[(&str, &str)]) -> CheckRequest {
    let mut map: HashMap<String, String> = [
        (":authority", "api.example.com"),
        (":method", "POST"),
        (":path", "/v1/payments?limit=10"),
        (":scheme", "https"),
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("content-length", "42"),
        ("user-agent", "partner-sdk/1.2.3"),
        ("x-forwarded-proto", "https"),
        ("x-request-id", "3f1c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (name, value) in headers {
        map.insert((*name).to_owned(), (*value).to_owned());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(peer("203.0.113.7", 53_211)),
            destination: Some(peer("10.0.0.5", 8080)),
            request: Some(Request {
                time: Some(Timestamp {
                    seconds: i64::try_from(now.as_secs()).expect("time fits i64"),
                    nanos: i32::try_from(now.subsec_nanos()).expect("nanos fit i32"),
                }),
                http: Some(HttpRequest {
                    id: "11845960390462227214".into(),
                    method: "POST".into(),
                    headers: map,
                    path: "/v1/payments?limit=10".into(),
                    host: "api.example.com".into(),
                    scheme: "https".into(),
                    size: 42,
                    protocol: "HTTP/1.1".into(),
                    ..HttpRequest::default()
                }),
            }),
            metadata_context: Some(Metadata::default()),
            ..AttributeContext::default()
        }),
    }
}

/// The same request as Envoy sends it with `encode_raw_headers: true`: raw bytes in
/// `header_map`, one entry per header line.
pub fn raw_http_request(headers: &[(&str, &[u8])]) -> CheckRequest {
    let mut request = http_request(&[]);
    let http = request
        .attributes
        .as_mut()
        .and_then(|a| a.request.as_mut())
        .and_then(|r| r.http.as_mut())
        .expect("http request");
    let mut raw: Vec<HeaderValue> = http
        .headers
        .drain()
        .map(|(key, value)| HeaderValue {
            key,
            value: String::new(),
            raw_value: value.into_bytes(),
        })
        .collect();
    raw.extend(headers.iter().map(|(key, value)| HeaderValue {
        key: (*key).to_owned(),
        value: String::new(),
        raw_value: value.to_vec(),
    }));
    http.header_map = Some(HeaderMap { headers: raw });
    request
}

/// `Basic base64(id:secret)`.
pub fn basic(client_id: &str, secret: &str) -> String {
    basic_raw(format!("{client_id}:{secret}").as_bytes())
}

pub fn basic_raw(bytes: &[u8]) -> String {
    format!("Basic {}", STANDARD.encode(bytes))
}

fn grpc_code(response: &CheckResponse) -> Code {
    Code::from(response.status.as_ref().map_or(Code::Ok as i32, |s| s.code))
}

/// Asserts an allow that tells the upstream `account` / `client_id` in `headers`
/// (account header, client header), overwriting client values, and removes `removed`.
#[track_caller]
pub fn assert_allowed(
    response: &CheckResponse,
    headers: (&str, &str),
    account: &str,
    client_id: &str,
    removed: &[&str],
    what: &str,
) {
    assert_eq!(grpc_code(response), Code::Ok, "{what}: {response:?}");
    let Some(HttpResponse::OkResponse(ok)) = &response.http_response else {
        panic!("{what}: no OkHttpResponse in {response:?}");
    };
    let set: Vec<(&str, &str, i32)> = ok
        .headers
        .iter()
        .map(|option| {
            let header = option.header.as_ref().expect("header");
            (
                header.key.as_str(),
                header.value.as_str(),
                option.append_action,
            )
        })
        .collect();
    for (name, value) in [(headers.0, account), (headers.1, client_id)] {
        assert!(
            set.contains(&(name, value, OVERWRITE_IF_EXISTS_OR_ADD)),
            "{what}: {name}: {value} not set (overwriting) in {set:?}"
        );
    }
    for name in removed {
        assert!(
            ok.headers_to_remove.iter().any(|r| r == name),
            "{what}: {name} not removed: {:?}",
            ok.headers_to_remove
        );
    }
    assert!(ok.response_headers_to_add.is_empty(), "{what}");
}

/// Asserts a denial with gRPC `code`, HTTP `http_status`, exactly the header `header` and an
/// empty body, and no reason anywhere.
#[track_caller]
fn assert_denied(
    response: &CheckResponse,
    code: Code,
    http_status: i32,
    header: (&str, &str),
    what: &str,
) {
    assert_eq!(grpc_code(response), code, "{what}: {response:?}");
    let status = response.status.as_ref().expect("status");
    assert!(status.message.is_empty(), "{what}: reason {status:?}");
    assert!(status.details.is_empty(), "{what}: details {status:?}");
    assert!(response.dynamic_metadata.is_none(), "{what}");
    let Some(HttpResponse::DeniedResponse(denied)) = &response.http_response else {
        panic!("{what}: no DeniedHttpResponse in {response:?}");
    };
    assert_eq!(
        denied.status.as_ref().map(|s| s.code),
        Some(http_status),
        "{what}"
    );
    assert_eq!(denied.body, "", "{what}: body");
    let headers: Vec<(&str, &str)> = denied
        .headers
        .iter()
        .filter_map(|option| option.header.as_ref())
        .map(|h| (h.key.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(headers, [header], "{what}: headers");
}

/// 401 with `www-authenticate: Bearer realm="api"` and an empty body.
#[track_caller]
pub fn assert_unauthorized(response: &CheckResponse, what: &str) {
    assert_denied(
        response,
        Code::Unauthenticated,
        401,
        ("www-authenticate", r#"Bearer realm="api""#),
        what,
    );
}

/// 503 with `retry-after: 1` and an empty body.
#[track_caller]
pub fn assert_unavailable(response: &CheckResponse, what: &str) {
    assert_denied(response, Code::Unavailable, 503, ("retry-after", "1"), what);
}

pub fn is_allowed(response: &CheckResponse) -> bool {
    grpc_code(response) == Code::Ok
}

pub fn is_unavailable(response: &CheckResponse) -> bool {
    grpc_code(response) == Code::Unavailable
}
