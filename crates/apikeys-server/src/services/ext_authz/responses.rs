//! The three answers Check gives Envoy. Denials carry no reason: the client learns only that its
//! credentials did not work (401) or that it should retry (503).

use envoy_types::ext_authz::v3::pb::{CheckResponse, HeaderAppendAction, HttpStatusCode};
use envoy_types::ext_authz::v3::{
    CheckResponseExt as _, DeniedHttpResponseBuilder, OkHttpResponseBuilder,
};
use tonic::Status;

use super::ExtAuthzSettings;
use crate::verification::VerifiedKey;

pub const WWW_AUTHENTICATE: &str = r#"Bearer realm="api""#;
const RETRY_AFTER_SECONDS: &str = "1";
const AUTHORIZATION: &str = "authorization";

/// OK: the upstream learns whose key it was, and never sees the credentials.
pub fn allowed(settings: &ExtAuthzSettings, key: &VerifiedKey) -> CheckResponse {
    let mut http = OkHttpResponseBuilder::new();
    // Overwrite, so a client cannot smuggle its own values past the gateway.
    let overwrite = Some(HeaderAppendAction::OverwriteIfExistsOrAdd);
    http.add_header(
        settings.account_header.as_str(),
        key.account_id(),
        overwrite,
        false,
    )
    .add_header(
        settings.client_header.as_str(),
        key.client_id(),
        overwrite,
        false,
    )
    .remove_header(AUTHORIZATION)
    .remove_header(settings.api_key_header.as_str());
    let mut response = CheckResponse::with_status(Status::ok(""));
    response.set_http_response(http);
    response
}

/// 401 with `www-authenticate` and an empty body, whatever was wrong with the credentials.
pub fn unauthenticated() -> CheckResponse {
    denied(
        Status::unauthenticated(""),
        HttpStatusCode::Unauthorized,
        ("www-authenticate", WWW_AUTHENTICATE),
    )
}

/// 503 with `retry-after`: the store is down or the hashing pool is saturated. Never an allow.
pub fn unavailable() -> CheckResponse {
    denied(
        Status::unavailable(""),
        HttpStatusCode::ServiceUnavailable,
        ("retry-after", RETRY_AFTER_SECONDS),
    )
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
    let mut response = CheckResponse::with_status(status);
    response.set_http_response(http);
    response
}

#[cfg(test)]
mod tests {
    use envoy_types::ext_authz::v3::pb::HttpResponse;
    use tonic::Code;

    use super::*;

    fn settings() -> ExtAuthzSettings {
        ExtAuthzSettings::new("x-api-key", "x-account-id", "x-client-id").unwrap()
    }

    fn code(response: &CheckResponse) -> Code {
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
        let response = allowed(&settings(), &key);
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
