//! Envoy's `CheckResponse`, handed to the codec already encoded.
//!
//! An allow names the key's account and client in headers for the upstream. Built as
//! envoy-types' message tree it would take about ten small allocations, an encoding pass and the
//! drop of the tree on every Check (`apikeys-bench run --scenarios c` measures Check). Here it is
//! written straight into one buffer with prost's wire primitives, in the field order prost uses,
//! so the bytes are the ones envoy-types would send; the tests compare them.

use bytes::{BufMut as _, Bytes, BytesMut};
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::service::auth::v3 as full;
use prost::Message as _;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

use crate::codec::PreEncoded;

/// `CheckResponse.status` (`google.rpc.Status`) and `CheckResponse.ok_response`.
const STATUS: u32 = 1;
const OK_RESPONSE: u32 = 3;
/// `OkHttpResponse.headers` and `OkHttpResponse.headers_to_remove`.
const HEADERS: u32 = 2;
const HEADERS_TO_REMOVE: u32 = 5;
/// `HeaderValueOption.header` and `HeaderValueOption.append_action`.
const HEADER: u32 = 1;
const APPEND_ACTION: u32 = 3;
/// `HeaderValue.key` and `HeaderValue.value`.
const KEY: u32 = 1;
const VALUE: u32 = 2;

/// An encoded `envoy.service.auth.v3.CheckResponse`. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResponse(Bytes);

impl CheckResponse {
    /// Any response, encoded once: for answers that are the same on every call.
    pub fn encode(message: &full::CheckResponse) -> Self {
        Self(Bytes::from(message.encode_to_vec()))
    }

    /// OK (google.rpc code 0): Envoy forwards the request after setting each `(name, value)` of
    /// `set`, overwriting what the client sent, and removing each header named in `remove`.
    pub fn ok(set: &[(&str, &str)], remove: &[&str]) -> Self {
        let overwrite = HeaderAppendAction::OverwriteIfExistsOrAdd as u64;
        let header_len =
            |name: &str, value: &str| string_len(KEY, name.len()) + string_len(VALUE, value.len());
        let option_len = |name: &str, value: &str| {
            delimited_len(HEADER, header_len(name, value))
                + key_len(APPEND_ACTION)
                + encoded_len_varint(overwrite)
        };
        let ok_len = set
            .iter()
            .map(|(name, value)| delimited_len(HEADERS, option_len(name, value)))
            .chain(
                remove
                    .iter()
                    .map(|name| delimited_len(HEADERS_TO_REMOVE, name.len())),
            )
            .sum::<usize>();

        let mut buf =
            BytesMut::with_capacity(delimited_len(STATUS, 0) + delimited_len(OK_RESPONSE, ok_len));
        // `status` present and all default: code 0, no message.
        delimited_head(STATUS, 0, &mut buf);
        delimited_head(OK_RESPONSE, ok_len, &mut buf);
        for (name, value) in set {
            delimited_head(HEADERS, option_len(name, value), &mut buf);
            delimited_head(HEADER, header_len(name, value), &mut buf);
            put_string(KEY, name, &mut buf);
            put_string(VALUE, value, &mut buf);
            encode_key(APPEND_ACTION, WireType::Varint, &mut buf);
            encode_varint(overwrite, &mut buf);
        }
        for name in remove {
            // A repeated string keeps its empty elements; a singular one (above) omits them.
            delimited_head(HEADERS_TO_REMOVE, name.len(), &mut buf);
            buf.put_slice(name.as_bytes());
        }
        Self(buf.freeze())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl PreEncoded for CheckResponse {
    fn encoded(&self) -> &[u8] {
        &self.0
    }
}

fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

/// A singular proto3 `string`: absent when empty.
fn string_len(tag: u32, len: usize) -> usize {
    if len == 0 { 0 } else { delimited_len(tag, len) }
}

fn delimited_head(tag: u32, len: usize, buf: &mut BytesMut) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
}

fn put_string(tag: u32, value: &str, buf: &mut BytesMut) {
    if !value.is_empty() {
        delimited_head(tag, value.len(), buf);
        buf.put_slice(value.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::ext_authz::v3::{CheckResponseExt as _, OkHttpResponseBuilder};
    use prost::Message as _;

    use super::*;

    type Header<'a> = (&'a str, &'a str);

    /// What envoy-types' own builder makes of the same allow.
    fn built(set: &[(&str, &str)], remove: &[&str]) -> full::CheckResponse {
        let mut http = OkHttpResponseBuilder::new();
        for (name, value) in set {
            http.add_header(
                *name,
                *value,
                Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
                false,
            );
        }
        for name in remove {
            http.remove_header(*name);
        }
        let mut response = full::CheckResponse::with_status(tonic::Status::ok(""));
        response.set_http_response(http);
        response
    }

    #[test]
    fn ok_is_byte_for_byte_what_envoy_types_encodes() {
        let long = "a".repeat(300);
        let cases: [(&[Header], &[&str]); 5] = [
            (
                &[
                    ("x-account-id", "acme"),
                    ("x-client-id", "akc_JpDiPC6klLfhjIO19876ePmP"),
                ],
                &["authorization", "x-api-key"],
            ),
            (&[], &[]),
            (&[("x-account-id", "")], &[""]),
            (&[("x-account-id", "acmé ünïcode")], &["authorization"]),
            // Lengths past 127 take two-byte varints at every level.
            (
                &[("x-long", long.as_str()), (long.as_str(), "v")],
                &[long.as_str()],
            ),
        ];
        for (set, remove) in cases {
            let expected = built(set, remove);
            let encoded = CheckResponse::ok(set, remove);
            assert_eq!(
                encoded.as_bytes(),
                expected.encode_to_vec(),
                "{set:?} {remove:?}"
            );
            assert_eq!(
                full::CheckResponse::decode(encoded.as_bytes()),
                Ok(expected)
            );
        }
    }

    #[test]
    fn any_response_encodes_once() {
        let denied = full::CheckResponse::with_status(tonic::Status::unauthenticated(""));
        let encoded = CheckResponse::encode(&denied);
        assert_eq!(full::CheckResponse::decode(encoded.encoded()), Ok(denied));
    }
}
