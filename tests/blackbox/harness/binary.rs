//! Locates the `apikeys` binary: `APIKEYS_BIN` if set, else built once per test process.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The path of the `apikeys` binary under test.
///
/// Honours `APIKEYS_BIN`; otherwise runs `cargo build -p apikeys-server --bin apikeys` once per
/// process. The build shares the workspace `target/` with the test build (no `--target`, which
/// would rebuild every dependency in a second tree), and runs in the environment the test
/// process was started from, minus what cargo set for running the test (see
/// [`set_by_cargo_for_the_test`]), so it finds the artifacts of an ordinary `cargo build` or
/// `cargo test` fresh and leaves them fresh.
///
/// A `-p apikeys-server` build resolves features for that package alone, so some dependencies
/// differ from the ones `cargo test --workspace` builds (features unified across the workspace
/// and its dev-dependencies). Those are distinct artifacts to cargo (different hashes): both
/// sets stay in `target/` and neither build invalidates the other; only the first run builds
/// the harness's set.
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
        let mut build = escargot::CargoBuild::new()
            .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
            .package("apikeys-server")
            .bin("apikeys");
        for (name, _) in std::env::vars_os() {
            if set_by_cargo_for_the_test(&name) {
                build = build.env_remove(name);
            }
        }
        built_binary(build)
    })
}

/// Runs `build`, says on stderr what it had to compile (nothing, when the artifacts of the
/// last build are fresh), and returns the path of the `apikeys` binary.
fn built_binary(build: escargot::CargoBuild) -> PathBuf {
    use escargot::format::Message;

    let messages = build
        .exec()
        .unwrap_or_else(|e| panic!("build the apikeys binary: {e}"));
    let mut compiled = Vec::new();
    let mut binary = None;
    for message in messages {
        let message = message.unwrap_or_else(|e| panic!("build the apikeys binary: {e}"));
        let Ok(Message::CompilerArtifact(artifact)) = message.decode() else {
            continue;
        };
        if !artifact.fresh {
            compiled.push(artifact.target.name.to_string());
        }
        if artifact.target.name == "apikeys" && artifact.target.kind.iter().any(|k| k == "bin") {
            binary = artifact.executable.map(|path| path.into_owned());
        }
    }
    if !compiled.is_empty() {
        eprintln!(
            "apikeys-blackbox: building the apikeys binary compiled {} crate(s): {}",
            compiled.len(),
            compiled.join(", ")
        );
    }
    binary.expect("cargo reported no apikeys binary")
}

/// Whether `name` is one of the variables cargo sets for the crate it runs (here: this test
/// binary), as opposed to the user's own configuration (`CARGO_HOME`, `CARGO_TARGET_DIR`,
/// `CARGO_BUILD_*`, `CARGO_PROFILE_*`, `RUSTFLAGS`, … stay, so both builds agree on them).
///
/// Build scripts subscribe to variables with `rerun-if-env-changed`, and cargo compares them
/// with its own environment: `ring` subscribes to `CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`,
/// `CARGO_PKG_VERSION_*` and `OUT_DIR`. Inherited from the test process (the values of
/// `apikeys-blackbox`) they made the nested build re-run `ring`'s build script and recompile
/// everything above it (~18 crates, a minute or more), and the next ordinary build undo it.
fn set_by_cargo_for_the_test(name: &OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    matches!(
        name,
        "OUT_DIR"
            | "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_MANIFEST_LINKS"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}
