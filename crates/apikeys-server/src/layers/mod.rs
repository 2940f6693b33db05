//! The tower layers every call passes through, outermost first: the per-RPC span and metrics,
//! the status of undecodable requests, and the request timeout.

pub mod decode_status;
pub mod request_timeout;
pub mod rpc;
