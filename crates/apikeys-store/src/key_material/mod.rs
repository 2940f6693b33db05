//! Credentials: how Client IDs and Client Secrets look, how they are generated from the OS
//! CSPRNG, and how secrets are hashed with argon2id. The README's "Key format" section documents
//! the format for secret scanners.

mod base62;
mod client_id;
mod hashing;
mod secret;

pub use client_id::ClientId;
pub use hashing::{HashingParams, SecretHash, SecretHasher};
pub use secret::ClientSecret;
