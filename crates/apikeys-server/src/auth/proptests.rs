//! Property tests of caller-token verification: arbitrary `authorization` values and JWTs with
//! arbitrary claims never panic, every rejection is UNAUTHENTICATED, and a token is accepted
//! exactly when every claim the contract checks is present, well-typed and in range. Key files
//! load exactly when they hold a usable key, and are errors (never panics) otherwise.
//!
//! Every generated input is one the property is about: the strategies produce valid metadata
//! values, claim sets that are acceptable or rejected by construction, and key files whose
//! outcome is known, so no case is skipped.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use tonic::Code;
use tonic::metadata::{MetadataMap, MetadataValue};

use super::keys::KeyLoadError;
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

/// Bytes a metadata value may hold (HTTP/2 header value bytes: tab, visible ASCII and space,
/// and 0x80-0xff), so every generated value reaches the authenticator.
fn metadata_value_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
        0..max_len,
    )
}

// ---------------------------------------------------------------------------------------------
// Claims

/// The claims the contract checks, in the order [`values`] describes them.
const CLAIMS: [&str; 10] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "nbf",
    "email",
    "account_id",
    "role",
    "scope",
    "staff",
];

/// A claim's value; `None` leaves it out of the token.
type ClaimValue = Option<Value>;

/// The values of claim `name` that the contract accepts, and those it rejects. Times are
/// relative to now, far enough from the 30 s leeway that the clock cannot flip them.
fn values(name: &str) -> (BoxedStrategy<ClaimValue>, BoxedStrategy<ClaimValue>) {
    match name {
        "sub" => (
            "[ -~]{1,40}".prop_map(|s| Some(json!(s))).boxed(),
            prop_oneof![
                Just(Some(json!(""))),
                Just(None),
                any::<i64>().prop_map(|n| Some(json!(n))),
            ]
            .boxed(),
        ),
        "iss" => (
            Just(Some(json!(ISSUER))).boxed(),
            prop_oneof![
                "[ -~]{0,20}"
                    .prop_filter("not the issuer", |s| s != ISSUER)
                    .prop_map(|s| Some(json!(s))),
                Just(None),
            ]
            .boxed(),
        ),
        "aud" => (
            prop_oneof![
                Just(Some(json!(AUDIENCE))),
                Just(Some(json!([AUDIENCE, "other"]))),
            ]
            .boxed(),
            prop_oneof![
                "[ -~]{0,20}"
                    .prop_filter("not the audience", |s| s != AUDIENCE)
                    .prop_map(|s| Some(json!(s))),
                Just(Some(json!(["other"]))),
                Just(None),
            ]
            .boxed(),
        ),
        "exp" => (
            (120i64..1_000_000)
                .prop_map(|ahead| Some(json!(now() + ahead)))
                .boxed(),
            prop_oneof![
                (120i64..1_000_000).prop_map(|ago| Some(json!(now() - ago))),
                Just(None),
                Just(Some(json!("tomorrow"))),
            ]
            .boxed(),
        ),
        "nbf" => (
            prop_oneof![
                Just(None),
                (120i64..1_000_000).prop_map(|ago| Some(json!(now() - ago))),
            ]
            .boxed(),
            (120i64..1_000_000)
                .prop_map(|ahead| Some(json!(now() + ahead)))
                .boxed(),
        ),
        "staff" => (
            prop_oneof![Just(None), any::<bool>().prop_map(|b| Some(json!(b)))].boxed(),
            prop_oneof![Just(Some(json!("yes"))), Just(Some(json!(1)))].boxed(),
        ),
        // email, account_id, role, scope: optional strings.
        _ => (
            prop_oneof![
                Just(None),
                any::<String>().prop_map(|s| Some(json!(s))),
                Just(Some(Value::Null)),
            ]
            .boxed(),
            any::<i32>().prop_map(|n| Some(json!(n))).boxed(),
        ),
    }
}

/// Which values a claim set takes for one claim.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Acceptable,
    Rejected,
    /// Acceptable three times in four.
    Either,
}

/// Claim sets (plus unchecked extra claims) with `pick(i)` deciding the values of `CLAIMS[i]`,
/// and whether the contract accepts the set: exactly when every claim took an acceptable value.
fn claims_picking(pick: impl Fn(usize) -> Pick) -> BoxedStrategy<(Map<String, Value>, bool)> {
    let per_claim: Vec<BoxedStrategy<(ClaimValue, bool)>> = CLAIMS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (acceptable, rejected) = values(name);
            let acceptable = acceptable.prop_map(|v| (v, true)).boxed();
            let rejected = rejected.prop_map(|v| (v, false)).boxed();
            match pick(i) {
                Pick::Acceptable => acceptable,
                Pick::Rejected => rejected,
                Pick::Either => prop_oneof![3 => acceptable, 1 => rejected].boxed(),
            }
        })
        .collect();
    let extra = proptest::collection::btree_map("x_[a-z]{1,8}", any::<String>(), 0..3);
    (per_claim, extra)
        .prop_map(|(chosen, extra)| {
            let acceptable = chosen.iter().all(|(_, ok)| *ok);
            let mut map: Map<String, Value> =
                extra.into_iter().map(|(k, v)| (k, json!(v))).collect();
            for (name, (value, _)) in CLAIMS.iter().zip(chosen) {
                if let Some(value) = value {
                    map.insert((*name).to_owned(), value);
                }
            }
            (map, acceptable)
        })
        .boxed()
}

/// Claim sets the contract accepts.
fn acceptable_claims() -> BoxedStrategy<(Map<String, Value>, bool)> {
    claims_picking(|_| Pick::Acceptable)
}

/// Claim sets with exactly one claim the contract rejects, each claim in turn.
fn one_rejected_claim() -> BoxedStrategy<(Map<String, Value>, bool)> {
    (0..CLAIMS.len())
        .prop_flat_map(|bad| {
            claims_picking(move |i| {
                if i == bad {
                    Pick::Rejected
                } else {
                    Pick::Acceptable
                }
            })
        })
        .boxed()
}

/// Acceptable sets, sets with one rejected claim, and sets where any claim may be wrong, about
/// a third each: both outcomes of the property are exercised in every run.
fn claims() -> BoxedStrategy<(Map<String, Value>, bool)> {
    prop_oneof![
        acceptable_claims(),
        one_rejected_claim(),
        claims_picking(|_| Pick::Either),
    ]
    .boxed()
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

// ---------------------------------------------------------------------------------------------
// Key files

/// A key file and what loading it must give.
#[derive(Debug, Clone)]
enum KeyFile {
    /// Neither a PEM key nor a JWKS document: random bytes, or PEM armour around random text.
    Garbage(Vec<u8>),
    /// A PEM public key, usable for `algorithm`; not a JWKS document.
    Pem { pem: String, algorithm: Algorithm },
    /// A JWKS document, which loads exactly when every key in it is usable (and there is one);
    /// never a PEM key. The `kid` and an algorithm of each key.
    Jwks {
        json: String,
        usable: bool,
        keys: Vec<(String, Algorithm)>,
    },
}

impl KeyFile {
    fn content(&self) -> &[u8] {
        match self {
            Self::Garbage(bytes) => bytes,
            Self::Pem { pem, .. } => pem.as_bytes(),
            Self::Jwks { json, .. } => json.as_bytes(),
        }
    }
}

/// A DER element: `tag`, its length, `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        len @ 0..=0x7f => out.push(len as u8),
        len @ 0x80..=0xff => out.extend([0x81, len as u8]),
        len => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// SubjectPublicKeyInfo with `algorithm` (DER of the AlgorithmIdentifier's contents) and `key`.
fn spki(algorithm: &[u8], key: &[u8]) -> Vec<u8> {
    let bit_string = der(0x03, &[&[0u8][..], key].concat());
    der(0x30, &[der(0x30, algorithm), bit_string].concat())
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// An RSA modulus of 64-256 bytes, most significant byte non-zero.
fn modulus() -> impl Strategy<Value = Vec<u8>> {
    (1u8..=0xff, proptest::collection::vec(any::<u8>(), 63..256)).prop_map(|(first, rest)| {
        let mut n = vec![first];
        n.extend(rest);
        n
    })
}

fn pem_keys() -> impl Strategy<Value = KeyFile> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(|x| KeyFile::Pem {
            pem: pem(&spki(OID_ED25519, &x)),
            algorithm: Algorithm::EdDSA,
        }),
        any::<[u8; 64]>().prop_map(|xy| KeyFile::Pem {
            pem: pem(&spki(
                &[OID_EC_PUBLIC_KEY, OID_P256].concat(),
                &[&[0x04u8][..], &xy].concat(),
            )),
            algorithm: Algorithm::ES256,
        }),
        modulus().prop_map(|n| {
            // INTEGERs are signed: a leading zero keeps the modulus positive.
            let n = der(0x02, &[&[0u8][..], &n].concat());
            let e = der(0x02, &[0x01, 0x00, 0x01]);
            KeyFile::Pem {
                pem: pem(&spki(OID_RSA, &der(0x30, &[n, e].concat()))),
                algorithm: Algorithm::RS256,
            }
        }),
    ]
}

/// One JWK with `kid`: its JSON, whether it is usable, and an algorithm it verifies.
fn jwk(kid: String) -> impl Strategy<Value = (Value, bool, Algorithm)> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let usable = prop_oneof![
        (any::<[u8; 32]>(), any::<bool>()).prop_map(move |(x, declared)| {
            let mut key = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&x)});
            if declared {
                key["alg"] = json!("EdDSA");
            }
            (key, true, Algorithm::EdDSA)
        }),
        (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(move |(x, y)| {
            let key = json!({"kty": "EC", "crv": "P-256", "x": b64(&x), "y": b64(&y)});
            (key, true, Algorithm::ES256)
        }),
        modulus().prop_map(move |n| {
            let key = json!({"kty": "RSA", "n": b64(&n), "e": "AQAB", "alg": "RS256"});
            (key, true, Algorithm::RS256)
        }),
        proptest::collection::vec(any::<u8>(), 16..64).prop_map(move |k| {
            let key = json!({"kty": "oct", "k": b64(&k), "alg": "HS256"});
            (key, true, Algorithm::HS256)
        }),
    ];
    let unusable = prop_oneof![
        // Key material missing.
        Just(json!({"kty": "OKP", "crv": "Ed25519"})),
        Just(json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32])})),
        Just(json!({"kty": "RSA", "e": "AQAB"})),
        Just(json!({"kty": "oct", "alg": "HS256"})),
        // Key material that is not base64url.
        "[!@#$%^&*]{1,20}".prop_map(|x| json!({"kty": "OKP", "crv": "Ed25519", "x": x})),
        "[!@#$%^&*]{1,20}".prop_map(|n| json!({"kty": "RSA", "n": n, "e": "AQAB"})),
        // No algorithm it could be used for.
        Just(json!({"kty": "oct", "k": b64(&[7; 32])})),
        Just(json!({"kty": "EC", "crv": "P-384", "x": b64(&[1; 48]), "y": b64(&[2; 48])})),
        // An algorithm that is not one.
        Just(json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[3; 32]), "alg": "none"})),
    ]
    .prop_map(|key| (key, false, Algorithm::HS256));
    prop_oneof![3 => usable, 1 => unusable].prop_map(move |(mut key, ok, algorithm)| {
        key["kid"] = json!(kid.clone());
        (key, ok, algorithm)
    })
}

/// JWKS documents of zero to three keys.
fn jwks_documents() -> impl Strategy<Value = KeyFile> {
    (0usize..=3)
        .prop_flat_map(|count| {
            (0..count)
                .map(|i| jwk(format!("key-{i}")).boxed())
                .collect::<Vec<_>>()
        })
        .prop_map(|keys| {
            let usable = !keys.is_empty() && keys.iter().all(|(_, ok, _)| *ok);
            let kids = keys
                .iter()
                .filter_map(|(key, _, algorithm)| {
                    Some((key["kid"].as_str()?.to_owned(), *algorithm))
                })
                .collect();
            let json = json!({"keys": keys.into_iter().map(|(key, _, _)| key).collect::<Vec<_>>()});
            KeyFile::Jwks {
                json: json.to_string(),
                usable,
                keys: kids,
            }
        })
}

fn key_files() -> impl Strategy<Value = KeyFile> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(KeyFile::Garbage),
        "-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]{0,200}\n-----END PUBLIC KEY-----\n"
            .prop_map(|text| KeyFile::Garbage(text.into_bytes())),
        pem_keys(),
        jwks_documents(),
    ]
}

/// Asserts `result` is the error for an unusable file at `path` (not a read error: it exists).
fn assert_invalid(
    result: Result<VerificationKeys, KeyLoadError>,
    path: &std::path::Path,
    what: &str,
) -> Result<(), TestCaseError> {
    match result {
        Ok(_) => Err(TestCaseError::fail(format!("{what}: loaded"))),
        Err(KeyLoadError::Invalid { path: named, .. }) => {
            prop_assert_eq!(named, path.display().to_string(), "{}", what);
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!("{what}: {other}"))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_authorization_values_are_unauthenticated(
        value in prop_oneof![
            metadata_value_bytes(200),
            "(Bearer|bearer|Basic) [ -~]{0,300}".prop_map(String::into_bytes),
            "Bearer [A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,40}"
                .prop_map(String::into_bytes),
        ]
    ) {
        let value = MetadataValue::try_from(value.as_slice())
            .map_err(|e| TestCaseError::fail(format!("not a metadata value: {e}")))?;
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
        (claims, _) in acceptable_claims(),
        algorithm in prop_oneof![Just(Algorithm::HS384), Just(Algorithm::HS512)],
    ) {
        let authenticator = authenticator();
        let right = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        // The claims themselves pass: only the key or the algorithm differs below.
        prop_assert!(authenticator.authenticate(&bearer(&right)).is_ok(), "{claims:?}");
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

    /// Key files are operator input: a usable one loads with its keys selectable, a broken one
    /// is an error naming the file at start-up, never a panic.
    #[test]
    fn key_files_load_exactly_when_usable_and_are_errors_otherwise(file in key_files()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, file.content()).unwrap();
        let as_pem = VerificationKeys::from_provider(&IdentityProvider::PublicKeyPem {
            path: path.clone(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
        });
        let as_jwks = VerificationKeys::from_provider(&IdentityProvider::JwksFile {
            path: path.clone(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
        });
        match &file {
            KeyFile::Garbage(_) => {
                assert_invalid(as_pem, &path, "garbage as a PEM key")?;
                assert_invalid(as_jwks, &path, "garbage as a JWKS document")?;
            }
            KeyFile::Pem { algorithm, .. } => {
                match as_pem {
                    Ok(keys) => prop_assert!(
                        keys.select(*algorithm, None).is_some(),
                        "the PEM key does not verify {:?}",
                        algorithm
                    ),
                    Err(error) => prop_assert!(false, "a usable PEM key did not load: {}", error),
                }
                assert_invalid(as_jwks, &path, "a PEM key as a JWKS document")?;
            }
            KeyFile::Jwks { usable: true, keys, .. } => {
                match as_jwks {
                    Ok(loaded) => {
                        for (kid, algorithm) in keys {
                            prop_assert!(
                                loaded.select(*algorithm, Some(kid)).is_some(),
                                "key {} does not verify {:?}",
                                kid,
                                algorithm
                            );
                        }
                    }
                    Err(error) => prop_assert!(false, "a usable JWKS did not load: {}", error),
                }
                assert_invalid(as_pem, &path, "a JWKS document as a PEM key")?;
            }
            KeyFile::Jwks { usable: false, .. } => {
                assert_invalid(as_jwks, &path, "a JWKS document without usable keys")?;
                assert_invalid(as_pem, &path, "a JWKS document as a PEM key")?;
            }
        }
    }
}
