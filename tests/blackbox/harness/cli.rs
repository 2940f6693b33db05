//! Running one-shot `apikeys` subcommands (`token`, `accounts`, `migrate`, bad `serve`).

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use super::binary::apikeys_bin;
use super::child_env::clear_inherited_settings;

/// How long a one-shot command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished command printed.
#[derive(Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Panics with both streams unless the command exited 0; returns stdout.
    #[track_caller]
    pub fn success(&self) -> &str {
        assert!(
            self.status.success(),
            "apikeys exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }
}

/// Runs `apikeys ARGS…` to completion with a deadline.
pub async fn run_apikeys(args: &[&str]) -> CliOutput {
    apikeys(args).run().await
}

/// `apikeys ARGS…` with inherited settings removed (see [`clear_inherited_settings`]), to be
/// adjusted (environment, working directory) and then [`ApikeysCommand::run`].
pub fn apikeys(args: &[&str]) -> ApikeysCommand {
    let mut command = tokio::process::Command::new(apikeys_bin());
    clear_inherited_settings(&mut command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    ApikeysCommand {
        command,
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    }
}

/// A one-shot command being prepared; see [`apikeys`].
pub struct ApikeysCommand {
    command: tokio::process::Command,
    args: Vec<String>,
}

impl ApikeysCommand {
    /// Sets a variable of the child's environment.
    pub fn env(mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(name, value);
        self
    }

    /// Removes a variable the child would inherit from the test process.
    pub fn env_remove(mut self, name: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(name);
        self
    }

    /// Runs the command in `dir` instead of the test's working directory.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Runs the command to completion with a deadline.
    pub async fn run(mut self) -> CliOutput {
        let args = &self.args;
        let output = tokio::time::timeout(COMMAND_TIMEOUT, self.command.output())
            .await
            .unwrap_or_else(|_| {
                panic!("apikeys {args:?} did not finish within {COMMAND_TIMEOUT:?}")
            })
            .unwrap_or_else(|e| panic!("run apikeys {args:?}: {e}"));
        CliOutput {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
