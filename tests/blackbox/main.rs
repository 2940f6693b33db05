//! Black-box tests of the `apikeys` binary: every test starts the real server as a child process
//! on an isolated database and talks to it over TCP, once per backend.
//!
//! PostgreSQL variants are compiled as ignored unless `APIKEYS_TEST_POSTGRES_URL` is set at build
//! time (see `build.rs`), so a run without PostgreSQL reports them as ignored, never as passed.

/// Generates a `sqlite` and a `postgres` test for every `async fn name(backend: Backend)` listed.
macro_rules! backend_suite {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(apikeys_test_support::Backend::Sqlite).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test]
                #[cfg_attr(
                    not(apikeys_postgres_tests),
                    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
                )]
                async fn $test() {
                    super::$test(apikeys_test_support::Backend::Postgres).await;
                }
            )+
        }
    };
}

mod harness;

mod access;
mod adversarial;
mod audit;
mod authn;
mod authz;
mod authz_matrix;
mod cli;
mod config;
mod data_safety;
mod deploy;
mod ext_authz;
mod faults;
mod health_reflection;
mod http;
mod introspection;
mod local_mode;
mod not_found;
mod pagination;
mod quota;
mod replicas;
mod restart;
mod story;
mod telemetry;
mod tls;
mod tokens;
mod validation;
