//! Envoy's `envoy.service.auth.v3.Authorization/Check`, served with a request type that reads
//! only what a credential check needs ([`CheckRequest`]) and responses that reach the codec
//! already encoded ([`CheckResponse`]).

mod request;
mod response;

pub use request::{
    AttributeContext, CheckRequest, HttpRequest, InvalidHeaders, MapHeader, RawHeader, Request,
};
pub use response::CheckResponse;

/// The generated server: `authorization_server::{Authorization, AuthorizationServer}`.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/envoy.service.auth.v3.Authorization.rs"));
}

pub use generated::authorization_server;
