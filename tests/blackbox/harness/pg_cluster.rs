//! A throwaway PostgreSQL cluster owned by one test, so the test may stop and start the database
//! under a running `apikeys serve` without disturbing the shared server other tests use.
//! `fsync` is off for speed (a killed server keeps what reached the OS); `synchronous_commit`
//! stays on, so an immediate stop never loses an acknowledged commit.
//!
//! `initdb` refuses to run as root; when the tests run as root (CI does), every PostgreSQL
//! command runs as the `postgres` system user through `runuser`, in a temp dir it owns.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use diesel_async::{AsyncConnection as _, AsyncPgConnection};

/// The system user PostgreSQL runs as when the tests run as root.
const POSTGRES_USER: &str = "postgres";

/// A PostgreSQL cluster in a temp dir on a loopback port; stopped (immediately) on drop.
pub struct PgCluster {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
    run_as_postgres: bool,
    // Dropped after the cluster is stopped (see `Drop`).
    dir: tempfile::TempDir,
}

/// How `pg_ctl stop` ends the server.
#[derive(Debug, Clone, Copy)]
pub enum StopMode {
    /// SIGQUIT: every backend dies at once, like a crash; recovery runs on the next start.
    Immediate,
    /// Disconnects clients, then checkpoints and exits.
    Fast,
}

impl PgCluster {
    /// Creates and starts a cluster with trust authentication and fsync off.
    ///
    /// # Panics
    /// If no PostgreSQL binaries are found or the cluster cannot be made: a test that asked for
    /// its own cluster must not pass without one.
    pub async fn start() -> Self {
        let cluster = tokio::task::spawn_blocking(Self::create)
            .await
            .expect("create cluster");
        cluster.start_again().await;
        cluster
    }

    fn create() -> Self {
        let bin_dir = postgres_bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("apikeys-pg-")
            .tempdir()
            .expect("create cluster dir");
        let run_as_postgres = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        if run_as_postgres {
            run_checked(Command::new("chown").args([
                "-R",
                &format!("{POSTGRES_USER}:"),
                &dir.path().display().to_string(),
            ]));
        }
        let port = free_port();
        let cluster = Self {
            data_dir: dir.path().join("data"),
            log_file: dir.path().join("postgres.log"),
            bin_dir,
            port,
            run_as_postgres,
            dir,
        };
        run_checked(&mut cluster.pg_command(
            "initdb",
            &[
                "-D",
                &cluster.data_dir.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--encoding=UTF8",
            ],
        ));
        let settings = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nfull_page_writes = off\n\
             max_connections = 100\nshared_buffers = 16MB\n",
            cluster.dir.path().display()
        );
        let conf = cluster.data_dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("read postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("write postgresql.conf");
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A direct connection for the test itself (locks, `pg_stat_activity`, …).
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url())
            .await
            .unwrap_or_else(|e| panic!("connect to test cluster: {e}\n{}", self.log()))
    }

    /// Starts the (stopped) cluster on its port and waits until it accepts connections.
    pub async fn start_again(&self) {
        let data_dir = self.data_dir.display().to_string();
        let log_file = self.log_file.display().to_string();
        let mut command = self.pg_command(
            "pg_ctl",
            &["-D", &data_dir, "-l", &log_file, "-w", "-t", "60", "start"],
        );
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("pg_ctl task")
            .expect("run pg_ctl start");
        assert!(
            output.status.success(),
            "pg_ctl start failed: {}\n--- postgres log ---\n{}",
            describe(&output),
            self.log()
        );
    }

    /// Stops the cluster and waits until it is gone.
    pub async fn stop(&self, mode: StopMode) {
        let mut command = self.stop_command(mode);
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("pg_ctl task")
            .expect("run pg_ctl stop");
        assert!(
            output.status.success(),
            "pg_ctl stop failed: {}",
            describe(&output)
        );
    }

    /// The server log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn stop_command(&self, mode: StopMode) -> Command {
        let mode = match mode {
            StopMode::Immediate => "immediate",
            StopMode::Fast => "fast",
        };
        let data_dir = self.data_dir.display().to_string();
        self.pg_command(
            "pg_ctl",
            &["-D", &data_dir, "-m", mode, "-w", "-t", "60", "stop"],
        )
    }

    /// `BIN_DIR/program ARGS…`, as the `postgres` user when running as root.
    fn pg_command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.bin_dir.join(program);
        let mut command = if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", POSTGRES_USER, "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.args(args).current_dir(self.dir.path());
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Stopping an already stopped cluster fails harmlessly.
        let _ = self.stop_command(StopMode::Immediate).output();
    }
}

/// `pg_config --bindir`, or the newest `/usr/lib/postgresql/*/bin` holding `initdb`.
fn postgres_bin_dir() -> PathBuf {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| has_server_binaries(dir));
    if let Some(dir) = from_pg_config {
        return dir;
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, bin)| bin)
        .expect("no PostgreSQL server binaries (initdb, pg_ctl) found via pg_config or /usr/lib/postgresql/*/bin")
}

fn has_server_binaries(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// A loopback port that was free a moment ago: bind port 0, read it, close.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn run_checked(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        describe(&output)
    );
    output
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits with a deadline until `probe` holds, polling every 50 ms.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if probe().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
