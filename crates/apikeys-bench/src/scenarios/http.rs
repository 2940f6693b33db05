//! One HTTP/1.1 request of the HTTP front's scenarios (h, f1, f2, t), with the check that makes
//! it a success: forward auth must allow (`200` naming the key in `x-client-id`), `POST
//! /auth/token` must answer `200` with a bearer token. Anything else (a `401`, `403`, `503`, a
//! closed connection) is an error. Each closed-loop task has a keep-alive connection of its own
//! and sends one request at a time on it, as a gateway's pool of upstream connections does
//! (client.rs).

mod client;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode, Uri};
use serde::Deserialize;
use tonic::metadata::{Ascii, MetadataValue};

use self::client::Payload;
pub use self::client::{HttpCall, connect_all};
use crate::load::CallError;
use crate::scenarios::calls::Key;
pub use crate::scenarios::calls::basic;
use crate::servers::CLIENT_HEADER;

/// The header a forward-auth gateway proves itself with (the server's default
/// `--forward-auth-gateway-header`).
pub const GATEWAY_HEADER: HeaderName = HeaderName::from_static("x-gateway-authorization");

/// A request built once, before the measurement, as the gRPC scenarios encode theirs once (the
/// load generator shares the cores with the server); a call clones its parts, which shares
/// their bytes.
#[derive(Debug, Clone)]
pub struct Prepared {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    expect: Expect,
}

/// What makes an answer a success.
#[derive(Debug, Clone)]
enum Expect {
    /// Forward auth allowed the key with this client id.
    Allow(HeaderValue),
    /// `POST /auth/token` issued a bearer token.
    Token,
}

/// The part of a token answer the judge reads.
#[derive(Deserialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'a str,
}

impl Prepared {
    fn request(&self) -> Request<Payload> {
        let mut request = Request::new(Payload::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

impl Expect {
    fn judge(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Result<(), CallError> {
        if status != StatusCode::OK {
            return Err(CallError::wrong_answer(format!("HTTP {status}")));
        }
        match self {
            Expect::Allow(client_id) => match headers.get(CLIENT_HEADER) {
                Some(got) if got == client_id => Ok(()),
                got => Err(CallError::wrong_answer(format!(
                    "forward auth allowed with x-client-id {got:?}, expected {client_id:?}"
                ))),
            },
            Expect::Token => match serde_json::from_slice::<TokenAnswer<'_>>(body) {
                Ok(answer) if !answer.access_token.is_empty() && answer.token_type == "Bearer" => {
                    Ok(())
                }
                _ => Err(CallError::wrong_answer("200 without a bearer access_token")),
            },
        }
    }
}

/// A forward-auth request as Envoy's ext_authz HTTP mode sends it (the partner's method, the
/// path prefix `/auth/check` followed by the partner's path, the partner's headers, no body),
/// with the gateway's caller token; `expected_client_id` is what an allow must name.
pub fn forward_auth(
    index: usize,
    authorization: &str,
    gateway: &MetadataValue<Ascii>,
    expected_client_id: &str,
) -> anyhow::Result<Prepared> {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (header::HOST, "api.payments.example".to_owned()),
        (header::AUTHORIZATION, authorization.to_owned()),
        (GATEWAY_HEADER, gateway.to_str()?.to_owned()),
        (header::CONTENT_LENGTH, "0".to_owned()),
        (header::USER_AGENT, "partner-sdk/2.3.1".to_owned()),
        (
            HeaderName::from_static("x-forwarded-proto"),
            "https".to_owned(),
        ),
        (
            HeaderName::from_static("x-request-id"),
            format!("bench-{index:08}-5e2c-4a1b-9f7e-0c3d2b1a0f9e"),
        ),
    ] {
        headers.insert(name, HeaderValue::try_from(value)?);
    }
    Ok(Prepared {
        method: Method::POST,
        uri: Uri::from_static("/auth/check/v1/payments"),
        headers,
        body: Bytes::new(),
        expect: Expect::Allow(HeaderValue::try_from(expected_client_id)?),
    })
}

/// f1: one forward-auth request per key, Basic credentials.
pub fn forward_auth_basic(
    keys: &[Key],
    gateway: &MetadataValue<Ascii>,
) -> anyhow::Result<Vec<Prepared>> {
    keys.iter()
        .enumerate()
        .map(|(index, key)| forward_auth(index, &basic(key), gateway, &key.client_id))
        .collect()
}

/// f2: one forward-auth request per key, its access token (`tokens` in the keys' order).
pub fn forward_auth_bearer(
    keys: &[Key],
    tokens: &[String],
    gateway: &MetadataValue<Ascii>,
) -> anyhow::Result<Vec<Prepared>> {
    keys.iter()
        .zip(tokens)
        .enumerate()
        .map(|(index, (key, token))| {
            forward_auth(index, &format!("Bearer {token}"), gateway, &key.client_id)
        })
        .collect()
}

/// t: `POST /auth/token` in the company's JSON shape, one request per key.
pub fn issue_token_requests(keys: &[Key]) -> anyhow::Result<Vec<Prepared>> {
    keys.iter()
        .map(|key| {
            let body = serde_json::to_vec(&serde_json::json!({
                "clientId": key.client_id,
                "clientSecret": key.client_secret,
            }))?;
            let mut headers = HeaderMap::new();
            for (name, value) in [
                (header::HOST, "api.example.com".to_owned()),
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::ACCEPT, "application/json".to_owned()),
                (header::CONTENT_LENGTH, body.len().to_string()),
                (header::USER_AGENT, "partner-sdk/2.3.1".to_owned()),
            ] {
                headers.insert(name, HeaderValue::try_from(value)?);
            }
            Ok(Prepared {
                method: Method::POST,
                uri: Uri::from_static("/auth/token"),
                headers,
                body: Bytes::from(body),
                expect: Expect::Token,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use http_body::Body as _;

    use super::*;

    fn head(pairs: &[(HeaderName, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.clone(), HeaderValue::from_static(value)))
            .collect()
    }

    #[test]
    fn forward_auth_succeeds_only_on_an_allow_naming_the_key() {
        let expect = Expect::Allow(HeaderValue::from_static("akc_a"));
        let allow = head(&[
            (CLIENT_HEADER, "akc_a"),
            (HeaderName::from_static("x-account-id"), "acme"),
        ]);
        assert!(expect.judge(StatusCode::OK, &allow, b"").is_ok());
        let other = head(&[(CLIENT_HEADER, "akc_b")]);
        assert!(expect.judge(StatusCode::OK, &other, b"").is_err());
        assert!(
            expect
                .judge(StatusCode::OK, &HeaderMap::new(), b"")
                .is_err()
        );
        for denied in [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            let error = expect.judge(denied, &allow, b"").expect_err("a deny");
            assert!(error.message.contains(denied.as_str()), "{}", error.message);
        }
    }

    #[test]
    fn a_token_answer_needs_a_bearer_token() {
        let ok = br#"{"access_token":"eyJ.x.y","expires_in":3600,"token_type":"Bearer"}"#;
        assert!(
            Expect::Token
                .judge(StatusCode::OK, &HeaderMap::new(), ok)
                .is_ok()
        );
        for wrong in [
            &br#"{"access_token":"","expires_in":3600,"token_type":"Bearer"}"#[..],
            br#"{"access_token":"eyJ.x.y","token_type":"mac"}"#,
            br#"{"error":"invalid_client"}"#,
            b"",
        ] {
            assert!(
                Expect::Token
                    .judge(StatusCode::OK, &HeaderMap::new(), wrong)
                    .is_err()
            );
        }
        let rejected = br#"{"error":"invalid_client"}"#;
        let status = StatusCode::UNAUTHORIZED;
        assert!(
            Expect::Token
                .judge(status, &HeaderMap::new(), rejected)
                .is_err()
        );
    }

    #[test]
    fn prepared_requests_carry_their_body_and_gateway_token() {
        let key = Key {
            client_id: "akc_a".to_owned(),
            client_secret: "aks_b".to_owned(),
        };
        let gateway: MetadataValue<Ascii> = "Bearer caller".parse().expect("ascii");
        let [check] = &forward_auth_basic(std::slice::from_ref(&key), &gateway).expect("built")[..]
        else {
            panic!("one request per key");
        };
        let request = check.request();
        assert_eq!(request.uri(), "/auth/check/v1/payments");
        assert_eq!(request.headers()[GATEWAY_HEADER], "Bearer caller");
        assert_eq!(
            request.headers()[header::AUTHORIZATION],
            "Basic YWtjX2E6YWtzX2I="
        );
        assert!(request.body().is_end_stream());
        let [issue] = &issue_token_requests(&[key]).expect("built")[..] else {
            panic!("one request per key");
        };
        let request = issue.request();
        let length = request.body().size_hint().exact().expect("exact size");
        assert_eq!(
            request.headers()[header::CONTENT_LENGTH],
            length.to_string()
        );
        assert!(request.headers().get(GATEWAY_HEADER).is_none());
    }
}
