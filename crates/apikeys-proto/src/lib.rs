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

/// Encoded `FileDescriptorSet` of Envoy's `envoy.service.auth.v3.Authorization` and everything it
/// imports, for server reflection of the ext_authz Check service.
pub const ENVOY_AUTHORIZATION_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("envoy_authorization_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    fn services(encoded: &[u8]) -> Vec<String> {
        let set = prost_types::FileDescriptorSet::decode(encoded).expect("descriptor set decodes");
        set.file
            .iter()
            .flat_map(|file| {
                let package = file.package().to_owned();
                file.service
                    .iter()
                    .map(move |service| format!("{package}.{}", service.name()))
            })
            .collect()
    }

    #[test]
    fn descriptor_set_decodes_and_names_every_service() {
        let services = services(super::FILE_DESCRIPTOR_SET);
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

    #[test]
    fn envoy_descriptor_set_describes_the_authorization_service() {
        let services = services(super::ENVOY_AUTHORIZATION_DESCRIPTOR_SET);
        assert!(
            services
                .iter()
                .any(|s| s == "envoy.service.auth.v3.Authorization"),
            "{services:?}"
        );
    }
}
