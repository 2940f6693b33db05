//! The HTTP front of docs/http.md, on the same port as gRPC: the token endpoint, the JWKS and
//! metadata, RFC 7662 introspection, forward auth as the gateways that cannot run here send it,
//! health for load balancers, and hostile input. Every test talks to the real binary over TCP.

mod client;
mod discovery;
mod forward_auth;
mod forward_auth_denials;
mod gateways;
mod health;
mod hostile;
mod introspect;
mod key_rotation;
mod mtls;
mod token;
mod token_errors;
mod unavailable;

use std::time::Duration;

use serde_json::{Value, json};

use self::client::{Answer, Http, form_component};
use crate::ext_authz::envoy::basic_raw;
use crate::harness::{Fixture, PgCluster, TestServer};

/// Ends a failing wait; what is awaited takes far less.
const DEADLINE: Duration = Duration::from_secs(30);

/// The one description of every `invalid_client`.
const INVALID_CLIENT: &str = "invalid client credentials";

impl Fixture {
    /// An HTTP/1.1 client of this fixture's server.
    fn http(&self) -> Http {
        Http::new(self.server.addr())
    }

    /// `Authorization: Bearer <the fixture's gateway token>`, as a forward-auth gateway proves
    /// itself.
    fn gateway_header(&self) -> String {
        format!("Bearer {}", self.gateway)
    }

    /// `method path` from the fixture's gateway with the partner's `headers` forwarded.
    async fn forward(
        &self,
        http: &Http,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        http.request(method, path)
            .header("x-gateway-authorization", &self.gateway_header())
            .headers(headers)
            .send()
            .await
    }
}

/// `{"clientId": …, "clientSecret": …}`, the company's published shape.
fn company_json(client_id: &str, secret: &str) -> Value {
    json!({"clientId": client_id, "clientSecret": secret})
}

/// `client_secret_basic`: `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn client_secret_basic(client_id: &str, secret: &str) -> String {
    basic_raw(format!("{}:{}", form_component(client_id), form_component(secret)).as_bytes())
}

/// `POST /auth/token` in the company's JSON shape; asserts a 200 and returns the access token.
async fn issue_token(http: &Http, client_id: &str, secret: &str) -> String {
    let answer = http
        .post_json("/auth/token", &company_json(client_id, secret))
        .await;
    assert_token_answer(&answer, "the company's JSON shape")
}

/// A successful token answer: exactly `access_token`, `expires_in`, `token_type: Bearer`, with
/// `Cache-Control: no-store`. Returns the token.
#[track_caller]
fn assert_token_answer(answer: &Answer, what: &str) -> String {
    answer
        .assert_status(200, what)
        .assert_no_store(what)
        .assert_json_type(what);
    let body = answer.json();
    let object = body.as_object().expect("a JSON object");
    let mut fields: Vec<&str> = object.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["access_token", "expires_in", "token_type"],
        "{what}: {answer:?}"
    );
    assert_eq!(body["token_type"], "Bearer", "{what}");
    assert_eq!(body["expires_in"], 3600, "{what}: the default lifetime");
    let token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: access_token is not a string: {answer:?}"));
    assert_eq!(token.split('.').count(), 3, "{what}: not a JWT: {token}");
    token.to_owned()
}

/// An RFC 6749 §5.2 error: `status`, `Cache-Control: no-store`, JSON `{error, error_description}`
/// with `error` = `error`.
#[track_caller]
fn assert_oauth_error(answer: &Answer, status: u16, error: &str, what: &str) {
    answer
        .assert_status(status, what)
        .assert_no_store(what)
        .assert_json_type(what);
    let body = answer.json();
    assert_eq!(body["error"], error, "{what}: {answer:?}");
    assert!(
        body["error_description"].is_string(),
        "{what}: no error_description: {answer:?}"
    );
}

/// The bare error body of introspection: `{"error": error}`, perhaps with a string
/// `error_description` (RFC 6750 §3 allows one), nothing else.
#[track_caller]
fn assert_error_body(answer: &Answer, error: &str, what: &str) {
    answer.assert_json_type(what);
    let body = answer.json();
    let object = body.as_object().expect("a JSON object");
    assert_eq!(body["error"], error, "{what}: {answer:?}");
    for (field, value) in object {
        assert!(
            field == "error" || (field == "error_description" && value.is_string()),
            "{what}: unexpected {field} in {answer:?}"
        );
    }
}

/// The failed cases of a table-driven test, reported together at the end, so that one run
/// shows every deviation rather than the first.
#[derive(Default)]
struct Failures(Vec<String>);

impl Failures {
    /// Runs the assertions of one case, noting a failure instead of ending the test.
    fn check(&mut self, what: &str, assertions: impl FnOnce()) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(assertions)).is_err() {
            self.0.push(what.to_owned());
        }
    }

    #[track_caller]
    fn assert_none(self, of: usize) {
        assert!(
            self.0.is_empty(),
            "{} of {of} cases failed (each panic above says how): {:#?}",
            self.0.len(),
            self.0
        );
    }
}

/// Waits until the server's stderr contains `needle`.
async fn stderr_shows(fixture: &Fixture, needle: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !fixture.server.stderr().contains(needle) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stderr never showed {needle:?}:\n{}",
            fixture.server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server on a PostgreSQL cluster of its own (which a test may stop), probing the store every
/// 200 ms and waiting at most 1 s for a connection, so an outage shows within a test's deadline.
async fn server_on_own_cluster() -> (PgCluster, TestServer) {
    let cluster = PgCluster::start().await;
    let server = TestServer::builder(apikeys_test_support::Backend::Sqlite)
        .database_url(&cluster.url())
        .args(&[
            "--health-check-interval-ms",
            "200",
            "--db-acquire-timeout-ms",
            "1000",
        ])
        .start()
        .await;
    (cluster, server)
}
