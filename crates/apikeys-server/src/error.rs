//! The server's error type and the one place where errors become gRPC statuses.

use apikeys_store::{StoreError, ValidationError};
use tonic::{Code, Status};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(&'static str),

    #[error("{0}")]
    PermissionDenied(&'static str),

    #[error(transparent)]
    Invalid(#[from] ValidationError),

    #[error("api key not found")]
    KeyNotFound,

    #[error("{0}")]
    Overloaded(&'static str),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("{0}")]
    Internal(String),
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = match &error {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::PermissionDenied(_) => Code::PermissionDenied,
            ApiError::Invalid(_) => Code::InvalidArgument,
            ApiError::KeyNotFound => Code::NotFound,
            ApiError::Overloaded(_) => Code::ResourceExhausted,
            ApiError::Internal(_) => Code::Internal,
            ApiError::Store(store) => match store {
                StoreError::Invalid(_) => Code::InvalidArgument,
                StoreError::KeyNotFound => Code::NotFound,
                StoreError::ApiAccessDisabled { .. } => Code::FailedPrecondition,
                StoreError::KeyLimitReached { .. } => Code::ResourceExhausted,
                StoreError::Unavailable(_) => Code::Unavailable,
                StoreError::Migration(_)
                | StoreError::InvalidUrl(_)
                | StoreError::Hashing(_)
                | StoreError::Internal(_) => Code::Internal,
            },
        };
        let message = match (&error, code) {
            // Details of infrastructure failures go to the log, not to callers.
            (ApiError::Store(store), Code::Unavailable) => {
                tracing::warn!(error = %store, "credential store unavailable");
                "the credential store is unavailable, retry later".to_owned()
            }
            (_, Code::Internal) => {
                tracing::error!(error = %error, "internal error");
                "internal error".to_owned()
            }
            _ => error.to_string(),
        };
        Status::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_documented_codes() {
        let cases = [
            (
                StoreError::ApiAccessDisabled {
                    account_id: "acme".into(),
                },
                Code::FailedPrecondition,
            ),
            (
                StoreError::KeyLimitReached {
                    account_id: "acme".into(),
                    limit: 10,
                },
                Code::ResourceExhausted,
            ),
            (StoreError::KeyNotFound, Code::NotFound),
            (StoreError::Unavailable("down".into()), Code::Unavailable),
            (StoreError::Internal("boom".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(ApiError::from(error)).code(), code);
        }
    }

    #[test]
    fn infrastructure_details_are_not_sent_to_callers() {
        let status = Status::from(ApiError::from(StoreError::Unavailable(
            "connection to postgres://app:pw@db failed".into(),
        )));
        assert!(!status.message().contains("pw"));
        let status = Status::from(ApiError::from(StoreError::Internal("syntax error".into())));
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn validation_messages_name_the_field() {
        let status = Status::from(ApiError::from(ValidationError::new(
            "email",
            "is not valid",
        )));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("email:"));
    }
}
