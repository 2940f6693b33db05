//! `POST /auth/token` refused: every error row of docs/http.md. The credentials in each bad
//! request are otherwise the sentinel's right ones, so a lenient server answers 200 and fails.

use apikeys_test_support::Backend;
use serde_json::json;

use super::client::{Answer, form_encode};
use super::{Failures, INVALID_CLIENT, assert_oauth_error, client_secret_basic, company_json};
use crate::harness::{Fixture, TestServer, checksum_variant, forge_secret, unknown_client_id};

backend_suite!(
    malformed_requests_are_invalid_request,
    wrong_grant_and_scope_have_their_own_errors,
    bad_credentials_are_one_invalid_client,
    repeated_wrong_secrets_are_throttled_with_retry_after,
);

/// `invalid_client` with the one description, and the Basic challenge exactly when Basic was
/// used.
#[track_caller]
fn assert_invalid_client(answer: &Answer, basic_used: bool, what: &str) {
    assert_oauth_error(answer, 401, "invalid_client", what);
    assert_eq!(
        answer.json()["error_description"],
        INVALID_CLIENT,
        "{what}: {answer:?}"
    );
    let challenge = answer.header("www-authenticate");
    if basic_used {
        assert_eq!(challenge, Some(r#"Basic realm="apikeys""#), "{what}");
    } else {
        assert_eq!(challenge, None, "{what}: a challenge without Basic");
    }
}

async fn malformed_requests_are_invalid_request(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let (id, secret) = (fixture.sentinel_id.clone(), fixture.sentinel_secret.clone());
    let good_json = company_json(&id, &secret).to_string();
    let grant = ("grant_type", "client_credentials");
    let post_form = form_encode(&[grant, ("client_id", &id), ("client_secret", &secret)]);
    let form = "application/x-www-form-urlencoded";
    let json_type = "application/json";
    let mut non_utf8_form = post_form.clone().into_bytes();
    non_utf8_form.extend_from_slice(b"&note=caf\xe9");
    let non_utf8_json = format!(r#"{{"clientId":"{id}","clientSecret":"{secret}","n":"#)
        .into_bytes()
        .into_iter()
        .chain(*b"\"\xff\xfe\"}")
        .collect::<Vec<u8>>();
    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        (
            "JSON as text/plain",
            Some("text/plain"),
            good_json.clone().into(),
        ),
        (
            "JSON without a content type",
            None,
            good_json.clone().into(),
        ),
        (
            "a form as multipart",
            Some("multipart/form-data; boundary=x"),
            post_form.clone().into(),
        ),
        (
            "JSON labelled as a form",
            Some(form),
            good_json.clone().into(),
        ),
        (
            "a form labelled as JSON",
            Some(json_type),
            post_form.clone().into(),
        ),
        (
            "truncated JSON",
            Some(json_type),
            good_json[..good_json.len() - 2].into(),
        ),
        ("an empty JSON body", Some(json_type), Vec::new()),
        (
            "a JSON array",
            Some(json_type),
            json!([id, secret]).to_string().into(),
        ),
        (
            "a number clientId",
            Some(json_type),
            json!({"clientId": 42, "clientSecret": secret})
                .to_string()
                .into(),
        ),
        (
            "a null clientSecret",
            Some(json_type),
            json!({"clientId": id, "clientSecret": null})
                .to_string()
                .into(),
        ),
        (
            "an object clientSecret",
            Some(json_type),
            json!({"clientId": id, "clientSecret": {"v": secret}})
                .to_string()
                .into(),
        ),
        (
            "no clientSecret",
            Some(json_type),
            json!({"clientId": id}).to_string().into(),
        ),
        (
            "no clientId",
            Some(json_type),
            json!({"clientSecret": secret}).to_string().into(),
        ),
        ("JSON that is not UTF-8", Some(json_type), non_utf8_json),
        (
            "clientId twice in JSON",
            Some(json_type),
            format!(r#"{{"clientId":"{id}","clientId":"{id}","clientSecret":"{secret}"}}"#).into(),
        ),
        ("a form that is not UTF-8", Some(form), non_utf8_form),
        (
            "a form without grant_type",
            Some(form),
            form_encode(&[("client_id", &id), ("client_secret", &secret)]).into(),
        ),
        (
            "grant_type twice",
            Some(form),
            format!("{post_form}&grant_type=client_credentials").into(),
        ),
        (
            "client_id twice",
            Some(form),
            format!("{post_form}&client_id={id}").into(),
        ),
        (
            "client_secret twice",
            Some(form),
            format!("{post_form}&client_secret={secret}").into(),
        ),
    ];
    let (count, mut failures) = (cases.len(), Failures::default());
    for (what, content_type, body) in cases {
        let mut request = fixture.http().post("/auth/token").body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let answer = request.send().await;
        failures.check(what, || {
            assert_oauth_error(&answer, 400, "invalid_request", what);
        });
    }
    failures.assert_none(count);

    // RFC 6749 §2.3: one authentication method per request.
    let both = fixture
        .http()
        .post("/auth/token")
        .header("authorization", &client_secret_basic(&id, &secret))
        .header("content-type", form)
        .body(post_form.clone())
        .send()
        .await;
    assert_oauth_error(
        &both,
        400,
        "invalid_request",
        "Basic and client_secret_post",
    );
    let two_basics = fixture
        .http()
        .post("/auth/token")
        .header("authorization", &client_secret_basic(&id, &secret))
        .header("authorization", &client_secret_basic(&id, &secret))
        .form(&[grant])
        .send()
        .await;
    assert_eq!(
        two_basics.status / 100,
        4,
        "two Authorization headers: {two_basics:?}"
    );
    two_basics.assert_no_store("two Authorization headers");

    // A known path with another method.
    for method in ["GET", "PUT", "DELETE"] {
        let answer = fixture.http().request(method, "/auth/token").send().await;
        answer.assert_status(405, method).assert_no_store(method);
        let allow = answer.header("allow").unwrap_or_default().to_owned();
        assert!(
            allow.split(',').any(|m| m.trim() == "POST"),
            "{method}: Allow {allow:?} lacks POST"
        );
    }
    fixture.assert_intact().await;
}

async fn wrong_grant_and_scope_have_their_own_errors(backend: Backend) {
    let fixture = Fixture::new(backend).await;
    let (id, secret) = (&fixture.sentinel_id, &fixture.sentinel_secret);
    for grant_type in [
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ] {
        let answer = fixture
            .http()
            .post("/auth/token")
            .form(&[
                ("grant_type", grant_type),
                ("client_id", id),
                ("client_secret", secret),
            ])
            .send()
            .await;
        let what = format!("grant_type={grant_type:?}");
        assert_oauth_error(&answer, 400, "unsupported_grant_type", &what);
    }
    let basic_password = fixture
        .http()
        .post("/auth/token")
        .header("authorization", &client_secret_basic(id, secret))
        .form(&[
            ("grant_type", "password"),
            ("username", "u"),
            ("password", "p"),
        ])
        .send()
        .await;
    assert_oauth_error(
        &basic_password,
        400,
        "unsupported_grant_type",
        "Basic, password grant",
    );
    for scope in ["introspect", "read write"] {
        let answer = fixture
            .http()
            .post("/auth/token")
            .header("authorization", &client_secret_basic(id, secret))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await;
        assert_oauth_error(&answer, 400, "invalid_scope", &format!("scope={scope:?}"));
    }
}

async fn bad_credentials_are_one_invalid_client(backend: Backend) {
    let mut fixture = Fixture::new(backend).await;
    let other = fixture.create_key("other@acme.test").await;
    let other_id = other.key.clone().expect("key").client_id;
    let revoked = fixture.create_key("revoked@acme.test").await;
    let revoked_id = revoked.key.clone().expect("key").client_id;
    fixture
        .api()
        .revoke_key(&fixture.owner, &fixture.account, &revoked_id)
        .await
        .expect("RevokeKey");
    let globex_owner = fixture.enabled_account("globex").await;
    let suspended = fixture
        .api()
        .create_key(&globex_owner, "globex", "ops@globex.test")
        .await
        .expect("CreateKey globex");
    let suspended_id = suspended.key.clone().expect("key").client_id;
    fixture
        .api()
        .set_api_access(&fixture.staff, "globex", false)
        .await
        .expect("disable globex");
    let (id, secret) = (fixture.sentinel_id.clone(), fixture.sentinel_secret.clone());
    let mut cases: Vec<(&str, String, String)> = vec![
        (
            "another key's secret",
            id.clone(),
            other.client_secret.clone(),
        ),
        ("a garbage secret", id.clone(), "garbage".into()),
        ("an unknown id", unknown_client_id(), secret.clone()),
        ("a malformed id", "akc_".into(), secret.clone()),
        ("the secret as the id", secret.clone(), id.clone()),
        ("a revoked key", revoked_id, revoked.client_secret.clone()),
        (
            "an account without API access",
            suspended_id,
            suspended.client_secret.clone(),
        ),
    ];
    if let Some(variant) = checksum_variant(&secret) {
        cases.push((
            "a well-formed wrong secret",
            id.clone(),
            forge_secret(&secret, variant),
        ));
    }
    for (what, client_id, client_secret) in &cases {
        let json = fixture
            .http()
            .post_json("/auth/token", &company_json(client_id, client_secret))
            .await;
        assert_invalid_client(&json, false, &format!("JSON, {what}"));
        let post = fixture
            .http()
            .post("/auth/token")
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await;
        assert_invalid_client(&post, false, &format!("client_secret_post, {what}"));
        let basic = fixture
            .http()
            .post("/auth/token")
            .header(
                "authorization",
                &client_secret_basic(client_id, client_secret),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        assert_invalid_client(&basic, true, &format!("client_secret_basic, {what}"));
    }
    let empty = fixture
        .http()
        .post_json("/auth/token", &company_json("", ""))
        .await;
    assert_invalid_client(&empty, false, "JSON, empty strings");
    for (what, value) in [
        ("Basic that is not base64", "Basic %%%".to_owned()),
        (
            "Basic without a colon",
            crate::ext_authz::envoy::basic_raw(id.as_bytes()),
        ),
        ("an empty Basic", "Basic ".to_owned()),
    ] {
        let answer = fixture
            .http()
            .post("/auth/token")
            .header("authorization", &value)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        assert_invalid_client(&answer, true, what);
    }
    // Six well-formed wrong secrets for the sentinel id stay below the default throttle of ten.
    fixture.assert_intact().await;
    let token = super::issue_token(&fixture.http(), &other_id, &other.client_secret).await;
    assert!(!token.is_empty());
}

async fn repeated_wrong_secrets_are_throttled_with_retry_after(backend: Backend) {
    let server = TestServer::builder(backend)
        .args(&[
            "--failure-throttle-max-failures",
            "2",
            "--failure-throttle-window-secs",
            "3600",
        ])
        .start()
        .await;
    let fixture = Fixture::with_server(server).await;
    // Never verified, so not cached: once throttled, even its right secret is refused.
    let target = fixture.create_key("target@acme.test").await;
    let target_id = target.key.expect("key").client_id;
    let wrong = fixture.sentinel_secret.clone();
    for attempt in 0..2 {
        let answer = fixture
            .http()
            .post_json("/auth/token", &company_json(&target_id, &wrong))
            .await;
        assert_invalid_client(&answer, false, &format!("wrong secret #{attempt}"));
    }
    for (what, answer) in [
        (
            "a wrong secret past the limit",
            fixture
                .http()
                .post_json("/auth/token", &company_json(&target_id, &wrong))
                .await,
        ),
        (
            "the right secret while throttled",
            fixture
                .http()
                .post_json(
                    "/auth/token",
                    &company_json(&target_id, &target.client_secret),
                )
                .await,
        ),
    ] {
        assert_oauth_error(&answer, 429, "temporarily_unavailable", what);
        let retry_after = answer
            .header("retry-after")
            .unwrap_or_else(|| panic!("{what}: no Retry-After: {answer:?}"));
        let seconds: u64 = retry_after
            .parse()
            .unwrap_or_else(|_| panic!("{what}: Retry-After {retry_after:?} is not seconds"));
        assert!(
            (1..=3600).contains(&seconds),
            "{what}: Retry-After {seconds}"
        );
    }
    // Another client id is not affected.
    super::issue_token(
        &fixture.http(),
        &fixture.sentinel_id,
        &fixture.sentinel_secret,
    )
    .await;
}
