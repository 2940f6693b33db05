//! The calls the telemetry tests make, each carrying the caller's W3C trace context, and the
//! secrets they involve.

use std::collections::HashMap;

use apikeys_proto::pb::token_service_client::TokenServiceClient;
use apikeys_proto::pb::{CreateKeyRequest, IntrospectRequest, IssueTokenRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::harness::{Fixture, bearer, random_hex};

/// A W3C `traceparent` the "gateway" sends: its trace id and its own span id.
pub struct CallerTrace {
    pub trace_id: String,
    pub span_id: String,
}

impl CallerTrace {
    pub fn random() -> Self {
        Self {
            trace_id: random_hex(16),
            span_id: random_hex(8),
        }
    }

    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }

    pub fn has_trace_id(&self, span: &Span) -> bool {
        hex(&span.trace_id) == self.trace_id
    }

    /// `message` with the caller's bearer token and this trace context as gRPC metadata.
    pub fn request<T>(&self, caller: &str, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert("authorization", bearer(caller));
        metadata.insert(
            "traceparent",
            self.traceparent().parse().expect("traceparent is metadata"),
        );
        request
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The strings that must never be exported or logged.
pub struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    #[track_caller]
    pub fn assert_absent_from(&self, haystack: &[u8], what: &str) {
        for (name, secret) in &self.0 {
            assert!(
                !haystack
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "the {name} appears in {what}"
            );
        }
    }
}

/// What one round of traced calls produced.
pub struct Calls {
    pub client_id: String,
    pub secrets: Secrets,
}

/// Creates a key, introspects it by secret and by access token, and checks it through ext_authz,
/// every call carrying `trace`; one Introspect is refused (bad caller token).
pub async fn traced_calls(fixture: &Fixture, trace: &CallerTrace) -> Calls {
    let api = fixture.api();
    let created = api
        .keys()
        .create_key(trace.request(
            &fixture.owner,
            CreateKeyRequest {
                account_id: fixture.account.clone(),
                email: "traced@acme.test".into(),
                display_name: String::new(),
            },
        ))
        .await
        .expect("CreateKey")
        .into_inner();
    let client_id = created.key.expect("CreateKey returns the key").client_id;
    let secret = created.client_secret;

    let by_secret = IntrospectRequest {
        client_id: client_id.clone(),
        client_secret: secret.clone(),
        ..IntrospectRequest::default()
    };
    for _ in 0..2 {
        let answer = api
            .introspection()
            .introspect(trace.request(&fixture.gateway, by_secret.clone()))
            .await
            .expect("Introspect");
        assert!(answer.get_ref().active, "the new key introspects active");
    }
    let refused = api
        .introspection()
        .introspect(trace.request("not-a-token", by_secret.clone()))
        .await;
    assert_eq!(
        refused.map(|_| ()).map_err(|s| s.code()),
        Err(tonic::Code::Unauthenticated)
    );

    let access_token = TokenServiceClient::new(api.channel())
        .issue_token(trace.request(
            &fixture.gateway,
            IssueTokenRequest {
                client_id: client_id.clone(),
                client_secret: secret.clone(),
            },
        ))
        .await
        .expect("IssueToken")
        .into_inner()
        .access_token;
    let by_token = IntrospectRequest {
        token: access_token.clone(),
        ..IntrospectRequest::default()
    };
    let answer = api
        .introspection()
        .introspect(trace.request(&fixture.gateway, by_token))
        .await
        .expect("Introspect by token");
    assert!(
        answer.get_ref().active,
        "the access token introspects active"
    );

    let basic = format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")));
    for authorization in [basic.clone(), format!("Bearer {access_token}")] {
        let decision = api
            .ext_authz()
            .check(trace.request(&fixture.gateway, check_request(&authorization)))
            .await
            .expect("Check")
            .into_inner();
        let code = decision.status.map_or(0, |s| s.code);
        assert_eq!(code, 0, "Check allows the new key's credentials");
    }

    let tokens = fixture.tokens();
    Calls {
        client_id,
        secrets: Secrets(vec![
            ("new key's client secret", secret),
            ("sentinel's client secret", fixture.sentinel_secret.clone()),
            ("access token", access_token),
            ("Basic credentials", basic),
            ("gateway's caller token", fixture.gateway.clone()),
            ("owner's caller token", fixture.owner.clone()),
            ("staff caller token", fixture.staff.clone()),
            ("HS256 signing secret", tokens.secret().to_owned()),
        ]),
    }
}

/// An Envoy CheckRequest for an HTTP request with this `authorization` header.
fn check_request(authorization: &str) -> CheckRequest {
    let headers = HashMap::from([
        (":method".to_owned(), "GET".to_owned()),
        (":path".to_owned(), "/v1/orders".to_owned()),
        ("authorization".to_owned(), authorization.to_owned()),
    ]);
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/v1/orders".into(),
                    headers,
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}
