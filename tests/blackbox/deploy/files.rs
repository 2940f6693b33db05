//! Reading the deployment files under `deploy/`: YAML (with compose's `<<` merge keys resolved),
//! the Kubernetes documents, the ConfigMap's TOML and the Dockerfile's instructions.

use std::path::{Path, PathBuf};

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlLoader};

/// `deploy/` in this checkout.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

pub fn read(relative: &str) -> String {
    let path = deploy_dir().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every YAML document of `deploy/<relative>`, merge keys resolved.
pub fn yaml_documents(relative: &str) -> Vec<Yaml> {
    let text = read(relative);
    let documents = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("deploy/{relative} is not valid YAML: {e}"));
    assert!(!documents.is_empty(), "deploy/{relative} has no document");
    documents.into_iter().map(resolve_merge_keys).collect()
}

/// The single YAML document of `deploy/<relative>`.
pub fn yaml(relative: &str) -> Yaml {
    let mut documents = yaml_documents(relative);
    assert_eq!(
        documents.len(),
        1,
        "deploy/{relative}: one document expected"
    );
    documents.remove(0)
}

/// Applies YAML merge keys (`<<: *anchor`, as compose files use them): the mapping's own keys
/// win over merged ones. yaml-rust2 resolves the aliases but leaves `<<` as a plain key.
fn resolve_merge_keys(node: Yaml) -> Yaml {
    match node {
        Yaml::Hash(hash) => {
            let mut own = Hash::new();
            let mut merged = Vec::new();
            for (key, value) in hash {
                let value = resolve_merge_keys(value);
                if key.as_str() == Some("<<") {
                    match value {
                        Yaml::Array(sources) => merged.extend(sources),
                        source => merged.push(source),
                    }
                } else {
                    own.insert(key, value);
                }
            }
            for source in merged {
                let Yaml::Hash(source) = source else {
                    panic!("a `<<` merge key must name a mapping: {source:?}");
                };
                for (key, value) in source {
                    if !own.contains_key(&key) {
                        own.insert(key, value);
                    }
                }
            }
            Yaml::Hash(own)
        }
        Yaml::Array(items) => Yaml::Array(items.into_iter().map(resolve_merge_keys).collect()),
        other => other,
    }
}

/// A YAML scalar as text (strings, numbers and booleans alike), or a panic naming `what`.
pub fn scalar(node: &Yaml, what: &str) -> String {
    match node {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("{what}: expected a scalar, found {other:?}"),
    }
}

/// A YAML sequence of scalars, as text.
pub fn strings(node: &Yaml, what: &str) -> Vec<String> {
    node.as_vec()
        .unwrap_or_else(|| panic!("{what}: expected a list, found {node:?}"))
        .iter()
        .map(|item| scalar(item, what))
        .collect()
}

/// A YAML mapping with scalar keys, as (key, node) pairs.
pub fn entries<'a>(node: &'a Yaml, what: &str) -> Vec<(String, &'a Yaml)> {
    node.as_hash()
        .unwrap_or_else(|| panic!("{what}: expected a mapping, found {node:?}"))
        .iter()
        .map(|(key, value)| (scalar(key, what), value))
        .collect()
}

/// The port of a `HOST:PORT` address.
pub fn port_of(address: &str) -> u16 {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or_else(|| panic!("{address:?} is not HOST:PORT"))
}

/// Every Kubernetes document under `deploy/kubernetes/`, with the file it came from.
pub fn kubernetes_documents() -> Vec<(String, Yaml)> {
    let dir = deploy_dir().join("kubernetes");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in deploy/kubernetes");
    files
        .into_iter()
        .flat_map(|file| {
            yaml_documents(&format!("kubernetes/{file}"))
                .into_iter()
                .map(move |document| (file.clone(), document))
        })
        .collect()
}

/// The one Kubernetes object of `kind` named `name`.
pub fn kubernetes_object(kind: &str, name: &str) -> Yaml {
    let mut found: Vec<Yaml> = kubernetes_documents()
        .into_iter()
        .map(|(_, document)| document)
        .filter(|document| {
            document["kind"].as_str() == Some(kind)
                && document["metadata"]["name"].as_str() == Some(name)
        })
        .collect();
    assert_eq!(found.len(), 1, "exactly one {kind} {name} expected");
    found.remove(0)
}

/// The ConfigMap's `apikeys.toml`, parsed.
pub fn configmap_toml() -> toml::Table {
    let configmap = kubernetes_object("ConfigMap", "apikeys-config");
    let text = configmap["data"]["apikeys.toml"]
        .as_str()
        .expect("the ConfigMap holds apikeys.toml");
    text.parse()
        .unwrap_or_else(|e| panic!("the ConfigMap's apikeys.toml is not valid TOML: {e}"))
}

/// One Dockerfile instruction with its arguments, continuation lines joined.
pub struct Instruction {
    pub keyword: String,
    pub arguments: String,
}

pub fn dockerfile() -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in read("docker/Dockerfile").lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(continued) => {
                pending.push_str(continued);
                pending.push(' ');
            }
            None => {
                pending.push_str(line);
                let (keyword, arguments) = pending.split_once(' ').unwrap_or((&pending, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_uppercase(),
                    arguments: arguments.trim().to_owned(),
                });
                pending.clear();
            }
        }
    }
    instructions
}

/// The JSON-array (exec) form of the last `keyword` instruction (ENTRYPOINT, CMD).
pub fn dockerfile_exec_form(keyword: &str) -> Vec<String> {
    let instruction = dockerfile()
        .into_iter()
        .rfind(|i| i.keyword == keyword)
        .unwrap_or_else(|| panic!("the Dockerfile has no {keyword}"));
    serde_json::from_str(&instruction.arguments).unwrap_or_else(|e| {
        panic!(
            "{keyword} {} is not in exec (JSON array) form: {e}",
            instruction.arguments
        )
    })
}
