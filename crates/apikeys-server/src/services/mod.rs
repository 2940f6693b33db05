//! The gRPC services. Handlers are thin: take the verified caller, convert the request into
//! domain values, call the store, map the result.

mod accounts;
mod api_keys;
mod convert;
mod ext_authz;
mod introspection;
mod tokens;

pub use accounts::AccountServiceImpl;
pub use api_keys::{ApiKeyServiceImpl, KeyLimits};
pub use ext_authz::{ExtAuthzService, ExtAuthzSettings};
pub use introspection::IntrospectionServiceImpl;
pub use tokens::TokenServiceImpl;

use std::sync::Arc;

use tonic::{Request, Status};

use crate::auth::Caller;

/// The caller the authentication interceptor attached to the request.
fn caller<T>(request: &Request<T>) -> Result<Arc<Caller>, Status> {
    request
        .extensions()
        .get::<Arc<Caller>>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing caller"))
}
