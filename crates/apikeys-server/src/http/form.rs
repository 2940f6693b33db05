//! Request bodies: reading one within the size cap, its media type, and
//! `application/x-www-form-urlencoded` forms whose parameters appear at most once (RFC 6749
//! §3.2: "Request and response parameters MUST NOT be included more than once").

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use http::HeaderMap;
use http::header::CONTENT_TYPE;
use percent_encoding::percent_decode;

use super::MAX_BODY_BYTES;
use super::error::HttpError;

/// The media types the endpoints read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    Form,
}

/// The request's media type, parameters such as `charset` ignored; `None` for any other.
pub fn media_type(headers: &HeaderMap) -> Option<MediaType> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(MediaType::Json)
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(MediaType::Form)
    } else {
        None
    }
}

/// The whole body, or `413` past [`MAX_BODY_BYTES`] (a larger `content-length` is refused
/// before any of it is read).
pub async fn read_body(body: Body) -> Result<Bytes, HttpError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| HttpError::TooLarge)
}

/// A decoded form: each parameter once, with its value.
pub struct Form(BTreeMap<String, String>);

impl Form {
    /// Decodes `name=value&…`; `+` is a space and `%XX` a byte, and the decoded bytes must be
    /// UTF-8. A repeated parameter, or one that does not decode, is `invalid_request` naming it.
    pub fn parse(body: &[u8]) -> Result<Self, HttpError> {
        let mut parameters = BTreeMap::new();
        for pair in body
            .split(|&byte| byte == b'&')
            .filter(|pair| !pair.is_empty())
        {
            let (name, value) = match pair.iter().position(|&byte| byte == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)
                .ok_or_else(|| HttpError::invalid_request("the form is not valid UTF-8"))?;
            let value = decode(value).ok_or_else(|| {
                HttpError::invalid_request(format!("{name}: the value is not valid UTF-8"))
            })?;
            if parameters.contains_key(&name) {
                return Err(HttpError::invalid_request(format!(
                    "{name}: the parameter is given more than once"
                )));
            }
            parameters.insert(name, value);
        }
        Ok(Self(parameters))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A parameter that must be there and not empty.
    pub fn require(&self, name: &'static str) -> Result<&str, HttpError> {
        self.get(name)
            .filter(|value| !value.is_empty())
            .ok_or_else(|| HttpError::invalid_request(format!("{name}: the parameter is required")))
    }
}

fn decode(encoded: &[u8]) -> Option<String> {
    let spaced: Vec<u8> = encoded
        .iter()
        .map(|&byte| if byte == b'+' { b' ' } else { byte })
        .collect();
    percent_decode(&spaced)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// Decodes one `application/x-www-form-urlencoded` value (the parts of HTTP Basic client
/// authentication, RFC 6749 §2.3.1); `None` if it is not UTF-8.
pub fn decode_component(encoded: &str) -> Option<String> {
    decode(encoded.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_decode_once_each() {
        let form =
            Form::parse(b"grant_type=client_credentials&client_id=a%5Fb&note=x+y%21").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("client_id"), Some("a_b"));
        assert_eq!(form.get("note"), Some("x y!"));
        assert_eq!(form.get("missing"), None);
        assert!(Form::parse(b"").unwrap().get("a").is_none());
    }

    #[test]
    fn repeats_and_bad_bytes_are_refused_by_name() {
        let repeated = Form::parse(b"token=a&token=b").err().unwrap();
        assert!(
            matches!(repeated, HttpError::InvalidRequest(ref text) if text.starts_with("token:"))
        );
        assert!(Form::parse(b"token=%FF%FE").is_err());
        assert!(Form::parse(b"%C3%28=x").is_err());
        assert!(Form::parse(b"a=1").unwrap().require("b").is_err());
        assert!(Form::parse(b"b=").unwrap().require("b").is_err());
    }

    #[test]
    fn media_types_ignore_parameters_and_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(media_type(&headers), Some(MediaType::Json));
        headers.insert(
            CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert_eq!(media_type(&headers), Some(MediaType::Form));
        headers.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(media_type(&headers), None);
    }
}
