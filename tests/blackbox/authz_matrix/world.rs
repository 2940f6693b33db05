//! The server and the things the matrix names: accounts acme and globex, their keys, a revoked
//! key, access tokens, and one call per cell answered as the matrix writes it.

use apikeys_proto::pb::{
    CreateKeyRequest, GetAccountRequest, GetJwksRequest, IntrospectRequest, IntrospectResponse,
    IssueTokenRequest, ListAuditEventsRequest, ListKeysRequest, RevokeKeyRequest,
    SetApiAccessRequest,
};
use apikeys_test_support::Backend;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use tonic::Status;
use tonic::metadata::AsciiMetadataValue;

use super::{Answer, Caller, Rpc, Target, code_name};
use crate::harness::{Fixture, TestServer, bearer, unknown_client_id};

const GLOBEX: &str = "globex";

/// What a call names: an account, a key with its secret, an access token.
#[derive(Clone, Default)]
struct Subject {
    account: String,
    client_id: String,
    secret: String,
    access_token: String,
}

impl Subject {
    fn account(account: &str) -> Self {
        Self {
            account: account.to_owned(),
            ..Self::default()
        }
    }
}

pub struct World {
    fixture: Fixture,
    globex_owner: String,
    /// An active key of globex that no cell revokes.
    globex_key: String,
    acme_key: Subject,
    revoked_key: Subject,
    unknown_accounts: usize,
}

impl World {
    pub async fn new(backend: Backend) -> Self {
        // Successful CreateKey cells and the fresh keys RevokeKey cells need stay under the limit.
        let server = TestServer::builder(backend)
            .args(&["--max-active-keys", "100"])
            .start()
            .await;
        let fixture = Fixture::with_server(server).await;
        let globex_owner = fixture.enabled_account(GLOBEX).await;
        let globex_key = create(&fixture, &globex_owner, GLOBEX).await.client_id;
        let mut acme_key = Subject {
            account: fixture.account.clone(),
            client_id: fixture.sentinel_id.clone(),
            secret: fixture.sentinel_secret.clone(),
            access_token: String::new(),
        };
        acme_key.access_token = issue(&fixture, &acme_key).await;
        let mut revoked_key = create(&fixture, &fixture.owner, &fixture.account).await;
        revoked_key.access_token = issue(&fixture, &revoked_key).await;
        fixture
            .api()
            .revoke_key(&fixture.owner, &fixture.account, &revoked_key.client_id)
            .await
            .expect("revoke the key the matrix calls revoked");
        Self {
            fixture,
            globex_owner,
            globex_key,
            acme_key,
            revoked_key,
            unknown_accounts: 0,
        }
    }

    fn token(&self, caller: Caller) -> Option<AsciiMetadataValue> {
        let tokens = self.fixture.tokens();
        let account = &self.fixture.account;
        let token = match caller {
            Caller::NoToken => return None,
            Caller::AcmeMember => tokens.member(account),
            Caller::AcmeAdmin => tokens.admin(account),
            Caller::AcmeOwner => self.fixture.owner.clone(),
            Caller::GlobexOwner => self.globex_owner.clone(),
            Caller::Staff => self.fixture.staff.clone(),
            Caller::Gateway => self.fixture.gateway.clone(),
        };
        Some(bearer(&token))
    }

    async fn subject(&mut self, rpc: Rpc, target: Target) -> Subject {
        let acme = self.fixture.account.clone();
        match target {
            Target::Nothing => Subject::default(),
            Target::Acme => Subject::account(&acme),
            Target::Globex => Subject::account(GLOBEX),
            Target::UnknownAccount => {
                // Fresh each time: a successful SetApiAccess makes the account known.
                self.unknown_accounts += 1;
                Subject::account(&format!("unknown-{}", self.unknown_accounts))
            }
            // Fresh each time: a successful RevokeKey must not change what later cells see.
            Target::AcmeKey if rpc == Rpc::RevokeKey => {
                create(&self.fixture, &self.fixture.owner, &acme).await
            }
            Target::AcmeKey => self.acme_key.clone(),
            Target::RevokedAcmeKey => self.revoked_key.clone(),
            Target::UnknownKey => Subject {
                client_id: unknown_client_id(),
                // Well-formed, with a valid checksum: only the id is unknown.
                ..self.acme_key.clone()
            },
            Target::GlobexKeyAsAcmes => Subject {
                account: acme,
                client_id: self.globex_key.clone(),
                ..Subject::default()
            },
            Target::GlobexKey => create(&self.fixture, &self.globex_owner, GLOBEX).await,
            Target::ForeignToken => Subject {
                access_token: self.fixture.owner.clone(),
                ..Subject::default()
            },
        }
    }

    /// Calls `rpc` on `target` as `caller` and writes the answer as the matrix does. A refused
    /// call that would have changed something must leave the account's audit trail as it was.
    pub async fn answer(&mut self, rpc: Rpc, target: Target, caller: Caller) -> String {
        let subject = self.subject(rpc, target).await;
        let trail_before = if rpc.mutates() {
            self.trail_len(&subject.account).await
        } else {
            0
        };
        let answer = self.call(rpc, &subject, self.token(caller)).await;
        if rpc.mutates() && answer != Answer::Ok.label() {
            assert_eq!(
                self.trail_len(&subject.account).await,
                trail_before,
                "{rpc:?} on {target:?} by {caller:?} was refused ({answer}) but left an audit event"
            );
        }
        answer
    }

    async fn trail_len(&self, account: &str) -> usize {
        let owner = self.fixture.tokens().owner(account);
        let page = self
            .fixture
            .api()
            .list_audit_events(&owner, account, 1000, "")
            .await
            .unwrap_or_else(|s| panic!("audit trail of {account}: {s:?}"));
        assert!(page.next_page_token.is_empty(), "more than 1000 events");
        page.audit_events.len()
    }

    async fn call(&self, rpc: Rpc, s: &Subject, auth: Option<AsciiMetadataValue>) -> String {
        let api = self.fixture.api();
        let account_id = s.account.clone();
        match rpc {
            Rpc::CreateKey => {
                let message = CreateKeyRequest {
                    account_id,
                    email: "matrix@example.test".into(),
                    display_name: String::new(),
                };
                code(
                    api.keys()
                        .create_key(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::ListKeys => {
                let message = ListKeysRequest {
                    account_id,
                    ..ListKeysRequest::default()
                };
                code(
                    api.keys()
                        .list_keys(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::ListAuditEvents => {
                let message = ListAuditEventsRequest {
                    account_id,
                    ..ListAuditEventsRequest::default()
                };
                code(
                    api.keys()
                        .list_audit_events(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::RevokeKey => {
                let message = RevokeKeyRequest {
                    account_id,
                    client_id: s.client_id.clone(),
                };
                code(
                    api.keys()
                        .revoke_key(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::SetApiAccess => {
                // Enabling only, so no later cell finds an account switched off.
                let message = SetApiAccessRequest {
                    account_id,
                    enabled: true,
                };
                code(
                    api.accounts()
                        .set_api_access(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::GetAccount => {
                let message = GetAccountRequest { account_id };
                code(
                    api.accounts()
                        .get_account(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::IntrospectCredentials | Rpc::IntrospectToken => {
                let message = if rpc == Rpc::IntrospectToken {
                    IntrospectRequest {
                        token: s.access_token.clone(),
                        ..IntrospectRequest::default()
                    }
                } else {
                    IntrospectRequest {
                        client_id: s.client_id.clone(),
                        client_secret: s.secret.clone(),
                        ..IntrospectRequest::default()
                    }
                };
                let result = api
                    .introspection()
                    .introspect(authorization(auth.clone(), message))
                    .await;
                answered(result, |r: IntrospectResponse| {
                    if r.active {
                        Answer::Active
                    } else {
                        Answer::Inactive
                    }
                    .label()
                })
            }
            Rpc::IssueToken => {
                let message = IssueTokenRequest {
                    client_id: s.client_id.clone(),
                    client_secret: s.secret.clone(),
                };
                code(
                    api.token_service()
                        .issue_token(authorization(auth.clone(), message))
                        .await,
                )
            }
            Rpc::GetJwks => code(
                api.token_service()
                    .get_jwks(authorization(auth.clone(), GetJwksRequest {}))
                    .await,
            ),
            Rpc::CheckBasic | Rpc::CheckBearer => {
                let credentials = if rpc == Rpc::CheckBearer {
                    format!("Bearer {}", s.access_token)
                } else {
                    let pair = format!("{}:{}", s.client_id, s.secret);
                    format!("Basic {}", STANDARD.encode(pair))
                };
                let result = api.check(auth, http_request(&credentials)).await;
                answered(result.map(tonic::Response::new), |r| decision(&r))
            }
        }
    }
}

/// Creates a key in `account` as `owner`.
async fn create(fixture: &Fixture, owner: &str, account: &str) -> Subject {
    let created = fixture
        .api()
        .create_key(owner, account, "matrix@example.test")
        .await
        .unwrap_or_else(|s| panic!("CreateKey in {account}: {s:?}"));
    Subject {
        account: account.to_owned(),
        client_id: created.key.expect("key").client_id,
        secret: created.client_secret,
        access_token: String::new(),
    }
}

/// An access token for `key`, issued to the gateway.
async fn issue(fixture: &Fixture, key: &Subject) -> String {
    fixture
        .api()
        .issue_token(Some(&fixture.gateway), &key.client_id, &key.secret)
        .await
        .unwrap_or_else(|s| panic!("IssueToken: {s:?}"))
        .access_token
}

fn authorization<T>(auth: Option<AsciiMetadataValue>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = auth {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// `OK` or the status code's name.
fn code<T>(result: Result<tonic::Response<T>, Status>) -> String {
    answered(result, |_| Answer::Ok.label())
}

fn answered<T>(result: Result<tonic::Response<T>, Status>, ok: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(response) => ok(response.into_inner()),
        Err(status) => code_name(status.code()),
    }
}

/// Envoy's instruction: allow, deny with 401, or anything else spelled out in full.
fn decision(response: &CheckResponse) -> String {
    let code = response.status.as_ref().map_or(0, |status| status.code);
    match (code, &response.http_response) {
        (0, Some(HttpResponse::OkResponse(_))) => Answer::Allow.label(),
        (16, Some(HttpResponse::DeniedResponse(denied)))
            if denied.status.as_ref().map(|s| s.code) == Some(401) =>
        {
            Answer::Deny401.label()
        }
        _ => format!("OK, unexpected {response:?}"),
    }
}

/// The least an Envoy CheckRequest carries: the HTTP request's `authorization` header.
fn http_request(authorization: &str) -> CheckRequest {
    let http = HttpRequest {
        method: "GET".into(),
        path: "/v1/payments".into(),
        headers: [("authorization".to_owned(), authorization.to_owned())].into(),
        ..HttpRequest::default()
    };
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}
