//! Envoy's `envoy.service.auth.v3.Authorization/Check`, served with a request type that reads
//! only what a credential check needs.
//!
//! A `CheckRequest` carries the partner's whole HTTP request: peers, TLS session, metadata and
//! every header. envoy-types' full type decodes all of it, with a `String` per name and value
//! and a SipHash insert per header; on the gateway's hot path that was an eighth of the
//! server's CPU per Check. The types here declare only the fields on the path to the headers,
//! with Envoy's field numbers (so they read the same bytes). prost skips every other field.
//! Header names and values are slices of the received buffer, not copies. Their UTF-8, which a
//! `string` field must have, is checked by [`HttpRequest::validate_utf8`], not while decoding.
//!
//! Responses are envoy-types' own `CheckResponse`.

use bytes::Bytes;

pub use envoy_types::pb::envoy::service::auth::v3::CheckResponse;

/// The generated server: `authorization_server::{Authorization, AuthorizationServer}`.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/envoy.service.auth.v3.Authorization.rs"));
}

pub use generated::authorization_server;

/// `envoy.service.auth.v3.CheckRequest`: only `attributes`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CheckRequest {
    #[prost(message, optional, tag = "1")]
    pub attributes: Option<AttributeContext>,
}

/// `envoy.service.auth.v3.AttributeContext`: only `request`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeContext {
    #[prost(message, optional, tag = "4")]
    pub request: Option<Request>,
}

/// `AttributeContext.Request`: only `http`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(message, optional, tag = "2")]
    pub http: Option<HttpRequest>,
}

/// `AttributeContext.HttpRequest`: only the two header encodings.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRequest {
    /// `map<string, string> headers = 3`. A map is a repeated entry message on the wire; in
    /// declaration order, so a key sent twice is read as protobuf says: the last one wins.
    #[prost(message, repeated, tag = "3")]
    pub headers: Vec<HeaderEntry>,
    /// `header_map = 13`, which Envoy sends instead with `encode_raw_headers: true`.
    #[prost(message, optional, tag = "13")]
    pub header_map: Option<HeaderMap>,
}

/// One entry of the `headers` map.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderEntry {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `envoy.config.core.v3.HeaderMap`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderMap {
    #[prost(message, repeated, tag = "1")]
    pub headers: Vec<HeaderValue>,
}

/// `envoy.config.core.v3.HeaderValue`: `key` and `value` are strings, `raw_value` bytes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeaderValue {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub raw_value: Bytes,
}

/// A header field that Envoy declares a `string` holds bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8 {
    /// `HttpRequest.headers` or `HttpRequest.header_map`.
    pub field: &'static str,
}

impl CheckRequest {
    /// The HTTP request, if Envoy sent one.
    pub fn http(&self) -> Option<&HttpRequest> {
        self.attributes.as_ref()?.request.as_ref()?.http.as_ref()
    }
}

impl HttpRequest {
    /// The raw headers (`header_map`), empty when Envoy sent the `headers` map.
    pub fn raw_headers(&self) -> &[HeaderValue] {
        self.header_map
            .as_ref()
            .map_or(&[][..], |map| map.headers.as_slice())
    }

    /// What a full protobuf decoder would have refused: a header name or value declared
    /// `string` that is not UTF-8 (`raw_value` is `bytes` and may hold anything).
    pub fn validate_utf8(&self) -> Result<(), NotUtf8> {
        // Headers are nearly always ASCII, which is checked a word at a time: half the cost of
        // `from_utf8` on values this short.
        let utf8 = |bytes: &Bytes| bytes.is_ascii() || std::str::from_utf8(bytes).is_ok();
        if !self
            .headers
            .iter()
            .all(|entry| utf8(&entry.key) && utf8(&entry.value))
        {
            return Err(NotUtf8 {
                field: "HttpRequest.headers",
            });
        }
        if !self
            .raw_headers()
            .iter()
            .all(|header| utf8(&header.key) && utf8(&header.value))
        {
            return Err(NotUtf8 {
                field: "HttpRequest.header_map",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
                    time: None,
                    http: Some(full::attribute_context::HttpRequest {
                        id: "request-1".into(),
                        method: "POST".into(),
                        path: "/v1/payments".into(),
                        host: "api.example".into(),
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

    fn lean(full: &full::CheckRequest) -> CheckRequest {
        CheckRequest::decode(full.encode_to_vec().as_slice()).expect("decodes")
    }

    #[test]
    fn reads_the_headers_of_envoys_encoding_and_skips_the_rest() {
        let headers = HashMap::from([
            ("authorization".to_owned(), "Bearer t".to_owned()),
            ("x-request-id".to_owned(), "r".to_owned()),
        ]);
        let request = lean(&full_request(headers.clone(), Vec::new()));
        let http = request.http().expect("http request");
        let read: HashMap<String, String> = http
            .headers
            .iter()
            .map(|entry| {
                (
                    String::from_utf8(entry.key.to_vec()).unwrap_or_default(),
                    String::from_utf8(entry.value.to_vec()).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(read, headers);
        assert!(http.raw_headers().is_empty());
        assert_eq!(http.validate_utf8(), Ok(()));
    }

    #[test]
    fn reads_raw_headers() {
        let raw = vec![core::HeaderValue {
            key: "authorization".into(),
            value: String::new(),
            raw_value: b"Bearer \xff".to_vec(),
        }];
        let request = lean(&full_request(HashMap::new(), raw));
        let http = request.http().expect("http request");
        let header = &http.raw_headers()[0];
        assert_eq!(&header.key[..], b"authorization");
        assert_eq!(&header.raw_value[..], b"Bearer \xff");
        // raw_value is `bytes`: anything goes there.
        assert_eq!(http.validate_utf8(), Ok(()));
    }

    #[test]
    fn a_repeated_map_key_keeps_its_entries_in_wire_order() {
        let entry = |value: &str| HeaderEntry {
            key: Bytes::from_static(b"authorization"),
            value: Bytes::copy_from_slice(value.as_bytes()),
        };
        let request = CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    http: Some(HttpRequest {
                        headers: vec![entry("Bearer first"), entry("Bearer last")],
                        header_map: None,
                    }),
                }),
            }),
        };
        let bytes = request.encode_to_vec();
        // The full type (a HashMap) keeps the last value; the lean one keeps every entry in
        // wire order, so a lookup taking the last match (`RequestHeaders::get`) agrees.
        let full = full::CheckRequest::decode(bytes.as_slice()).expect("full decodes");
        let full_value = full
            .attributes
            .and_then(|attributes| attributes.request)
            .and_then(|request| request.http)
            .and_then(|http| http.headers.get("authorization").cloned());
        assert_eq!(full_value.as_deref(), Some("Bearer last"));
        let decoded = CheckRequest::decode(bytes.as_slice()).expect("lean decodes");
        let values: Vec<&[u8]> = decoded
            .http()
            .map(|http| http.headers.iter().map(|entry| &entry.value[..]).collect())
            .unwrap_or_default();
        assert_eq!(values, [&b"Bearer first"[..], &b"Bearer last"[..]]);
    }

    #[test]
    fn string_fields_that_are_not_utf8_are_named() {
        let mut http = HttpRequest {
            headers: vec![HeaderEntry {
                key: Bytes::from_static(b"authorization"),
                value: Bytes::from_static(b"Bearer \xff"),
            }],
            header_map: None,
        };
        assert_eq!(
            http.validate_utf8(),
            Err(NotUtf8 {
                field: "HttpRequest.headers"
            })
        );
        http.headers.clear();
        http.header_map = Some(HeaderMap {
            headers: vec![HeaderValue {
                key: Bytes::from_static(b"x-\xff"),
                value: Bytes::new(),
                raw_value: Bytes::new(),
            }],
        });
        assert_eq!(
            http.validate_utf8(),
            Err(NotUtf8 {
                field: "HttpRequest.header_map"
            })
        );
    }

    #[test]
    fn a_request_without_http_attributes_has_no_headers() {
        assert!(CheckRequest::default().http().is_none());
        let empty = lean(&full::CheckRequest::default());
        assert!(empty.http().is_none());
    }
}
