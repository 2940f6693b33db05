//! The gRPC contract of the apikeys service, generated from `proto/apikeys/v1`.

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs)]
mod generated {
    pub mod apikeys {
        pub mod v1 {
            tonic::include_proto!("apikeys.v1");
        }
    }
}

pub mod codec;
pub mod ext_authz;

pub use generated::apikeys::v1 as pb;

/// Encoded `FileDescriptorSet` of every apikeys proto file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("apikeys_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    #[test]
    fn descriptor_set_decodes_and_names_every_service() {
        let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let services: Vec<String> = set
            .file
            .iter()
            .flat_map(|file| {
                let package = file.package().to_owned();
                file.service
                    .iter()
                    .map(move |service| format!("{package}.{}", service.name()))
            })
            .collect();
        for expected in [
            "apikeys.v1.ApiKeyService",
            "apikeys.v1.AccountService",
            "apikeys.v1.IntrospectionService",
            "apikeys.v1.TokenService",
        ] {
            assert!(
                services.iter().any(|s| s == expected),
                "{expected} missing from {services:?}"
            );
        }
    }
}
