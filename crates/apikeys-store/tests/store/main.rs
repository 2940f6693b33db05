//! The store's behaviour, run against a fresh SQLite file and a fresh PostgreSQL database.
#![allow(
    clippy::unwrap_used,
    reason = "a test should fail loudly on any unexpected error"
)]

mod support;

mod accounts;
mod audit;
mod changes;
mod keys;
mod pagination;
mod rehash;
mod signing_keys;
