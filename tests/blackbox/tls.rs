//! TLS and mutual TLS with certificates generated at test time: every connection is encrypted,
//! a gateway's allowed client certificate replaces its bearer token for Introspect and Check
//! only, and unusable TLS files stop the server before it serves.

use apikeys_proto::pb::{IntrospectRequest, ListKeysRequest};
use tonic::Code;

use crate::ext_authz::envoy::{assert_allowed, basic, http_request};
use crate::harness::{Api, TestCa, TestServer, assert_code, run_apikeys, tls_channel};

/// Starts a TLS server (mTLS when `client_ca` is given) and enables `acme` over TLS.
async fn tls_server(ca: &TestCa, client_ca: Option<&TestCa>, allowed: &[&str]) -> TestServer {
    let server_cert = ca.server_cert();
    let mut args = vec![
        "--tls-cert".to_owned(),
        server_cert.cert_file.display().to_string(),
        "--tls-key".to_owned(),
        server_cert.key_file.display().to_string(),
    ];
    if let Some(client_ca) = client_ca {
        args.push("--tls-client-ca".into());
        args.push(client_ca.cert_file().display().to_string());
    }
    for subject in allowed {
        args.push("--tls-client-allowed-subject".into());
        args.push((*subject).to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = TestServer::builder(apikeys_test_support::Backend::Sqlite)
        .args(&args)
        .start()
        .await;
    let api = Api::from_channel(
        tls_channel(server.addr(), ca, None)
            .await
            .expect("tls connect"),
    );
    api.set_api_access(&server.tokens().staff(), "acme", true)
        .await
        .expect("enable acme over TLS");
    server
}

fn introspect_without_token(client_id: &str, secret: &str) -> tonic::Request<IntrospectRequest> {
    tonic::Request::new(IntrospectRequest {
        client_id: client_id.into(),
        client_secret: secret.into(),
        ..IntrospectRequest::default()
    })
}

#[tokio::test]
async fn tls_serves_encrypted_and_refuses_plaintext() {
    let ca = TestCa::new("apikeys test CA");
    let server = tls_server(&ca, None, &[]).await;
    let api = Api::from_channel(tls_channel(server.addr(), &ca, None).await.expect("tls"));
    let owner = server.tokens().owner("acme");
    let created = api
        .create_key(&owner, "acme", "tls@acme.test")
        .await
        .expect("CreateKey over TLS");
    let client_id = created.key.expect("key").client_id;
    let answer = api
        .introspect(
            &server.tokens().gateway(),
            &client_id,
            &created.client_secret,
        )
        .await
        .expect("Introspect over TLS");
    assert!(answer.active, "a fresh key is active over TLS");

    // The harness's own channel is plaintext: the TLS listener must not answer it.
    let plaintext = server.api().health("").await;
    assert!(plaintext.is_err(), "plaintext call answered: {plaintext:?}");
    // A client that does not trust the server's CA refuses the connection.
    let stranger_ca = TestCa::new("another CA");
    let untrusted = tls_channel(server.addr(), &stranger_ca, None).await;
    let untrusted_call = match untrusted {
        Err(_) => None,
        Ok(channel) => Some(Api::from_channel(channel).health("").await),
    };
    assert!(
        untrusted_call.as_ref().is_none_or(Result::is_err),
        "a client not trusting the CA got an answer: {untrusted_call:?}"
    );
}

#[tokio::test]
async fn allowed_client_certificate_introspects_without_a_token() {
    let ca = TestCa::new("apikeys test CA");
    let server = tls_server(&ca, Some(&ca), &["gateway.internal"]).await;
    let tokens = server.tokens();
    let owner_api = Api::from_channel(tls_channel(server.addr(), &ca, None).await.expect("tls"));
    let created = owner_api
        .create_key(&tokens.owner("acme"), "acme", "mtls@acme.test")
        .await
        .expect("CreateKey with a bearer token, no client certificate");
    let client_id = created.key.expect("key").client_id;
    let secret = created.client_secret;

    let gateway_cert = ca.client_cert("gateway.internal");
    let gateway = Api::from_channel(
        tls_channel(server.addr(), &ca, Some(&gateway_cert))
            .await
            .expect("mTLS connect"),
    );
    let answer = gateway
        .introspection()
        .introspect(introspect_without_token(&client_id, &secret))
        .await
        .expect("Introspect by an allowed certificate")
        .into_inner();
    assert!(answer.active);
    assert_eq!(answer.account_id, "acme");
    let check = gateway
        .check(
            None,
            http_request(&[("authorization", &basic(&client_id, &secret))]),
        )
        .await
        .expect("Check by an allowed certificate");
    assert_allowed(
        &check,
        ("x-account-id", "x-client-id"),
        "acme",
        &client_id,
        &["authorization"],
        "Check over mTLS",
    );
    // The certificate stands for a gateway, nothing more.
    assert_code(
        gateway
            .keys()
            .list_keys(tonic::Request::new(ListKeysRequest {
                account_id: "acme".into(),
                ..ListKeysRequest::default()
            }))
            .await,
        Code::PermissionDenied,
        "ListKeys by a gateway certificate",
    );
}

#[tokio::test]
async fn other_client_certificates_need_a_bearer_token() {
    let ca = TestCa::new("apikeys test CA");
    let server = tls_server(&ca, Some(&ca), &["gateway.internal"]).await;
    let tokens = server.tokens();
    let intruder_cert = ca.client_cert("intruder.internal");
    let intruder = Api::from_channel(
        tls_channel(server.addr(), &ca, Some(&intruder_cert))
            .await
            .expect("mTLS connect"),
    );
    assert_code(
        intruder
            .introspection()
            .introspect(introspect_without_token("akc_x", "aks_x"))
            .await,
        Code::Unauthenticated,
        "Introspect by a certificate not on the allow-list, without a token",
    );
    // A bearer token still works on such a connection, and decides over the certificate.
    let answer = intruder
        .introspect(&tokens.gateway(), "akc_unknown", "aks_unknown")
        .await;
    assert!(
        answer.as_ref().is_ok_and(|a| !a.active),
        "gateway token on an mTLS connection: {answer:?}"
    );
    let gateway_cert = ca.client_cert("gateway.internal");
    let gateway = Api::from_channel(
        tls_channel(server.addr(), &ca, Some(&gateway_cert))
            .await
            .expect("mTLS connect"),
    );
    assert_code(
        gateway
            .introspect(&tokens.member("acme"), "akc_x", "aks_x")
            .await,
        Code::PermissionDenied,
        "a token without the introspect scope is not upgraded by an allowed certificate",
    );

    // A certificate from a CA the server does not trust never gets an answer.
    let rogue_ca = TestCa::new("rogue CA");
    let rogue_cert = rogue_ca.client_cert("gateway.internal");
    let rogue = tls_channel(server.addr(), &ca, Some(&rogue_cert)).await;
    let rogue_call = match rogue {
        Err(_) => None,
        Ok(channel) => Some(
            Api::from_channel(channel)
                .introspection()
                .introspect(introspect_without_token("akc_x", "aks_x"))
                .await,
        ),
    };
    assert!(
        rogue_call.as_ref().is_none_or(Result::is_err),
        "a certificate from an untrusted CA got an answer: {rogue_call:?}"
    );
}

#[tokio::test]
async fn unusable_tls_files_stop_the_server_with_the_flag_named() {
    let ca = TestCa::new("apikeys test CA");
    let server_cert = ca.server_cert();
    let dir = tempfile::tempdir().expect("temp dir");
    let database = format!("sqlite://{}", dir.path().join("tls.db").display());
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    let cert = server_cert.cert_file.display().to_string();
    let key = server_cert.key_file.display().to_string();
    let missing = missing.display().to_string();
    let not_pem = not_pem.display().to_string();
    let other_key = ca.client_cert("x").key_file.display().to_string();
    let cases: [(&[&str], &str); 5] = [
        (&["--tls-cert", &missing, "--tls-key", &key], "--tls-cert"),
        (&["--tls-cert", &not_pem, "--tls-key", &key], "--tls-cert"),
        (&["--tls-cert", &cert, "--tls-key", &not_pem], "--tls-key"),
        (
            &[
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &missing,
            ],
            "--tls-client-ca",
        ),
        // The key of another certificate: only the TLS library can tell.
        (&["--tls-cert", &cert, "--tls-key", &other_key], "TLS"),
    ];
    for (tls_args, named) in cases {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &database,
        ];
        args.extend_from_slice(tls_args);
        let output = run_apikeys(&args).await;
        assert!(
            !output.status.success(),
            "{tls_args:?} served:\n{}",
            output.stderr
        );
        assert!(
            output.stderr.contains(named),
            "{tls_args:?}: stderr does not name {named}:\n{}",
            output.stderr
        );
        assert!(
            !output.stdout.contains("listening"),
            "{tls_args:?} printed a listening line"
        );
    }
}
