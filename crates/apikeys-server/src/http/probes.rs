//! `GET /livez` and `GET /readyz`, for load balancers that cannot speak gRPC health: the same
//! answers as `apikeys.liveness` and `""`.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use super::HttpState;
use super::response::json;

pub const LIVEZ: &str = "/livez";
pub const READYZ: &str = "/readyz";

pub async fn livez(State(state): State<HttpState>) -> Response {
    status(state.0.health.is_live())
}

pub async fn readyz(State(state): State<HttpState>) -> Response {
    status(state.0.health.is_ready())
}

fn status(serving: bool) -> Response {
    if serving {
        json(StatusCode::OK, r#"{"status":"SERVING"}"#)
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"NOT_SERVING"}"#,
        )
    }
}
