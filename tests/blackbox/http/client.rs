//! A small HTTP client for the tests: reqwest over HTTP/1.1 or HTTP/2 with prior knowledge,
//! every request bounded by a timeout, every answer read whole.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Version};
use serde_json::Value;

/// Every request fails the test instead of hanging past this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A client of one server's HTTP front.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
}

impl Http {
    /// HTTP/1.1 only.
    pub fn new(addr: SocketAddr) -> Self {
        Self::build(addr, Version::HTTP_11)
    }

    /// HTTP/2 cleartext with prior knowledge (no upgrade dance), as Envoy and gRPC clients do.
    pub fn h2(addr: SocketAddr) -> Self {
        Self::build(addr, Version::HTTP_2)
    }

    fn build(addr: SocketAddr, version: Version) -> Self {
        let builder = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        let builder = if version == Version::HTTP_2 {
            builder.http2_prior_knowledge()
        } else {
            builder.http1_only()
        };
        Self {
            client: builder.build().expect("build the HTTP client"),
            base: format!("http://{addr}"),
        }
    }

    /// A request of `method` to `path_and_query` (e.g. `/auth/check/x?q=1`).
    pub fn request(&self, method: &str, path_and_query: &str) -> Req {
        let method = Method::from_bytes(method.as_bytes()).expect("a valid method");
        let what = format!("{method} {path_and_query}");
        Req {
            builder: self
                .client
                .request(method, format!("{}{path_and_query}", self.base)),
            what,
        }
    }

    pub fn get(&self, path: &str) -> Req {
        self.request("GET", path)
    }

    pub fn post(&self, path: &str) -> Req {
        self.request("POST", path)
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Answer {
        self.post(path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
    }
}

/// A request being built; [`Req::send`] sends it.
pub struct Req {
    builder: reqwest::RequestBuilder,
    what: String,
}

impl Req {
    /// Adds a header; calling it twice with the same name sends the header twice.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.header_bytes(name, value.as_bytes())
    }

    /// Adds a header whose value may hold any bytes but CR, LF and NUL (e.g. non-UTF-8).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
        let value = HeaderValue::from_bytes(value).expect("a valid header value");
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn headers(self, headers: &[(&str, &str)]) -> Self {
        headers
            .iter()
            .fold(self, |req, (name, value)| req.header(name, value))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.builder = self.builder.body(body.into());
        self
    }

    /// An `application/x-www-form-urlencoded` body of `pairs`, each part encoded.
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(pairs))
    }

    /// Sends the request and reads the whole answer; panics if there is none.
    pub async fn send(self) -> Answer {
        let what = self.what.clone();
        self.try_send()
            .await
            .unwrap_or_else(|e| panic!("{what}: no HTTP answer: {e:?}"))
    }

    /// Sends the request; `Err` if the connection failed or closed without an answer.
    pub async fn try_send(self) -> Result<Answer, reqwest::Error> {
        let response = self.builder.send().await?;
        let status = response.status().as_u16();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(Answer {
            what: self.what,
            status,
            version,
            headers,
            body,
        })
    }
}

/// A whole HTTP answer.
#[derive(Clone)]
pub struct Answer {
    /// The request, for failure messages.
    pub what: String,
    pub status: u16,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} → {} {:?} {:?} body {:?}",
            self.what,
            self.status,
            self.version,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

impl Answer {
    /// The one value of header `name`; panics if it is sent more than once or is not text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.get_all(name).iter();
        let first = values.next()?;
        assert!(values.next().is_none(), "{name} sent twice: {self:?}");
        Some(
            first
                .to_str()
                .unwrap_or_else(|_| panic!("{name} is not text: {self:?}")),
        )
    }

    /// The body as JSON; panics if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {self:?}"))
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16, what: &str) -> &Self {
        assert_eq!(self.status, status, "{what}: {self:?}");
        self
    }

    /// `Cache-Control: no-store`, as every answer but the JWKS and the metadata carries.
    #[track_caller]
    pub fn assert_no_store(&self, what: &str) -> &Self {
        assert_eq!(
            self.header("cache-control"),
            Some("no-store"),
            "{what}: {self:?}"
        );
        self
    }

    /// A JSON body (`application/json`, parameters allowed) equal to `expected`.
    #[track_caller]
    pub fn assert_json(&self, expected: &Value, what: &str) -> &Self {
        self.assert_json_type(what);
        assert_eq!(&self.json(), expected, "{what}: {self:?}");
        self
    }

    #[track_caller]
    pub fn assert_json_type(&self, what: &str) -> &Self {
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.split(';').next().map(str::trim) == Some("application/json"),
            "{what}: not application/json: {self:?}"
        );
        self
    }

    #[track_caller]
    pub fn assert_empty_body(&self, what: &str) -> &Self {
        assert!(self.body.is_empty(), "{what}: body not empty: {self:?}");
        self
    }
}

/// `application/x-www-form-urlencoded` serialization (WHATWG URL, as RFC 6749 appendix B).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(name, value)| format!("{}={}", form_component(name), form_component(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One form-urlencoded name or value: unreserved bytes as they are, space as `+`, the rest
/// percent-encoded.
pub fn form_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
