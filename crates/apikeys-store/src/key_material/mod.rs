//! Credentials: how Client IDs and Client Secrets look, how they are generated from the OS
//! CSPRNG, and how secrets are hashed with argon2id. The README's "Key format" section documents
//! the format for secret scanners.

mod base62;
mod client_id;
pub mod fuzzing;
mod hashing;
mod secret;

pub use client_id::ClientId;
pub use hashing::{HashingParams, SecretHash, SecretHasher, StoredHashRejection};
pub use secret::ClientSecret;
