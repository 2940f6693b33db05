//! Caller tokens for a server started with `--jwt-hs256-secret`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng as _;
use serde_json::{Map, Value, json};

/// The identity provider the server trusts: an HS256 secret, an issuer and an audience.
#[derive(Clone)]
pub struct Tokens {
    secret: String,
    issuer: String,
    audience: String,
}

impl Tokens {
    /// A fresh random secret with issuer `https://idp.test` and audience `apikeys`.
    pub fn random() -> Self {
        Self {
            secret: random_hex(32),
            issuer: "https://idp.test".into(),
            audience: "apikeys".into(),
        }
    }

    pub fn secret(&self) -> &str {
        &self.secret
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Valid claims for user `sub` in role `role` of `account`, expiring in an hour.
    pub fn user(&self, sub: &str, account: &str, role: &str) -> TokenBuilder {
        let now = now();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(sub));
        claims.insert("email".into(), json!(format!("{sub}@example.test")));
        claims.insert("account_id".into(), json!(account));
        claims.insert("role".into(), json!(role));
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 3600));
        TokenBuilder {
            claims,
            key: self.secret.clone().into_bytes(),
        }
    }

    pub fn owner(&self, account: &str) -> String {
        self.user(&format!("owner-{account}"), account, "owner")
            .sign()
    }

    pub fn admin(&self, account: &str) -> String {
        self.user(&format!("admin-{account}"), account, "admin")
            .sign()
    }

    pub fn member(&self, account: &str) -> String {
        self.user(&format!("member-{account}"), account, "member")
            .sign()
    }

    /// A company staff member (a plain member of the company's own account).
    pub fn staff(&self) -> String {
        self.user("staff-ops", "hubpay", "member").staff().sign()
    }

    /// The API gateway: scope `introspect`, no role on any customer account.
    pub fn gateway(&self) -> String {
        self.user("api-gateway", "hubpay", "service")
            .scope("introspect")
            .sign()
    }
}

/// JWT claims under construction; [`TokenBuilder::sign`] makes the token.
pub struct TokenBuilder {
    claims: Map<String, Value>,
    key: Vec<u8>,
}

impl TokenBuilder {
    pub fn staff(self) -> Self {
        self.claim("staff", json!(true))
    }

    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", json!(scope))
    }

    pub fn issuer(self, issuer: &str) -> Self {
        self.claim("iss", json!(issuer))
    }

    pub fn audience(self, audience: &str) -> Self {
        self.claim("aud", json!(audience))
    }

    /// Sets `nbf` relative to now.
    pub fn not_before_in(self, seconds: i64) -> Self {
        self.claim("nbf", json!(now() + seconds))
    }

    /// Sets `exp` relative to now; negative means already expired.
    pub fn expires_in(self, seconds: i64) -> Self {
        self.claim("exp", json!(now() + seconds))
    }

    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.claims.insert(name.into(), value);
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Signs with a different HS256 secret than the server's.
    pub fn signing_key(mut self, key: &[u8]) -> Self {
        self.key = key.to_vec();
        self
    }

    pub fn sign(self) -> String {
        self.sign_with(Algorithm::HS256)
    }

    /// Signs with another HMAC algorithm (e.g. HS512) and the same secret.
    pub fn sign_with(self, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &Value::Object(self.claims),
            &EncodingKey::from_secret(&self.key),
        )
        .expect("sign test token")
    }

    /// The same claims with `"alg": "none"` and an empty signature.
    pub fn unsigned(self) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(Value::Object(self.claims).to_string());
        format!("{header}.{claims}.")
    }
}

/// Decodes a JWT's claims without checking anything (to inspect `apikeys token` output).
pub fn decode_claims(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).expect("JWT has a payload");
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("JWT payload is base64url");
    match serde_json::from_slice(&bytes).expect("JWT payload is JSON") {
        Value::Object(claims) => claims,
        other => panic!("JWT payload is not an object: {other}"),
    }
}

pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.r#gen::<u8>()))
        .collect()
}

fn now() -> i64 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(seconds).expect("time fits i64")
}
