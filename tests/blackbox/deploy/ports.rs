//! Every place that names the gRPC port names the same one.

use super::files::{
    configmap_toml, dockerfile, dockerfile_exec_form, kubernetes_documents, kubernetes_object,
    port_of, scalar, strings, yaml,
};
use super::manifests::{compose_apikeys_services, flag_value};

/// Dockerfile EXPOSE and default CMD, compose replicas and port mappings, both Envoy configs,
/// the ConfigMap, containerPort, probes and the Service all name one port.
#[test]
fn every_place_names_the_same_grpc_port() {
    let mut ports: Vec<(String, u16)> = Vec::new();
    let instructions = dockerfile();
    let expose = instructions
        .iter()
        .find(|i| i.keyword == "EXPOSE")
        .expect("the Dockerfile EXPOSEs the port");
    ports.push((
        "Dockerfile EXPOSE".into(),
        expose.arguments.parse().expect("one port"),
    ));
    let cmd = dockerfile_exec_form("CMD");
    let listen = flag_value(&cmd, "--listen").expect("CMD sets --listen");
    ports.push(("Dockerfile CMD --listen".into(), port_of(&listen)));

    let compose = yaml("compose.yaml");
    for (name, service) in compose_apikeys_services(&compose) {
        let command = strings(&service["command"], &name);
        if command[0] != "serve" {
            continue;
        }
        let listen = flag_value(&command, "--listen").expect("replicas set --listen");
        ports.push((format!("compose {name} --listen"), port_of(&listen)));
        for mapping in strings(&service["ports"], &name) {
            let container = mapping.rsplit(':').next().expect("container port");
            ports.push((
                format!("compose {name} ports"),
                container.parse().expect("port"),
            ));
        }
    }
    for file in ["compose/envoy.yaml", "envoy/envoy.yaml"] {
        let config = yaml(file);
        let clusters = config["static_resources"]["clusters"]
            .as_vec()
            .expect("clusters");
        let apikeys = clusters
            .iter()
            .find(|c| c["name"].as_str() == Some("apikeys"))
            .expect("an apikeys cluster");
        let endpoints = apikeys["load_assignment"]["endpoints"][0]["lb_endpoints"]
            .as_vec()
            .expect("endpoints");
        for endpoint in endpoints {
            let port = &endpoint["endpoint"]["address"]["socket_address"]["port_value"];
            ports.push((
                format!("{file} cluster"),
                scalar(port, file).parse().expect("port"),
            ));
        }
    }

    let listen = configmap_toml()["listen"]
        .as_str()
        .expect("listen")
        .to_owned();
    ports.push(("ConfigMap listen".into(), port_of(&listen)));
    let deployment = kubernetes_object("Deployment", "apikeys");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let container_port = &container["ports"][0];
    let port_name = scalar(&container_port["name"], "containerPort name");
    let container_port: u16 = scalar(&container_port["containerPort"], "containerPort")
        .parse()
        .expect("port");
    ports.push(("containerPort".into(), container_port));
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let port = scalar(&container[probe]["grpc"]["port"], probe);
        ports.push((probe.into(), port.parse().expect("probe port")));
    }
    for (file, document) in kubernetes_documents() {
        if document["kind"].as_str() != Some("Service") {
            continue;
        }
        for port in document["spec"]["ports"].as_vec().expect("Service ports") {
            let target = scalar(&port["targetPort"], "targetPort");
            assert!(
                target == port_name || target.parse::<u16>().is_ok(),
                "{file}: targetPort {target} names no container port"
            );
            let target = if target == port_name {
                container_port
            } else {
                target.parse().expect("port")
            };
            ports.push((format!("{file} targetPort"), target));
            ports.push((
                format!("{file} port"),
                scalar(&port["port"], "port").parse().expect("port"),
            ));
        }
    }
    let expected = ports[0].1;
    let disagreeing: Vec<_> = ports.iter().filter(|(_, port)| *port != expected).collect();
    assert!(
        disagreeing.is_empty(),
        "ports disagree with EXPOSE {expected}: {disagreeing:?}"
    );
    assert!(ports.len() > 15, "every place was found: {ports:?}");
}
