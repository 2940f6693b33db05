//! `apikeys serve` as a child process on an isolated database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apikeys_test_support::{Backend, TestDatabase};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::api::Api;
use super::binary::apikeys_bin;
use super::child_env::clear_inherited_settings;
use super::cli::{CliOutput, run_apikeys};
use super::tokens::Tokens;

/// How long `serve` may take to migrate and print its listening line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const LISTENING_PREFIX: &str = "apikeys listening on ";

/// A running server. The child is killed and the database dropped when this is dropped; if the
/// test is panicking, the server's stderr is printed first.
pub struct TestServer {
    process: Process,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    /// The working directory of `serve`, if not the test's.
    current_dir: Option<PathBuf>,
    stderr: Arc<Mutex<String>>,
    api: Api,
    auth: Auth,
    // Dropped last: the child must be gone before its database is.
    database: TestDatabase,
}

/// One `apikeys serve` child that printed its listening line.
struct Process {
    child: Child,
    addr: SocketAddr,
    stdout_before_listening: Vec<String>,
    /// Where this child's output starts in the stderr buffer (shared across restarts).
    stderr_from: usize,
    /// Finishes when the child's stderr reaches EOF.
    stderr_done: tokio::task::JoinHandle<()>,
}

enum Auth {
    /// `--jwt-hs256-secret`: the test mints its own tokens.
    External(Tokens),
    /// No `--jwt-*` key option: tokens come from `apikeys token` with this key file.
    Local { key_file: PathBuf },
}

/// Options for [`TestServer`]; see [`TestServer::builder`].
pub struct ServerBuilder {
    backend: Backend,
    args: Vec<String>,
    local: bool,
    default_key_file: bool,
    config_in_env: bool,
    envs: Vec<(String, String)>,
    database_url: Option<String>,
}

impl ServerBuilder {
    /// Serves this database instead of a fresh one (e.g. a test's own PostgreSQL cluster); the
    /// fresh database's temp dir still holds the key files.
    pub fn database_url(mut self, url: &str) -> Self {
        self.database_url = Some(url.to_owned());
        self
    }

    /// Appends extra `serve` arguments, e.g. `["--max-active-keys", "30"]`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    /// Runs in local mode: no `--jwt-*` key options, an explicit `--local-signing-key-file`.
    pub fn local_mode(mut self) -> Self {
        self.local = true;
        self
    }

    /// Runs in local mode with the signing key at its default place: no
    /// `--local-signing-key-file`, so `<sqlite file>.signing-key`, or `apikeys.signing-key` in
    /// the working directory on PostgreSQL (`serve` then runs in the database's temp dir).
    pub fn local_mode_with_default_key_file(mut self) -> Self {
        self.local = true;
        self.default_key_file = true;
        self
    }

    /// Passes the standard configuration (listen address, database, JWT settings) as
    /// `APIKEYS_*` environment variables instead of flags.
    pub fn config_in_env(mut self) -> Self {
        self.config_in_env = true;
        self
    }

    /// Sets an environment variable of the server process.
    pub fn env(mut self, var: &str, value: &str) -> Self {
        self.envs.push((var.into(), value.into()));
        self
    }

    pub async fn start(self) -> TestServer {
        let database = TestDatabase::new(self.backend).await;
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--database-url".into(),
            self.database_url
                .clone()
                .unwrap_or_else(|| database.url().to_owned()),
            // Per test, not the shared default in the working directory; replicas inherit it.
            "--token-kek-file".into(),
            database.dir().join("token.kek").display().to_string(),
        ];
        let mut current_dir = None;
        let auth = if self.local && self.default_key_file {
            let url = self.database_url.as_deref().unwrap_or(database.url());
            let key_file = match url.strip_prefix("sqlite://") {
                Some(db_file) => PathBuf::from(format!("{db_file}.signing-key")),
                None => {
                    current_dir = Some(database.dir().to_owned());
                    database.dir().join("apikeys.signing-key")
                }
            };
            Auth::Local { key_file }
        } else if self.local {
            let key_file = database.dir().join("local-signing.key");
            args.push("--local-signing-key-file".into());
            args.push(key_file.display().to_string());
            Auth::Local { key_file }
        } else {
            let tokens = Tokens::random();
            for (flag, value) in [
                ("--jwt-hs256-secret", tokens.secret()),
                ("--jwt-issuer", tokens.issuer()),
                ("--jwt-audience", tokens.audience()),
            ] {
                args.push(flag.into());
                args.push(value.into());
            }
            Auth::External(tokens)
        };
        let mut envs = self.envs;
        if self.config_in_env {
            for pair in args[1..].chunks(2) {
                let var = format!(
                    "APIKEYS_{}",
                    pair[0]
                        .trim_start_matches("--")
                        .replace('-', "_")
                        .to_uppercase()
                );
                envs.push((var, pair[1].clone()));
            }
            args.truncate(1);
        }
        args.extend(self.args);
        TestServer::spawn(database, auth, args, envs, current_dir).await
    }
}

impl TestServer {
    /// Starts a server with an HS256 identity provider whose tokens [`TestServer::tokens`] mints.
    pub async fn start(backend: Backend) -> Self {
        Self::builder(backend).start().await
    }

    pub fn builder(backend: Backend) -> ServerBuilder {
        ServerBuilder {
            backend,
            args: Vec::new(),
            local: false,
            default_key_file: false,
            config_in_env: false,
            envs: Vec::new(),
            database_url: None,
        }
    }

    async fn spawn(
        database: TestDatabase,
        auth: Auth,
        args: Vec<String>,
        envs: Vec<(String, String)>,
        current_dir: Option<PathBuf>,
    ) -> Self {
        let stderr = Arc::new(Mutex::new(String::new()));
        let process = launch(&args, &envs, current_dir.as_deref(), &stderr).await;
        let api = Api::connect(process.addr).await;
        Self {
            process,
            args,
            envs,
            current_dir,
            stderr,
            api,
            auth,
            database,
        }
    }

    /// Kills the server (SIGKILL: no shutdown code runs) and starts it again with the same
    /// arguments and database (on a new port); [`TestServer::api`] then talks to the new process.
    pub async fn restart(&mut self) {
        let _ = self.process.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.process.child.wait()).await;
        if let Ok(mut stderr) = self.stderr.lock() {
            stderr.push_str("--- restart ---\n");
        }
        self.process = self.launch_again().await;
        self.api = Api::connect(self.process.addr).await;
    }

    /// Sends SIGTERM, waits for a clean exit (status 0) and starts the server again.
    pub async fn restart_gracefully(&mut self) {
        let pid = self.process.child.id().expect("server still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid} failed");
        let exit = tokio::time::timeout(Duration::from_secs(20), self.process.child.wait())
            .await
            .expect("server exits within 20 s of SIGTERM")
            .expect("wait for server");
        assert!(exit.success(), "graceful shutdown exited with {exit}");
        if let Ok(mut stderr) = self.stderr.lock() {
            stderr.push_str("--- graceful restart ---\n");
        }
        self.process = self.launch_again().await;
        self.api = Api::connect(self.process.addr).await;
    }

    /// Sends `signal` (e.g. `TERM`, `INT`) to the server.
    pub fn send_signal(&self, signal: &str) {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Waits up to `timeout` for the server to exit and returns its status; it stays down
    /// until [`TestServer::relaunch`].
    pub async fn wait_for_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        self.exit_within(timeout)
            .await
            .unwrap_or_else(|| panic!("server did not exit within {timeout:?}"))
    }

    /// Like [`TestServer::wait_for_exit`], but `None` if the server is still running after
    /// `timeout`, for tests that must tell a dead server from a live one.
    pub async fn exit_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.process.child.wait())
            .await
            .ok()
            .map(|status| status.expect("wait for server"))
    }

    /// [`TestServer::send_signal`] then [`TestServer::wait_for_exit`].
    pub async fn signal_and_wait(
        &mut self,
        signal: &str,
        timeout: Duration,
    ) -> std::process::ExitStatus {
        self.send_signal(signal);
        self.wait_for_exit(timeout).await
    }

    /// Starts the server again with the same arguments and database after it exited (see
    /// [`TestServer::wait_for_exit`]); [`TestServer::restart`] is the SIGKILL variant.
    pub async fn relaunch(&mut self) {
        if let Ok(mut stderr) = self.stderr.lock() {
            stderr.push_str("--- relaunch ---\n");
        }
        self.process = self.launch_again().await;
        self.api = Api::connect(self.process.addr).await;
    }

    /// A new server process with the same arguments, environment and working directory.
    async fn launch_again(&self) -> Process {
        launch(
            &self.args,
            &self.envs,
            self.current_dir.as_deref(),
            &self.stderr,
        )
        .await
    }

    /// The server process id, e.g. to read its memory use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.process.child.id().expect("server still running")
    }

    /// What the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Everything the current server process (since its last start, restart or relaunch)
    /// printed on stderr, once it exited (see [`TestServer::signal_and_wait`]) and the pipe is
    /// drained. Call once per process.
    pub async fn stderr_after_exit(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), &mut self.process.stderr_done)
            .await
            .expect("stderr closes within 10 s of the exit")
            .expect("stderr reader");
        let stderr = self.stderr();
        stderr
            .get(self.process.stderr_from..)
            .unwrap_or_default()
            .to_owned()
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr
    }

    pub fn database_url(&self) -> &str {
        self.database.url()
    }

    /// Lines printed to stdout before `apikeys listening on …` (the contract says none).
    pub fn stdout_before_listening(&self) -> &[String] {
        &self.process.stdout_before_listening
    }

    /// Clients of the three services (and health/reflection) on one channel.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The HS256 token mint the server trusts.
    ///
    /// # Panics
    /// On a local-mode server, whose tokens come from [`TestServer::local_token`].
    pub fn tokens(&self) -> &Tokens {
        match &self.auth {
            Auth::External(tokens) => tokens,
            Auth::Local { .. } => panic!("a local-mode server has no HS256 token mint"),
        }
    }

    /// The local signing key file of a local-mode server.
    ///
    /// # Panics
    /// On a server started with an external identity provider.
    pub fn local_key_file(&self) -> &std::path::Path {
        match &self.auth {
            Auth::Local { key_file } => key_file,
            Auth::External(_) => panic!("not a local-mode server"),
        }
    }

    /// Runs `apikeys token ARGS…` against this server's database and key file; returns the JWT.
    pub async fn local_token(&self, args: &[&str]) -> String {
        let key_file = self.local_key_file().display().to_string();
        let mut full = vec!["token"];
        full.extend_from_slice(args);
        full.extend_from_slice(&[
            "--database-url",
            self.database_url(),
            "--local-signing-key-file",
            &key_file,
        ]);
        let output = run_apikeys(&full).await;
        let token = output.success().trim().to_owned();
        assert_eq!(
            token.split('.').count(),
            3,
            "apikeys token printed no JWT: {output:?}"
        );
        token
    }

    /// Runs `apikeys accounts ARGS…` against this server's database.
    pub async fn accounts(&self, args: &[&str]) -> CliOutput {
        let mut full = vec!["accounts"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--database-url", self.database_url()]);
        run_apikeys(&full).await
    }

    /// Panics if the server process has exited.
    #[track_caller]
    pub fn assert_running(&mut self) {
        match self.process.child.try_wait() {
            Ok(None) => {}
            Ok(Some(status)) => panic!("apikeys serve exited with {status}"),
            Err(e) => panic!("apikeys serve state unknown: {e}"),
        }
    }
}

/// A second `apikeys serve` on the same database and identity provider as a [`TestServer`]:
/// another replica of the same deployment.
pub struct Replica {
    process: Process,
    api: Api,
    stderr: Arc<Mutex<String>>,
}

impl TestServer {
    /// Starts another replica with the same arguments plus `extra_args`.
    pub async fn replica(&self, extra_args: &[&str]) -> Replica {
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut args = self.args.clone();
        args.extend(extra_args.iter().map(|a| (*a).to_owned()));
        let process = launch(&args, &self.envs, self.current_dir.as_deref(), &stderr).await;
        let api = Api::connect(process.addr).await;
        Replica {
            process,
            api,
            stderr,
        }
    }
}

impl Replica {
    pub fn api(&self) -> &Api {
        &self.api
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.process.child.start_kill();
        if std::thread::panicking() {
            let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
            eprintln!(
                "--- replica apikeys serve on {} stderr ---\n{stderr}",
                self.process.addr
            );
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.process.child.start_kill();
        if std::thread::panicking() {
            let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
            eprintln!(
                "--- apikeys serve on {} stderr ---\n{stderr}",
                self.process.addr
            );
        }
    }
}

/// Spawns `apikeys ARGS…` and waits, with a deadline, for its listening line; panics with its
/// output if it does not come.
async fn launch(
    args: &[String],
    envs: &[(String, String)],
    current_dir: Option<&Path>,
    stderr: &Arc<Mutex<String>>,
) -> Process {
    let mut command = Command::new(apikeys_bin());
    if let Some(dir) = current_dir {
        command.current_dir(dir);
    }
    clear_inherited_settings(&mut command)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .envs(envs.iter().map(|(k, v)| (k, v)));
    let stderr_from = stderr.lock().map(|s| s.len()).unwrap_or_default();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn apikeys {args:?}: {e}"));

    let stderr_done = collect(
        child.stderr.take().expect("stderr is piped"),
        Arc::clone(stderr),
    );
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();

    let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
    let mut stdout_before_listening = Vec::new();
    let failure = loop {
        match tokio::time::timeout_at(deadline, stdout.next_line()).await {
            Err(_) => break format!("printed no listening line within {STARTUP_TIMEOUT:?}"),
            Ok(Err(e)) => break format!("reading stdout failed: {e}"),
            Ok(Ok(None)) => {
                let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                break format!("closed stdout before listening (exit: {status:?})");
            }
            Ok(Ok(Some(line))) => match line.strip_prefix(LISTENING_PREFIX) {
                Some(rest) => match rest.trim().parse::<SocketAddr>() {
                    Ok(addr) => {
                        // Keep draining stdout so the child never blocks on a full pipe.
                        tokio::spawn(
                            async move { while let Ok(Some(_)) = stdout.next_line().await {} },
                        );
                        return Process {
                            child,
                            addr,
                            stdout_before_listening,
                            stderr_from,
                            stderr_done,
                        };
                    }
                    Err(e) => break format!("unparsable listening line {line:?}: {e}"),
                },
                None => stdout_before_listening.push(line),
            },
        }
    };
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), stderr_done).await;
    let stderr = stderr.lock().map(|s| s.clone()).unwrap_or_default();
    panic!(
        "apikeys {args:?} (env {envs:?}) {failure}\n--- stdout ---\n{}\n--- stderr ---\n{stderr}",
        stdout_before_listening.join("\n")
    );
}

/// Appends everything `reader` yields to `buffer` until EOF.
fn collect(
    reader: impl AsyncRead + Unpin + Send + 'static,
    buffer: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(reader).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(mut buffer) = buffer.lock() {
                buffer.push_str(&line);
                buffer.push('\n');
            }
        }
    })
}
