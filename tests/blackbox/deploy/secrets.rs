//! Secret files for the tests: the compose stack's own scripts (`generate-secrets.sh`,
//! `mint-token.sh`, which need bash and OpenSSL 3), and stand-ins for the Kubernetes Secret's
//! files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore as _;

use super::files::{deploy_dir, yaml};

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

async fn run_script(script: &str, secrets_dir: &Path, args: &[&str]) -> String {
    let path = deploy_dir().join("compose").join(script);
    let output = tokio::time::timeout(
        SCRIPT_TIMEOUT,
        tokio::process::Command::new("bash")
            .arg(&path)
            .args(args)
            .env("APIKEYS_SECRETS_DIR", secrets_dir)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"))
    .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        output.status.success(),
        "{script} {args:?} exited with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("script output is UTF-8")
}

/// Runs `generate-secrets.sh` into `dir/secrets` and returns that directory.
pub async fn generate_compose_secrets(dir: &Path) -> PathBuf {
    let secrets = dir.join("secrets");
    run_script("generate-secrets.sh", &secrets, &[]).await;
    secrets
}

/// A caller token from `mint-token.sh ARGS…`, signed with the generated identity-provider key.
pub async fn mint_token(secrets: &Path, args: &[&str]) -> String {
    let token = run_script("mint-token.sh", secrets, args)
        .await
        .trim()
        .to_owned();
    assert_eq!(
        token.split('.').count(),
        3,
        "mint-token.sh printed no JWT: {token:?}"
    );
    token
}

/// The caller token `generate-secrets.sh` put into Envoy's rendered config.
pub fn envoy_gateway_token(secrets: &Path) -> String {
    let text = std::fs::read_to_string(secrets.join("envoy.yaml")).expect("rendered envoy.yaml");
    let config = yaml_rust2::YamlLoader::load_from_str(&text).expect("rendered envoy.yaml parses");
    let ext_authz = &config[0]["static_resources"]["listeners"][0]["filter_chains"][0]["filters"]
        [0]["typed_config"]["http_filters"][0]["typed_config"];
    let metadata = &ext_authz["grpc_service"]["initial_metadata"][0];
    assert_eq!(metadata["key"].as_str(), Some("authorization"));
    metadata["value"]
        .as_str()
        .and_then(|value| value.strip_prefix("Bearer "))
        .expect("Envoy sends a bearer token")
        .to_owned()
}

/// compose secret name → the file `generate-secrets.sh` writes for it (`./compose/secrets/X`).
pub fn compose_secret_files() -> Vec<(String, String)> {
    let compose = yaml("compose.yaml");
    super::files::entries(&compose["secrets"], "secrets")
        .into_iter()
        .map(|(name, secret)| {
            let file = super::files::scalar(&secret["file"], &name);
            let base = file
                .rsplit('/')
                .next()
                .expect("rsplit yields one item")
                .to_owned();
            (name, base)
        })
        .collect()
}

/// Content like the Kubernetes Secret's file `name` holds; panics for a file it does not know,
/// so a new Secret key needs a decision here.
pub fn kubernetes_secret_file(name: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    match name {
        // `openssl rand -base64 32`
        "token-kek" => STANDARD.encode(bytes),
        // An identity provider's JWKS with one Ed25519 key (load checks shape, not the point).
        "idp-jwks.json" => serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": "idp-key-1",
                "x": URL_SAFE_NO_PAD.encode(bytes),
            }]
        })
        .to_string(),
        other => panic!("no test content for Secret file {other}: add it to secrets.rs"),
    }
}
