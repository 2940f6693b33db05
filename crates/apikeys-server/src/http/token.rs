//! `POST /auth/token`: client credentials for an access token, in the company's JSON shape
//! (`{"clientId", "clientSecret"}`) or as RFC 6749 §4.4 with `client_secret_basic` or
//! `client_secret_post`. The credentials are the authentication: no caller token.

use apikeys_credentials::Credentials;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, HeaderValue, PRAGMA};
use http::{HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{Instrument as _, field};

use super::HttpState;
use super::error::HttpError;
use super::form::{Form, MediaType, decode_component, media_type, read_body};
use super::response::json;
use crate::access_tokens::Exchange;

pub const PATH: &str = "/auth/token";

/// Client credentials, from wherever the client put them.
struct ClientCredentials {
    client_id: String,
    secret: SecretString,
    /// HTTP Basic was used: an `invalid_client` answer carries a Basic challenge.
    basic: bool,
}

/// The company's published request shape. Unknown fields are ignored; `Option` so that a
/// missing field is reported by name rather than as a JSON error.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn issue(State(state): State<HttpState>, request: Request) -> Response {
    let span = tracing::info_span!("TokenEndpoint", client_id = field::Empty);
    async move {
        let result = async {
            let (parts, body) = request.into_parts();
            let media_type = media_type(&parts.headers);
            let body = read_body(body).await?;
            let credentials = client_credentials(&parts.headers, media_type, &body)?;
            let exchange = state
                .0
                .tokens
                .exchange(&credentials.client_id, credentials.secret.expose_secret())
                .await?;
            match exchange {
                Exchange::Issued { token, key } => {
                    tracing::Span::current().record("client_id", key.client_id());
                    Ok(token)
                }
                Exchange::InvalidClient => Err(HttpError::InvalidClient {
                    basic: credentials.basic,
                }),
                Exchange::Throttled => Err(HttpError::Throttled {
                    retry_after: state.0.throttle_window,
                }),
            }
        }
        .await;
        let mut response = match result {
            Ok(token) => json(
                StatusCode::OK,
                serde_json::json!({
                    "access_token": token.access_token,
                    "expires_in": token.expires_in,
                    "token_type": "Bearer",
                })
                .to_string(),
            ),
            Err(error) => error.into_response(),
        };
        // RFC 6749 §5.1: the answer holds a credential.
        response
            .headers_mut()
            .insert(PRAGMA, HeaderValue::from_static("no-cache"));
        response
    }
    .instrument(span)
    .await
}

fn client_credentials(
    headers: &HeaderMap,
    media_type: Option<MediaType>,
    body: &[u8],
) -> Result<ClientCredentials, HttpError> {
    let basic = basic_credentials(headers)?;
    let (client_id, secret) = match media_type {
        Some(MediaType::Json) => {
            let request = json_request(body)?;
            (
                request.client_id,
                request.client_secret.map(SecretString::from),
            )
        }
        Some(MediaType::Form) => {
            let form = Form::parse(body)?;
            if form.require("grant_type")? != "client_credentials" {
                return Err(HttpError::UnsupportedGrantType);
            }
            if form.get("scope").is_some() {
                return Err(HttpError::InvalidScope);
            }
            (
                form.get("client_id").map(str::to_owned),
                form.get("client_secret").map(SecretString::from),
            )
        }
        None => {
            return Err(HttpError::invalid_request(
                "content-type must be application/json or application/x-www-form-urlencoded",
            ));
        }
    };
    match (basic, client_id, secret) {
        (Some(basic), None, None) => Ok(basic),
        // RFC 6749 §3.2.1 lets a client name itself in the body too; it must be the same id.
        (Some(basic), Some(id), None) if id == basic.client_id => Ok(basic),
        (Some(_), _, _) => Err(HttpError::invalid_request(
            "send the client credentials once: in the Authorization header or in the body",
        )),
        (None, Some(client_id), Some(secret)) => Ok(ClientCredentials {
            client_id,
            secret,
            basic: false,
        }),
        (None, _, _) => Err(HttpError::invalid_request(match media_type {
            Some(MediaType::Json) => "clientId and clientSecret are required",
            _ => "client_id and client_secret (or HTTP Basic authentication) are required",
        })),
    }
}

/// `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`.
/// Anything else in `Authorization` is a failed client authentication.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<ClientCredentials>, HttpError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || HttpError::InvalidClient { basic: true };
    if values.next().is_some() {
        return Err(invalid());
    }
    let value = value.to_str().map_err(|_| invalid())?;
    match apikeys_credentials::authorization(value) {
        Ok(Credentials::ClientSecret { client_id, secret }) => Ok(Some(ClientCredentials {
            client_id: decode_component(&client_id).ok_or_else(invalid)?,
            secret: decode_component(&secret).ok_or_else(invalid)?.into(),
            basic: true,
        })),
        _ => Err(invalid()),
    }
}

/// The body as the company's JSON object. serde alone would also take an array of the two
/// fields, and would not look at the UTF-8 of fields it ignores.
fn json_request(body: &[u8]) -> Result<JsonRequest, HttpError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| HttpError::invalid_request("the body is not valid UTF-8"))?;
    if !text.trim_start().starts_with('{') {
        return Err(HttpError::invalid_request(
            "the body must be a JSON object {\"clientId\": …, \"clientSecret\": …}",
        ));
    }
    serde_json::from_str(text).map_err(json_error)
}

/// A fixed description per kind of JSON error: serde's messages may quote the input.
fn json_error(error: serde_json::Error) -> HttpError {
    let message = error.to_string();
    if let Some(field) = ["clientId", "clientSecret"]
        .into_iter()
        .find(|field| message.starts_with(&format!("duplicate field `{field}`")))
    {
        return HttpError::invalid_request(format!("{field}: the field is given more than once"));
    }
    HttpError::invalid_request(match error.classify() {
        serde_json::error::Category::Data => {
            "the body must be a JSON object whose clientId and clientSecret are strings"
        }
        _ => "the body is not valid JSON",
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    fn basic(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let encoded = format!("Basic {}", STANDARD.encode(value));
        headers.insert(AUTHORIZATION, encoded.parse().unwrap());
        headers
    }

    #[test]
    fn the_credentials_come_from_exactly_one_place() {
        let json = br#"{"clientId":"akc_a","clientSecret":"aks_b"}"#;
        let from_body = client_credentials(&HeaderMap::new(), Some(MediaType::Json), json).unwrap();
        assert_eq!(from_body.client_id, "akc_a");
        assert!(!from_body.basic);
        let form = b"grant_type=client_credentials";
        let from_header =
            client_credentials(&basic("akc_a:aks_b"), Some(MediaType::Form), form).unwrap();
        assert_eq!(from_header.client_id, "akc_a");
        assert_eq!(from_header.secret.expose_secret(), "aks_b");
        assert!(from_header.basic);
        let both = b"grant_type=client_credentials&client_id=akc_a&client_secret=aks_b";
        assert!(client_credentials(&basic("akc_a:aks_b"), Some(MediaType::Form), both).is_err());
        let same_id = b"grant_type=client_credentials&client_id=akc_a";
        assert!(client_credentials(&basic("akc_a:aks_b"), Some(MediaType::Form), same_id).is_ok());
    }

    #[test]
    fn bad_requests_say_what_is_wrong_without_quoting_it() {
        let cases: [(&[u8], &str); 6] = [
            (br#"["akc_a","aks_b"]"#, "must be a JSON object"),
            (
                b"{\"clientId\":\"akc_a\",\"clientSecret\":\"aks_b\",\"n\":\"\xff\"}",
                "not valid UTF-8",
            ),
            (
                br#"{"clientId":"akc_a"}"#,
                "clientId and clientSecret are required",
            ),
            (
                br#"{"clientId":"akc_a","clientSecret":7}"#,
                "must be a JSON object",
            ),
            (
                br#"{"clientId":"akc_a","clientId":"x","clientSecret":"aks_s3cr3t"}"#,
                "clientId: the field",
            ),
            (br#"{"clientSecret":"aks_s3cr3t""#, "not valid JSON"),
        ];
        for (body, expected) in cases {
            let Err(HttpError::InvalidRequest(text)) =
                client_credentials(&HeaderMap::new(), Some(MediaType::Json), body)
            else {
                panic!("{}", String::from_utf8_lossy(body));
            };
            assert!(text.contains(expected), "{text}");
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        let grant = client_credentials(
            &HeaderMap::new(),
            Some(MediaType::Form),
            b"grant_type=password",
        );
        assert!(matches!(grant, Err(HttpError::UnsupportedGrantType)));
        let scope = b"grant_type=client_credentials&scope=x&client_id=a&client_secret=b";
        let scope = client_credentials(&HeaderMap::new(), Some(MediaType::Form), scope);
        assert!(matches!(scope, Err(HttpError::InvalidScope)));
        assert!(matches!(
            client_credentials(&HeaderMap::new(), None, b""),
            Err(HttpError::InvalidRequest(_))
        ));
    }

    #[test]
    fn a_bearer_or_garbled_authorization_is_a_failed_basic_authentication() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        let form = b"grant_type=client_credentials";
        assert!(matches!(
            client_credentials(&headers, Some(MediaType::Form), form),
            Err(HttpError::InvalidClient { basic: true })
        ));
        assert!(matches!(
            client_credentials(&basic("no-colon"), Some(MediaType::Form), form),
            Err(HttpError::InvalidClient { basic: true })
        ));
    }
}
