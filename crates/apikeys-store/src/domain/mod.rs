//! Validated domain values. The RPC layer converts raw request strings into these at the edge, so
//! nothing further in handles unchecked input.

mod email;
pub(crate) mod ids;

pub use email::Email;
pub use ids::{AccountId, Actor, DisplayName};

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
