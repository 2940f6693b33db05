//! grpc.health.v1 reports SERVING without a token; reflection v1 and v1alpha list the services.

use apikeys_test_support::Backend;
use prost::Message as _;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::harness::TestServer;

backend_suite!(
    health_reports_serving_for_every_service,
    reflection_v1_lists_and_describes_the_services,
    reflection_v1alpha_lists_the_services,
);

const SERVICES: [&str; 3] = [
    "apikeys.v1.ApiKeyService",
    "apikeys.v1.AccountService",
    "apikeys.v1.IntrospectionService",
];

async fn health_reports_serving_for_every_service(backend: Backend) {
    let server = TestServer::start(backend).await;
    for service in ["", SERVICES[0], SERVICES[1], SERVICES[2]] {
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
