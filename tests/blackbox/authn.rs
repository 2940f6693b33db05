//! Authentication: every RPC that takes a caller token (all but the public GetJwks, which
//! answers whatever the metadata) answers UNAUTHENTICATED to a missing, malformed, expired or
//! foreign token, and to authorization metadata that is not valid text, without crashing.

use std::collections::BTreeSet;

use apikeys_test_support::Backend;
use prost::Message as _;
use tonic::Code;
use tonic::metadata::AsciiMetadataValue;

use crate::harness::{Fixture, RpcOutcome, TokenBuilder, Tokens, assert_code, bearer, random_hex};

backend_suite!(
    control_token_passes_every_rpc,
    bad_tokens_are_unauthenticated_on_every_rpc,
    non_ascii_authorization_metadata_is_unauthenticated,
    tokens_outside_the_hs256_contract_are_unauthenticated,
);

/// Claims that would be allowed everything: owner of `account`, staff, `introspect` scope.
fn super_user(tokens: &Tokens, account: &str) -> TokenBuilder {
    tokens
        .user("root", account, "owner")
        .staff()
        .scope("introspect")
}

/// Asserts every RPC that takes a caller token answers UNAUTHENTICATED to `auth` (and the
/// public one answers), then that nothing changed.
async fn assert_unauthenticated_everywhere(
    fixture: &mut Fixture,
    auth: Option<AsciiMetadataValue>,
    what: &str,
) {
    let outcomes = fixture
        .api()
        .call_every_rpc(
            auth,
            &fixture.account,
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await;
    for RpcOutcome {
        rpc,
        needs_caller_token,
        result,
    } in outcomes
    {
        if needs_caller_token {
            assert_code(result, Code::Unauthenticated, &format!("{rpc} with {what}"));
        } else if let Err(status) = result {
            panic!("{rpc} needs no caller token, yet failed with {what}: {status:?}");
        }
    }
    fixture.assert_intact().await;
}

async fn control_token_passes_every_rpc(backend: Backend) {
    // Proves the bad-token test below is discriminating: the same claims, correctly signed,
    // pass every RPC.
    let fixture = Fixture::new(backend).await;
    let token = super_user(fixture.tokens(), &fixture.account).sign();
    let results = fixture
        .api()
        .call_every_rpc(
            Some(bearer(&token)),
            &fixture.account,
            &fixture.sentinel_id,
            &fixture.sentinel_secret,
        )
        .await;
    let called: BTreeSet<&str> = results.iter().map(|outcome| outcome.rpc).collect();
    let mut declared = declared_rpcs();
    declared.insert("Authorization/Check".to_owned());
    assert_eq!(
        called,
        declared.iter().map(String::as_str).collect(),
        "call_every_rpc must call every RPC of proto/apikeys/v1 plus Check"
    );
    for RpcOutcome { rpc, result, .. } in results {
        if let Err(status) = result {
            panic!("{rpc} with a valid all-powerful token: {status:?}");
        }
    }
}

/// The methods of every service in the `apikeys.v1` descriptors the server is built from.
fn declared_rpcs() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(apikeys_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    set.file
        .iter()
        .filter(|file| file.package() == "apikeys.v1")
        .flat_map(|file| &file.service)
        .flat_map(|service| &service.method)
        .map(|method| method.name().to_owned())
        .collect()
}

async fn bad_tokens_are_unauthenticated_on_every_rpc(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let tokens = fixture.tokens().clone();
    let account = fixture.account.clone();
    let good = || super_user(&tokens, &account);
    let header = |value: &str| -> Option<AsciiMetadataValue> {
        Some(value.parse().expect("ascii metadata"))
    };
    let valid = good().sign();

    let cases: Vec<(&str, Option<AsciiMetadataValue>)> = vec![
        ("no authorization metadata", None),
        (
            "an expired token",
            Some(bearer(&good().expires_in(-3600).sign())),
        ),
        (
            "a token without exp",
            Some(bearer(&good().without("exp").sign())),
        ),
        (
            "a token signed with another key",
            Some(bearer(
                &good().signing_key(random_hex(32).as_bytes()).sign(),
            )),
        ),
        (
            "a token from another issuer",
            Some(bearer(&good().issuer("https://evil.test").sign())),
        ),
        (
            "a token without iss",
            Some(bearer(&good().without("iss").sign())),
        ),
        (
            "a token for another audience",
            Some(bearer(&good().audience("someone-else").sign())),
        ),
        (
            "a token without aud",
            Some(bearer(&good().without("aud").sign())),
        ),
        ("an alg=none token", Some(bearer(&good().unsigned()))),
        (
            "a token with its signature cut off",
            Some(bearer(
                valid
                    .rsplit_once('.')
                    .map(|(signed, _)| signed)
                    .expect("three parts"),
            )),
        ),
        ("a garbage token", Some(bearer("not.a.jwt"))),
        ("random text", Some(bearer("hello"))),
        ("an 8 KB garbage token", Some(bearer(&"x".repeat(8 * 1024)))),
        ("an empty bearer", header("Bearer ")),
        ("an empty value", header("")),
        ("the token without the Bearer scheme", header(&valid)),
        ("the Basic scheme", header("Basic dXNlcjpwYXNzd29yZA==")),
        (
            "the token twice",
            header(&format!("Bearer {valid} {valid}")),
        ),
    ];
    for (what, auth) in cases {
        assert_unauthenticated_everywhere(&mut fixture, auth, what).await;
    }
}

async fn non_ascii_authorization_metadata_is_unauthenticated(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let valid = super_user(fixture.tokens(), &fixture.account).sign();
    let raw = |bytes: Vec<u8>| -> Option<AsciiMetadataValue> {
        Some(
            AsciiMetadataValue::try_from(bytes.as_slice())
                .expect("bytes 0x20..=0xff are valid header bytes"),
        )
    };
    let cases: Vec<(&str, Option<AsciiMetadataValue>)> = vec![
        ("invalid UTF-8", raw(b"Bearer \xff\xfe\xfd".to_vec())),
        ("a lone continuation byte", raw(b"\x80".to_vec())),
        ("UTF-8 non-ASCII", raw("Bearer tökén".as_bytes().to_vec())),
        (
            "a valid token with a non-ASCII suffix",
            raw([format!("Bearer {valid}").as_bytes(), "é".as_bytes()].concat()),
        ),
        (
            "a valid token with a Latin-1 byte inside",
            raw({
                let mut bytes = format!("Bearer {valid}").into_bytes();
                let middle = bytes.len() / 2;
                bytes[middle] = 0xe9;
                bytes
            }),
        ),
    ];
    for (what, auth) in cases {
        assert_unauthenticated_everywhere(&mut fixture, auth, what).await;
    }
}

/// Claims the contract implies but a default JWT library setup may not enforce: `nbf` honoured
/// when present, HS256 only, claims of the right JSON type.
async fn tokens_outside_the_hs256_contract_are_unauthenticated(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let tokens = fixture.tokens().clone();
    let account = fixture.account.clone();
    let good = || super_user(&tokens, &account);
    let cases = [
        (
            "a token valid only in an hour (nbf)",
            good().not_before_in(3600).sign(),
        ),
        (
            "an HS512 token with the right secret",
            good().sign_with(jsonwebtoken::Algorithm::HS512),
        ),
        (
            "a token whose exp is a string",
            good().claim("exp", serde_json::json!("tomorrow")).sign(),
        ),
    ];
    for (what, token) in cases {
        assert_unauthenticated_everywhere(&mut fixture, Some(bearer(&token)), what).await;
    }
}
