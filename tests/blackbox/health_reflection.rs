//! grpc.health.v1 reports SERVING without a token for the server, each of its services and the
//! liveness probe; reflection v1 and v1alpha list the services, and describe Envoy's
//! Authorization service as well as our own.

use apikeys_test_support::Backend;
use prost::Message as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::harness::{TestServer, assert_code};

backend_suite!(
    health_reports_serving_for_every_service,
    reflection_v1_lists_and_describes_the_services,
    reflection_v1alpha_lists_the_services,
    reflection_v1_describes_envoy_authorization_with_its_imports,
);

const SERVICES: [&str; 4] = [
    "apikeys.v1.ApiKeyService",
    "apikeys.v1.AccountService",
    "apikeys.v1.IntrospectionService",
    "apikeys.v1.TokenService",
];

/// Every name the server reports health for: the server as a whole (""), each service, and the
/// liveness probe that ignores the store.
const HEALTH_NAMES: [&str; 6] = [
    "",
    SERVICES[0],
    SERVICES[1],
    SERVICES[2],
    SERVICES[3],
    "apikeys.liveness",
];

async fn health_reports_serving_for_every_service(backend: Backend) {
    let server = TestServer::start(backend).await;
    for service in HEALTH_NAMES {
        let status = server
            .api()
            .health(service)
            .await
            .unwrap_or_else(|s| panic!("health check of {service:?}: {s:?}"));
        assert_eq!(
            status,
            ServingStatus::Serving as i32,
            "health of {service:?}"
        );
    }
    // The names above are registered ones, not anything the server would answer SERVING for.
    assert_code(
        server.api().health("apikeys.v1.NoSuchService").await,
        Code::NotFound,
        "health of a service the server does not have",
    );
}

async fn reflection_v1_lists_and_describes_the_services(backend: Backend) {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let server = TestServer::start(backend).await;
    let mut client = ServerReflectionClient::new(server.api().channel());
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(SERVICES[0].into())),
        },
    ];
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .expect("reflection v1 stream")
        .into_inner();

    let listed = responses
        .message()
        .await
        .expect("list services")
        .and_then(|r| r.message_response);
    let Some(MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in SERVICES {
        assert!(names.contains(&service), "{service} not listed: {names:?}");
    }

    let described = responses
        .message()
        .await
        .expect("file containing symbol")
        .and_then(|r| r.message_response);
    let Some(MessageResponse::FileDescriptorResponse(files)) = described else {
        panic!("expected file descriptors, got {described:?}");
    };
    let declares_service = files.file_descriptor_proto.iter().any(|bytes| {
        let file =
            prost_types::FileDescriptorProto::decode(bytes.as_slice()).expect("descriptor decodes");
        file.package() == "apikeys.v1" && file.service.iter().any(|s| s.name() == "ApiKeyService")
    });
    assert!(
        declares_service,
        "no returned file declares apikeys.v1.ApiKeyService"
    );
}

async fn reflection_v1alpha_lists_the_services(backend: Backend) {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let server = TestServer::start(backend).await;
    let mut client = ServerReflectionClient::new(server.api().channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let listed = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection v1alpha stream")
        .into_inner()
        .message()
        .await
        .expect("list services")
        .and_then(|r| r.message_response);
    let Some(MessageResponse::ListServicesResponse(list)) = listed else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    for service in SERVICES {
        assert!(names.contains(&service), "{service} not listed: {names:?}");
    }
}

/// Envoy's `envoy.service.auth.v3.Authorization` is listed and described too, and every file it
/// imports (transitively) can be fetched by name, so a client with no proto files (grpcurl,
/// `buf curl`) can encode a CheckRequest.
async fn reflection_v1_describes_envoy_authorization_with_its_imports(backend: Backend) {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    const AUTHORIZATION: &str = "envoy.service.auth.v3.Authorization";
    let server = TestServer::start(backend).await;

    let listed = reflect_v1(&server, MessageRequest::ListServices(String::new())).await;
    let MessageResponse::ListServicesResponse(list) = listed else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&AUTHORIZATION),
        "{AUTHORIZATION} not listed: {names:?}"
    );

    let files = |response: MessageResponse, what: &str| -> Vec<prost_types::FileDescriptorProto> {
        let MessageResponse::FileDescriptorResponse(files) = response else {
            panic!("expected file descriptors for {what}, got {response:?}");
        };
        files
            .file_descriptor_proto
            .iter()
            .map(|bytes| {
                prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .expect("descriptor decodes")
            })
            .collect()
    };
    let described = files(
        reflect_v1(
            &server,
            MessageRequest::FileContainingSymbol(AUTHORIZATION.into()),
        )
        .await,
        AUTHORIZATION,
    );
    let declares_check = described.iter().any(|file| {
        file.package() == "envoy.service.auth.v3"
            && file.service.iter().any(|s| {
                s.name() == "Authorization" && s.method.iter().any(|m| m.name() == "Check")
            })
    });
    assert!(
        declares_check,
        "no returned file declares {AUTHORIZATION}/Check"
    );

    let mut seen: std::collections::BTreeSet<String> = described
        .iter()
        .map(|file| file.name().to_owned())
        .collect();
    let mut pending: Vec<String> = described
        .iter()
        .flat_map(|file| file.dependency.clone())
        .collect();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let fetched = files(
            reflect_v1(&server, MessageRequest::FileByFilename(name.clone())).await,
            &name,
        );
        let file = fetched
            .iter()
            .find(|file| file.name() == name)
            .unwrap_or_else(|| panic!("reflection does not return {name} by its name"));
        pending.extend(file.dependency.iter().cloned());
    }
}

/// One reflection v1 request on a stream of its own, and its answer.
async fn reflect_v1(
    server: &TestServer,
    request: tonic_reflection::pb::v1::server_reflection_request::MessageRequest,
) -> tonic_reflection::pb::v1::server_reflection_response::MessageResponse {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    };

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    ServerReflectionClient::new(server.api().channel())
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection v1 stream")
        .into_inner()
        .message()
        .await
        .expect("reflection v1 answer")
        .and_then(|r| r.message_response)
        .expect("a reflection v1 answer")
}
