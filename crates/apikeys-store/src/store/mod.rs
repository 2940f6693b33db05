//! The operations the service performs, each one transaction on either backend.

mod accounts;
mod audit;
mod changes;
mod keys;
mod page;
mod quota;
mod signing_keys;

use chrono::{NaiveDateTime, SubsecRound, Utc};

pub use audit::{AuditAction, AuditPage};
pub use changes::{Change, RecordedChange};
pub use keys::NewKey;
pub use page::{AuditPageRequest, KeyPage, PageRequest};
pub use signing_keys::SigningKeyRecord;

use crate::db::Database;

/// The credential store: a thin layer of transactions over a [`Database`]. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Database,
}

impl Store {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    pub fn database(&self) -> &Database {
        &self.db
    }
}

/// Current UTC time at the microsecond precision both backends keep, so a value read back
/// (and a page token made from it) compares equal to the one written.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
