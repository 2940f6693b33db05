//! The environment of every `apikeys` process a test starts: inherited settings are removed, so
//! only what the test passes (flags, or variables it sets afterwards) configures the child.

use std::ffi::OsStr;

use tokio::process::Command;

/// Whether an inherited variable would configure the binary: its own `APIKEYS_*` settings, the
/// OpenTelemetry exporter's `OTEL_*` and the log filter `RUST_LOG`.
fn configures_the_binary(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("APIKEYS_") || name.starts_with("OTEL_") || name == "RUST_LOG"
}

/// Removes every inherited `APIKEYS_*`, `OTEL_*` and `RUST_LOG` variable from `command`'s
/// environment. Variables set with [`Command::env`] after this call are kept.
pub fn clear_inherited_settings(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        if configures_the_binary(&name) {
            command.env_remove(&name);
        }
    }
    command
}
