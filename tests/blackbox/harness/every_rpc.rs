//! One call of every RPC the server offers, for tests that check a property of all of them (e.g.
//! that a bad caller token is UNAUTHENTICATED everywhere).

use apikeys_proto::pb::{
    CreateKeyRequest, GetAccountRequest, GetJwksRequest, IntrospectRequest, IssueTokenRequest,
    ListAuditEventsRequest, ListKeysRequest, RevokeKeyRequest, SetApiAccessRequest,
};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    AttributeContext, CheckRequest, CheckResponse, attribute_context,
};
use tonic::Status;
use tonic::metadata::AsciiMetadataValue;

use super::api::{Api, authorization};

/// The answer of one RPC made by [`Api::call_every_rpc`].
#[derive(Debug)]
pub struct RpcOutcome {
    /// The method name, e.g. `CreateKey`.
    pub rpc: &'static str,
    /// Whether the RPC authenticates its caller by the `authorization` metadata. Only
    /// `GetJwks` does not: the public keys of access tokens are public.
    pub needs_caller_token: bool,
    pub result: Result<(), Status>,
}

impl Api {
    /// Calls every RPC once with the given `authorization` metadata and otherwise valid requests
    /// about `account` and its live key `client_id`: the nine of `proto/apikeys/v1/` (CreateKey,
    /// ListKeys, ListAuditEvents, SetApiAccess, GetAccount, Introspect, IssueToken, GetJwks,
    /// RevokeKey, in that order, so the key is still live until the last) plus Envoy's
    /// `Authorization/Check` with the key's Basic credentials.
    ///
    /// A Check the server answers with a denial is reported as an error (`UNKNOWN`, with the
    /// response), since the credentials it carries are live: a caller allowed to Check gets an
    /// allow.
    pub async fn call_every_rpc(
        &self,
        auth: Option<AsciiMetadataValue>,
        account: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Vec<RpcOutcome> {
        vec![
            caller(
                "CreateKey",
                self.keys()
                    .create_key(authorization(
                        auth.clone(),
                        CreateKeyRequest {
                            account_id: account.into(),
                            email: "authn@example.test".into(),
                            display_name: String::new(),
                        },
                    ))
                    .await,
            ),
            caller(
                "ListKeys",
                self.keys()
                    .list_keys(authorization(
                        auth.clone(),
                        ListKeysRequest {
                            account_id: account.into(),
                            page_size: 0,
                            page_token: String::new(),
                        },
                    ))
                    .await,
            ),
            caller(
                "ListAuditEvents",
                self.keys()
                    .list_audit_events(authorization(
                        auth.clone(),
                        ListAuditEventsRequest {
                            account_id: account.into(),
                            page_size: 0,
                            page_token: String::new(),
                        },
                    ))
                    .await,
            ),
            caller(
                "SetApiAccess",
                self.accounts()
                    .set_api_access(authorization(
                        auth.clone(),
                        SetApiAccessRequest {
                            account_id: account.into(),
                            enabled: true,
                        },
                    ))
                    .await,
            ),
            caller(
                "GetAccount",
                self.accounts()
                    .get_account(authorization(
                        auth.clone(),
                        GetAccountRequest {
                            account_id: account.into(),
                        },
                    ))
                    .await,
            ),
            caller(
                "Introspect",
                self.introspection()
                    .introspect(authorization(
                        auth.clone(),
                        IntrospectRequest {
                            client_id: client_id.into(),
                            client_secret: client_secret.into(),
                            ..IntrospectRequest::default()
                        },
                    ))
                    .await,
            ),
            caller(
                "IssueToken",
                self.token_service()
                    .issue_token(authorization(
                        auth.clone(),
                        IssueTokenRequest {
                            client_id: client_id.into(),
                            client_secret: client_secret.into(),
                        },
                    ))
                    .await,
            ),
            RpcOutcome {
                rpc: "GetJwks",
                needs_caller_token: false,
                result: self
                    .token_service()
                    .get_jwks(authorization(auth.clone(), GetJwksRequest {}))
                    .await
                    .map(drop),
            },
            caller(
                "Authorization/Check",
                self.ext_authz()
                    .check(authorization(
                        auth.clone(),
                        basic_check_request(client_id, client_secret),
                    ))
                    .await
                    .and_then(|response| allowed(response.into_inner())),
            ),
            // Last, so that the key is still live for the calls above.
            caller(
                "RevokeKey",
                self.keys()
                    .revoke_key(authorization(
                        auth.clone(),
                        RevokeKeyRequest {
                            account_id: account.into(),
                            client_id: client_id.into(),
                        },
                    ))
                    .await,
            ),
        ]
    }
}

/// The outcome of an RPC that authenticates its caller.
fn caller<T>(rpc: &'static str, result: Result<T, Status>) -> RpcOutcome {
    RpcOutcome {
        rpc,
        needs_caller_token: true,
        result: result.map(drop),
    }
}

/// `Ok` for an allow; a denial as an `UNKNOWN` status carrying the response.
fn allowed(response: CheckResponse) -> Result<(), Status> {
    let ok = response.status.as_ref().is_none_or(|s| s.code == 0);
    match &response.http_response {
        Some(HttpResponse::OkResponse(_)) if ok => Ok(()),
        _ => Err(Status::unknown(format!(
            "Check answered with a denial: {response:?}"
        ))),
    }
}

/// An Envoy ext_authz CheckRequest for `GET /v1/payments` with Basic client credentials.
pub fn basic_check_request(client_id: &str, secret: &str) -> CheckRequest {
    use base64::Engine as _;

    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let headers = [
        (":method", "GET".to_owned()),
        (":path", "/v1/payments".to_owned()),
        ("authorization", format!("Basic {credentials}")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(attribute_context::Request {
                http: Some(attribute_context::HttpRequest {
                    method: "GET".into(),
                    path: "/v1/payments".into(),
                    host: "api.example.com".into(),
                    headers,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..AttributeContext::default()
        }),
    }
}
