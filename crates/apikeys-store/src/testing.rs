//! What the store's own unit tests share.

/// Generates the `#[tokio::test]`s `$sqlite` and `$postgres`, which run `async fn $test(Backend)`
/// on a fresh SQLite file and on a fresh PostgreSQL database. The PostgreSQL one is ignored
/// unless `APIKEYS_TEST_POSTGRES_URL` was set at build time (`build.rs` emits the cfg), so a run
/// without a server reports it as ignored: never failed, never passed vacuously.
macro_rules! backend_tests {
    ($test:ident => $sqlite:ident, $postgres:ident $(,)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $test(::apikeys_test_support::Backend::Sqlite).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[cfg_attr(
            not(apikeys_postgres_tests),
            ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
        )]
        async fn $postgres() {
            $test(::apikeys_test_support::Backend::Postgres).await;
        }
    };
}
pub(crate) use backend_tests;
