//! Opening a SQLite file the way every connection of the store needs it: the pool's and the
//! migrations' alike.

use std::path::Path;

use diesel::{Connection as _, ConnectionError, ConnectionResult};

/// How long SQLite waits for another writer before reporting the database as busy.
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Page cache per SQLite connection, in KiB (SQLite's default is 2000).
const CACHE_KIB: u32 = 1_024;

/// Opens a SQLite file with the settings every connection needs: WAL so readers never block the
/// writer, a busy timeout so concurrent writers queue instead of failing, foreign keys on, and
/// `synchronous=FULL` so an acknowledged key survives power loss.
pub(super) fn establish(path: &Path) -> ConnectionResult<diesel::SqliteConnection> {
    let path = path
        .to_str()
        .ok_or_else(|| ConnectionError::InvalidConnectionUrl("path is not UTF-8".into()))?;
    let mut conn = diesel::SqliteConnection::establish(path)?;
    diesel::connection::SimpleConnection::batch_execute(
        &mut conn,
        &format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS};
             PRAGMA cache_size = -{CACHE_KIB};
             PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;"
        ),
    )
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}
