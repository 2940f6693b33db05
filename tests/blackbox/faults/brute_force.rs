//! 10 000 wrong secrets for one client id from 64 connections at once: after
//! `--failure-throttle-max-failures` wrong secrets the id is throttled, so almost every attempt is
//! refused without argon2 work; another key's right secret still verifies during the attack; and
//! the server's memory stays flat.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use apikeys_test_support::Backend;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use apikeys_proto::pb::IssueTokenRequest;
use apikeys_proto::pb::token_service_client::TokenServiceClient;

use crate::harness::{Fixture, TestServer, bearer, checksum_variant, forge_secret};

backend_suite!(brute_force_is_throttled_and_memory_stays_flat);

const ATTEMPTS: usize = 10_000;
const CONNECTIONS: usize = 64;
const MAX_FAILURES: usize = 10;
/// Generous: argon2 scratch memory, allocator slack and caches of a debug build.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

async fn brute_force_is_throttled_and_memory_stays_flat(backend: Backend) {
    // A window longer than the test, so the throttle cannot lapse halfway.
    let server = TestServer::builder(backend)
        .args(&[
            "--failure-throttle-max-failures",
            &MAX_FAILURES.to_string(),
            "--failure-throttle-window-secs",
            "3600",
        ])
        // Each argon2 verify allocates m = 19 MiB; the server hashes on a fixed set of
        // dedicated threads, so the allocator keeps at most one such block per thread.
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    // Never verified, so not in the cache: every unthrottled attempt costs an argon2 verify.
    let target = fixture.create_key("target@acme.test").await;
    let target_id = target.key.expect("key").client_id;
    let variant = checksum_variant(&target.client_secret).expect("secret has a known checksum");
    let wrong_secret = forge_secret(&target.client_secret, variant);
    let bystander = fixture.create_key("bystander@acme.test").await;
    let bystander_id = bystander.key.expect("key").client_id;
    let rss_before = vm_rss_kib(fixture.server.pid());

    let next_attempt = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut tokens = TokenServiceClient::new(connect(fixture.server.addr()).await);
        let (next_attempt, gateway) = (Arc::clone(&next_attempt), fixture.gateway.clone());
        let (target_id, wrong_secret) = (target_id.clone(), wrong_secret.clone());
        attackers.push(tokio::spawn(async move {
            let (mut throttled, mut refused) = (0_usize, 0_usize);
            while next_attempt.fetch_add(1, Ordering::AcqRel) < ATTEMPTS {
                let request = IssueTokenRequest {
                    client_id: target_id.clone(),
                    client_secret: wrong_secret.clone(),
                };
                let mut request = tonic::Request::new(request);
                request
                    .metadata_mut()
                    .insert("authorization", bearer(&gateway));
                match tokens.issue_token(request).await {
                    Err(status) if status.code() == Code::ResourceExhausted => throttled += 1,
                    Err(status) if status.code() == Code::Unauthenticated => refused += 1,
                    other => panic!("a wrong secret got {other:?}"),
                }
            }
            (throttled, refused)
        }));
    }
    // During the attack, a cold verification of another key still gets its argon2 turn.
    let response = fixture
        .api()
        .introspect(&fixture.gateway, &bystander_id, &bystander.client_secret)
        .await
        .expect("Introspect another key during the attack");
    assert!(response.active, "another key's right secret must verify");

    let (mut throttled, mut hashed) = (0, 0);
    for attacker in attackers {
        let (t, r) = attacker.await.expect("attacker");
        throttled += t;
        hashed += r;
    }
    assert_eq!(throttled + hashed, ATTEMPTS);
    // Each attempt that passed the throttle check before the limit was reached was hashed: at
    // most the limit plus one in flight per connection.
    assert!(
        hashed <= MAX_FAILURES + CONNECTIONS,
        "{hashed} wrong secrets were hashed; the throttle should stop them after {MAX_FAILURES}"
    );
    assert!(
        hashed >= MAX_FAILURES,
        "only {hashed} attempts were checked"
    );
    let response = fixture
        .api()
        .introspect(&fixture.gateway, &bystander_id, &bystander.client_secret)
        .await
        .expect("Introspect another key after the attack");
    assert!(response.active);
    let rss_after = vm_rss_kib(fixture.server.pid());
    assert!(
        rss_after.saturating_sub(rss_before) < MAX_RSS_GROWTH_KIB,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    eprintln!(
        "{backend:?}: {throttled} throttled, {hashed} hashed; RSS {rss_before} -> {rss_after} KiB"
    );
}

/// A connection of its own (the harness's `Api` shares one).
async fn connect(addr: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("connect")
}

/// `VmRSS` of a process, in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}
