//! `/livez` and `/readyz` for load balancers without gRPC health: both SERVING normally;
//! `/readyz` follows the store (PostgreSQL stopped under a running server) while `/livez` does
//! not; both NOT_SERVING once shutdown begins.

use std::time::Duration;

use apikeys_test_support::Backend;
use serde_json::json;

use super::DEADLINE;
use super::client::{Answer, Http};
use crate::harness::{StopMode, TestServer};

backend_suite!(livez_and_readyz_serve);

#[track_caller]
fn assert_health(answer: &Answer, serving: bool, what: &str) {
    let (status, body) = if serving {
        (200, json!({"status": "SERVING"}))
    } else {
        (503, json!({"status": "NOT_SERVING"}))
    };
    answer
        .assert_status(status, what)
        .assert_no_store(what)
        .assert_json(&body, what);
}

/// Polls `path` until it answers `serving`.
async fn health_becomes(http: &Http, path: &str, serving: bool) {
    let wanted = if serving { 200 } else { 503 };
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let answer = http.get(path).send().await;
        if answer.status == wanted {
            assert_health(&answer, serving, path);
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never became {wanted}: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn livez_and_readyz_serve(backend: Backend) {
    let server = TestServer::start(backend).await;
    for http in [Http::new(server.addr()), Http::h2(server.addr())] {
        for path in ["/livez", "/readyz"] {
            assert_health(&http.get(path).send().await, true, path);
            let post = http.post(path).send().await;
            post.assert_status(405, &format!("POST {path}"));
            assert!(
                post.header("allow").is_some_and(|a| a.contains("GET")),
                "{post:?}"
            );
        }
    }
}

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn readyz_follows_postgres_and_livez_does_not() {
    let (cluster, server) = super::server_on_own_cluster().await;
    let http = Http::new(server.addr());
    assert_health(
        &http.get("/readyz").send().await,
        true,
        "readyz before the outage",
    );

    cluster.stop(StopMode::Immediate).await;
    health_becomes(&http, "/readyz", false).await;
    assert_health(
        &http.get("/livez").send().await,
        true,
        "livez during the outage",
    );
    // HTTP and gRPC health agree.
    let grpc = server.api().health("").await.expect("gRPC health");
    assert_eq!(
        grpc,
        tonic_health::pb::health_check_response::ServingStatus::NotServing as i32
    );

    cluster.start_again().await;
    health_becomes(&http, "/readyz", true).await;
    assert_health(
        &http.get("/livez").send().await,
        true,
        "livez after the outage",
    );
}

/// Once SIGTERM arrives both report NOT_SERVING while calls drain. A Watch stream keeps the
/// server draining (up to `--shutdown-drain-timeout-secs`), so there is time to look.
#[tokio::test]
async fn both_are_not_serving_during_the_drain() {
    let mut server = TestServer::builder(Backend::Sqlite)
        .args(&["--shutdown-drain-timeout-secs", "20"])
        .start()
        .await;
    let http = Http::new(server.addr());
    // An open HTTP/1.1 connection, so the check below needs no new one after the listener closes.
    assert_health(
        &http.get("/livez").send().await,
        true,
        "livez before SIGTERM",
    );
    let mut watch = tonic_health::pb::health_client::HealthClient::new(server.api().channel())
        .watch(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("Health/Watch")
        .into_inner();
    watch
        .message()
        .await
        .expect("watch")
        .expect("a first status");

    server.send_signal("TERM");
    // The Watch stream reports the change; the HTTP answers must agree from then on.
    let reported = tokio::time::timeout(DEADLINE, async {
        while let Ok(Some(update)) = watch.message().await {
            if update.status
                != tonic_health::pb::health_check_response::ServingStatus::Serving as i32
            {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(reported, "the drain never reported NOT_SERVING");
    for path in ["/livez", "/readyz"] {
        match http.get(path).try_send().await {
            Ok(answer) => assert_health(&answer, false, &format!("{path} during the drain")),
            // A server that closes idle keep-alive connections at once shows nothing.
            Err(error) => eprintln!("{path} during the drain: no answer ({error}); not observable"),
        }
    }
    drop(watch);
    let exit = server.wait_for_exit(DEADLINE).await;
    assert!(exit.success(), "SIGTERM exit: {exit}");
}
