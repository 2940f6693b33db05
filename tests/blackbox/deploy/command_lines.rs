//! Every `apikeys` command line in `deploy/` (Dockerfile, compose, Kubernetes) names only
//! subcommands, flags, `APIKEYS_*` variables and config-file keys the real binary has, as its
//! `--help` says.

use std::collections::{BTreeMap, BTreeSet};

use super::files::{dockerfile, dockerfile_exec_form, entries, read, strings, yaml};
use super::manifests::{compose_apikeys_services, kubernetes_apikeys_containers};
use super::process::help;

/// One way the deployment runs the binary.
struct Invocation {
    origin: String,
    args: Vec<String>,
    env: Vec<String>,
}

fn invocations() -> Vec<Invocation> {
    let entrypoint = dockerfile_exec_form("ENTRYPOINT");
    assert!(
        entrypoint.len() == 1 && entrypoint[0].ends_with("/apikeys"),
        "ENTRYPOINT is the apikeys binary alone: {entrypoint:?}"
    );
    let image_env: Vec<String> = dockerfile()
        .into_iter()
        .filter(|i| i.keyword == "ENV")
        .filter_map(|i| i.arguments.split(['=', ' ']).next().map(str::to_owned))
        .collect();
    let mut found = vec![Invocation {
        origin: "Dockerfile CMD".into(),
        args: dockerfile_exec_form("CMD"),
        env: image_env,
    }];

    let compose = yaml("compose.yaml");
    for (name, service) in compose_apikeys_services(&compose) {
        let env = match service["environment"].as_hash() {
            Some(_) => entries(&service["environment"], &name)
                .into_iter()
                .map(|(var, _)| var)
                .collect(),
            None => Vec::new(),
        };
        found.push(Invocation {
            origin: format!("compose service {name}"),
            args: strings(&service["command"], &name),
            env,
        });
    }

    for (owner, container) in kubernetes_apikeys_containers() {
        assert!(
            container["command"].is_badvalue(),
            "{owner}: the image's ENTRYPOINT runs the binary; set args, not command"
        );
        let env = container["env"]
            .as_vec()
            .map(|vars| {
                vars.iter()
                    .filter_map(|var| var["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        found.push(Invocation {
            origin: owner,
            args: strings(&container["args"], "args"),
            env,
        });
    }
    found
}

/// `apikeys …` command lines in the READMEs under `deploy/`: lines of fenced code blocks
/// (`\` continuations joined, a leading `#` allowed) and inline code spans.
fn readme_invocations() -> Vec<Invocation> {
    let mut found = Vec::new();
    for readme in ["README.md", "kubernetes/README.md", "envoy/README.md"] {
        let text = read(readme).replace("\\\n", " ");
        let mut fenced = false;
        let mut snippets = Vec::new();
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
            } else if fenced {
                snippets.push(line.trim_start_matches([' ', '#', '$']).to_owned());
            } else {
                snippets.extend(line.split('`').skip(1).step_by(2).map(str::to_owned));
            }
        }
        for snippet in snippets {
            let Some(command) = snippet.strip_prefix("apikeys ") else {
                continue;
            };
            let args: Vec<String> = command
                .split_whitespace()
                .take_while(|word| !word.starts_with(['(', '#', '|', '&', ';', '<', '>']))
                .filter(|word| !word.contains('…'))
                .map(str::to_owned)
                .collect();
            // `apikeys <command> --help` and friends name placeholders, not subcommands.
            if args
                .first()
                .is_some_and(|first| first.starts_with(['<', '-']))
            {
                continue;
            }
            found.push(Invocation {
                origin: format!("deploy/{readme}: `{snippet}`"),
                args,
                env: Vec::new(),
            });
        }
    }
    found
}

/// The `--flags` and `APIKEYS_*` variables one subcommand's help lists.
struct HelpText {
    flags: BTreeSet<String>,
    env: BTreeSet<String>,
}

impl HelpText {
    fn parse(text: &str) -> Self {
        let token = |start: &str, allowed: fn(char) -> bool| -> BTreeSet<String> {
            text.match_indices(start)
                .map(|(at, _)| {
                    let rest = &text[at + start.len()..];
                    let end = rest.find(|c: char| !allowed(c)).unwrap_or(rest.len());
                    format!("{start}{}", &rest[..end])
                })
                .collect()
        };
        Self {
            flags: token("--", |c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
            }),
            env: token("APIKEYS_", |c| {
                c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
            }),
        }
    }
}

#[tokio::test]
async fn every_command_line_names_real_subcommands_flags_and_variables() {
    let mut helps: BTreeMap<String, HelpText> = BTreeMap::new();
    let mut checked_flags = 0;
    let readmes = readme_invocations();
    assert!(readmes.len() >= 3, "the READMEs' command lines were found");
    for invocation in invocations().into_iter().chain(readmes) {
        let origin = &invocation.origin;
        let subcommand = invocation
            .args
            .first()
            .unwrap_or_else(|| panic!("{origin}: no subcommand"));
        if !helps.contains_key(subcommand) {
            // Fails unless `apikeys SUBCOMMAND --help` exits 0, i.e. the subcommand exists.
            let text = help(subcommand).await;
            helps.insert(subcommand.clone(), HelpText::parse(&text));
        }
        let help = &helps[subcommand];
        for arg in invocation.args.iter().filter(|a| a.starts_with("--")) {
            let flag = arg.split('=').next().expect("split yields one item");
            assert!(
                help.flags.contains(flag),
                "{origin}: `apikeys {subcommand}` has no {flag}"
            );
            checked_flags += 1;
        }
        for var in invocation.env.iter().filter(|v| v.starts_with("APIKEYS_")) {
            assert!(
                help.env.contains(var),
                "{origin}: `apikeys {subcommand}` reads no {var}"
            );
        }
    }
    assert!(checked_flags >= 10, "the command lines were found");
}

#[tokio::test]
async fn configmap_keys_are_serve_flags() {
    let help = HelpText::parse(&help("serve").await);
    let config = super::files::configmap_toml();
    assert!(config.len() >= 5, "the ConfigMap's settings were found");
    for key in config.keys() {
        assert!(
            help.flags.contains(&format!("--{key}")),
            "ConfigMap apikeys.toml: `{key}` is not a flag of `apikeys serve`"
        );
    }
}

#[tokio::test]
async fn help_parsing_finds_flags_and_variables() {
    // Guards the two tests above against a parser that finds nothing and so rejects nothing.
    let help = HelpText::parse(&help("serve").await);
    assert!(help.flags.contains("--listen"), "{:?}", help.flags);
    assert!(help.env.contains("APIKEYS_LISTEN"), "{:?}", help.env);
    assert!(!help.flags.contains("--no-such-flag"));
}
