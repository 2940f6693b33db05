use super::base62;
use crate::domain::ValidationError;
use crate::domain::ids::MAX_ID_LEN;

const PREFIX: &str = "akc_";
/// 24 base62 characters ≈ 143 random bits: unique without coordination, not guessable.
const RANDOM_LEN: usize = 24;

/// The public identifier of an API key: `akc_` + 24 base62 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    pub fn generate() -> Self {
        Self(format!("{PREFIX}{}", base62::random_string(RANDOM_LEN)))
    }

    /// Accepts only the exact format this service issues.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if raw.len() > MAX_ID_LEN {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_ID_LEN} characters"),
            ));
        }
        let well_formed = raw
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.len() == RANDOM_LEN && base62::is_base62(rest));
        if !well_formed {
            return Err(ValidationError::new(
                field,
                "is not a client id issued by this service",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_differ() {
        let a = ClientId::generate();
        let b = ClientId::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("akc_"));
        assert_eq!(a.as_str().len(), 28);
        assert_eq!(ClientId::parse("client_id", a.as_str()).unwrap(), a);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "akc_",
            "akc_short",
            "xyz_AAAAAAAAAAAAAAAAAAAAAAAA",
            "akc_AAAAAAAAAAAAAAAAAAAAAA-A",
        ] {
            assert_eq!(
                ClientId::parse("client_id", bad).unwrap_err().field,
                "client_id"
            );
        }
        assert!(ClientId::parse("client_id", &"a".repeat(10_000)).is_err());
    }
}
