//! Isolated databases for tests: a temp SQLite file, or a fresh PostgreSQL database on the
//! server named by `APIKEYS_TEST_POSTGRES_URL`, dropped when the handle is dropped.
//!
//! PostgreSQL tests are compiled as `#[ignore]` unless that variable was set at build time (the
//! `apikeys_postgres_tests` cfg a crate's build script emits, as `crates/apikeys-store/build.rs`
//! does), so a run without PostgreSQL reports them as ignored, never as passed or failed.

pub mod fuzz_seeds;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use rand::Rng;

/// The environment variable naming the PostgreSQL server used by tests.
pub const POSTGRES_URL_VAR: &str = "APIKEYS_TEST_POSTGRES_URL";

/// Which backend a test database lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for the lifetime of one test.
pub struct TestDatabase {
    url: String,
    backend: Backend,
    dir: tempfile::TempDir,
    postgres_admin: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates an empty database on `backend`.
    ///
    /// # Panics
    /// If PostgreSQL is asked for and `APIKEYS_TEST_POSTGRES_URL` is unset or unreachable:
    /// a test that asked for PostgreSQL must not pass without it.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("create temp dir");
                let path = dir.path().join("apikeys.db");
                Self {
                    url: format!("sqlite://{}", path.display()),
                    backend,
                    dir,
                    postgres_admin: None,
                }
            }
            Backend::Postgres => {
                let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
                    panic!("{POSTGRES_URL_VAR} must be set for PostgreSQL tests")
                });
                Self::postgres_on(&admin_url).await
            }
        }
    }

    /// Creates an empty database on the PostgreSQL server of `admin_url` (which names a
    /// database the user may create databases from).
    ///
    /// # Panics
    /// If the server is unreachable or refuses to create the database.
    pub async fn postgres_on(admin_url: &str) -> Self {
        let dir = tempfile::tempdir().expect("create temp dir");
        let name = format!("apikeys_test_{:016x}", rand::thread_rng().r#gen::<u64>());
        let mut admin = AsyncPgConnection::establish(admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to the PostgreSQL server: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        Self {
            url: replace_database_name(admin_url, &name),
            backend: Backend::Postgres,
            dir,
            postgres_admin: Some((admin_url.to_owned(), name)),
        }
    }

    /// The database URL, in the form `apikeys --database-url` takes.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A scratch directory that lives as long as the database (for key files, logs, …).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres_admin.take() else {
            return;
        };
        // Drop may run inside a runtime, so the cleanup gets a thread and runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                    let _ =
                        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Whether `APIKEYS_TEST_POSTGRES_URL` is set in this process's environment. Whether a build runs
/// the PostgreSQL variants of its suites is decided at build time instead, by the
/// `apikeys_postgres_tests` cfg its build script emits when the variable is set.
pub fn postgres_tests_enabled() -> bool {
    std::env::var_os(POSTGRES_URL_VAR).is_some()
}

fn replace_database_name(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database_name;

    #[test]
    fn database_name_is_replaced_keeping_credentials_and_options() {
        assert_eq!(
            replace_database_name("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database_name("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            replace_database_name("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
