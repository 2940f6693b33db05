//! The gRPC services. Handlers are thin: take the verified caller, convert the request into
//! domain values, call the store, map the result.

mod accounts;
mod api_keys;
mod convert;
mod introspection;

pub use accounts::AccountServiceImpl;
pub use api_keys::{ApiKeyServiceImpl, KeyLimits};
pub use introspection::IntrospectionServiceImpl;

use tonic::{Request, Status};

use crate::auth::Caller;

/// The caller the authentication interceptor attached to the request.
fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing caller"))
}
