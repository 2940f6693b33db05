//! Who is calling: caller tokens (`authorization: Bearer <JWT>`) verified against the identity
//! provider's keys or the local-mode key, and the rules of what each caller may do.

mod authenticator;
mod client_certs;
mod keys;
mod local;
mod policy;
#[cfg(test)]
mod proptests;
mod recent_callers;

pub use authenticator::{Authenticator, Caller};
pub use client_certs::ClientAllowList;
pub use keys::{IdentityProvider, VerificationKeys};
pub use local::{CallerTokenRequest, LocalSigningKey};
pub use policy::{
    INTROSPECT_SCOPE, authorize_introspection, authorize_key_management, authorize_staff,
};
