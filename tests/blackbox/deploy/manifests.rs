//! The manifests themselves: they parse and their cross-references resolve.

use std::collections::BTreeSet;

use yaml_rust2::Yaml;

use super::files::{
    configmap_toml, deploy_dir, dockerfile, entries, kubernetes_documents, kubernetes_object,
    port_of, scalar, strings, yaml,
};

/// The compose services that run the apikeys image, with their command lines.
pub fn compose_apikeys_services(compose: &Yaml) -> Vec<(String, Yaml)> {
    entries(&compose["services"], "services")
        .into_iter()
        .filter(|(_, service)| {
            service["image"]
                .as_str()
                .is_some_and(|image| image.starts_with("apikeys:"))
        })
        .map(|(name, service)| (name, service.clone()))
        .collect()
}

/// The containers of the Deployment and the migration Job.
pub fn kubernetes_apikeys_containers() -> Vec<(String, Yaml)> {
    [("Deployment", "apikeys"), ("Job", "apikeys-migrate")]
        .into_iter()
        .flat_map(|(kind, name)| {
            let object = kubernetes_object(kind, name);
            let containers = object["spec"]["template"]["spec"]["containers"]
                .as_vec()
                .unwrap_or_else(|| panic!("{kind} {name} has containers"))
                .clone();
            containers
                .into_iter()
                .map(move |container| (format!("{kind} {name}"), container))
        })
        .collect()
}

/// The value following `flag` in a command line (`--flag value` or `--flag=value`).
pub fn flag_value(command: &[String], flag: &str) -> Option<String> {
    let prefixed = format!("{flag}=");
    command.iter().enumerate().find_map(|(i, arg)| {
        if arg == flag {
            command.get(i + 1).cloned()
        } else {
            arg.strip_prefix(&prefixed).map(str::to_owned)
        }
    })
}

#[test]
fn every_manifest_parses() {
    for file in [
        "compose.yaml",
        "compose/envoy.yaml",
        "compose/otel-collector.yaml",
        "envoy/envoy.yaml",
    ] {
        assert!(yaml(file).as_hash().is_some(), "deploy/{file}: a mapping");
    }
    for (file, document) in kubernetes_documents() {
        let kind = document["kind"].as_str();
        assert!(
            document["apiVersion"].as_str().is_some() && kind.is_some(),
            "{file}: every document has apiVersion and kind"
        );
        if kind != Some("Kustomization") {
            assert!(
                document["metadata"]["name"].as_str().is_some(),
                "{file}: {kind:?} has a name"
            );
        }
    }
    assert!(configmap_toml().contains_key("listen"));
    let instructions = dockerfile();
    assert!(instructions.iter().any(|i| i.keyword == "FROM"));
}

#[test]
fn kustomization_lists_existing_files() {
    let kustomization = yaml("kubernetes/kustomization.yaml");
    for resource in strings(&kustomization["resources"], "resources") {
        assert!(
            deploy_dir().join("kubernetes").join(&resource).is_file(),
            "kustomization names missing {resource}"
        );
    }
}

#[test]
fn collector_pipelines_use_defined_components() {
    let collector = yaml("compose/otel-collector.yaml");
    let pipelines = entries(&collector["service"]["pipelines"], "pipelines");
    assert!(
        pipelines.iter().any(|(name, _)| name == "traces"),
        "a traces pipeline"
    );
    for (name, pipeline) in pipelines {
        for section in ["receivers", "processors", "exporters"] {
            for component in strings(&pipeline[section], section) {
                assert!(
                    !collector[section][component.as_str()].is_badvalue(),
                    "pipeline {name} uses undefined {section} {component}"
                );
            }
        }
    }
    let grpc = scalar(
        &collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        "otlp grpc endpoint",
    );
    let compose = yaml("compose.yaml");
    for (service, definition) in compose_apikeys_services(&compose) {
        let Some(endpoint) = definition["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"].as_str()
        else {
            continue;
        };
        assert_eq!(
            port_of(endpoint),
            port_of(&grpc),
            "{service} exports OTLP to the collector's gRPC port"
        );
    }
}

/// The compose Envoy differs from the reference only in addresses: same ext_authz filter.
#[test]
fn compose_envoy_keeps_the_reference_ext_authz_settings() {
    let filters = |file: &str| {
        yaml(file)["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"]["http_filters"]
            .clone()
    };
    let reference = filters("envoy/envoy.yaml");
    assert!(reference.as_vec().is_some(), "reference http_filters found");
    assert_eq!(filters("compose/envoy.yaml"), reference);
}

#[test]
fn compose_references_resolve() {
    let compose = yaml("compose.yaml");
    let declared: BTreeSet<String> = entries(&compose["secrets"], "secrets")
        .into_iter()
        .map(|(name, secret)| {
            let file = scalar(&secret["file"], &name);
            assert!(
                file.starts_with("./compose/secrets/"),
                "secret {name} lives in compose/secrets/ (git-ignored), not {file}"
            );
            name
        })
        .collect();
    let services = entries(&compose["services"], "services");
    let names: BTreeSet<String> = services.iter().map(|(name, _)| name.clone()).collect();
    for (name, service) in &services {
        if let Some(secrets) = service["secrets"].as_vec() {
            for secret in secrets {
                let secret = scalar(secret, name);
                assert!(
                    declared.contains(&secret),
                    "{name} uses undeclared {secret}"
                );
            }
        }
        let dependencies: Vec<String> = match &service["depends_on"] {
            Yaml::Array(_) => strings(&service["depends_on"], name),
            Yaml::Hash(_) => entries(&service["depends_on"], name)
                .into_iter()
                .map(|(dependency, _)| dependency)
                .collect(),
            _ => Vec::new(),
        };
        for dependency in dependencies {
            assert!(
                names.contains(&dependency),
                "{name} depends on unknown {dependency}"
            );
        }
        if let Some(volumes) = service["volumes"].as_vec() {
            for volume in volumes {
                let volume = scalar(volume, name);
                if let Some(source) = volume.split(':').next().filter(|s| s.starts_with("./")) {
                    assert!(
                        deploy_dir().join(source).exists(),
                        "{name} mounts missing {source}"
                    );
                }
            }
        }
        if let Some(dockerfile) = service["build"]["dockerfile"].as_str() {
            let context = scalar(&service["build"]["context"], name);
            let path = deploy_dir().join(context).join(dockerfile);
            assert!(
                path.is_file(),
                "{name} builds from missing {}",
                path.display()
            );
        }
    }
    let serving: Vec<_> = compose_apikeys_services(&compose)
        .into_iter()
        .filter(|(_, service)| strings(&service["command"], "command")[0] == "serve")
        .collect();
    assert_eq!(serving.len(), 2, "two apikeys serve replicas");
    let instances: BTreeSet<String> = serving
        .iter()
        .map(|(name, service)| scalar(&service["environment"]["OTEL_RESOURCE_ATTRIBUTES"], name))
        .collect();
    assert_eq!(instances.len(), 2, "each replica names its own instance");
}

/// Selectors select the pods, references name objects that exist, pods run as the image's user.
#[test]
fn kubernetes_objects_fit_together() {
    let deployment = kubernetes_object("Deployment", "apikeys");
    let pod = &deployment["spec"]["template"];
    let labels = entries(&pod["metadata"]["labels"], "pod labels");
    let selects_pods = |selector: &Yaml, what: &str| {
        for (key, value) in entries(selector, what) {
            assert!(
                labels.iter().any(|(k, v)| *k == key && *v == value),
                "{what} {key}={value:?} matches no pod label"
            );
        }
    };
    selects_pods(
        &deployment["spec"]["selector"]["matchLabels"],
        "Deployment selector",
    );
    selects_pods(
        &kubernetes_object("Service", "apikeys")["spec"]["selector"],
        "Service",
    );
    selects_pods(
        &kubernetes_object("PodDisruptionBudget", "apikeys")["spec"]["selector"]["matchLabels"],
        "PodDisruptionBudget",
    );
    let hpa = kubernetes_object("HorizontalPodAutoscaler", "apikeys");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"].as_str(),
        Some("apikeys")
    );
    assert!(hpa["spec"]["minReplicas"].as_i64() >= Some(2));
    assert!(deployment["spec"]["replicas"].as_i64() >= Some(2));

    for volume in pod["spec"]["volumes"].as_vec().expect("pod volumes") {
        if let Some(name) = volume["configMap"]["name"].as_str() {
            kubernetes_object("ConfigMap", name);
        }
        if let Some(name) = volume["secret"]["secretName"].as_str() {
            kubernetes_object("Secret", name);
        }
    }
    let image_uid = dockerfile()
        .into_iter()
        .rfind(|i| i.keyword == "USER")
        .expect("the Dockerfile sets USER")
        .arguments;
    let image_uid = image_uid.split(':').next().expect("uid");
    for (owner, container) in kubernetes_apikeys_containers() {
        if let Some(env) = container["env"].as_vec() {
            for var in env {
                let reference = &var["valueFrom"]["secretKeyRef"];
                if let Some(name) = reference["name"].as_str() {
                    let key = scalar(&reference["key"], name);
                    let secret = kubernetes_object("Secret", name);
                    assert!(
                        !secret["stringData"][key.as_str()].is_badvalue(),
                        "{owner} reads missing key {key} of Secret {name}"
                    );
                }
            }
        }
        let context = &container["securityContext"];
        assert_eq!(
            context["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{owner}"
        );
        assert_eq!(
            context["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{owner}"
        );
        assert!(
            !container["resources"]["requests"].is_badvalue(),
            "{owner} requests resources"
        );
    }
    for kind_name in [("Deployment", "apikeys"), ("Job", "apikeys-migrate")] {
        let object = kubernetes_object(kind_name.0, kind_name.1);
        let context = &object["spec"]["template"]["spec"]["securityContext"];
        assert_eq!(
            context["runAsNonRoot"].as_bool(),
            Some(true),
            "{kind_name:?}"
        );
        assert_eq!(
            scalar(&context["runAsUser"], "runAsUser"),
            image_uid,
            "{kind_name:?} runs as the image's user"
        );
    }
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let grpc = &deployment["spec"]["template"]["spec"]["containers"][0][probe]["grpc"];
        assert!(
            !grpc["port"].is_badvalue(),
            "{probe} is a native gRPC probe"
        );
    }
}

/// The builder image's Rust is at least the workspace's `rust-version`.
#[test]
fn builder_toolchain_is_new_enough() {
    let manifest: toml::Table = std::fs::read_to_string(deploy_dir().join("../Cargo.toml"))
        .expect("read Cargo.toml")
        .parse()
        .expect("Cargo.toml is TOML");
    let required = manifest["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("workspace rust-version");
    let builder = dockerfile()
        .into_iter()
        .find(|i| i.keyword == "FROM")
        .expect("a FROM")
        .arguments;
    let tag = builder
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("the builder is a rust image: {builder}"));
    let version = |text: &str| -> Vec<u32> {
        text.split(['-', ' '])
            .next()
            .expect("split yields one item")
            .split('.')
            .map(|part| part.parse().unwrap_or_else(|_| panic!("version {text}")))
            .collect()
    };
    assert!(
        version(tag) >= version(required),
        "builder {tag} is older than rust-version {required}"
    );
}
