//! The listener: accepted TCP connections and TLS.

pub mod incoming;
pub mod tls;
