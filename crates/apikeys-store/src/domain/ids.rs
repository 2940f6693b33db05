use super::{ValidationError, non_empty_at_most};

/// Longest account id accepted; platform ids are far shorter, this only caps hostile input.
pub const MAX_ID_LEN: usize = 128;
/// Longest display name accepted, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// An opaque corporate account identifier: 1–128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        non_empty_at_most(field, raw, MAX_ID_LEN)?;
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                field,
                "must contain only visible ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An optional human label for a key: up to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        if raw.chars().count() > MAX_DISPLAY_NAME_CHARS {
            return Err(ValidationError::new(
                field,
                format!("must be at most {MAX_DISPLAY_NAME_CHARS} characters"),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(raw.trim().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who performed a change, as recorded in the audit trail (the caller token's subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn new(subject: impl Into<String>) -> Self {
        Self(subject.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_rejects_empty_long_and_invisible() {
        assert!(AccountId::parse("account_id", "acme-42").is_ok());
        let empty = AccountId::parse("account_id", "").unwrap_err();
        assert_eq!(empty.field, "account_id");
        assert!(AccountId::parse("account_id", &"a".repeat(129)).is_err());
        assert!(AccountId::parse("account_id", &"a".repeat(128)).is_ok());
        assert!(AccountId::parse("account_id", "has space").is_err());
        assert!(AccountId::parse("account_id", "nul\0byte").is_err());
        assert!(AccountId::parse("account_id", "ünïcode").is_err());
    }

    #[test]
    fn display_name_limits_length_and_control_characters() {
        assert_eq!(DisplayName::parse("display_name", "").unwrap().as_str(), "");
        assert!(DisplayName::parse("display_name", &"é".repeat(200)).is_ok());
        assert!(DisplayName::parse("display_name", &"é".repeat(201)).is_err());
        assert!(DisplayName::parse("display_name", "line\nbreak").is_err());
    }
}
