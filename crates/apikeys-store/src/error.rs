use crate::domain::ValidationError;

/// Everything that can go wrong in the store. Diesel and pool errors never leave the crate:
/// they are classified into these variants.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    #[error("api key not found")]
    KeyNotFound,

    #[error("api access is not enabled for account {account_id}")]
    ApiAccessDisabled { account_id: String },

    #[error(
        "account {account_id} already has {limit} active keys, the maximum allowed (limit {limit})"
    )]
    KeyLimitReached { account_id: String, limit: u32 },

    #[error("the credential store is unavailable: {0}")]
    Unavailable(String),

    #[error("database migration failed: {0}")]
    Migration(String),

    #[error("invalid database url: {0}")]
    InvalidUrl(String),

    #[error("secret hashing failed: {0}")]
    Hashing(String),

    #[error("unexpected database error: {0}")]
    Internal(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => StoreError::KeyNotFound,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            Error::DatabaseError(
                DatabaseErrorKind::Unknown | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) if is_busy_or_locked(info.message()) || is_connection_lost(info.message()) => {
                StoreError::Unavailable(info.message().to_owned())
            }
            Error::BrokenTransactionManager => {
                StoreError::Unavailable("connection left in a broken transaction state".into())
            }
            other => StoreError::Internal(other.to_string()),
        }
    }
}

impl From<diesel::ConnectionError> for StoreError {
    fn from(error: diesel::ConnectionError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

fn is_busy_or_locked(message: &str) -> bool {
    message.contains("database is locked") || message.contains("database is busy")
}

/// A connection that died under a query: closed or broken (tokio-postgres), or PostgreSQL
/// stopping, crashing or starting up (SQLSTATE 57P01-57P03). A retry may well succeed.
fn is_connection_lost(message: &str) -> bool {
    message.starts_with("connection closed")
        || message.starts_with("error communicating with the server")
        || message.starts_with("terminating connection")
        || message.starts_with("the database system is")
}
