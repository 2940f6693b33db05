//! Messages and fields past every limit, strings that are not UTF-8, and NUL bytes: each gets
//! the documented status, nothing is hashed or stored, and the server keeps serving.

use apikeys_proto::pb::{
    CreateKeyRequest, GetAccountRequest, IntrospectRequest, IssueTokenRequest, ListKeysRequest,
    RevokeKeyRequest, SetApiAccessRequest,
};
use apikeys_test_support::Backend;
use prost::Message;
use tonic::Code;

use super::raw::{self, PLACEHOLDER, with_invalid_utf8};
use crate::ext_authz::envoy::{assert_allowed, assert_unauthorized, basic, http_request};
use crate::harness::{Fixture, assert_code, assert_inactive, assert_invalid_argument, bearer};

backend_suite!(
    oversized_messages_are_resource_exhausted,
    oversized_fields_are_refused_before_any_work,
    invalid_utf8_in_any_string_field_is_invalid_argument_naming_it,
    nul_bytes_are_rejected_or_inert,
);

const ONE_MIB: usize = 1 << 20;

async fn oversized_messages_are_resource_exhausted(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let huge = "a".repeat(ONE_MIB);
    let api = fixture.api().clone();
    let (owner, gateway, account) = (
        fixture.owner.clone(),
        fixture.gateway.clone(),
        fixture.account.clone(),
    );
    let exhausted = |result: Result<_, tonic::Status>, what: &str| {
        let status = assert_code(result.map(|_: ()| ()), Code::ResourceExhausted, what);
        assert!(status.message().contains("too large"), "{what}: {status:?}");
    };
    exhausted(
        api.create_key(&owner, &account, &huge).await.map(|_| ()),
        "CreateKey with a 1 MiB email",
    );
    exhausted(
        api.introspect(&gateway, &fixture.sentinel_id, &huge)
            .await
            .map(|_| ()),
        "Introspect with a 1 MiB secret",
    );
    exhausted(
        api.introspect(&gateway, &huge, &fixture.sentinel_secret)
            .await
            .map(|_| ()),
        "Introspect with a 1 MiB client id",
    );
    exhausted(
        api.list_keys(&owner, &account, 10, &huge).await.map(|_| ()),
        "ListKeys with a 1 MiB page token",
    );
    exhausted(
        api.set_api_access(&fixture.staff, &huge, true)
            .await
            .map(|_| ()),
        "SetApiAccess with a 1 MiB account id",
    );
    let issue = api
        .issue_token(Some(&gateway), &fixture.sentinel_id, &huge)
        .await;
    exhausted(issue.map(|_| ()), "IssueToken with a 1 MiB secret");
    let check = api
        .check(
            Some(bearer(&gateway)),
            http_request(&[("authorization", &format!("Basic {huge}"))]),
        )
        .await;
    exhausted(check.map(|_| ()), "Check with a 1 MiB header");

    // Envoy's default request-header limit is 60 KiB: a Check that large is answered.
    let value = basic(&fixture.sentinel_id, &fixture.sentinel_secret);
    let filler: Vec<(String, String)> = (0..100)
        .map(|i| (format!("x-filler-{i}"), "f".repeat(600)))
        .collect();
    let mut headers: Vec<(&str, &str)> = filler
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("authorization", &value));
    let response = api
        .check(Some(bearer(&gateway)), http_request(&headers))
        .await
        .unwrap_or_else(|s| panic!("a 60 KiB Check must be answered: {s:?}"));
    assert_allowed(
        &response,
        ("x-account-id", "x-client-id"),
        &fixture.account,
        &fixture.sentinel_id,
        &["authorization"],
        "60 KiB of headers",
    );
    fixture.assert_intact().await;
}

/// Fields over their caps inside messages under the size limit: refused by the field caps,
/// which run before any database or hashing work.
async fn oversized_fields_are_refused_before_any_work(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let big = "a".repeat(12 * 1024);
    let api = fixture.api().clone();
    assert_invalid_argument(
        api.create_key(&fixture.owner, &fixture.account, &format!("{big}@acme.com"))
            .await,
        "email",
        "CreateKey with a 12 KiB email",
    );
    assert_invalid_argument(
        api.create_key_with(
            &fixture.owner,
            CreateKeyRequest {
                account_id: fixture.account.clone(),
                email: "ops@acme.com".into(),
                display_name: big.clone(),
            },
        )
        .await,
        "display_name",
        "CreateKey with a 12 KiB display name",
    );
    assert_invalid_argument(
        api.get_account(&fixture.staff, &big).await,
        "account_id",
        "GetAccount with a 12 KiB account id",
    );
    assert_invalid_argument(
        api.revoke_key(&fixture.owner, &fixture.account, &big).await,
        "client_id",
        "RevokeKey with a 12 KiB client id",
    );
    assert_invalid_argument(
        api.list_keys(&fixture.owner, &fixture.account, 10, &big)
            .await,
        "page_token",
        "ListKeys with a 12 KiB page token",
    );
    for (id, secret) in [
        (fixture.sentinel_id.as_str(), big.as_str()),
        (big.as_str(), fixture.sentinel_secret.as_str()),
    ] {
        let response = api
            .introspect(&fixture.gateway, id, secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect with a 12 KiB field: {s:?}"));
        assert_inactive(&response, "Introspect with a 12 KiB field");
    }
    let response = api
        .check(
            Some(bearer(&fixture.gateway)),
            http_request(&[("x-api-key", &format!("{}:{big}", fixture.sentinel_id))]),
        )
        .await
        .unwrap_or_else(|s| panic!("Check with a 12 KiB API key: {s:?}"));
    assert_unauthorized(&response, "a 12 KiB API-key header");
    fixture.assert_intact().await;
}

async fn invalid_utf8_in_any_string_field_is_invalid_argument_naming_it(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let account = || fixture.account.clone();
    let p = || PLACEHOLDER.to_owned();
    let create = |account_id, email, display_name| CreateKeyRequest {
        account_id,
        email,
        display_name,
    };
    let introspect = |client_id, client_secret, token| IntrospectRequest {
        client_id,
        client_secret,
        token,
    };
    let (owner, staff, gateway) = (&fixture.owner, &fixture.staff, &fixture.gateway);
    let cases: Vec<(&'static str, &str, Vec<u8>, &str)> = vec![
        (
            "/apikeys.v1.ApiKeyService/CreateKey",
            owner,
            with_invalid_utf8(&create(p(), "ops@acme.com".into(), String::new())),
            "CreateKeyRequest.account_id",
        ),
        (
            "/apikeys.v1.ApiKeyService/CreateKey",
            owner,
            with_invalid_utf8(&create(account(), p(), String::new())),
            "CreateKeyRequest.email",
        ),
        (
            "/apikeys.v1.ApiKeyService/CreateKey",
            owner,
            with_invalid_utf8(&create(account(), "ops@acme.com".into(), p())),
            "CreateKeyRequest.display_name",
        ),
        (
            "/apikeys.v1.ApiKeyService/ListKeys",
            owner,
            with_invalid_utf8(&ListKeysRequest {
                account_id: account(),
                page_size: 0,
                page_token: p(),
            }),
            "ListKeysRequest.page_token",
        ),
        (
            "/apikeys.v1.ApiKeyService/RevokeKey",
            owner,
            with_invalid_utf8(&RevokeKeyRequest {
                account_id: account(),
                client_id: p(),
            }),
            "RevokeKeyRequest.client_id",
        ),
        (
            "/apikeys.v1.AccountService/SetApiAccess",
            staff,
            with_invalid_utf8(&SetApiAccessRequest {
                account_id: p(),
                enabled: true,
            }),
            "SetApiAccessRequest.account_id",
        ),
        (
            "/apikeys.v1.AccountService/GetAccount",
            staff,
            with_invalid_utf8(&GetAccountRequest { account_id: p() }),
            "GetAccountRequest.account_id",
        ),
        (
            "/apikeys.v1.IntrospectionService/Introspect",
            gateway,
            with_invalid_utf8(&introspect(
                p(),
                fixture.sentinel_secret.clone(),
                String::new(),
            )),
            "IntrospectRequest.client_id",
        ),
        (
            "/apikeys.v1.IntrospectionService/Introspect",
            gateway,
            with_invalid_utf8(&introspect(fixture.sentinel_id.clone(), p(), String::new())),
            "IntrospectRequest.client_secret",
        ),
        (
            "/apikeys.v1.IntrospectionService/Introspect",
            gateway,
            with_invalid_utf8(&introspect(String::new(), String::new(), p())),
            "IntrospectRequest.token",
        ),
        (
            "/apikeys.v1.TokenService/IssueToken",
            gateway,
            with_invalid_utf8(&IssueTokenRequest {
                client_id: fixture.sentinel_id.clone(),
                client_secret: p(),
            }),
            "IssueTokenRequest.client_secret",
        ),
        (
            "/envoy.service.auth.v3.Authorization/Check",
            gateway,
            with_invalid_utf8(&http_request(&[("authorization", PLACEHOLDER)])),
            "HttpRequest",
        ),
    ];
    let channel = fixture.api().channel();
    for (path, token, body, field) in cases {
        let result = raw::call(channel.clone(), path, token, body).await;
        let status = assert_code(result, Code::InvalidArgument, path);
        assert!(
            status.message().contains(field),
            "{path}: the message {:?} does not name {field}",
            status.message()
        );
    }
    // The same bytes, made valid, pass: the status came from the corruption, not the call.
    let valid = create(account(), "valid@acme.com".into(), String::new()).encode_to_vec();
    raw::call(
        channel,
        "/apikeys.v1.ApiKeyService/CreateKey",
        &fixture.owner,
        valid,
    )
    .await
    .unwrap_or_else(|s| panic!("a well-formed raw CreateKey: {s:?}"));
    fixture.assert_intact().await;
}

async fn nul_bytes_are_rejected_or_inert(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let api = fixture.api().clone();
    assert_invalid_argument(
        api.create_key(&fixture.owner, &fixture.account, "ops\0@acme.com")
            .await,
        "email",
        "an email with a NUL",
    );
    assert_invalid_argument(
        api.create_key_with(
            &fixture.owner,
            CreateKeyRequest {
                account_id: fixture.account.clone(),
                email: "ops@acme.com".into(),
                display_name: "before\0after".into(),
            },
        )
        .await,
        "display_name",
        "a display name with a NUL",
    );
    assert_invalid_argument(
        api.set_api_access(&fixture.staff, "acme\0", true).await,
        "account_id",
        "an account id with a NUL",
    );
    assert_invalid_argument(
        api.list_keys(&fixture.owner, &fixture.account, 10, "\0")
            .await,
        "page_token",
        "a page token with a NUL",
    );
    assert_code(
        api.revoke_key(
            &fixture.owner,
            &fixture.account,
            &format!("{}\0", fixture.sentinel_id),
        )
        .await,
        Code::NotFound,
        "revoking the sentinel's id with a NUL appended",
    );
    let with_nul = [
        (
            format!("{}\0", fixture.sentinel_id),
            fixture.sentinel_secret.clone(),
        ),
        (
            fixture.sentinel_id.clone(),
            format!("{}\0", fixture.sentinel_secret),
        ),
        (
            fixture.sentinel_id.clone(),
            format!("\0{}", &fixture.sentinel_secret[1..]),
        ),
    ];
    for (id, secret) in &with_nul {
        let response = api
            .introspect(&fixture.gateway, id, secret)
            .await
            .unwrap_or_else(|s| panic!("Introspect with a NUL: {s:?}"));
        assert_inactive(&response, "Introspect with a NUL");
        let check = api
            .check(
                Some(bearer(&fixture.gateway)),
                http_request(&[("x-api-key", &format!("{id}:{secret}"))]),
            )
            .await
            .unwrap_or_else(|s| panic!("Check with a NUL: {s:?}"));
        assert_unauthorized(&check, "an API-key header with a NUL");
    }
    fixture.assert_intact().await;
}
