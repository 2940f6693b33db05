//! The three answers Check gives Envoy. Denials carry no reason: the client learns only that its
//! credentials did not work (401) or that it should retry (503). The denials are the same on
//! every call, so they are encoded once.

use std::sync::LazyLock;

use apikeys_proto::ext_authz::CheckResponse;
use envoy_types::ext_authz::v3::pb::{
    CheckResponse as FullCheckResponse, HeaderAppendAction, HttpStatusCode,
};
use envoy_types::ext_authz::v3::{CheckResponseExt as _, DeniedHttpResponseBuilder};
use tonic::Status;

use crate::gateway::GatewayHeaders;
use crate::verification::VerifiedKey;

pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="api""#;
const RETRY_AFTER_SECONDS: &str = "1";

static UNAUTHENTICATED: LazyLock<CheckResponse> = LazyLock::new(|| {
    denied(
        Status::unauthenticated(""),
        HttpStatusCode::Unauthorized,
        ("www-authenticate", WWW_AUTHENTICATE),
    )
});

static UNAVAILABLE: LazyLock<CheckResponse> = LazyLock::new(|| {
    denied(
        Status::unavailable(""),
        HttpStatusCode::ServiceUnavailable,
        ("retry-after", RETRY_AFTER_SECONDS),
    )
});

/// OK: the upstream learns whose key it was (overwriting whatever the client sent in those
/// headers, so it cannot smuggle its own values past the gateway), and never sees the
/// credentials.
pub fn allowed(settings: &GatewayHeaders, key: &VerifiedKey) -> CheckResponse {
    CheckResponse::ok(
        &[
            (settings.account_header.as_str(), key.account_id()),
            (settings.client_header.as_str(), key.client_id()),
        ],
        &settings.credential_headers(),
    )
}

/// 401 with `www-authenticate` and an empty body, whatever was wrong with the credentials.
pub fn unauthenticated() -> CheckResponse {
    UNAUTHENTICATED.clone()
}

/// 503 with `retry-after`: the store is down or the hashing pool is saturated. Never an allow.
pub fn unavailable() -> CheckResponse {
    UNAVAILABLE.clone()
}

fn denied(
    status: Status,
    http_status: HttpStatusCode,
    (name, value): (&str, &str),
) -> CheckResponse {
    let mut http = DeniedHttpResponseBuilder::new();
    http.set_http_status(http_status)
        .add_header(
            name,
            value,
            Some(HeaderAppendAction::OverwriteIfExistsOrAdd),
            false,
        )
        .set_body("");
    let mut response = FullCheckResponse::with_status(status);
    response.set_http_response(http);
    CheckResponse::encode(&response)
}

#[cfg(test)]
mod tests {
    use envoy_types::ext_authz::v3::pb::HttpResponse;
    use prost::Message as _;
    use tonic::Code;

    use super::*;

    fn settings() -> GatewayHeaders {
        GatewayHeaders::new("x-api-key", "x-account-id", "x-client-id").unwrap()
    }

    fn decoded(response: &CheckResponse) -> FullCheckResponse {
        FullCheckResponse::decode(response.as_bytes()).expect("a CheckResponse")
    }

    fn code(response: &FullCheckResponse) -> Code {
        Code::from(response.status.as_ref().map_or(-1, |s| s.code))
    }

    #[test]
    fn allowed_sets_identity_headers_and_removes_credentials() {
        let key = VerifiedKey::new(
            "akc_JpDiPC6klLfhjIO19876ePmP",
            "acme",
            "ops@acme.test",
            chrono::DateTime::UNIX_EPOCH.naive_utc(),
            None,
        );
        let response = decoded(&allowed(&settings(), &key));
        assert_eq!(code(&response), Code::Ok);
        let Some(HttpResponse::OkResponse(ok)) = response.http_response else {
            panic!("OK response expected");
        };
        let headers: Vec<_> = ok
            .headers
            .iter()
            .map(|h| {
                let header = h.header.as_ref().unwrap();
                (header.key.as_str(), header.value.as_str(), h.append_action)
            })
            .collect();
        let overwrite = HeaderAppendAction::OverwriteIfExistsOrAdd as i32;
        assert_eq!(
            headers,
            [
                ("x-account-id", "acme", overwrite),
                ("x-client-id", "akc_JpDiPC6klLfhjIO19876ePmP", overwrite),
            ]
        );
        assert_eq!(ok.headers_to_remove, ["authorization", "x-api-key"]);
    }

    #[test]
    fn denials_have_a_status_a_header_and_no_body() {
        for (response, grpc, http, header) in [
            (
                unauthenticated(),
                Code::Unauthenticated,
                401,
                "www-authenticate",
            ),
            (unavailable(), Code::Unavailable, 503, "retry-after"),
        ] {
            let response = decoded(&response);
            assert_eq!(code(&response), grpc);
            assert!(response.status.as_ref().unwrap().message.is_empty());
            let Some(HttpResponse::DeniedResponse(denied)) = response.http_response else {
                panic!("denied response expected");
            };
            assert_eq!(denied.status.unwrap().code, http);
            assert!(denied.body.is_empty());
            assert_eq!(denied.headers.len(), 1);
            assert_eq!(denied.headers[0].header.as_ref().unwrap().key, header);
        }
    }
}
