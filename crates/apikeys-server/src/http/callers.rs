//! Who is calling an HTTP endpoint that needs a gateway: a caller token in a request header, or
//! an allowed mTLS client certificate, checked by the same authenticator as gRPC callers.

use std::sync::Arc;

use http::HeaderName;
use http::request::Parts;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::auth::{Authenticator, Caller};
use crate::error::ApiError;

/// The caller token in `header` (`Bearer <token>`) decides when it is sent; otherwise an
/// allowed client certificate may.
pub fn authenticate(
    authenticator: &Authenticator,
    request: &Parts,
    header: &HeaderName,
) -> Result<Arc<Caller>, ApiError> {
    let mut values = request.headers.get_all(header).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => authenticator.authenticate_header(value.as_bytes()),
        (Some(_), Some(_)) => Err(ApiError::Unauthenticated(
            "caller token sent more than once",
        )),
        (None, _) => {
            let certificates = request
                .extensions
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs);
            authenticator
                .certificate_caller(certificates.as_deref().map(Vec::as_slice))
                .ok_or(ApiError::Unauthenticated("missing caller token"))
        }
    }
}
