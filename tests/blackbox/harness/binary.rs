//! Locates the `apikeys` binary: `APIKEYS_BIN` if set, else built once per test process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The path of the `apikeys` binary under test.
///
/// Honours `APIKEYS_BIN`; otherwise runs `cargo build -p apikeys-server --bin apikeys` once per
/// process. The build shares the workspace `target/` with the test build (no `--target`, which
/// would rebuild every dependency in a second tree).
pub fn apikeys_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("APIKEYS_BIN") {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "APIKEYS_BIN={} is not a file",
                path.display()
            );
            return path;
        }
        let run = escargot::CargoBuild::new()
            .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
            .package("apikeys-server")
            .bin("apikeys")
            .run()
            .unwrap_or_else(|e| panic!("build the apikeys binary: {e}"));
        run.path().to_path_buf()
    })
}
