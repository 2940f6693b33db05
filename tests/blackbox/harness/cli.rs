//! Running one-shot `apikeys` subcommands (`token`, `accounts`, `migrate`, bad `serve`).

use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use super::binary::apikeys_bin;

/// How long a one-shot command may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variables of the binary that must not leak from the test environment.
pub(super) const APIKEYS_ENV: &[&str] = &[
    "APIKEYS_DATABASE_URL",
    "APIKEYS_LISTEN",
    "APIKEYS_MAX_ACTIVE_KEYS",
    "APIKEYS_JWT_HS256_SECRET",
    "APIKEYS_JWT_PUBLIC_KEY_FILE",
    "APIKEYS_JWT_JWKS_FILE",
    "APIKEYS_JWT_ISSUER",
    "APIKEYS_JWT_AUDIENCE",
    "APIKEYS_LOCAL_SIGNING_KEY_FILE",
];

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
    let mut command = tokio::process::Command::new(apikeys_bin());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in APIKEYS_ENV {
        command.env_remove(var);
    }
    let output = tokio::time::timeout(COMMAND_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("apikeys {args:?} did not finish within {COMMAND_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("run apikeys {args:?}: {e}"));
    CliOutput {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
