//! Credentials in an Envoy `CheckRequest`. The parsing itself (length caps, schemes, base64,
//! `id:secret`) lives in `apikeys-credentials`, where it is fuzzed; this module only finds the
//! header values in Envoy's two header encodings.

use apikeys_credentials::Rejection;
pub use apikeys_credentials::extract;
use apikeys_credentials::{HeaderLookup, single_value};
use apikeys_proto::ext_authz::{CheckRequest, HttpRequest};
use apikeys_store::ValidationError;

/// The client request's headers as Envoy sent them: the `headers` map (lower-case keys, repeated
/// headers joined by `,`), or `header_map` when Envoy runs with `encode_raw_headers: true`.
pub struct RequestHeaders<'a> {
    http: Option<HttpRequest<'a>>,
    /// Names looked up while validating, with the last map value of each: the credential
    /// headers are then found without a second walk over every header.
    known: [(&'a str, Option<&'a [u8]>); 2],
}

impl<'a> RequestHeaders<'a> {
    /// Refuses what a full protobuf decoder would have: header strings that are not UTF-8, or
    /// header fields that are not well-formed protobuf. Finds the map values of `names` in the
    /// same pass.
    pub fn of(request: &'a CheckRequest, names: [&'a str; 2]) -> Result<Self, ValidationError> {
        let http = request.http();
        let mut known = names.map(|name| (name, None));
        if let Some(http) = &http {
            http.validate_visiting(|header| {
                for (name, value) in &mut known {
                    if header.key == name.as_bytes() {
                        *value = Some(header.value);
                    }
                }
            })
            .map_err(|invalid| ValidationError::new(invalid.field, invalid.problem))?;
        }
        Ok(Self { http, known })
    }

    /// The map's value for `name`, last one winning, as protobuf decodes maps.
    fn map_value(&self, http: HttpRequest<'a>, name: &str) -> Option<&'a [u8]> {
        match self.known.iter().find(|(known, _)| *known == name) {
            Some((_, value)) => *value,
            None => http
                .map_headers()
                .filter(|header| header.key == name.as_bytes())
                .last()
                .map(|header| header.value),
        }
    }
}

impl<'a> HeaderLookup<'a> for RequestHeaders<'a> {
    /// A header repeated in the raw form, or with bytes that are not UTF-8, is ambiguous or
    /// malformed rather than silently picked. In the map a key sent twice is one entry whose
    /// last value wins, as protobuf decodes maps.
    fn get(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        let Some(http) = self.http else {
            return Ok(None);
        };
        if let Some(value) = self.map_value(http, name) {
            return std::str::from_utf8(value)
                .map(Some)
                .map_err(|_| Rejection::Malformed);
        }
        let raw = http.raw_headers().map(|header| {
            // UTF-8 since `of`; a key that was not could not name a header looked for anyway.
            let key = std::str::from_utf8(header.key).unwrap_or_default();
            let value = if header.raw_value.is_empty() {
                header.value
            } else {
                header.raw_value
            };
            (key, value)
        });
        single_value(raw, name)
    }
}

#[cfg(test)]
mod tests {
    use apikeys_proto::ext_authz::{AttributeContext, Request};
    use bytes::Bytes;
    use prost::Message as _;

    use apikeys_credentials::Credentials;

    use super::*;
    use apikeys_credentials::MAX_HEADER_LEN;
    use base64::Engine as _;

    /// `HttpRequest` as Envoy encodes it, entries in the given order (a key may repeat).
    #[derive(Clone, PartialEq, prost::Message)]
    struct EncodedHttp {
        #[prost(message, repeated, tag = "3")]
        headers: Vec<Entry>,
        #[prost(message, optional, tag = "13")]
        header_map: Option<RawMap>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Entry {
        #[prost(string, tag = "1")]
        key: String,
        #[prost(string, tag = "2")]
        value: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct RawMap {
        #[prost(message, repeated, tag = "1")]
        headers: Vec<RawEntry>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct RawEntry {
        #[prost(string, tag = "1")]
        key: String,
        #[prost(bytes = "vec", tag = "3")]
        raw_value: Vec<u8>,
    }

    fn request(http: EncodedHttp) -> CheckRequest {
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    http: vec![Bytes::from(http.encode_to_vec())],
                }),
            }),
        }
    }

    fn map_entries(headers: &[(&str, &str)]) -> Vec<Entry> {
        headers
            .iter()
            .map(|(key, value)| Entry {
                key: (*key).to_owned(),
                value: (*value).to_owned(),
            })
            .collect()
    }

    /// Headers in the `headers` map only, as Envoy sends them by default.
    fn with_headers(headers: &[(&str, &str)]) -> CheckRequest {
        request(EncodedHttp {
            headers: map_entries(headers),
            header_map: None,
        })
    }

    /// `map` in the `headers` map and `raw` in `header_map`, which is present even when empty.
    fn with_map_and_raw(map: &[(&str, &str)], raw: &[(&str, &[u8])]) -> CheckRequest {
        request(EncodedHttp {
            headers: map_entries(map),
            header_map: Some(RawMap {
                headers: raw
                    .iter()
                    .map(|(key, value)| RawEntry {
                        key: (*key).to_owned(),
                        raw_value: value.to_vec(),
                    })
                    .collect(),
            }),
        })
    }

    /// What the service extracts: the credential headers found while validating.
    fn extracted(request: &CheckRequest) -> Result<(String, String), Rejection> {
        extracted_knowing(request, ["authorization", "x-api-key"])
    }

    fn extracted_knowing(
        request: &CheckRequest,
        names: [&str; 2],
    ) -> Result<(String, String), Rejection> {
        let headers = RequestHeaders::of(request, names).map_err(|_| Rejection::Malformed)?;
        match extract(&headers, "x-api-key")? {
            Credentials::AccessToken(token) => Ok(("bearer".into(), token.into())),
            Credentials::ClientSecret { client_id, secret } => {
                Ok((client_id.into_owned(), secret.into_owned()))
            }
        }
    }

    fn basic(pair: &[u8]) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    #[test]
    fn bearer_basic_and_api_key_are_read() {
        for value in [
            "Bearer abc.def.ghi",
            "bearer abc.def.ghi",
            "BEARER  abc.def.ghi ",
        ] {
            let request = with_headers(&[("authorization", value)]);
            assert_eq!(
                extracted(&request),
                Ok(("bearer".into(), "abc.def.ghi".into()))
            );
        }
        let expected = Ok(("akc_id".to_owned(), "aks_secret".to_owned()));
        let request = with_headers(&[("authorization", &basic(b"akc_id:aks_secret"))]);
        assert_eq!(extracted(&request), expected);
        let unpadded = basic(b"akc_id:aks_secret")
            .trim_end_matches('=')
            .replace("Basic", "bAsIc");
        assert_eq!(
            extracted(&with_headers(&[("authorization", &unpadded)])),
            expected
        );
        let request = with_headers(&[("x-api-key", "akc_id:aks_secret")]);
        assert_eq!(extracted(&request), expected);
    }

    #[test]
    fn authorization_wins_over_the_api_key_header() {
        let request = with_headers(&[
            ("authorization", "Bearer token"),
            ("x-api-key", "akc_id:aks_secret"),
        ]);
        assert_eq!(extracted(&request), Ok(("bearer".into(), "token".into())));
    }

    #[test]
    fn a_header_sent_twice_in_the_map_reads_its_last_value() {
        // Protobuf decodes a repeated map key as one entry whose last value wins.
        let request = with_headers(&[
            ("authorization", "Bearer first"),
            ("authorization", "Bearer last"),
        ]);
        assert_eq!(extracted(&request), Ok(("bearer".into(), "last".into())));
    }

    #[test]
    fn malformed_credentials_are_rejected() {
        let long_basic = basic(format!("akc_id:{}", "a".repeat(10_000)).as_bytes());
        let cases: Vec<(Vec<(&str, String)>, Rejection)> = vec![
            (vec![], Rejection::Missing),
            (vec![("x-other", "x".into())], Rejection::Missing),
            (
                vec![("authorization", "Bearer".into())],
                Rejection::UnsupportedScheme,
            ),
            (
                vec![("authorization", "Bearer ".into())],
                Rejection::UnsupportedScheme,
            ),
            (
                vec![("authorization", "Bearer a b".into())],
                Rejection::Malformed,
            ),
            (
                vec![("authorization", "Digest abc".into())],
                Rejection::UnsupportedScheme,
            ),
            (
                vec![("authorization", "Basic !!!".into())],
                Rejection::Malformed,
            ),
            (
                vec![("authorization", basic(b"no-colon"))],
                Rejection::Malformed,
            ),
            (
                vec![("authorization", basic(b"a:b:c"))],
                Rejection::Malformed,
            ),
            (
                vec![("authorization", basic(b":secret"))],
                Rejection::Malformed,
            ),
            (vec![("authorization", basic(b"id:"))], Rejection::Malformed),
            (
                vec![("authorization", basic(b"\xff\xfe:\xfd"))],
                Rejection::Malformed,
            ),
            (vec![("authorization", long_basic)], Rejection::Oversized),
            (vec![("x-api-key", "no-colon".into())], Rejection::Malformed),
            (
                vec![("x-api-key", "x".repeat(MAX_HEADER_LEN + 1))],
                Rejection::Oversized,
            ),
        ];
        for (headers, rejection) in cases {
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let request = with_headers(&pairs);
            assert_eq!(extracted(&request).err(), Some(rejection), "{pairs:?}");
        }
    }

    #[test]
    fn raw_headers_are_read_and_repeats_are_ambiguous() {
        let raw = |pairs: &[(&str, &[u8])]| with_map_and_raw(&[], pairs);
        let one = raw(&[("authorization", b"Bearer t")]);
        assert_eq!(extracted(&one), Ok(("bearer".into(), "t".into())));
        let twice = raw(&[
            ("authorization", b"Bearer t"),
            ("authorization", b"Bearer u"),
        ]);
        assert_eq!(extracted(&twice), Err(Rejection::Ambiguous));
        let invalid = raw(&[("x-api-key", b"akc_\xff:aks_x")]);
        assert_eq!(extracted(&invalid), Err(Rejection::Malformed));
    }

    #[test]
    fn headers_found_while_validating_read_as_a_walk_would() {
        let both = with_map_and_raw;
        let basic_pair = basic(b"akc_id:aks_secret");
        let requests = [
            with_headers(&[]),
            with_headers(&[("x-other", "1"), ("authorization", "Bearer t")]),
            with_headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
            with_headers(&[
                ("x-api-key", "akc_id:aks_secret"),
                ("authorization", "Bearer t"),
            ]),
            with_headers(&[("authorization", &basic_pair), ("x-api-key", "no-colon")]),
            with_headers(&[("x-api-key", "akc_a:aks_a"), ("x-api-key", "akc_b:aks_b")]),
            both(&[("x-other", "1")], &[("authorization", b"Bearer raw")]),
            both(
                &[("x-api-key", "akc_id:aks_secret")],
                &[("authorization", b"Bearer raw")],
            ),
            both(
                &[("authorization", "Bearer map")],
                &[("authorization", b"Bearer raw")],
            ),
            both(
                &[],
                &[("x-api-key", b"akc_id:aks_secret"), ("x-api-key", b"x:y")],
            ),
        ];
        for request in &requests {
            let walked = extracted_knowing(request, ["x-unrelated", "x-unrelated-too"]);
            assert_eq!(extracted(request), walked, "{request:?}");
            assert_eq!(
                extracted_knowing(request, ["x-api-key", "authorization"]),
                walked,
                "{request:?}"
            );
        }
        assert_eq!(
            extracted(&requests[2]),
            Ok(("bearer".into(), "b".into())),
            "the last map value wins"
        );
    }
}
