//! The store's behaviour, run against a fresh SQLite file and a fresh PostgreSQL database.

mod support;

mod accounts;
mod keys;
mod pagination;
