use std::borrow::Cow;

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Longest credential header read; real ones (a JWT, or a Client ID and Secret) are far shorter.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

const AUTHORIZATION: &str = "authorization";

/// Basic credentials are standard base64; padding is accepted with or without.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the client presented. No `Debug`: it holds secrets.
pub enum Credentials<'a> {
    /// `authorization: Bearer <access token>`.
    AccessToken(&'a str),
    /// `authorization: Basic base64(id:secret)`, or `id:secret` in the API-key header.
    ClientSecret {
        client_id: Cow<'a, str>,
        secret: Cow<'a, str>,
    },
}

/// Why no credentials could be read; for debug logs only, never for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Missing,
    Oversized,
    Ambiguous,
    UnsupportedScheme,
    Malformed,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Oversized => "oversized",
            Self::Ambiguous => "ambiguous",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::Malformed => "malformed",
        }
    }
}

/// Request headers, however the caller holds them.
pub trait HeaderLookup<'a> {
    /// The one value of header `name` (lower case), `None` if absent; a header present more
    /// than once, or whose bytes are not UTF-8, is a rejection rather than silently picked.
    fn get(&self, name: &str) -> Result<Option<&'a str>, Rejection>;
}

/// The one value of header `name` among raw `(name, value bytes)` pairs; names compare
/// case-insensitively.
pub fn single_value<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    name: &str,
) -> Result<Option<&'a str>, Rejection> {
    let mut found = None;
    for (_, value) in headers
        .into_iter()
        .filter(|(key, _)| key.eq_ignore_ascii_case(name))
    {
        if found.is_some() {
            return Err(Rejection::Ambiguous);
        }
        found = Some(std::str::from_utf8(value).map_err(|_| Rejection::Malformed)?);
    }
    Ok(found)
}

/// The credentials in `authorization` or, when that header is absent, in `api_key_header`.
pub fn extract<'a>(
    headers: &impl HeaderLookup<'a>,
    api_key_header: &str,
) -> Result<Credentials<'a>, Rejection> {
    if let Some(value) = headers.get(AUTHORIZATION)? {
        return authorization(value);
    }
    if let Some(value) = headers.get(api_key_header)? {
        return api_key(value);
    }
    Err(Rejection::Missing)
}

/// An `authorization` value: `Bearer <token>` or `Basic <base64>`; scheme names are
/// case-insensitive (RFC 9110 §11.1).
pub fn authorization(value: &str) -> Result<Credentials<'_>, Rejection> {
    let (scheme, rest) = capped(value)?
        .trim()
        .split_once(' ')
        .ok_or(Rejection::UnsupportedScheme)?;
    let rest = rest.trim();
    if rest.is_empty() || contains_whitespace(rest) {
        return Err(Rejection::Malformed);
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Credentials::AccessToken(rest))
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = BASE64.decode(rest).map_err(|_| Rejection::Malformed)?;
        let mut client_id = String::from_utf8(decoded).map_err(|_| Rejection::Malformed)?;
        let id_len = id_and_secret(&client_id)?.0.len();
        // The decoded buffer becomes the id; only the secret is copied out of it.
        let secret = client_id.split_off(id_len + 1);
        client_id.truncate(id_len);
        Ok(Credentials::ClientSecret {
            client_id: Cow::Owned(client_id),
            secret: Cow::Owned(secret),
        })
    } else {
        Err(Rejection::UnsupportedScheme)
    }
}

/// An API-key header value: `client_id:client_secret`, surrounding whitespace ignored.
pub fn api_key(value: &str) -> Result<Credentials<'_>, Rejection> {
    let (client_id, secret) = id_and_secret(capped(value)?.trim())?;
    Ok(Credentials::ClientSecret {
        client_id: Cow::Borrowed(client_id),
        secret: Cow::Borrowed(secret),
    })
}

/// `value.contains(char::is_whitespace)`. Tokens are ASCII without whitespace, so the common
/// answer comes from one pass without an early exit, which the compiler vectorises; the exact
/// tests run only when it finds a suspect.
fn contains_whitespace(value: &str) -> bool {
    let (mut control_or_space, mut non_ascii) = (0u8, 0u8);
    for &byte in value.as_bytes() {
        // Every ASCII whitespace byte is a control character or the space.
        control_or_space |= u8::from(byte <= b' ');
        non_ascii |= byte & 0x80;
    }
    if non_ascii != 0 {
        value.contains(char::is_whitespace)
    } else if control_or_space != 0 {
        value
            .bytes()
            .any(|byte| matches!(byte, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b' '))
    } else {
        false
    }
}

fn capped(value: &str) -> Result<&str, Rejection> {
    if value.len() > MAX_HEADER_LEN {
        Err(Rejection::Oversized)
    } else {
        Ok(value)
    }
}

/// `client_id:client_secret`, split at exactly one `:`, both parts non-empty.
fn id_and_secret(pair: &str) -> Result<(&str, &str), Rejection> {
    match pair.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() && !secret.contains(':') => {
            Ok((id, secret))
        }
        _ => Err(Rejection::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_is_what_char_is_whitespace_says() {
        let mut values: Vec<String> = (0u8..=0x7f)
            .map(|byte| format!("tok{}en", char::from(byte)))
            .collect();
        values.extend(
            ['\u{85}', '\u{a0}', '\u{2003}', '\u{3000}', 'é', '€'].map(|c| format!("tok{c}en")),
        );
        for value in values {
            assert_eq!(
                contains_whitespace(&value),
                value.contains(char::is_whitespace),
                "{value:?}"
            );
        }
    }

    #[test]
    fn basic_splits_at_the_colon() {
        let encoded = format!("Basic {}", BASE64.encode("akc_id:aks_secret"));
        let Ok(Credentials::ClientSecret { client_id, secret }) = authorization(&encoded) else {
            panic!("client credentials expected");
        };
        assert_eq!((&*client_id, &*secret), ("akc_id", "aks_secret"));
    }
}
