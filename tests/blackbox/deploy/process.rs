//! Running the `apikeys` binary with a deployment's own command line and environment, which the
//! harness's `TestServer` (it adds its own flags) cannot do.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use crate::harness::{apikeys_bin, clear_inherited_settings};

const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const LISTENING_PREFIX: &str = "apikeys listening on ";

/// `apikeys ARGS…` with exactly `envs` as its settings: inherited `APIKEYS_*`, `OTEL_*` and
/// `RUST_LOG` variables are removed so only the deployment's own configuration applies.
fn command(args: &[String], envs: &[(String, String)]) -> Command {
    let mut command = Command::new(apikeys_bin());
    clear_inherited_settings(&mut command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .envs(envs.iter().map(|(k, v)| (k, v)));
    command
}

/// Runs a one-shot command to completion, with a deadline.
pub async fn run(args: &[String], envs: &[(String, String)]) -> std::process::Output {
    tokio::time::timeout(COMMAND_TIMEOUT, command(args, envs).output())
        .await
        .unwrap_or_else(|_| panic!("apikeys {args:?} did not finish within {COMMAND_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("run apikeys {args:?}: {e}"))
}

/// Runs a one-shot command to completion; panics with its output unless it exits 0.
pub async fn run_ok(args: &[String], envs: &[(String, String)]) -> String {
    let output = run(args, envs).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "apikeys {args:?} (env {envs:?}) exited with {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The help text of `apikeys SUBCOMMAND`; panics if the subcommand does not exist.
pub async fn help(subcommand: &str) -> String {
    run_ok(&[subcommand.to_owned(), "--help".to_owned()], &[]).await
}

/// A running `apikeys serve` started from a deployment's command line. Killed on drop; its
/// stderr is printed if the test is failing.
pub struct Serving {
    child: Child,
    addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Serving {
    /// Spawns `apikeys ARGS…` and waits, with a deadline, for its listening line.
    pub async fn start(args: &[String], envs: &[(String, String)]) -> Self {
        let mut child = command(args, envs)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn apikeys {args:?}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut stderr_lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        let sink = Arc::clone(&stderr);
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr_lines.next_line().await {
                if let Ok(mut sink) = sink.lock() {
                    sink.push_str(&line);
                    sink.push('\n');
                }
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let addr = loop {
            let line = tokio::time::timeout_at(deadline, stdout.next_line()).await;
            match line {
                Ok(Ok(Some(line))) => {
                    if let Some(addr) = line.strip_prefix(LISTENING_PREFIX) {
                        break addr
                            .trim()
                            .parse::<SocketAddr>()
                            .unwrap_or_else(|e| panic!("unparsable listening line {line:?}: {e}"));
                    }
                }
                other => {
                    // Give the stderr reader a moment to collect the reason, then report it.
                    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                    let stderr = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                    panic!(
                        "apikeys {args:?} never printed its listening line ({other:?})\n{stderr}"
                    );
                }
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Self {
            child,
            addr,
            stderr,
        }
    }

    /// A channel to this server.
    pub async fn channel(&self) -> Channel {
        Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("endpoint uri")
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect to apikeys on {}: {e}", self.addr))
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if std::thread::panicking() {
            let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
            eprintln!("--- apikeys serve on {} stderr ---\n{stderr}", self.addr);
        }
    }
}
