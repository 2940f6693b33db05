use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::service::auth::v3 as full;
use prost::Message;

use super::*;

fn full_request(
    headers: HashMap<String, String>,
    raw: Vec<core::HeaderValue>,
) -> full::CheckRequest {
    full::CheckRequest {
        attributes: Some(full::AttributeContext {
            source: Some(full::attribute_context::Peer {
                principal: "spiffe://partner".into(),
                ..Default::default()
            }),
            request: Some(full::attribute_context::Request {
                time: Some(envoy_types::pb::google::protobuf::Timestamp {
                    seconds: 1_790_000_000,
                    nanos: 5,
                }),
                http: Some(full::attribute_context::HttpRequest {
                    id: "request-1".into(),
                    method: "POST".into(),
                    path: "/v1/payments".into(),
                    host: "api.example".into(),
                    size: 184,
                    body: "{}".into(),
                    headers,
                    header_map: (!raw.is_empty()).then_some(core::HeaderMap { headers: raw }),
                    ..Default::default()
                }),
            }),
            context_extensions: HashMap::from([("route".into(), "payments".into())]),
            ..Default::default()
        }),
    }
}

fn raw(key: &str, value: &str, raw_value: &[u8]) -> core::HeaderValue {
    core::HeaderValue {
        key: key.into(),
        value: value.into(),
        raw_value: raw_value.to_vec(),
    }
}

type Headers = (HashMap<String, String>, Vec<core::HeaderValue>);

/// The headers as the full envoy-types decode reads them.
fn full_headers(request: &full::CheckRequest) -> Headers {
    let http = request
        .attributes
        .as_ref()
        .and_then(|attributes| attributes.request.as_ref())
        .and_then(|request| request.http.as_ref());
    http.map(|http| {
        let raw = http.header_map.as_ref().map(|map| map.headers.clone());
        (http.headers.clone(), raw.unwrap_or_default())
    })
    .unwrap_or_default()
}

/// The same read through the lean type: map entries last-wins, raw headers in order.
fn lean_headers(bytes: &[u8]) -> Result<Headers, String> {
    let request = CheckRequest::decode(bytes).map_err(|error| error.to_string())?;
    let Some(http) = request.http() else {
        return Ok(Headers::default());
    };
    http.validate().map_err(|invalid| format!("{invalid:?}"))?;
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("validated");
    let map = http
        .map_headers()
        .map(|header| (text(header.key), text(header.value)))
        .collect();
    let raw = http
        .raw_headers()
        .map(|header| core::HeaderValue {
            key: text(header.key),
            value: text(header.value),
            raw_value: header.raw_value.to_vec(),
        })
        .collect();
    Ok((map, raw))
}

fn sample() -> full::CheckRequest {
    full_request(
        HashMap::from([
            ("authorization".to_owned(), "Bearer t".to_owned()),
            ("x-request-id".to_owned(), "r".to_owned()),
            ("x-empty".to_owned(), String::new()),
            ("x-ünïcode".to_owned(), "välue".to_owned()),
        ]),
        vec![
            raw("authorization", "", b"Basic \xff"),
            raw("x-old", "value", b""),
        ],
    )
}

#[test]
fn reads_the_headers_of_envoys_encoding_and_skips_the_rest() {
    let request = sample();
    let lean = lean_headers(&request.encode_to_vec()).expect("lean read");
    assert_eq!(lean, full_headers(&request));
    assert_eq!(lean.0.len(), 4);
    assert_eq!(lean.1.len(), 2);
}

#[test]
fn a_request_sent_in_parts_reads_as_protobuf_merges_it() {
    let first = full_request(
        HashMap::from([("authorization".to_owned(), "Bearer first".to_owned())]),
        vec![raw("x-a", "1", b"")],
    );
    let second = full_request(
        HashMap::from([
            ("authorization".to_owned(), "Bearer last".to_owned()),
            ("x-more".to_owned(), "m".to_owned()),
        ]),
        vec![raw("x-b", "2", b"")],
    );
    let mut bytes = first.encode_to_vec();
    bytes.extend(second.encode_to_vec());
    let merged = full::CheckRequest::decode(bytes.as_slice()).expect("full decodes");
    let lean = lean_headers(&bytes).expect("lean read");
    assert_eq!(lean, full_headers(&merged));
    assert_eq!(lean.0["authorization"], "Bearer last");
    assert_eq!(lean.1.len(), 2);
}

/// Test-only encoders for what envoy-types' `HashMap` cannot say: one key sent twice.
#[derive(Clone, PartialEq, prost::Message)]
struct EntriesOnly {
    #[prost(message, repeated, tag = "3")]
    headers: Vec<Entry>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Entry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

fn with_http(http: Vec<u8>) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: vec![Bytes::from(http)],
            }),
        }),
    }
}

fn entries(pairs: &[(&str, &[u8])]) -> Vec<u8> {
    EntriesOnly {
        headers: pairs
            .iter()
            .map(|(key, value)| Entry {
                key: (*key).to_owned(),
                value: value.to_vec(),
            })
            .collect(),
    }
    .encode_to_vec()
}

#[test]
fn a_repeated_map_key_keeps_its_entries_in_wire_order() {
    let request = with_http(entries(&[
        ("authorization", b"Bearer first"),
        ("authorization", b"Bearer last"),
    ]));
    let bytes = request.encode_to_vec();
    // The full type (a HashMap) keeps the last value; the lean one keeps every entry in
    // wire order, so a lookup taking the last match (`RequestHeaders::get`) agrees.
    let full = full::CheckRequest::decode(bytes.as_slice()).expect("full decodes");
    assert_eq!(full_headers(&full).0["authorization"], "Bearer last");
    let decoded = CheckRequest::decode(bytes.as_slice()).expect("lean decodes");
    let http = decoded.http().expect("http request");
    let values: Vec<&[u8]> = http.map_headers().map(|header| header.value).collect();
    assert_eq!(values, [&b"Bearer first"[..], &b"Bearer last"[..]]);
}

#[test]
fn string_fields_that_are_not_utf8_are_named() {
    let request = with_http(entries(&[("authorization", b"Bearer \xff")]));
    let http = request.http().expect("http request");
    assert_eq!(
        http.validate().map_err(|invalid| invalid.field),
        Err("HttpRequest.headers")
    );
    let map = full::attribute_context::HttpRequest {
        header_map: Some(core::HeaderMap {
            headers: vec![raw("x-\u{e9}", "", b"")],
        }),
        ..Default::default()
    };
    let mut bytes = map.encode_to_vec();
    // Turn the UTF-8 `é` (c3 a9) of the key into a lone continuation byte.
    let at = bytes.iter().position(|&byte| byte == 0xc3).expect("é");
    bytes[at] = 0xa9;
    let request = with_http(bytes);
    assert_eq!(
        request.http().map(|http| http.validate()),
        Some(Err(InvalidHeaders {
            field: "HttpRequest.header_map",
            problem: "invalid string value: data is not UTF-8 encoded",
        }))
    );
}

#[test]
fn a_known_field_with_another_wire_type_is_malformed() {
    // Field 3 (`headers`) as a varint: 3 << 3 | 0.
    let request = with_http(vec![0x18, 0x01]);
    assert_eq!(
        request.http().map(|http| http.validate()),
        Some(Err(InvalidHeaders {
            field: "HttpRequest.headers",
            problem: "malformed protobuf encoding",
        }))
    );
    assert!(full::attribute_context::HttpRequest::decode(&[0x18, 0x01][..]).is_err());
}

/// Every truncation and many corruptions of a real request: whatever the full decode
/// accepts, the lean read accepts too and finds the same headers.
#[test]
fn agrees_with_the_full_decode_on_damaged_input() {
    let bytes = sample().encode_to_vec();
    let mut agreed = 0;
    let mut damaged = Vec::new();
    for end in 0..bytes.len() {
        damaged.push(bytes[..end].to_vec());
    }
    for at in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut copy = bytes.clone();
            copy[at] ^= flip;
            damaged.push(copy);
        }
    }
    for input in &damaged {
        if let Ok(full) = full::CheckRequest::decode(input.as_slice()) {
            assert_eq!(lean_headers(input), Ok(full_headers(&full)), "{input:02x?}");
            agreed += 1;
        }
    }
    // Enough damaged inputs still decode for the comparison to mean something.
    assert!(agreed > 100, "only {agreed} damaged inputs decoded");
}

#[test]
fn a_request_without_http_attributes_has_no_headers() {
    assert!(CheckRequest::default().http().is_none());
    let empty =
        CheckRequest::decode(&full::CheckRequest::default().encode_to_vec()[..]).expect("decodes");
    assert!(empty.http().is_none());
}
