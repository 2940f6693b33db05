//! Property tests of caller-token verification: arbitrary `authorization` values and JWTs with
//! arbitrary claims never panic, every rejection is UNAUTHENTICATED, and a token is accepted
//! exactly when every claim the contract checks is present, well-typed and in range.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tonic::Code;
use tonic::metadata::{MetadataMap, MetadataValue};

use super::{Authenticator, Caller, IdentityProvider, VerificationKeys};
use crate::error::ApiError;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "apikeys";

fn authenticator() -> Authenticator {
    Authenticator::new(VerificationKeys::hs256(SECRET, ISSUER, AUDIENCE))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn assert_unauthenticated(error: ApiError) -> Result<(), TestCaseError> {
    let is_unauthenticated = matches!(error, ApiError::Unauthenticated(_));
    prop_assert!(is_unauthenticated, "{error:?}");
    prop_assert_eq!(tonic::Status::from(error).code(), Code::Unauthenticated);
    Ok(())
}

/// One claim: its value (`None` = absent) and whether the contract accepts it.
type Claim = (Option<Value>, bool);

fn valid(value: Value) -> Claim {
    (Some(value), true)
}

fn invalid(value: Option<Value>) -> Claim {
    (value, false)
}

fn sub() -> impl Strategy<Value = Claim> {
    prop_oneof![
        "[ -~]{1,40}".prop_map(|s| valid(json!(s))),
        Just(invalid(Some(json!("")))),
        Just(invalid(None)),
        any::<i64>().prop_map(|n| invalid(Some(json!(n)))),
    ]
}

fn iss() -> impl Strategy<Value = Claim> {
    prop_oneof![
        3 => Just(valid(json!(ISSUER))),
        1 => "[ -~]{0,20}".prop_filter("not the issuer", |s| s != ISSUER)
            .prop_map(|s| invalid(Some(json!(s)))),
        1 => Just(invalid(None)),
    ]
}

fn aud() -> impl Strategy<Value = Claim> {
    prop_oneof![
        3 => Just(valid(json!(AUDIENCE))),
        1 => Just(valid(json!([AUDIENCE, "other"]))),
        1 => "[ -~]{0,20}".prop_filter("not the audience", |s| s != AUDIENCE)
            .prop_map(|s| invalid(Some(json!(s)))),
        1 => Just(invalid(Some(json!(["other"])))),
        1 => Just(invalid(None)),
    ]
}

/// Times relative to now, far enough from the 30 s leeway that the clock cannot flip them.
fn exp() -> impl Strategy<Value = Claim> {
    prop_oneof![
        3 => (120i64..1_000_000).prop_map(|ahead| valid(json!(now() + ahead))),
        1 => (120i64..1_000_000).prop_map(|ago| invalid(Some(json!(now() - ago)))),
        1 => Just(invalid(None)),
        1 => Just(invalid(Some(json!("tomorrow")))),
    ]
}

fn nbf() -> impl Strategy<Value = Claim> {
    prop_oneof![
        3 => Just((None, true)),
        1 => (120i64..1_000_000).prop_map(|ago| valid(json!(now() - ago))),
        1 => (120i64..1_000_000).prop_map(|ahead| invalid(Some(json!(now() + ahead)))),
    ]
}

fn optional_string() -> impl Strategy<Value = Claim> {
    prop_oneof![
        2 => Just((None, true)),
        2 => any::<String>().prop_map(|s| valid(json!(s))),
        1 => Just(valid(Value::Null)),
        1 => any::<i32>().prop_map(|n| invalid(Some(json!(n)))),
    ]
}

fn staff() -> impl Strategy<Value = Claim> {
    prop_oneof![
        2 => Just((None, true)),
        2 => any::<bool>().prop_map(|b| valid(json!(b))),
        1 => Just(invalid(Some(json!("yes")))),
        1 => Just(invalid(Some(json!(1)))),
    ]
}

fn claims() -> impl Strategy<Value = (Map<String, Value>, bool)> {
    (
        (sub(), iss(), aud(), exp(), nbf()),
        (
            optional_string(),
            optional_string(),
            optional_string(),
            optional_string(),
            staff(),
        ),
        proptest::collection::btree_map("x_[a-z]{1,8}", any::<String>(), 0..3),
    )
        .prop_map(
            |((sub, iss, aud, exp, nbf), (email, account, role, scope, staff), extra)| {
                let named = [
                    ("sub", sub),
                    ("iss", iss),
                    ("aud", aud),
                    ("exp", exp),
                    ("nbf", nbf),
                    ("email", email),
                    ("account_id", account),
                    ("role", role),
                    ("scope", scope),
                    ("staff", staff),
                ];
                let acceptable = named.iter().all(|(_, (_, ok))| *ok);
                let mut map: Map<String, Value> =
                    extra.into_iter().map(|(k, v)| (k, json!(v))).collect();
                for (name, (value, _)) in named {
                    if let Some(value) = value {
                        map.insert(name.to_owned(), value);
                    }
                }
                (map, acceptable)
            },
        )
}

fn bearer(token: &str) -> MetadataMap {
    let mut map = MetadataMap::new();
    map.insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {token}")).unwrap(),
    );
    map
}

fn expected_caller(claims: &Map<String, Value>) -> Caller {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    Caller {
        subject: text("sub").unwrap_or_default(),
        email: text("email"),
        account_id: text("account_id"),
        role: text("role"),
        staff: claims
            .get("staff")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        scopes: text("scope")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_authorization_values_are_unauthenticated(
        value in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            "(Bearer|bearer|Basic) [ -~]{0,300}".prop_map(String::into_bytes),
            "Bearer [A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,40}"
                .prop_map(String::into_bytes),
        ]
    ) {
        let Ok(value) = MetadataValue::try_from(value.as_slice()) else {
            return Ok(());
        };
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", value);
        assert_unauthenticated(authenticator().authenticate(&metadata).unwrap_err())?;
    }

    #[test]
    fn tokens_are_accepted_exactly_when_every_claim_is_acceptable(
        (claims, acceptable) in claims()
    ) {
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        match authenticator().authenticate(&bearer(&token)) {
            Ok(caller) => {
                prop_assert!(acceptable, "accepted {claims:?}");
                prop_assert_eq!(&*caller, &expected_caller(&claims));
            }
            Err(error) => {
                prop_assert!(!acceptable, "rejected {claims:?}: {error:?}");
                assert_unauthenticated(error)?;
            }
        }
    }

    #[test]
    fn acceptable_claims_under_another_key_or_algorithm_are_unauthenticated(
        (claims, _) in claims(),
        algorithm in prop_oneof![Just(Algorithm::HS384), Just(Algorithm::HS512)],
    ) {
        let authenticator = authenticator();
        let other_key = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"another-secret-another-secret!!!"),
        )
        .unwrap();
        let other_algorithm =
            encode(&Header::new(algorithm), &claims, &EncodingKey::from_secret(SECRET)).unwrap();
        for token in [other_key, other_algorithm] {
            assert_unauthenticated(authenticator.authenticate(&bearer(&token)).unwrap_err())?;
        }
    }

    /// Key files are operator input, but a broken one must be an error at start-up, not a panic.
    #[test]
    fn arbitrary_key_files_are_load_errors_not_panics(
        content in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            "-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{0,200}\n-----END PUBLIC KEY-----\n"
                .prop_map(String::into_bytes),
            "\\{\"keys\":\\[\\{\"kty\":\"(RSA|EC|OKP|oct)\",\"alg\":\"(RS256|HS256|ES256|none)\"(,\"[a-z]{1,3}\":\"[A-Za-z0-9_-]{0,20}\")*\\}\\]\\}"
                .prop_map(String::into_bytes),
        ]
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, &content).unwrap();
        for provider in [
            IdentityProvider::PublicKeyPem {
                path: path.clone(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
            },
            IdentityProvider::JwksFile {
                path: path.clone(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
            },
        ] {
            // Either outcome is fine; reaching this line without a panic is the property.
            let _ = VerificationKeys::from_provider(&provider);
        }
    }
}
