//! The credential store of apikeys: accounts, API keys and their audit trail on PostgreSQL or
//! SQLite, and the key material itself (format, checksum, argon2id hashing).
//!
//! Nothing here knows about gRPC: callers hand in validated domain values and get models back.

mod db;
mod domain;
mod error;
mod key_material;
mod models;
mod schema;
mod store;
#[cfg(test)]
mod testing;

pub use db::{
    Database, DatabaseUrl, LISTENER_APPLICATION_NAME, MigrationStatus, PoolOptions, PoolUsage,
};
pub use domain::{AccountId, Actor, DisplayName, Email, ValidationError};
pub use error::StoreError;
pub use key_material::fuzzing;
pub use key_material::{
    ClientId, ClientSecret, HashingParams, SecretHash, SecretHasher, StoredHashRejection,
};
pub use models::{Account, ApiKey, AuditEvent, KeyCredential};
pub use store::{
    AuditAction, AuditPage, AuditPageRequest, Change, KeyPage, NewKey, PageRequest, RecordedChange,
    SigningKeyRecord, Store, now,
};
