//! SIGTERM / SIGINT: health turns NOT_SERVING, the listener closes, calls in progress finish
//! (up to `--shutdown-drain-timeout-secs`), pending writes are flushed, and the exit status is 0,
//! also when the signal comes right after the listening line.

use std::fmt;
use std::time::Duration;

use apikeys_test_support::Backend;
use diesel_async::{AsyncConnection as _, AsyncPgConnection, SimpleAsyncConnection as _};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::DEADLINE;
use super::burst::{Burst, assert_acknowledged_calls_held};
use crate::harness::{Fixture, TestServer, describe_exit, eventually};

backend_suite!(
    sigterm_during_a_burst_keeps_every_acknowledged_create,
    sigint_closes_the_listener_and_a_stuck_stream_cannot_hold_the_exit,
);

const WORKERS: usize = 6;

async fn sigterm_during_a_burst_keeps_every_acknowledged_create(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&["--max-active-keys", "100000"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    let burst = Burst::start(fixture.api(), &fixture, Vec::new(), WORKERS);
    burst.wait_for_acks(3 * WORKERS).await;

    let exit = fixture.server.signal_and_wait("TERM", DEADLINE).await;
    let acknowledged = burst.finish().await;

    assert!(exit.success(), "SIGTERM must end in exit status 0: {exit}");
    fixture.server.relaunch().await;
    assert!(!acknowledged.created.is_empty());
    assert_acknowledged_calls_held(&fixture, &acknowledged).await;
}

async fn sigint_closes_the_listener_and_a_stuck_stream_cannot_hold_the_exit(backend: Backend) {
    let mut server = TestServer::builder(backend)
        .args(&["--shutdown-drain-timeout-secs", "2"])
        .start()
        .await;
    // A Watch stream never ends by itself: only the drain timeout lets the server exit.
    let mut watch = HealthClient::new(server.api().channel())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("Health/Watch")
        .into_inner();
    let first = watch.message().await.expect("watch").expect("a status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    server.send_signal("INT");

    let watched = tokio::time::timeout(DEADLINE, async {
        loop {
            match watch.message().await {
                Ok(Some(update)) if update.status == ServingStatus::NotServing as i32 => {
                    break WatchEnd::NotServing;
                }
                Ok(Some(_)) => {}
                Ok(None) => break WatchEnd::Closed,
                Err(status) => break WatchEnd::Failed(status),
            }
        }
    })
    .await
    .unwrap_or(WatchEnd::Silent);
    if !matches!(watched, WatchEnd::NotServing) {
        // Say which happened: the server died (SIGINT's default action, before its handler was
        // installed) or it is draining without having reported NOT_SERVING.
        match server.exit_within(Duration::from_secs(5)).await {
            Some(exit) if !exit.success() => panic!(
                "the server exited with {} before draining; its Watch stream {watched}",
                describe_exit(exit)
            ),
            Some(_) => panic!(
                "the server exited 0, but its Watch stream {watched} without reporting NOT_SERVING"
            ),
            None => panic!(
                "the Watch stream {watched} without reporting NOT_SERVING; the server still runs"
            ),
        }
    }
    let addr = server.addr();
    eventually("the listener closes", DEADLINE, || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    let exit = server.wait_for_exit(DEADLINE).await;
    assert!(
        exit.success(),
        "SIGINT must end in exit status 0, not {}",
        describe_exit(exit)
    );
    drop(watch);
}

/// How a health Watch stream ended after the signal.
enum WatchEnd {
    NotServing,
    Closed,
    Failed(tonic::Status),
    Silent,
}

impl fmt::Display for WatchEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotServing => f.write_str("reported NOT_SERVING"),
            Self::Closed => f.write_str("ended"),
            Self::Failed(status) => write!(f, "failed ({:?}: {})", status.code(), status.message()),
            Self::Silent => write!(f, "reported nothing but SERVING for {DEADLINE:?}"),
        }
    }
}

/// Starts per signal in [`signal_right_after_the_listening_line`]: a signal that arrived before
/// the handlers were installed killed the server in about one start in two (17 of 30).
const STARTS_PER_SIGNAL: usize = 10;
/// How long an idle server may take from the signal to its exit (no call is in progress, so the
/// drain has nothing to wait for).
const IDLE_EXIT_BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn sigint_right_after_the_listening_line_drains_and_exits_0() {
    signal_right_after_the_listening_line("INT").await;
}

#[tokio::test]
async fn sigterm_right_after_the_listening_line_drains_and_exits_0() {
    signal_right_after_the_listening_line("TERM").await;
}

/// What a supervisor or a script does: start `apikeys serve --listen 127.0.0.1:0`, read the
/// listening line, and signal at once. The line promises the signal is handled: every start
/// drains and exits 0, logging its clean shutdown, instead of dying of the default action.
async fn signal_right_after_the_listening_line(signal: &str) {
    let mut first = Some(ArmedSignal::arm(signal));
    let mut server = TestServer::start(Backend::Sqlite).await;
    for start in 1..=STARTS_PER_SIGNAL {
        let armed = match first.take() {
            Some(armed) => armed,
            None => {
                let armed = ArmedSignal::arm(signal);
                server.relaunch().await;
                armed
            }
        };
        // The harness returns as soon as it has read the listening line.
        armed.fire(server.pid()).await;
        let exit = server
            .exit_within(IDLE_EXIT_BOUND)
            .await
            .unwrap_or_else(|| {
                panic!("start {start}: still running {IDLE_EXIT_BOUND:?} after SIG{signal}")
            });
        let stderr = server.stderr_after_exit().await;
        assert!(
            exit.success(),
            "start {start}: SIG{signal} right after the listening line ended the server with {}, \
             not a drain and exit status 0\n--- stderr ---\n{stderr}",
            describe_exit(exit)
        );
        for logged in ["shutdown requested", "shut down cleanly"] {
            assert!(
                stderr.contains(logged),
                "start {start}: exited 0 after SIG{signal} without logging {logged:?}\n\
                 --- stderr ---\n{stderr}"
            );
        }
    }
}

/// A call in progress when SIGTERM arrives (a CreateKey stuck behind a table lock) completes and
/// is kept, while the listener is already closed.
#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn a_call_in_progress_at_sigterm_completes() {
    let mut fixture = Fixture::with_server(
        TestServer::builder(Backend::Postgres)
            .args(&["--shutdown-drain-timeout-secs", "60"])
            .start()
            .await,
    )
    .await;
    let mut locker = connect(fixture.server.database_url()).await;
    locker
        .batch_execute("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock api_keys");
    let in_flight = tokio::spawn({
        let (api, owner, account) = (
            fixture.api().clone(),
            fixture.owner.clone(),
            fixture.account.clone(),
        );
        async move {
            api.create_key(&owner, &account, "in-flight@acme.test")
                .await
        }
    });
    let mut observer = connect(fixture.server.database_url()).await;
    super::until_count(
        &mut observer,
        "CreateKey waits on the lock",
        super::LOCK_WAITERS,
        1,
    )
    .await;

    fixture.server.send_signal("TERM");
    let addr = fixture.server.addr();
    eventually("the listener closes", DEADLINE, || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    fixture.server.assert_running();
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    let created = in_flight
        .await
        .expect("CreateKey task")
        .expect("the call in progress at SIGTERM completes");
    let exit = fixture.server.wait_for_exit(DEADLINE).await;
    assert!(exit.success(), "SIGTERM must end in exit status 0: {exit}");

    fixture.server.relaunch().await;
    let client_id = created.key.expect("key").client_id;
    let response = fixture
        .api()
        .introspect(&fixture.gateway, &client_id, &created.client_secret)
        .await
        .expect("Introspect after the restart");
    assert!(response.active, "the key created during the drain was lost");
}

async fn connect(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test database: {e}"))
}

/// A shell, started before the server, that sends a signal to the pid written to its stdin:
/// firing it costs a pipe write and the shell's builtin `kill` (microseconds), where starting
/// `kill` costs milliseconds and would let a server that installs its handlers just after the
/// listening line win the race every time.
struct ArmedSignal {
    signal: String,
    shell: tokio::process::Child,
}

impl ArmedSignal {
    fn arm(signal: &str) -> Self {
        let shell = tokio::process::Command::new("sh")
            .args(["-c", &format!("read -r pid && kill -s {signal} \"$pid\"")])
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start sh");
        Self {
            signal: signal.to_owned(),
            shell,
        }
    }

    /// Sends the signal to `pid` and waits until it has been sent.
    async fn fire(mut self, pid: u32) {
        use tokio::io::AsyncWriteExt as _;

        let mut stdin = self.shell.stdin.take().expect("stdin is piped");
        stdin
            .write_all(format!("{pid}\n").as_bytes())
            .await
            .expect("write the pid to sh");
        drop(stdin);
        let status = tokio::time::timeout(DEADLINE, self.shell.wait())
            .await
            .expect("sh sends the signal")
            .expect("wait for sh");
        assert!(status.success(), "kill -s {} {pid}: {status}", self.signal);
    }
}
