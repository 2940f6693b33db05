//! The credentials an HTTP client presents, read from its request headers:
//! `authorization: Bearer <token>`, `authorization: Basic base64(client_id:client_secret)`, or
//! `client_id:client_secret` in an API-key header.
//!
//! Header values are attacker-controlled: every value is length-capped before parsing, and
//! anything malformed is a [`Rejection`], never a panic. Nothing here checks that a credential
//! is live, or even that it has the shape of one of ours; that is the verifier's job.

pub mod fuzzing;
mod headers;

pub use headers::{
    Credentials, HeaderLookup, MAX_HEADER_LEN, Rejection, api_key, authorization, extract,
    single_value,
};
