//! Assertions on gRPC statuses.

use std::fmt::Debug;

use tonic::{Code, Status};

/// Asserts `result` failed with `code`; returns the status for further checks.
#[track_caller]
pub fn assert_code<T: Debug>(result: Result<T, Status>, code: Code, what: &str) -> Status {
    match result {
        Ok(value) => panic!("{what}: expected {code:?}, got OK {value:?}"),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "{what}: expected {code:?}, got {:?} {:?}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// Asserts `result` failed with INVALID_ARGUMENT naming `field` in the message.
#[track_caller]
pub fn assert_invalid_argument<T: Debug>(result: Result<T, Status>, field: &str, what: &str) {
    let status = assert_code(result, Code::InvalidArgument, what);
    assert!(
        status.message().contains(field),
        "{what}: INVALID_ARGUMENT message {:?} does not name the field {field:?}",
        status.message()
    );
}
