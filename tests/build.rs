//! Compiles the PostgreSQL variants of the suite as ignored unless `APIKEYS_TEST_POSTGRES_URL`
//! is set at build time, so a run without PostgreSQL never reports them as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(apikeys_postgres_tests)");
    println!("cargo::rerun-if-env-changed=APIKEYS_TEST_POSTGRES_URL");
    if std::env::var_os("APIKEYS_TEST_POSTGRES_URL").is_some() {
        println!("cargo::rustc-cfg=apikeys_postgres_tests");
    }
}
