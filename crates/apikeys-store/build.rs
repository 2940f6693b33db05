//! Compiles the PostgreSQL variants of the test suite in only when a server is configured, so a
//! run without one reports them as ignored instead of passing them vacuously.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(apikeys_postgres_tests)");
    println!("cargo::rerun-if-env-changed=APIKEYS_TEST_POSTGRES_URL");
    if std::env::var_os("APIKEYS_TEST_POSTGRES_URL").is_some() {
        println!("cargo::rustc-cfg=apikeys_postgres_tests");
    }
}
