//! The processes under test: the bare baseline (this binary re-executed as `bare-server`, see
//! bare.rs) and `apikeys serve`. Both print one `… listening on ADDR` line on stdout, which is
//! read with a deadline; every spawned process is killed when its handle is dropped.

mod bare;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

#[cfg(test)]
pub use self::bare::serve_bare;
pub use self::bare::{BARE_CLIENT_ID, CLIENT_HEADER, bare_server_main};
use crate::transport::Connector;

const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

/// A spawned server process; killed on drop.
#[derive(Debug)]
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub pid: u32,
    child: Child,
}

impl ServerProcess {
    /// Spawns `program args…`, waits (with a deadline) for the `listening on ADDR` line.
    /// stderr goes to `stderr_log`, whose tail is shown if the process does not come up.
    pub async fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        stderr_log: PathBuf,
    ) -> anyhow::Result<Self> {
        let stderr = std::fs::File::create(&stderr_log)
            .with_context(|| format!("cannot create {}", stderr_log.display()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let pid = child.id().context("spawned process has no pid")?;
        let stdout = child.stdout.take().context("no stdout pipe")?;
        let mut lines = BufReader::new(stdout).lines();
        let found = tokio::time::timeout(STARTUP_DEADLINE, async {
            while let Some(line) = lines.next_line().await? {
                if let Some((_, addr)) = line.rsplit_once(" listening on ") {
                    return Ok::<_, std::io::Error>(Some(addr.trim().to_owned()));
                }
            }
            Ok(None)
        })
        .await;
        let addr = match found {
            Ok(Ok(Some(addr))) => addr
                .parse::<SocketAddr>()
                .with_context(|| format!("{name}: cannot parse listen address {addr:?}"))?,
            Ok(Ok(None)) | Ok(Err(_)) => {
                let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                bail!(
                    "{name} exited before listening ({status:?}); stderr tail:\n{}",
                    tail(&stderr_log)
                );
            }
            Err(_) => bail!(
                "{name} did not print its listen address within {STARTUP_DEADLINE:?}; stderr tail:\n{}",
                tail(&stderr_log)
            ),
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { addr, pid, child })
    }

    /// Opens `count` separate HTTP/2 connections to the server.
    pub async fn channels(&self, count: usize) -> anyhow::Result<Vec<Channel>> {
        connect_channels(self.addr, count).await
    }

    /// Resident set size of the process from /proc, in bytes: (VmRSS, VmHWM).
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .with_context(|| format!("cannot read /proc/{}/status", self.pid))?;
        let field = |key: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|line| line.starts_with(key))
                .with_context(|| format!("{key} missing from /proc/{}/status", self.pid))?;
            let kib: u64 = line
                .trim_start_matches(key)
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .with_context(|| format!("cannot parse {line:?}"))?;
            Ok(kib * 1024)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Kills the process and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Opens `count` tonic Channels, each its own TCP connection (HTTP/2), with TCP_NODELAY and
/// batched writes (see transport.rs).
pub async fn connect_channels(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60));
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        channels.push(
            endpoint
                .connect_with_connector(Connector { addr })
                .await
                .with_context(|| format!("cannot connect to {addr}"))?,
        );
    }
    Ok(channels)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Starts the bare baseline as a separate process: this very binary, `bare-server`.
pub async fn spawn_bare(log_dir: &Path) -> anyhow::Result<ServerProcess> {
    let exe = std::env::current_exe().context("cannot locate the bench binary")?;
    ServerProcess::spawn(
        "bare server",
        &exe,
        &[
            "bare-server".to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
        ],
        log_dir.join("bare.stderr.log"),
    )
    .await
}

/// The `apikeys` binary: the given path, or a release build of `apikeys-server`.
pub async fn locate_apikeys(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        if !path.exists() {
            bail!("--apikeys-bin {} does not exist", path.display());
        }
        return Ok(path);
    }
    eprintln!("building apikeys (cargo build --release -p apikeys-server --bin apikeys) …");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let built = tokio::task::spawn_blocking(move || {
        escargot::CargoBuild::new()
            .manifest_path(manifest)
            .package("apikeys-server")
            .bin("apikeys")
            .release()
            .run()
    })
    .await?
    .context("cargo build --release -p apikeys-server failed")?;
    Ok(built.path().to_path_buf())
}
