//! Access tokens: short-lived JWTs this service issues in exchange for client credentials
//! (TokenService.IssueToken, `POST /auth/token`) and recognises again in Introspect, ext_authz
//! Check, forward auth and `POST /oauth/introspect`.
//!
//! Tokens are EdDSA-signed with keys kept in the store (sealed under a key-encryption key), so
//! every replica signs and verifies with the same set. Each key signs for one rotation period.
//! The next key is made, and so published in the JWKS, the publish-ahead time before it takes
//! over, because gateways cache the JWKS and would not know a key that signed at once. Older
//! keys keep verifying until every token they signed has expired.
//! A valid signature is not enough: the key behind the token must still be live, so revoking
//! the key or suspending the account ends its tokens at once.

mod signing;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use apikeys_store::{ClientId, Store};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

pub use signing::{KEK_BYTES, Kek};

use self::signing::SigningKey;
use crate::crypto::keyed_digest::KeyedDigest;
use crate::error::ApiError;
use crate::verification::clock::Now;
use crate::verification::{CredentialVerifier, InactiveReason, Verdict, VerifiedKey};

/// Real tokens are ~400 bytes; longer input is refused before parsing.
const MAX_TOKEN_LEN: usize = 4 * 1024;
/// Least time between two reloads of the key set triggered by an unknown `kid`.
const RELOAD_BACKOFF: Duration = Duration::from_secs(1);
/// Signature checks remembered: a partner sends the same token on every call for an hour, and an
/// Ed25519 verification costs more than the rest of the call.
const VERIFIED_TOKENS: usize = 100_000;
const VERIFIED_TOKEN_TTL: Duration = Duration::from_secs(300);

/// What a valid signature established; liveness of the key is still checked on every call.
struct SignedFacts {
    client_id: ClientId,
    account_id: Arc<str>,
    issued_at: i64,
    expires_at: i64,
    verified_at: Instant,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub ttl: Duration,
    /// How long one signing key signs.
    pub rotation: Duration,
    /// How long a new signing key is published (in the JWKS) before it signs: gateways that
    /// cache the JWKS must have seen it first. At most half the rotation period.
    pub publish_ahead: Duration,
}

/// The live key behind a valid access token.
#[derive(Debug, Clone)]
pub struct TokenSubject {
    pub key: Arc<VerifiedKey>,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

/// The answer to client credentials presented for a token.
pub enum Exchange {
    Issued {
        token: IssuedToken,
        key: Arc<VerifiedKey>,
    },
    /// Unknown id, wrong or malformed secret, revoked key, account without API access: one
    /// answer for all, so nothing is learnt from it.
    InvalidClient,
    /// Too many wrong secrets for this client id lately.
    Throttled,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    account_id: String,
    iat: i64,
    exp: i64,
    jti: String,
}

#[derive(Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<SigningKey>>,
    newest: Option<Arc<SigningKey>>,
}

impl KeySet {
    /// The key that signs at `now`: the newest one published at least `publish_ahead` ago, or,
    /// when none has been published that long (a new database), the one published longest.
    fn signer(
        &self,
        now: NaiveDateTime,
        publish_ahead: chrono::Duration,
    ) -> Option<&Arc<SigningKey>> {
        let published_long_enough = self
            .by_kid
            .values()
            .filter(|key| now - key.created_at >= publish_ahead)
            .max_by_key(|key| key.created_at);
        published_long_enough.or_else(|| self.by_kid.values().min_by_key(|key| key.created_at))
    }
}

pub struct AccessTokens {
    store: Store,
    verifier: Arc<CredentialVerifier>,
    kek: Kek,
    settings: TokenSettings,
    keys: RwLock<KeySet>,
    last_reload: Mutex<Option<Instant>>,
    /// Keyed by a BLAKE3 digest of the token under a per-process key: tokens themselves are
    /// not kept.
    ///
    /// quick_cache (as the verification cache): a read is a lookup and a refcount, with no
    /// bookkeeping on the gateway's hot path; the time-to-live is checked on read.
    verified: quick_cache::sync::Cache<[u8; 32], Arc<SignedFacts>>,
    digest: KeyedDigest,
}

impl AccessTokens {
    /// Loads the key set, making the first key if there is none (or the newest is too old).
    pub async fn start(
        store: Store,
        verifier: Arc<CredentialVerifier>,
        kek: Kek,
        settings: TokenSettings,
    ) -> Result<Arc<Self>, ApiError> {
        let tokens = Arc::new(Self {
            store,
            verifier,
            kek,
            settings,
            keys: RwLock::new(KeySet::default()),
            last_reload: Mutex::new(None),
            verified: quick_cache::sync::Cache::new(VERIFIED_TOKENS),
            digest: KeyedDigest::random(),
        });
        tokens.maintain().await?;
        Ok(tokens)
    }

    /// Reloads keys, makes the next key once the newest has signed for its rotation period less
    /// the publish-ahead time (so the next one is published that long before it signs), and
    /// deletes keys whose tokens have all expired. Run at start and then periodically.
    pub async fn maintain(&self) -> Result<(), ApiError> {
        self.reload().await?;
        let now = apikeys_store::now();
        let next_key_due = chrono_duration(self.settings.rotation - self.publish_ahead());
        let newest_is_fresh = self
            .read_keys()
            .newest
            .as_ref()
            .is_some_and(|key| now - key.created_at < next_key_due);
        if !newest_is_fresh {
            let (_, record) = SigningKey::generate(&self.kek, now).map_err(internal)?;
            self.store.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, "new access-token signing key");
            self.reload().await?;
        }
        let horizon = now - chrono_duration(self.verification_window());
        self.store.delete_signing_keys_before(horizon).await?;
        Ok(())
    }

    /// Runs [`AccessTokens::maintain`] every `interval` until the task is dropped.
    pub async fn maintain_periodically(&self, interval: Duration) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(error) = self.maintain().await {
                tracing::warn!(%error, "cannot maintain access-token signing keys; will retry");
            }
        }
    }

    /// A token for the key behind live client credentials.
    pub async fn exchange(&self, client_id: &str, secret: &str) -> Result<Exchange, ApiError> {
        Ok(
            match self.verifier.verify_secret(client_id, secret).await? {
                Verdict::Active(key) => Exchange::Issued {
                    token: self.issue(&key)?,
                    key,
                },
                Verdict::Inactive(InactiveReason::Throttled) => Exchange::Throttled,
                Verdict::Inactive(_) => Exchange::InvalidClient,
            },
        )
    }

    pub fn issue(&self, key: &VerifiedKey) -> Result<IssuedToken, ApiError> {
        let signer = self
            .read_keys()
            .signer(apikeys_store::now(), chrono_duration(self.publish_ahead()))
            .cloned()
            .ok_or_else(|| internal("no access-token signing key"))?;
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.settings.ttl.as_secs()).unwrap_or(3600);
        let mut jti = [0u8; 16];
        OsRng.fill_bytes(&mut jti);
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            sub: key.client_id().to_owned(),
            account_id: key.account_id().to_owned(),
            iat: now,
            exp: now + ttl,
            jti: URL_SAFE_NO_PAD.encode(jti),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(signer.kid.clone());
        let access_token =
            jsonwebtoken::encode(&header, &claims, &signer.encoding).map_err(internal)?;
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
        })
    }

    /// The key behind `token` if the token is well-signed, unexpired, and its key is still live
    /// (not revoked, account not suspended). Errors are infrastructure failures only.
    pub async fn verify(&self, token: &str) -> Result<Option<TokenSubject>, ApiError> {
        if token.len() > MAX_TOKEN_LEN {
            return Ok(None);
        }
        let digest = self.digest.of(token.as_bytes());
        let now = Now::read();
        let cached = self.verified.get(&digest).filter(|facts| {
            now.instant().saturating_duration_since(facts.verified_at) < VERIFIED_TOKEN_TTL
        });
        let facts = match cached {
            Some(facts) => facts,
            None => {
                // Boxed: the signing-key lookup may query the store, and that future would
                // otherwise be carried (and copied) by every call, cached or not.
                let Some(facts) = Box::pin(self.verify_signature(token)).await? else {
                    return Ok(None);
                };
                let facts = Arc::new(facts);
                self.verified.insert(digest, Arc::clone(&facts));
                facts
            }
        };
        if facts.expires_at <= now.unix_seconds() {
            return Ok(None);
        }
        let Some(key) = self.verifier.active_key(&facts.client_id, &now).await? else {
            return Ok(None);
        };
        if key.account_id() != &*facts.account_id {
            return Ok(None);
        }
        Ok(Some(TokenSubject {
            key,
            issued_at: facts.issued_at,
            expires_at: facts.expires_at,
        }))
    }

    async fn verify_signature(&self, token: &str) -> Result<Option<SignedFacts>, ApiError> {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Ok(None);
        };
        let (Algorithm::EdDSA, Some(kid)) = (header.alg, header.kid) else {
            return Ok(None);
        };
        let Some(signer) = self.signing_key(&kid).await? else {
            return Ok(None);
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_aud = false;
        validation.leeway = 0;
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &signer.decoding, &validation) else {
            return Ok(None);
        };
        let claims = data.claims;
        let Ok(client_id) = ClientId::parse("sub", &claims.sub) else {
            return Ok(None);
        };
        Ok(Some(SignedFacts {
            client_id,
            account_id: claims.account_id.into(),
            issued_at: claims.iat,
            expires_at: claims.exp,
            verified_at: Instant::now(),
        }))
    }

    /// Every key that may verify a live token, as a JWKS document.
    pub fn jwks_json(&self) -> String {
        let keys: Vec<serde_json::Value> = self
            .read_keys()
            .by_kid
            .values()
            .map(|key| key.jwk())
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// The issuer (`iss`) of every token.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// A key is published, then signs for about one rotation period; its tokens live one TTL
    /// longer.
    fn verification_window(&self) -> Duration {
        self.publish_ahead() + self.settings.rotation + self.settings.ttl
    }

    fn publish_ahead(&self) -> Duration {
        self.settings.publish_ahead.min(self.settings.rotation / 2)
    }

    async fn signing_key(&self, kid: &str) -> Result<Option<Arc<SigningKey>>, ApiError> {
        if let Some(key) = self.read_keys().by_kid.get(kid) {
            return Ok(Some(Arc::clone(key)));
        }
        // Another replica may have rotated: reload, at most once per backoff period.
        {
            let mut last = self.last_reload.lock().await;
            if last.is_some_and(|at| at.elapsed() < RELOAD_BACKOFF) {
                return Ok(None);
            }
            *last = Some(Instant::now());
        }
        self.reload().await?;
        Ok(self.read_keys().by_kid.get(kid).cloned())
    }

    async fn reload(&self) -> Result<(), ApiError> {
        let since = apikeys_store::now() - chrono_duration(self.verification_window());
        let records = self.store.signing_keys_since(since).await?;
        let mut set = KeySet::default();
        for record in &records {
            match SigningKey::from_record(&self.kek, record) {
                Ok(key) => {
                    let key = Arc::new(key);
                    if set
                        .newest
                        .as_ref()
                        .is_none_or(|newest| newest.created_at < key.created_at)
                    {
                        set.newest = Some(Arc::clone(&key));
                    }
                    set.by_kid.insert(key.kid.clone(), key);
                }
                Err(error) => tracing::error!(%error, "skipping an unusable signing key"),
            }
        }
        *self
            .keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = set;
        Ok(())
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        self.keys
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(format!("access tokens: {error}"))
}
