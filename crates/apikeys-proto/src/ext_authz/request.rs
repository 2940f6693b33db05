//! Envoy's `CheckRequest`, read only as far as a credential check needs.
//!
//! A `CheckRequest` carries the partner's whole HTTP request: peers, TLS session, metadata and
//! every header. The prost types here declare only the path to the HTTP request, with Envoy's
//! field numbers (so they read the same bytes); prost skips every other field. The HTTP request
//! itself stays encoded: [`HttpRequest`] walks its header fields in place.
//!
//! Why: envoy-types' full decode took an eighth of the server's CPU per Check (a `String` per
//! header name and value, a SipHash insert per header). Decoding the headers into prost structs
//! of `Bytes` still cost about 1.5 µs of the ~49 µs per Check (perf, 2-core AMD EPYC VM), most
//! of it growing the header vector and counting references to the slices. Walking the fields
//! in place allocates nothing.

use bytes::Bytes;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

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

/// `AttributeContext.Request`: only `http`, as the bytes of each time it occurs. A message field
/// sent more than once is merged, which reads as the concatenation of its parts.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub http: Vec<Bytes>,
}

impl CheckRequest {
    /// The HTTP request, if Envoy sent one.
    pub fn http(&self) -> Option<HttpRequest<'_>> {
        let request = self.attributes.as_ref()?.request.as_ref()?;
        (!request.http.is_empty()).then_some(HttpRequest {
            parts: &request.http,
        })
    }
}

/// `AttributeContext.HttpRequest`, still encoded. [`validate`](Self::validate) it once: the
/// header iterators stop quietly at anything malformed.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    parts: &'a [Bytes],
}

/// One entry of `HttpRequest.headers` (`map<string, string>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MapHeader<'a> {
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// One `envoy.config.core.v3.HeaderValue` of `HttpRequest.header_map`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawHeader<'a> {
    pub key: &'a [u8],
    /// A `string`, set by older Envoys.
    pub value: &'a [u8],
    /// `bytes`: any octets, as the client sent them.
    pub raw_value: &'a [u8],
}

/// What a protobuf decoder would have refused in the HTTP request's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidHeaders {
    /// `HttpRequest.headers` or `HttpRequest.header_map`.
    pub field: &'static str,
    pub problem: &'static str,
}

/// `HttpRequest.headers` and `HttpRequest.header_map`.
const MAP_HEADERS: u32 = 3;
const HEADER_MAP: u32 = 13;
/// `HeaderMap.headers`.
const HEADER_MAP_HEADERS: u32 = 1;
/// Map entry `key`/`value`; `HeaderValue` `key`/`value`/`raw_value`.
const KEY: u32 = 1;
const VALUE: u32 = 2;
const RAW_VALUE: u32 = 3;

impl<'a> HttpRequest<'a> {
    /// Every header string must be UTF-8 (`raw_value` is `bytes` and may hold anything), and
    /// the fields on the way to them must be well-formed protobuf.
    pub fn validate(&self) -> Result<(), InvalidHeaders> {
        self.validate_visiting(|_| {})
    }

    /// [`HttpRequest::validate`], handing every entry of the `headers` map to `visit` in wire
    /// order on the way, so a caller can look its headers up in the same pass. On an error,
    /// entries already visited are no less invalid: discard what was gathered.
    pub fn validate_visiting(
        &self,
        mut visit: impl FnMut(MapHeader<'a>),
    ) -> Result<(), InvalidHeaders> {
        const MAP: &str = "HttpRequest.headers";
        const RAW: &str = "HttpRequest.header_map";
        let malformed = |field| InvalidHeaders {
            field,
            problem: "malformed protobuf encoding",
        };
        let not_utf8 = |field| InvalidHeaders {
            field,
            problem: "invalid string value: data is not UTF-8 encoded",
        };
        for part in self.parts {
            for field in Fields::new(part) {
                match field.map_err(|()| malformed("HttpRequest"))? {
                    (MAP_HEADERS, value) => {
                        let header = value.and_then(map_header).ok_or(malformed(MAP))?;
                        if !utf8(header.key) || !utf8(header.value) {
                            return Err(not_utf8(MAP));
                        }
                        visit(header);
                    }
                    (HEADER_MAP, value) => {
                        for entry in Fields::new(value.ok_or(malformed(RAW))?) {
                            if let (HEADER_MAP_HEADERS, value) =
                                entry.map_err(|()| malformed(RAW))?
                            {
                                let header = value.and_then(raw_header).ok_or(malformed(RAW))?;
                                if !utf8(header.key) || !utf8(header.value) {
                                    return Err(not_utf8(RAW));
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// The `headers` map's entries in wire order (a key sent twice appears twice; protobuf
    /// reads the last one).
    pub fn map_headers(self) -> impl Iterator<Item = MapHeader<'a>> {
        self.fields()
            .filter_map(|(tag, value)| (tag == MAP_HEADERS).then_some(value).flatten())
            .map_while(map_header)
    }

    /// The entries of `header_map`, which Envoy sends instead with `encode_raw_headers: true`.
    pub fn raw_headers(self) -> impl Iterator<Item = RawHeader<'a>> {
        self.fields()
            .filter_map(|(tag, value)| (tag == HEADER_MAP).then_some(value).flatten())
            .flat_map(|map| {
                Fields::new(map)
                    .map_while(Result::ok)
                    .filter_map(|(tag, value)| {
                        (tag == HEADER_MAP_HEADERS).then_some(value).flatten()
                    })
            })
            .map_while(raw_header)
    }

    fn fields(self) -> impl Iterator<Item = (u32, Option<&'a [u8]>)> {
        self.parts
            .iter()
            .flat_map(|part| Fields::new(part).map_while(Result::ok))
    }
}

/// Headers are nearly always ASCII, which is checked a word at a time: half the cost of
/// `from_utf8` on values this short.
fn utf8(bytes: &[u8]) -> bool {
    bytes.is_ascii() || std::str::from_utf8(bytes).is_ok()
}

/// A map entry; `None` if a known field has the wrong wire type or a part is malformed.
/// Singular fields read last-wins and default to empty, as protobuf decodes them.
fn map_header(entry: &[u8]) -> Option<MapHeader<'_>> {
    let mut header = MapHeader::default();
    for field in Fields::new(entry) {
        match field.ok()? {
            (KEY, value) => header.key = value?,
            (VALUE, value) => header.value = value?,
            _ => {}
        }
    }
    Some(header)
}

/// A `HeaderValue`, read like [`map_header`].
fn raw_header(message: &[u8]) -> Option<RawHeader<'_>> {
    let mut header = RawHeader::default();
    for field in Fields::new(message) {
        match field.ok()? {
            (KEY, value) => header.key = value?,
            (VALUE, value) => header.value = value?,
            (RAW_VALUE, value) => header.raw_value = value?,
            _ => {}
        }
    }
    Some(header)
}

/// The fields of one encoded message: `(tag, Some(bytes))` for a length-delimited field,
/// `(tag, None)` for any other (skipped as prost skips unknown fields); `Err` once, at the
/// first malformed field, then nothing.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(message: &'a [u8]) -> Self {
        Self { rest: message }
    }

    /// One-byte keys and lengths (tags up to 15, values up to 127 bytes) are the rule in
    /// Envoy's header messages and are read inline; anything else goes through prost.
    #[inline]
    fn read(&mut self) -> Result<(u32, Option<&'a [u8]>), ()> {
        const DELIMITED: u8 = WireType::LengthDelimited as u8;
        let (tag, wire_type) = match *self.rest {
            [key, ref rest @ ..] if key < 0x80 && key >> 3 != 0 && key & 7 == DELIMITED => {
                self.rest = rest;
                (u32::from(key >> 3), WireType::LengthDelimited)
            }
            _ => decode_key(&mut self.rest).map_err(drop)?,
        };
        if wire_type != WireType::LengthDelimited {
            skip_field(wire_type, tag, &mut self.rest, DecodeContext::default()).map_err(drop)?;
            return Ok((tag, None));
        }
        let len = match *self.rest {
            [len, ref rest @ ..] if len < 0x80 => {
                self.rest = rest;
                usize::from(len)
            }
            _ => usize::try_from(decode_varint(&mut self.rest).map_err(drop)?).map_err(drop)?,
        };
        if len > self.rest.len() {
            return Err(());
        }
        let (value, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok((tag, Some(value)))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Option<&'a [u8]>), ()>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let field = self.read();
        if field.is_err() {
            self.rest = &[];
        }
        Some(field)
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
        let empty = CheckRequest::decode(&full::CheckRequest::default().encode_to_vec()[..])
            .expect("decodes");
        assert!(empty.http().is_none());
    }
}
