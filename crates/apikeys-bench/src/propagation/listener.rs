//! Finding and killing replica B's LISTEN connection, and only B's: A's listener plays no part
//! in B learning of a revocation, and the measurement is about B losing its notification.
//!
//! Both replicas name their listener connection `apikeys-listener`, so PostgreSQL alone cannot
//! tell them apart. The client port can: B's local TCP ports are read from /proc (its socket
//! inodes, looked up in its network namespace's TCP tables) and matched with
//! `pg_stat_activity.client_port`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use apikeys_store::LISTENER_APPLICATION_NAME;
use diesel::QueryableByName;
use diesel::sql_types::{Array, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// How often the state of the connections is re-read while waiting for a change.
const RECHECK: Duration = Duration::from_millis(5);

#[derive(QueryableByName)]
struct BackendPid {
    #[diesel(sql_type = Integer)]
    pid: i32,
}

/// An admin connection to the test database watching one replica's listener.
pub struct ListenerWatch {
    conn: AsyncPgConnection,
    replica_pid: u32,
}

impl ListenerWatch {
    pub async fn connect(database_url: &str, replica_pid: u32) -> anyhow::Result<Self> {
        let conn = AsyncPgConnection::establish(database_url)
            .await
            .context("cannot connect to the test database to watch the listeners")?;
        Ok(Self { conn, replica_pid })
    }

    /// Backend pids of the replica's listener connections that have run LISTEN (a connection
    /// still setting up would not receive a notification yet).
    pub async fn listening(&mut self) -> anyhow::Result<Vec<i32>> {
        let ports = local_tcp_ports(self.replica_pid)?;
        let rows: Vec<BackendPid> = diesel::sql_query(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name = $1 AND datname = current_database() \
             AND client_port = ANY($2) AND query ILIKE 'LISTEN %' ORDER BY pid",
        )
        .bind::<Text, _>(LISTENER_APPLICATION_NAME)
        .bind::<Array<Integer>, _>(ports)
        .load(&mut self.conn)
        .await
        .context("cannot read pg_stat_activity")?;
        Ok(rows.into_iter().map(|row| row.pid).collect())
    }

    /// Waits until the replica is listening (at start-up, or after a kill: the server re-opens
    /// its listener a second after losing it).
    pub async fn wait_listening(&mut self, deadline: Duration) -> anyhow::Result<Vec<i32>> {
        let started = Instant::now();
        loop {
            let pids = self.listening().await?;
            if !pids.is_empty() {
                return Ok(pids);
            }
            if started.elapsed() > deadline {
                bail!(
                    "replica B has no LISTEN connection ({LISTENER_APPLICATION_NAME}) after \
                     {deadline:?}"
                );
            }
            tokio::time::sleep(RECHECK).await;
        }
    }

    /// Terminates the given backends and waits until they are gone, so a notification sent
    /// afterwards cannot reach them.
    pub async fn terminate(&mut self, pids: &[i32], deadline: Duration) -> anyhow::Result<()> {
        // Over the given pids only: a filter on pg_stat_activity could be evaluated after
        // the call and kill every backend.
        diesel::sql_query("SELECT pg_terminate_backend(pid) FROM unnest($1) AS t(pid)")
            .bind::<Array<Integer>, _>(pids)
            .execute(&mut self.conn)
            .await
            .context("cannot terminate the listener (needs superuser or pg_signal_backend)")?;
        let started = Instant::now();
        loop {
            let alive: Vec<BackendPid> =
                diesel::sql_query("SELECT pid FROM pg_stat_activity WHERE pid = ANY($1)")
                    .bind::<Array<Integer>, _>(pids)
                    .load(&mut self.conn)
                    .await
                    .context("cannot read pg_stat_activity")?;
            if alive.is_empty() {
                return Ok(());
            }
            if started.elapsed() > deadline {
                bail!("listener backends {pids:?} still alive {deadline:?} after termination");
            }
            tokio::time::sleep(RECHECK).await;
        }
    }
}

/// Local ports of the process's TCP sockets (IPv4 and IPv6).
fn local_tcp_ports(pid: u32) -> anyhow::Result<Vec<i32>> {
    let fd_dir = format!("/proc/{pid}/fd");
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(&fd_dir).with_context(|| format!("cannot list {fd_dir}"))? {
        // A descriptor closed while listing is not an error.
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        if let Some(inode) = target
            .to_str()
            .and_then(|text| text.strip_prefix("socket:["))
            .and_then(|text| text.strip_suffix(']'))
        {
            inodes.insert(inode.to_owned());
        }
    }
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let path = format!("/proc/{pid}/net/{table}");
        // No IPv6 in the kernel means no tcp6 table.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        ports.extend(ports_of_inodes(&text, &inodes));
    }
    Ok(ports)
}

/// The local ports of the rows of a /proc/net/tcp{,6} table whose inode is in `inodes`.
fn ports_of_inodes(table: &str, inodes: &HashSet<String>) -> Vec<i32> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, inode) = (fields.get(1)?, fields.get(9)?);
            if !inodes.contains(*inode) {
                return None;
            }
            let (_, port) = local.rsplit_once(':')?;
            i32::from_str_radix(port, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::ports_of_inodes;

    #[test]
    fn reads_local_ports_of_the_given_inodes() {
        // A /proc/net/tcp table cut after the inode, the tenth field.
        let table = [
            "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid tmo inode",
            "0: 0100007F:D431 0100007F:1538 01 00000000:00000000 00:00000000 00000000 1000 0 4242",
            "1: 0100007F:1538 0100007F:D431 01 00000000:00000000 00:00000000 00000000 106 0 999",
        ]
        .join("\n");
        let inodes: HashSet<String> = ["4242".to_owned()].into();
        assert_eq!(ports_of_inodes(&table, &inodes), vec![0xD431]);
    }
}
