use super::*;

#[test]
fn every_served_rpc_is_known_and_other_paths_are_not() {
    let layer = RpcLayer::for_served_rpcs().unwrap();
    let methods = &layer.shared.methods;
    for path in [
        "/apikeys.v1.ApiKeyService/CreateKey",
        "/apikeys.v1.AccountService/SetApiAccess",
        "/apikeys.v1.IntrospectionService/Introspect",
        "/apikeys.v1.TokenService/IssueToken",
        "/envoy.service.auth.v3.Authorization/Check",
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    ] {
        assert!(methods.contains_key(path), "{path} is not known");
    }
    for path in ["/apikeys.v1.IntrospectionService/Nope", "/", "", "/x/y/z"] {
        assert!(!methods.contains_key(path), "{path} must be unknown");
    }
    let introspect = &methods["/apikeys.v1.IntrospectionService/Introspect"];
    assert_eq!(
        &*introspect.full_name,
        "apikeys.v1.IntrospectionService/Introspect"
    );
    assert_eq!(&*introspect.service, "apikeys.v1.IntrospectionService");
    assert_eq!(&*introspect.method, "Introspect");
}

#[test]
fn server_errors_are_the_conventional_ones() {
    assert!(is_server_error(Code::Internal));
    assert!(is_server_error(Code::Unavailable));
    assert!(!is_server_error(Code::Ok));
    assert!(!is_server_error(Code::Unauthenticated));
    assert!(!is_server_error(Code::InvalidArgument));
}
