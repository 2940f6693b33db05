//! The Kubernetes configuration as the pods see it: the migration Job's and the Deployment's
//! command lines, the ConfigMap's `apikeys.toml`, the Secret's files and the database URL from
//! the Secret, with mount paths moved into a temp dir and the database pointed at a test one.

use std::path::{Path, PathBuf};

use apikeys_test_support::{Backend, TestDatabase};
use yaml_rust2::Yaml;

use super::files::{configmap_toml, entries, kubernetes_object, scalar, strings};
use super::manifests::flag_value;
use super::process::{run, run_ok};
use super::secrets::kubernetes_secret_file;

/// Where the pod's mounts land in the test: config file and Secret files in `dir`.
struct PodFiles {
    config_mount: String,
    secret_mounts: Vec<(String, String)>,
}

impl PodFiles {
    fn of(pod: &Yaml) -> Self {
        let container = &pod["containers"][0];
        let volumes = pod["volumes"].as_vec().expect("pod volumes");
        let mut config_mount = None;
        let mut secret_mounts = Vec::new();
        for mount in container["volumeMounts"].as_vec().expect("volumeMounts") {
            let name = scalar(&mount["name"], "volumeMount name");
            let path = scalar(&mount["mountPath"], "mountPath");
            let volume = volumes
                .iter()
                .find(|v| v["name"].as_str() == Some(name.as_str()))
                .unwrap_or_else(|| panic!("volumeMount {name} has no volume"));
            if let Some(secret) = volume["secret"]["secretName"].as_str() {
                secret_mounts.push((path, secret.to_owned()));
            } else if volume["configMap"]["name"].as_str() == Some("apikeys-config") {
                config_mount = Some(path);
            }
        }
        Self {
            config_mount: config_mount.expect("the ConfigMap is mounted"),
            secret_mounts,
        }
    }

    /// Moves a mounted path into `dir`: the config file as `config`, Secret files with
    /// generated content. Other values are left alone.
    fn relocate(&self, value: &str, dir: &Path, config: &Path) -> Option<PathBuf> {
        if value.strip_prefix(&self.config_mount) == Some("/apikeys.toml") {
            return Some(config.to_owned());
        }
        self.secret_mounts.iter().find_map(|(mount, secret)| {
            let file = value.strip_prefix(mount.as_str())?.trim_start_matches('/');
            let declared = kubernetes_object("Secret", secret);
            assert!(
                !declared["stringData"][file].is_badvalue(),
                "{value} is not a key of Secret {secret}"
            );
            let path = dir.join(file);
            std::fs::write(&path, kubernetes_secret_file(file)).expect("write secret file");
            Some(path)
        })
    }
}

/// The container's command line and environment with mounts relocated, the database URL from
/// its Secret replaced by `database_url`, and the downward API filled in.
fn pod_command(
    object: &Yaml,
    files: &PodFiles,
    dir: &Path,
    config: &Path,
    database_url: &str,
) -> (Vec<String>, Vec<(String, String)>) {
    let container = &object["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"], "args")
        .into_iter()
        .map(|arg| match files.relocate(&arg, dir, config) {
            Some(path) => path.display().to_string(),
            None => arg,
        })
        .collect();
    let mut env = Vec::new();
    for var in container["env"]
        .as_vec()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = scalar(&var["name"], "env name");
        let value = if let Some(value) = var["value"].as_str() {
            value.to_owned()
        } else if var["valueFrom"]["secretKeyRef"]["name"].as_str() == Some("apikeys-database") {
            database_url.to_owned()
        } else if !var["valueFrom"]["fieldRef"].is_badvalue() {
            format!("test-{}", name.to_lowercase())
        } else {
            panic!("no test value for env {name}: {var:?}")
        };
        env.push((name, value));
    }
    // The OTLP endpoint is another cluster's service; the check neither needs nor reaches it.
    env.retain(|(name, _)| !name.starts_with("OTEL_EXPORTER"));
    (args, env)
}

pub async fn configmap_config_passes_check_config(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let dir = database.dir();
    let deployment = kubernetes_object("Deployment", "apikeys");
    let files = PodFiles::of(&deployment["spec"]["template"]["spec"]);
    let config_path = dir.join("apikeys.toml");

    let mut config = configmap_toml();
    let mut relocated = 0;
    for (key, value) in config.iter_mut() {
        let toml::Value::String(text) = value else {
            continue;
        };
        if key == "listen" {
            *text = "127.0.0.1:0".into();
        } else if let Some(path) = files.relocate(text, dir, &config_path) {
            *text = path.display().to_string();
            relocated += 1;
        }
    }
    assert!(relocated >= 2, "the key files of the ConfigMap were found");
    let rendered = toml::to_string(&config).expect("render TOML");
    std::fs::write(&config_path, rendered).expect("write apikeys.toml");

    // The Job first, as in a release; then the Deployment's command line with --check-config.
    let job = kubernetes_object("Job", "apikeys-migrate");
    let job_files = PodFiles::of(&job["spec"]["template"]["spec"]);
    let (args, env) = pod_command(&job, &job_files, dir, &config_path, database.url());
    assert_eq!(args[0], "migrate");
    run_ok(&args, &env).await;

    let (mut args, env) = pod_command(&deployment, &files, dir, &config_path, database.url());
    assert_eq!(args[0], "serve");
    assert_eq!(
        flag_value(&args, "--config").as_deref(),
        Some(config_path.to_str().expect("UTF-8 path"))
    );
    args.push("--check-config".into());
    let report = run_ok(&args, &env).await;
    assert!(report.contains("configuration OK"), "{report}");
    assert!(
        report.contains("ok: caller tokens verified with the configured identity provider"),
        "the ConfigMap configures the identity provider, not local mode:\n{report}"
    );
    assert!(
        report.contains("0 pending migration"),
        "the Job migrated:\n{report}"
    );

    // Control: the same check fails once a Secret file is broken, so it does check them.
    let kek = config["token-kek-file"].as_str().expect("token-kek-file");
    std::fs::write(kek, "not a key").expect("corrupt the KEK");
    let output = run(&args, &env).await;
    assert!(
        !output.status.success(),
        "a corrupt KEK must fail --check-config"
    );
}

/// The Secret keys the Deployment mounts are exactly those the ConfigMap points at.
#[test]
fn configmap_points_at_every_mounted_secret_file() {
    let deployment = kubernetes_object("Deployment", "apikeys");
    let files = PodFiles::of(&deployment["spec"]["template"]["spec"]);
    let config = configmap_toml();
    for (mount, secret) in &files.secret_mounts {
        let declared = kubernetes_object("Secret", secret);
        for (key, _) in entries(&declared["stringData"], secret) {
            let path = format!("{mount}/{key}");
            assert!(
                config.values().any(|v| v.as_str() == Some(path.as_str())),
                "Secret {secret} key {key} is mounted at {path} but no setting reads it"
            );
        }
    }
}
