use std::path::{Path, PathBuf};
use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Where caller-token verification keys come from.
#[derive(Clone)]
pub enum IdentityProvider {
    /// A shared HS256 secret (tests, simple set-ups).
    Hs256Secret {
        secret: Vec<u8>,
        issuer: String,
        audience: String,
    },
    /// One PEM public key: RSA (RS256/384/512, PS256/384/512), EC P-256 (ES256) or Ed25519 (EdDSA).
    PublicKeyPem {
        path: PathBuf,
        issuer: String,
        audience: String,
    },
    /// A JWKS document; tokens pick a key by `kid`.
    JwksFile {
        path: PathBuf,
        issuer: String,
        audience: String,
    },
}

/// The keys that may sign caller tokens, each tied to the algorithms it is valid for, so a
/// token cannot choose an algorithm its key was not meant for (no HS/RS confusion).
pub struct VerificationKeys {
    keys: Vec<VerificationKey>,
    issuer: String,
    audience: String,
}

struct VerificationKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

impl VerificationKeys {
    pub fn from_provider(provider: &IdentityProvider) -> Result<Self, KeyLoadError> {
        match provider {
            IdentityProvider::Hs256Secret {
                secret,
                issuer,
                audience,
            } => Ok(Self::hs256(secret, issuer, audience)),
            IdentityProvider::PublicKeyPem {
                path,
                issuer,
                audience,
            } => Ok(Self {
                keys: vec![load_pem(path)?],
                issuer: issuer.clone(),
                audience: audience.clone(),
            }),
            IdentityProvider::JwksFile {
                path,
                issuer,
                audience,
            } => Ok(Self {
                keys: load_jwks(path)?,
                issuer: issuer.clone(),
                audience: audience.clone(),
            }),
        }
    }

    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Self {
            keys: vec![VerificationKey {
                kid: None,
                key: DecodingKey::from_secret(secret),
                algorithms: vec![Algorithm::HS256],
            }],
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// The key for a token header, if one is configured for that `kid` and algorithm.
    pub fn select(
        &self,
        algorithm: Algorithm,
        kid: Option<&str>,
    ) -> Option<(&DecodingKey, Algorithm)> {
        let usable = |key: &&VerificationKey| key.algorithms.contains(&algorithm);
        let key = match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(usable)
                .find(|key| key.kid.as_deref() == Some(kid))
                .or_else(|| self.only_key_without_kid(algorithm)),
            None => self.only_key_without_kid(algorithm),
        }?;
        Some((&key.key, algorithm))
    }

    fn only_key_without_kid(&self, algorithm: Algorithm) -> Option<&VerificationKey> {
        match self.keys.as_slice() {
            [only] if only.algorithms.contains(&algorithm) => Some(only),
            _ => None,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }
}

fn read(path: &Path) -> Result<Vec<u8>, KeyLoadError> {
    std::fs::read(path).map_err(|source| KeyLoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

type PemParser = fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>;

fn load_pem(path: &Path) -> Result<VerificationKey, KeyLoadError> {
    let pem = read(path)?;
    let candidates: [(PemParser, &[Algorithm]); 3] = [
        (DecodingKey::from_rsa_pem, RSA_ALGORITHMS),
        (DecodingKey::from_ec_pem, &[Algorithm::ES256]),
        (DecodingKey::from_ed_pem, &[Algorithm::EdDSA]),
    ];
    candidates
        .into_iter()
        .find_map(|(parse, algorithms)| {
            parse(&pem).ok().map(|key| VerificationKey {
                kid: None,
                key,
                algorithms: algorithms.to_vec(),
            })
        })
        .ok_or_else(|| KeyLoadError::Invalid {
            path: path.display().to_string(),
            reason: "not an RSA, EC P-256 or Ed25519 public key in PEM form".into(),
        })
}

fn load_jwks(path: &Path) -> Result<Vec<VerificationKey>, KeyLoadError> {
    let invalid = |reason: String| KeyLoadError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let set: JwkSet = serde_json::from_slice(&read(path)?)
        .map_err(|e| invalid(format!("not a JWKS document: {e}")))?;
    let keys = set
        .keys
        .iter()
        .map(|jwk| {
            let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("bad key: {e}")))?;
            let declared = jwk
                .common
                .key_algorithm
                .and_then(|alg| Algorithm::from_str(&alg.to_string()).ok());
            let algorithms = match (&jwk.algorithm, declared) {
                (_, Some(algorithm)) => vec![algorithm],
                (AlgorithmParameters::RSA(_), None) => RSA_ALGORITHMS.to_vec(),
                (AlgorithmParameters::EllipticCurve(ec), None)
                    if ec.curve == EllipticCurve::P256 =>
                {
                    vec![Algorithm::ES256]
                }
                (AlgorithmParameters::OctetKeyPair(_), None) => vec![Algorithm::EdDSA],
                _ => return Err(invalid("key without a usable algorithm".into())),
            };
            Ok(VerificationKey {
                kid: jwk.common.key_id.clone(),
                key,
                algorithms,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(invalid("no keys".into()));
    }
    Ok(keys)
}
