use super::base62;
use crate::domain::ids::MAX_ID_LEN;
use crate::domain::{ValidationError, non_empty_at_most};

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
        Self::parse_reference(field, raw)?
            .ok_or_else(|| ValidationError::new(field, "is not a client id issued by this service"))
    }

    /// For a client id that names a key to look up: empty or oversized input is invalid, while
    /// a well-bounded string of another format is `Ok(None)`, as it names no key of ours.
    pub fn parse_reference(
        field: &'static str,
        raw: &str,
    ) -> Result<Option<Self>, ValidationError> {
        non_empty_at_most(field, raw, MAX_ID_LEN)?;
        let well_formed = raw
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.len() == RANDOM_LEN && base62::is_base62(rest));
        Ok(well_formed.then(|| Self(raw.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_trusted(stored: String) -> Self {
        Self(stored)
    }
}

impl std::borrow::Borrow<str> for ClientId {
    fn borrow(&self) -> &str {
        &self.0
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

    #[test]
    fn references_distinguish_invalid_from_unknown() {
        assert!(ClientId::parse_reference("client_id", "").is_err());
        assert!(ClientId::parse_reference("client_id", &"a".repeat(129)).is_err());
        assert_eq!(
            ClientId::parse_reference("client_id", "someone-elses-id").unwrap(),
            None
        );
        let id = ClientId::generate();
        assert_eq!(
            ClientId::parse_reference("client_id", id.as_str()).unwrap(),
            Some(id)
        );
    }
}
