//! `deploy/`: the container image, the compose stack and the Kubernetes manifests, tested
//! without Docker or a cluster. The manifests parse and agree with each other and with the real
//! binary's `--help`; the Kubernetes configuration passes `apikeys serve --check-config`; the
//! compose stack's secrets come from its own script, and its command lines run two replicas on
//! one PostgreSQL database.
//!
//! The compose tests run `deploy/compose/*.sh`, which need bash and OpenSSL 3 on the PATH.

mod command_lines;
mod compose_stack;
mod config_check;
mod files;
mod gateways;
mod manifests;
mod ports;
mod process;
mod secrets;

use config_check::configmap_config_passes_check_config;

backend_suite!(configmap_config_passes_check_config);
