//! Generates the tonic/prost code and the file descriptor set used by server reflection.
//! protoc comes from `protoc-bin-vendored` so a fresh machine needs no system protoc.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "apikeys/v1/account_service.proto",
    "apikeys/v1/api_key_service.proto",
    "apikeys/v1/introspection_service.proto",
    "apikeys/v1/token_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);

    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| proto_root.join(p)).collect();
    let includes = vec![proto_root.clone(), protoc_bin_vendored::include_path()?];

    tonic_prost_build::configure()
        // Malformed requests (e.g. invalid UTF-8 in a string field) are INVALID_ARGUMENT.
        .codec_path("crate::codec::ValidatingCodec")
        .file_descriptor_set_path(out_dir.join("apikeys_descriptor.bin"))
        .compile_with_config(config, &protos, &includes)?;

    // Envoy's Authorization service, served with the lean request type of `src/ext_authz.rs`.
    let check = tonic_build::manual::Method::builder()
        .name("check")
        .route_name("Check")
        .input_type("crate::ext_authz::CheckRequest")
        .output_type("crate::ext_authz::CheckResponse")
        .codec_path("crate::codec::PreEncodedCodec")
        .build();
    let authorization = tonic_build::manual::Service::builder()
        .name("Authorization")
        .package("envoy.service.auth.v3")
        .method(check)
        .build();
    tonic_build::manual::Builder::new()
        .build_client(false)
        .out_dir(&out_dir)
        .compile(&[authorization]);

    // Envoy's Authorization service is served by hand above; reflection still describes it, from
    // the Envoy protos vendored in this crate (descriptors only, no code). They stay out of
    // `proto/`, which is this project's own contract (linted, and compiled by the interop check).
    let status = std::process::Command::new(protoc_bin_vendored::protoc_bin_path()?)
        .arg("--include_imports")
        .arg("--descriptor_set_out")
        .arg(out_dir.join("envoy_authorization_descriptor.bin"))
        .arg("-I")
        .arg(PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("vendor"))
        .arg("-I")
        .arg(protoc_bin_vendored::include_path()?)
        .arg("envoy/service/auth/v3/external_auth.proto")
        .status()?;
    if !status.success() {
        return Err(format!("protoc failed on the vendored Envoy protos: {status}").into());
    }

    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=vendor");
    Ok(())
}
