//! Validated domain values. The RPC layer converts raw request strings into these at the edge, so
//! nothing further in handles unchecked input.

mod email;
pub(crate) mod ids;
mod validation;

pub use email::Email;
pub use ids::{AccountId, Actor, DisplayName};
pub use validation::ValidationError;
pub(crate) use validation::non_empty_at_most;
