//! The SQLite file under stress: read-only (serve refuses to start, with a clear message), a
//! full disk (writes fail cleanly, acknowledged keys survive, the file stays intact), and two
//! server processes writing to one file at once (serialised, nothing acknowledged is lost).

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use apikeys_test_support::Backend;
use diesel::sql_types::Text;
use diesel::{Connection as _, RunQueryDsl as _};
use tonic::Code;

use super::burst::{Acknowledged, Burst, assert_acknowledged_calls_held};
use crate::harness::{Fixture, TestServer, Tokens, apikeys_bin, clear_inherited_settings};

/// Enough for the schema and a few dozen keys, little enough to fill in a moment.
const DISK_BYTES: u64 = 2 * 1024 * 1024;
/// CreateKey calls tried on the full disk before the test gives up waiting for a failure.
const MAX_CREATES_ON_FULL_DISK: usize = 500;

#[tokio::test]
async fn read_only_database_is_refused_at_startup_and_left_intact() {
    let server = TestServer::start(Backend::Sqlite).await;
    let fixture = Fixture::with_server(server).await;
    let db_file = sqlite_path(fixture.server.database_url());
    let dir = db_file.parent().expect("db dir").to_owned();
    let mut fixture = fixture;
    fixture
        .server
        .signal_and_wait("TERM", super::DEADLINE)
        .await;

    let files = sqlite_files(&db_file);
    set_mode(&files, 0o444);
    set_mode(std::slice::from_ref(&dir), 0o555);
    let tokens = Tokens::random();
    let url = fixture.server.database_url().to_owned();
    let kek = dir.join("token.kek").display().to_string();
    // Root ignores file modes; without CAP_DAC_OVERRIDE it honours them like any user.
    let output = run_without_dac_override(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--token-kek-file",
        &kek,
        "--jwt-hs256-secret",
        tokens.secret(),
        "--jwt-issuer",
        tokens.issuer(),
        "--jwt-audience",
        tokens.audience(),
    ])
    .await;
    set_mode(std::slice::from_ref(&dir), 0o700);
    set_mode(&files, 0o644);

    assert!(
        !output.status.success(),
        "serve on a read-only database must fail: {output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("apikeys listening on"),
        "serve listened on a read-only database"
    );
    assert!(stderr.contains("readonly"), "no clear reason: {stderr}");
    assert!(!stderr.contains("panicked"), "serve panicked: {stderr}");
    assert_integrity(&db_file);
    fixture.server.relaunch().await;
    fixture.assert_intact().await;
}

#[tokio::test]
async fn full_disk_fails_writes_cleanly_and_keeps_acknowledged_keys() {
    let disk = SmallDisk::mount(DISK_BYTES);
    let db_file = disk.path().join("apikeys.db");
    let server = TestServer::builder(Backend::Sqlite)
        .database_url(&format!("sqlite://{}", db_file.display()))
        .args(&["--max-active-keys", "100000"])
        .start()
        .await;
    let mut fixture = Fixture::with_server(server).await;
    disk.fill();

    let mut acknowledged = Acknowledged::default();
    let mut failure = None;
    for i in 0..MAX_CREATES_ON_FULL_DISK {
        match fixture
            .api()
            .create_key(
                &fixture.owner,
                &fixture.account,
                &format!("full-{i}@acme.test"),
            )
            .await
        {
            Ok(created) => acknowledged
                .created
                .push((created.key.expect("key").client_id, created.client_secret)),
            Err(status) => {
                failure = Some(status);
                break;
            }
        }
    }
    let status = failure.expect("CreateKey kept succeeding on a full disk");
    assert!(
        matches!(status.code(), Code::Unavailable | Code::Internal),
        "a full disk must be UNAVAILABLE or INTERNAL: {status:?}"
    );
    for leak in ["sqlite", "disk", "/", "full"] {
        assert!(
            !status.message().contains(leak),
            "storage details reached the caller: {status:?}"
        );
    }
    fixture.server.assert_running();
    let listed = fixture
        .api()
        .active_client_ids(&fixture.owner, &fixture.account)
        .await;
    assert!(
        listed.contains(&fixture.sentinel_id),
        "reads fail on a full disk"
    );
    eprintln!(
        "full disk: {} creates acknowledged, then {:?}",
        acknowledged.created.len(),
        status
    );

    disk.free();
    fixture.server.restart().await;
    assert_acknowledged_calls_held(&fixture, &acknowledged).await;
    fixture.assert_intact().await;
    fixture
        .api()
        .create_key(&fixture.owner, &fixture.account, "after@acme.test")
        .await
        .expect("CreateKey once there is room again");
    assert_integrity(&db_file);
}

#[tokio::test]
async fn two_processes_writing_one_file_lose_nothing() {
    let server = TestServer::builder(Backend::Sqlite)
        .args(&["--max-active-keys", "100000"])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    let replica = fixture.server.replica(&[]).await;
    let first = Burst::start(fixture.api(), &fixture, Vec::new(), 4);
    let second = Burst::start(replica.api(), &fixture, Vec::new(), 4);
    first.wait_for_acks(40).await;
    second.wait_for_acks(40).await;
    let mut acknowledged = first.finish().await;
    let from_second = second.finish().await;
    acknowledged.created.extend(from_second.created);
    acknowledged.errors.extend(from_second.errors);
    assert!(
        acknowledged.errors.is_empty(),
        "concurrent writers must be serialised, not refused: {:?}",
        acknowledged.errors
    );
    assert_acknowledged_calls_held(&fixture, &acknowledged).await;
    assert_integrity(&sqlite_path(fixture.server.database_url()));
}

/// A tmpfs of a few MiB: a disk that really fills up (ENOSPC), unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Self {
        let dir = tempfile::tempdir().expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}")])
            .arg("apikeys-test-disk")
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CAP_SYS_ADMIN): {status}"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the disk is full.
    fn fill(&self) {
        let mut filler = std::fs::File::create(self.filler()).expect("create filler");
        let chunk = vec![0_u8; 4096];
        loop {
            match filler.write_all(&chunk) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        let _ = filler.sync_all();
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("remove filler");
    }

    fn filler(&self) -> PathBuf {
        self.dir.path().join("filler")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the server child may still hold files open while the test unwinds.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn sqlite_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").expect("a sqlite:// url"))
}

/// The database file and whichever of its WAL and shared-memory files exist.
fn sqlite_files(db_file: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db_file.display())))
        .filter(|path| path.exists())
        .collect()
}

fn set_mode(paths: &[PathBuf], mode: u32) {
    for path in paths {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
    }
}

/// `apikeys ARGS…` with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped, to completion.
async fn run_without_dac_override(args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new("setpriv");
    clear_inherited_settings(&mut command)
        .arg("--bounding-set=-dac_override,-dac_read_search")
        .arg("--")
        .arg(apikeys_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    tokio::time::timeout(super::DEADLINE, command.output())
        .await
        .expect("serve on a read-only database neither failed nor stopped")
        .expect("run setpriv apikeys serve")
}

/// `PRAGMA integrity_check` answers `ok`.
fn assert_integrity(db_file: &Path) {
    let mut conn = diesel::SqliteConnection::establish(&db_file.display().to_string())
        .expect("open the database file");
    let result: String = diesel::select(diesel::dsl::sql::<Text>(
        "(SELECT group_concat(integrity_check) FROM pragma_integrity_check)",
    ))
    .get_result(&mut conn)
    .expect("PRAGMA integrity_check");
    assert_eq!(result, "ok", "{} is damaged", db_file.display());
}
