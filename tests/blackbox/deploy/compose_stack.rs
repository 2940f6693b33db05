//! The compose stack without Docker: its secrets from its own script, and its `apikeys` command
//! lines run directly against the local PostgreSQL with only host names, ports and paths
//! rewritten.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use apikeys_proto::pb::account_service_client::AccountServiceClient;
use apikeys_proto::pb::api_key_service_client::ApiKeyServiceClient;
use apikeys_proto::pb::introspection_service_client::IntrospectionServiceClient;
use apikeys_proto::pb::{
    CreateKeyRequest, IntrospectRequest, IntrospectResponse, RevokeKeyRequest, SetApiAccessRequest,
};
use apikeys_test_support::{Backend, TestDatabase};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tonic::Request;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use yaml_rust2::Yaml;

use super::files::{entries, scalar, strings, yaml};
use super::manifests::{compose_apikeys_services, flag_value};
use super::process::{Serving, run_ok};
use super::secrets::{
    compose_secret_files, envoy_gateway_token, generate_compose_secrets, mint_token,
};
use crate::harness::bearer;

const SECRETS_MOUNT: &str = "/run/secrets/";
const REVOCATION_DEADLINE: Duration = Duration::from_secs(10);

/// One apikeys service of the compose file, rewritten to run here.
struct LocalService {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// Secret mounts → generated files, `0.0.0.0:PORT` → `127.0.0.1:0`, compose host names in the
/// OTLP endpoint → 127.0.0.1.
fn localise(name: &str, service: &Yaml, secrets: &Path) -> LocalService {
    let files: BTreeMap<String, String> = compose_secret_files().into_iter().collect();
    let args = strings(&service["command"], name)
        .into_iter()
        .map(|arg| {
            if let Some(secret) = arg.strip_prefix(SECRETS_MOUNT) {
                let file = files
                    .get(secret)
                    .unwrap_or_else(|| panic!("{name} reads undeclared secret {secret}"));
                secrets.join(file).display().to_string()
            } else if let Some(port) = arg.strip_prefix("0.0.0.0:") {
                assert!(port.parse::<u16>().is_ok(), "{arg} is an address");
                "127.0.0.1:0".to_owned()
            } else {
                arg
            }
        })
        .collect();
    let env = match service["environment"].as_hash() {
        Some(_) => entries(&service["environment"], name)
            .into_iter()
            .map(|(var, value)| {
                let value = scalar(value, &var).replace("//otel-collector:", "//127.0.0.1:");
                (var, value)
            })
            .collect(),
        None => Vec::new(),
    };
    LocalService {
        name: name.to_owned(),
        args,
        env,
    }
}

/// Points the generated database config (`postgres` service, its user and database) at the
/// test database instead.
fn point_database_config_at(secrets: &Path, database_url: &str) {
    let path = secrets.join("apikeys-database.toml");
    let mut config: toml::Table = std::fs::read_to_string(&path)
        .expect("read apikeys-database.toml")
        .parse()
        .expect("apikeys-database.toml is TOML");
    let url = config["database-url"].as_str().expect("database-url");
    assert!(
        url.contains("@postgres:5432/"),
        "the compose database: {url:?}"
    );
    config.insert("database-url".into(), database_url.into());
    std::fs::write(&path, toml::to_string(&config).expect("render")).expect("write config");
}

fn with_bearer<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer(token));
    request
}

async fn introspect(channel: &Channel, token: &str, id: &str, secret: &str) -> IntrospectResponse {
    let request = IntrospectRequest {
        client_id: id.into(),
        client_secret: secret.into(),
        ..IntrospectRequest::default()
    };
    IntrospectionServiceClient::new(channel.clone())
        .introspect(with_bearer(token, request))
        .await
        .expect("Introspect")
        .into_inner()
}

#[tokio::test]
#[cfg_attr(
    not(apikeys_postgres_tests),
    ignore = "set APIKEYS_TEST_POSTGRES_URL to run"
)]
async fn compose_command_lines_run_two_replicas_on_one_database() {
    let database = TestDatabase::new(Backend::Postgres).await;
    let secrets = generate_compose_secrets(database.dir()).await;
    point_database_config_at(&secrets, database.url());

    let compose = yaml("compose.yaml");
    let services: Vec<LocalService> = compose_apikeys_services(&compose)
        .iter()
        .map(|(name, service)| localise(name, service, &secrets))
        .collect();
    let migrate = services
        .iter()
        .find(|s| s.args[0] == "migrate")
        .expect("a migrate service");
    let printed = run_ok(&migrate.args, &migrate.env).await;
    assert!(
        printed.contains("migrations applied"),
        "{}: {printed}",
        migrate.name
    );

    let mut replicas = Vec::new();
    for service in services.iter().filter(|s| s.args[0] == "serve") {
        let serving = Serving::start(&service.args, &service.env).await;
        let channel = serving.channel().await;
        let status = HealthClient::new(channel.clone())
            .check(HealthCheckRequest::default())
            .await
            .unwrap_or_else(|s| panic!("{} health: {s:?}", service.name))
            .into_inner()
            .status;
        assert_eq!(
            status,
            ServingStatus::Serving as i32,
            "{} is SERVING",
            service.name
        );
        replicas.push((serving, channel));
    }
    assert_eq!(replicas.len(), 2, "two replicas");
    let (first, second) = (&replicas[0].1, &replicas[1].1);

    // Caller tokens as in the stack: the stand-in identity provider's, and Envoy's own.
    let staff = mint_token(
        &secrets,
        &["--sub", "ops", "--account", "hubpay", "--staff"],
    )
    .await;
    let owner = mint_token(
        &secrets,
        &["--sub", "alice", "--account", "acme", "--role", "owner"],
    )
    .await;
    let gateway = envoy_gateway_token(&secrets);

    AccountServiceClient::new(first.clone())
        .set_api_access(with_bearer(
            &staff,
            SetApiAccessRequest {
                account_id: "acme".into(),
                enabled: true,
            },
        ))
        .await
        .expect("SetApiAccess on replica 1");
    let created = ApiKeyServiceClient::new(first.clone())
        .create_key(with_bearer(
            &owner,
            CreateKeyRequest {
                account_id: "acme".into(),
                email: "alice@acme.test".into(),
                ..CreateKeyRequest::default()
            },
        ))
        .await
        .expect("CreateKey on replica 1")
        .into_inner();
    let id = created.key.expect("the key").client_id;
    let secret = created.client_secret;

    let answer = introspect(second, &gateway, &id, &secret).await;
    assert!(
        answer.active,
        "a key created on replica 1 is active on replica 2"
    );
    assert_eq!(answer.account_id, "acme");

    ApiKeyServiceClient::new(first.clone())
        .revoke_key(with_bearer(
            &owner,
            RevokeKeyRequest {
                account_id: "acme".into(),
                client_id: id.clone(),
            },
        ))
        .await
        .expect("RevokeKey on replica 1");
    let started = Instant::now();
    while introspect(second, &gateway, &id, &secret).await.active {
        assert!(
            started.elapsed() < REVOCATION_DEADLINE,
            "replica 2 still answers active {REVOCATION_DEADLINE:?} after the revocation"
        );
        tokio::task::yield_now().await;
    }
}

/// `generate-secrets.sh` writes every secret the compose file declares, with usable content,
/// and keeps them when run again.
#[tokio::test]
async fn generated_secrets_fit_the_compose_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = generate_compose_secrets(dir.path()).await;
    let read = |file: &str| {
        std::fs::read_to_string(secrets.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
    };
    let before: Vec<(String, String)> = compose_secret_files()
        .into_iter()
        .map(|(_, file)| {
            let content = read(&file);
            assert!(!content.trim().is_empty(), "{file} is empty");
            (file, content)
        })
        .collect();
    assert!(before.len() >= 4, "the compose secrets were found");
    assert!(
        compose_secret_files()
            .iter()
            .all(|(_, file)| !file.contains("signing-key")),
        "the identity provider's private key is mounted into no container"
    );

    let kek = STANDARD
        .decode(read("token-kek").trim())
        .expect("token-kek is base64");
    assert_eq!(kek.len(), 32, "token-kek holds 32 bytes");

    let compose = yaml("compose.yaml");
    let postgres = &compose["services"]["postgres"]["environment"];
    let config: toml::Table = read("apikeys-database.toml").parse().expect("TOML");
    let url = config["database-url"].as_str().expect("database-url");
    let (user, database) = (
        scalar(&postgres["POSTGRES_USER"], "user"),
        scalar(&postgres["POSTGRES_DB"], "db"),
    );
    assert!(
        url.starts_with(&format!("postgres://{user}:")),
        "{user} logs in"
    );
    assert!(
        url.ends_with(&format!("@postgres:5432/{database}")),
        "{database} on postgres"
    );
    assert!(
        url.contains(read("postgres-password").trim()),
        "with the generated password"
    );

    // Envoy's token verifies as the replicas verify caller tokens.
    let serve = compose_apikeys_services(&compose)
        .into_iter()
        .map(|(name, service)| strings(&service["command"], &name))
        .find(|command| command[0] == "serve")
        .expect("a serve replica");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[flag_value(&serve, "--jwt-issuer").expect("--jwt-issuer")]);
    validation.set_audience(&[flag_value(&serve, "--jwt-audience").expect("--jwt-audience")]);
    let key = DecodingKey::from_ed_pem(read("idp-public-key.pem").as_bytes()).expect("PEM");
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        &envoy_gateway_token(&secrets),
        &key,
        &validation,
    )
    .expect("Envoy's token verifies with the replicas' settings")
    .claims;
    assert_eq!(claims["scope"], "introspect");
    assert!(
        !read("envoy.yaml").contains("REPLACE_WITH"),
        "no placeholder left"
    );

    generate_compose_secrets(dir.path()).await;
    for (file, content) in before {
        assert_eq!(read(&file), content, "{file} is kept on a second run");
    }
}
