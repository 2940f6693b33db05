//! Envoy's `CheckRequest`, read only as far as a credential check needs.
//!
//! A `CheckRequest` carries the partner's whole HTTP request: peers, TLS session, metadata and
//! every header. The prost types here declare only the path to the HTTP request, with Envoy's
//! field numbers (so they read the same bytes); prost skips every other field. The HTTP request
//! itself stays encoded: [`HttpRequest`] walks its header fields in place.
//!
//! Why: every Check reads these headers. envoy-types' full decode makes a `String` of every
//! header name and value and a SipHash insert per header; decoding the headers into prost
//! structs of `Bytes` still grows a header vector and counts references to the slices. Walking
//! the fields in place allocates nothing. `apikeys-bench run --scenarios c` measures Check.

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

/// Headers are nearly always ASCII, which `is_ascii` checks a word at a time; only the others
/// go through `from_utf8`.
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
mod tests;
