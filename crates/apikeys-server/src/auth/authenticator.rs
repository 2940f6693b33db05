use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::{Validation, decode, decode_header};
use quick_cache::sync::Cache as QuickCache;
use serde::Deserialize;
use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

use super::client_certs::ClientAllowList;
use super::keys::VerificationKeys;
use super::recent_callers;
use crate::crypto::keyed_digest::KeyedDigest;
use crate::error::ApiError;

/// Real caller tokens are well under this; longer ones are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Tolerated clock skew between the identity provider and this server.
const LEEWAY_SECONDS: u64 = 30;
/// Verified caller tokens remembered, so a gateway presenting the same token on every call pays
/// for one signature check (tens of microseconds for RS256/ES256), not one per call.
const VERIFIED_TOKENS: usize = 10_000;
/// Longest a verified token is trusted without checking its signature again.
const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Client certificates whose allow-list decision is remembered.
const VERIFIED_CERTIFICATES: usize = 1_000;

/// A verified caller, put into each request's extensions by the [`Authenticator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
    pub email: Option<String>,
    pub account_id: Option<String>,
    pub role: Option<String>,
    pub staff: bool,
    pub scopes: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    staff: bool,
    #[serde(default)]
    scope: Option<String>,
    exp: i64,
}

#[derive(Clone)]
struct VerifiedToken {
    caller: Arc<Caller>,
    /// Unix seconds: the token's `exp` plus the leeway, or the end of the re-check interval,
    /// whichever comes first.
    trusted_until: i64,
}

/// Verifies caller tokens; as a tonic interceptor it rejects unauthenticated calls before any
/// handler runs. Cheap to clone: tonic clones the interceptor for every call.
#[derive(Clone)]
pub struct Authenticator {
    tokens: Arc<TokenVerifier>,
    /// With mutual TLS: which verified client certificates stand for a gateway.
    certificates: Option<Arc<CertificateCallers>>,
}

struct TokenVerifier {
    /// Tells this verifier's values apart in each thread's [`recent_callers`].
    id: u64,
    keys: VerificationKeys,
    /// Keyed by a BLAKE3 digest of the token under a per-process key: tokens themselves are
    /// not kept here (each thread keeps the few it accepted last: see [`recent_callers`]).
    ///
    /// quick_cache, like the verification cache: moka's bookkeeping cost a measurable share of
    /// the hot path (see docs/architecture.md).
    verified: QuickCache<[u8; 32], VerifiedToken>,
    digest: KeyedDigest,
}

struct CertificateCallers {
    allow_list: Arc<ClientAllowList>,
    /// Decisions keyed by a digest of the leaf certificate, so a gateway's long-lived connection
    /// does not have its certificate parsed on every call.
    decided: QuickCache<[u8; 32], Option<Arc<Caller>>>,
    digest: KeyedDigest,
}

impl Authenticator {
    pub fn new(keys: VerificationKeys) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            tokens: Arc::new(TokenVerifier {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                keys,
                verified: QuickCache::new(VERIFIED_TOKENS),
                digest: KeyedDigest::random(),
            }),
            certificates: None,
        }
    }

    /// Lets verified client certificates on `allow_list` call without a bearer token.
    pub fn with_client_certificates(mut self, allow_list: Arc<ClientAllowList>) -> Self {
        self.certificates = Some(Arc::new(CertificateCallers {
            allow_list,
            decided: QuickCache::new(VERIFIED_CERTIFICATES),
            digest: KeyedDigest::random(),
        }));
        self
    }

    /// The gateway a verified client certificate stands for, if mutual TLS is configured and
    /// the certificate's subject is allowed. `peer_certificates` is the verified chain, leaf
    /// first, as the TLS layer hands it over.
    pub fn certificate_caller(
        &self,
        peer_certificates: Option<&[impl AsRef<[u8]>]>,
    ) -> Option<Arc<Caller>> {
        let callers = self.certificates.as_ref()?;
        let leaf = peer_certificates?.first()?;
        let digest = callers.digest.of(leaf.as_ref());
        if let Some(decided) = callers.decided.get(&digest) {
            return decided;
        }
        let decided = callers.allow_list.caller_for(leaf.as_ref()).map(Arc::new);
        callers.decided.insert(digest, decided.clone());
        decided
    }

    pub fn authenticate(&self, metadata: &MetadataMap) -> Result<Arc<Caller>, ApiError> {
        let value = metadata
            .get("authorization")
            .ok_or(ApiError::Unauthenticated("missing authorization metadata"))?;
        self.authenticate_header(value.as_bytes())
    }

    /// The caller of an `authorization: Bearer <caller token>` header value (gRPC metadata or
    /// an HTTP header: the same bytes).
    pub fn authenticate_header(&self, value: &[u8]) -> Result<Arc<Caller>, ApiError> {
        // Unix seconds without chrono's calendar arithmetic: this runs on every call.
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let verifier = self.tokens.id;
        if let Some(caller) = recent_callers::recall(verifier, value, now) {
            return Ok(caller);
        }
        let text = std::str::from_utf8(value)
            .ok()
            .filter(|text| {
                text.bytes()
                    .all(|byte| byte == b'\t' || (b' '..=b'~').contains(&byte))
            })
            .ok_or(ApiError::Unauthenticated(
                "authorization metadata is not valid ASCII",
            ))?;
        let token = bearer_token(text).ok_or(ApiError::Unauthenticated(
            "authorization metadata must be `Bearer <token>`",
        ))?;
        let (caller, trusted_until) = self.verify_remembered(token, now)?;
        recent_callers::remember(verifier, value, &caller, trusted_until, now);
        Ok(caller)
    }

    /// The caller and until when (unix seconds) the token is trusted without a new check.
    fn verify_remembered(&self, token: &str, now: i64) -> Result<(Arc<Caller>, i64), ApiError> {
        let verifier = &*self.tokens;
        let digest = verifier.digest.of(token.as_bytes());
        if let Some(known) = verifier.verified.get(&digest) {
            if now < known.trusted_until {
                return Ok((known.caller, known.trusted_until));
            }
            verifier.verified.remove(&digest);
        }
        let (caller, expires_at) = self.verify(token)?;
        let caller = Arc::new(caller);
        let trusted_until = expires_at
            .saturating_add(LEEWAY_SECONDS as i64)
            .min(now.saturating_add(VERIFIED_TOKEN_TTL.as_secs() as i64));
        verifier.verified.insert(
            digest,
            VerifiedToken {
                caller: Arc::clone(&caller),
                trusted_until,
            },
        );
        Ok((caller, trusted_until))
    }

    fn verify(&self, token: &str) -> Result<(Caller, i64), ApiError> {
        let invalid = || ApiError::Unauthenticated("invalid or expired caller token");
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid());
        }
        let header = decode_header(token).map_err(|_| invalid())?;
        let (key, algorithm) = self
            .tokens
            .keys
            .select(header.alg, header.kid.as_deref())
            .ok_or_else(invalid)?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[self.tokens.keys.issuer()]);
        validation.set_audience(&[self.tokens.keys.audience()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        let claims = decode::<Claims>(token, key, &validation)
            .map_err(|error| {
                tracing::debug!(reason = %error.kind_name(), "caller token rejected");
                invalid()
            })?
            .claims;
        if claims.sub.is_empty() {
            return Err(invalid());
        }
        let caller = Caller {
            subject: claims.sub,
            email: claims.email,
            account_id: claims.account_id,
            role: claims.role,
            staff: claims.staff,
            scopes: claims
                .scope
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        };
        Ok((caller, claims.exp))
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        // A bearer token, when sent, decides; otherwise an allowed client certificate may.
        let caller = match request.metadata().get("authorization") {
            Some(value) => self.authenticate_header(value.as_bytes())?,
            None => {
                match self.certificate_caller(request.peer_certs().as_deref().map(Vec::as_slice)) {
                    Some(caller) => caller,
                    None => self.authenticate(request.metadata())?,
                }
            }
        };
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Describes a jsonwebtoken error without its payload (messages may quote token contents).
trait KindName {
    fn kind_name(&self) -> String;
}

impl KindName for jsonwebtoken::errors::Error {
    fn kind_name(&self) -> String {
        let kind = format!("{:?}", self.kind());
        kind.split(['(', ' '])
            .next()
            .unwrap_or("unknown")
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;
    use tonic::metadata::MetadataValue;

    use super::*;
    use crate::auth::keys::IdentityProvider;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn authenticator() -> Authenticator {
        Authenticator::new(
            VerificationKeys::from_provider(&IdentityProvider::Hs256Secret {
                secret: SECRET.to_vec(),
                issuer: "https://idp.test".into(),
                audience: "apikeys".into(),
            })
            .unwrap(),
        )
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn token(claims: serde_json::Value, key: &[u8]) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key),
        )
        .unwrap()
    }

    fn good_claims() -> serde_json::Value {
        json!({
            "sub": "user-1", "email": "jo@acme.com", "account_id": "acme", "role": "owner",
            "scope": "introspect other", "iss": "https://idp.test", "aud": "apikeys",
            "exp": now() + 600, "iat": now(),
        })
    }

    fn metadata(value: &str) -> MetadataMap {
        let mut map = MetadataMap::new();
        map.insert("authorization", MetadataValue::try_from(value).unwrap());
        map
    }

    #[test]
    fn valid_token_yields_the_caller() {
        let caller = authenticator()
            .authenticate(&metadata(&format!(
                "Bearer {}",
                token(good_claims(), SECRET)
            )))
            .unwrap();
        assert_eq!(caller.subject, "user-1");
        assert_eq!(caller.account_id.as_deref(), Some("acme"));
        assert_eq!(caller.role.as_deref(), Some("owner"));
        assert_eq!(caller.scopes, ["introspect", "other"]);
        assert!(!caller.staff);
    }

    #[test]
    fn bad_tokens_are_unauthenticated() {
        let mut expired = good_claims();
        expired["exp"] = json!(now() - 3600);
        let mut not_yet = good_claims();
        not_yet["nbf"] = json!(now() + 3600);
        let mut wrong_iss = good_claims();
        wrong_iss["iss"] = json!("https://evil.test");
        let mut wrong_aud = good_claims();
        wrong_aud["aud"] = json!("other");
        let mut no_exp = good_claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        let unsigned = {
            let good = token(good_claims(), SECRET);
            let payload = good.split('.').nth(1).unwrap().to_owned();
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.")
        };
        let huge = "a".repeat(10_000);
        let cases = [
            format!("Bearer {}", token(expired, SECRET)),
            format!("Bearer {}", token(not_yet, SECRET)),
            format!("Bearer {}", token(wrong_iss, SECRET)),
            format!("Bearer {}", token(wrong_aud, SECRET)),
            format!("Bearer {}", token(no_exp, SECRET)),
            format!(
                "Bearer {}",
                token(good_claims(), b"another-secret-another-secret!!")
            ),
            format!("Bearer {unsigned}"),
            format!("Bearer {huge}"),
            "Bearer not.a.jwt".to_owned(),
            "Basic dXNlcjpwYXNz".to_owned(),
            "Bearer".to_owned(),
        ];
        for value in cases {
            let error = authenticator().authenticate(&metadata(&value)).unwrap_err();
            assert!(matches!(error, ApiError::Unauthenticated(_)), "{value}");
        }
        let missing = authenticator()
            .authenticate(&MetadataMap::new())
            .unwrap_err();
        assert!(matches!(missing, ApiError::Unauthenticated(_)));
    }

    #[test]
    fn a_value_one_authenticator_accepted_is_checked_again_by_another() {
        let value = format!("Bearer {}", token(good_claims(), SECRET));
        assert!(authenticator().authenticate(&metadata(&value)).is_ok());
        // Same thread, another identity provider: the remembered value must not count.
        let other = Authenticator::new(
            VerificationKeys::from_provider(&IdentityProvider::Hs256Secret {
                secret: b"another-secret-another-secret!!!".to_vec(),
                issuer: "https://idp.test".into(),
                audience: "apikeys".into(),
            })
            .unwrap(),
        );
        assert!(matches!(
            other.authenticate(&metadata(&value)),
            Err(ApiError::Unauthenticated(_))
        ));
    }

    #[test]
    fn non_ascii_metadata_is_unauthenticated() {
        let mut map = MetadataMap::new();
        map.insert(
            "authorization",
            MetadataValue::try_from(&b"Bearer \xff\xfe"[..]).unwrap(),
        );
        assert!(matches!(
            authenticator().authenticate(&map),
            Err(ApiError::Unauthenticated(_))
        ));
    }
}
