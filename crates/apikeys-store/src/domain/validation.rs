/// A rejected input value; `field` names the request field so callers can say which one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}

/// The first checks of a required, bounded text field (account id, client id, email): present,
/// and at most `max_len` bytes long, reported as characters (which they are for ASCII input).
pub(crate) fn non_empty_at_most(
    field: &'static str,
    raw: &str,
    max_len: usize,
) -> Result<(), ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.len() > max_len {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_len} characters"),
        ));
    }
    Ok(())
}
