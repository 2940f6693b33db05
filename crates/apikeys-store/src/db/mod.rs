//! Connections to either backend behind one type. diesel-async 0.9 has no async
//! `MultiConnection`, so a pooled connection is an enum of the two kinds and
//! [`with_connection!`] runs one query body against whichever it holds: queries are written once
//! and type-checked for both backends.

mod inline;
mod listen;
mod migrations;
mod pool;
mod sqlite_connection;
mod url;

pub use listen::LISTENER_APPLICATION_NAME;
pub use migrations::MigrationStatus;
pub use pool::{Database, PoolOptions, PoolUsage};
pub use url::DatabaseUrl;

pub(crate) use pool::Connection;

/// Runs `$body` with `$c` bound to the concrete connection (`&mut AsyncPgConnection` or
/// `&mut SyncConnectionWrapper<SqliteConnection, Inline>`). The body is compiled once per
/// backend. With SQLite the whole body runs in one [`inline::run_blocking`], so it must await
/// nothing but its queries, and `?` or `return` in it leave the body, not the enclosing function.
macro_rules! with_connection {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Connection::Postgres(pooled) => {
                let $c: &mut ::diesel_async::AsyncPgConnection = &mut *pooled;
                $body
            }
            $crate::db::Connection::Sqlite(pooled) => {
                let $c: &mut $crate::db::SqliteConnection = &mut *pooled;
                $crate::db::run_blocking(async { $body })
            }
        }
    };
}
pub(crate) use inline::{Inline, run_blocking};
pub(crate) use with_connection;

pub(crate) type SqliteConnection =
    diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection, Inline>;
