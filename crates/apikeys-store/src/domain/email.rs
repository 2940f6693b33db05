use std::str::FromStr;

use super::{ValidationError, non_empty_at_most};

/// Longest address RFC 5321 allows in a path.
pub const MAX_EMAIL_LEN: usize = 254;

/// The email address a key is associated with, for identification and audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        non_empty_at_most(field, raw, MAX_EMAIL_LEN)?;
        let address = email_address::EmailAddress::from_str(raw)
            .map_err(|_| ValidationError::new(field, "is not a valid email address"))?;
        // Display-name forms ("Jo <jo@x.com>") parse too; only a bare address is an email here.
        if address.as_str() != raw || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::new(field, "is not a valid email address"));
        }
        if !address.domain().contains('.') {
            return Err(ValidationError::new(field, "must have a domain with a dot"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["ops@acme.com", "first.last+tag@sub.example.co.uk"] {
            assert_eq!(Email::parse("email", ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn rejects_malformed_and_oversized_addresses() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@acme.com",
            "ops@",
            "ops@localhost",
            "Ops <ops@acme.com>",
            " ops@acme.com",
            "ops@acme.com\n",
            long.as_str(),
        ] {
            let error = Email::parse("email", bad).unwrap_err();
            assert_eq!(error.field, "email", "{bad:?}");
        }
    }
}
