//! The gRPC services. Handlers are thin: take the verified caller, convert the request into
//! domain values, call the store, map the result.

mod accounts;
mod api_keys;
mod convert;
mod ext_authz;
mod introspection;
mod router;
mod tokens;

pub use accounts::AccountServiceImpl;
pub use api_keys::{ApiKeyServiceImpl, KeyLimits};
pub use ext_authz::ExtAuthzService;
pub use introspection::IntrospectionServiceImpl;
pub use router::{Components, GrpcSettings, router};
pub use tokens::TokenServiceImpl;

use std::sync::Arc;

use apikeys_store::AccountId;
use tonic::{Request, Status};
use tracing::Span;

use crate::auth::{Caller, authorize_key_management};
use crate::error::ApiError;

/// The caller the authentication interceptor attached to the request.
fn caller<T>(request: &Request<T>) -> Result<Arc<Caller>, Status> {
    request
        .extensions()
        .get::<Arc<Caller>>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing caller"))
}

/// The account a request names, recorded on the handler's span.
fn account_in_span(raw: &str) -> Result<AccountId, ApiError> {
    let account_id = AccountId::parse("account_id", raw)?;
    Span::current().record("account_id", account_id.as_str());
    Ok(account_id)
}

/// The account a key-management request names, once the caller may manage its keys.
fn managed_account(caller: &Caller, raw: &str) -> Result<AccountId, ApiError> {
    let account_id = account_in_span(raw)?;
    authorize_key_management(caller, &account_id)?;
    Ok(account_id)
}
