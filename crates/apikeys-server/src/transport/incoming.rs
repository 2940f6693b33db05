//! Accepted TCP connections, with the socket options `serve_with_incoming` would not set.

use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Accepted connections with `TCP_NODELAY` and, when given, TCP keepalive after that much
/// idleness. `serve_with_incoming` ignores the builder's TCP settings. With Nagle's algorithm
/// on, a response written in several small segments waits for the client's delayed ACK (tens of
/// milliseconds), which shows in the p999 of every `apikeys-bench` scenario. Keepalive is the
/// kernel's: it finds connections whose peer is gone at no cost per call, unlike HTTP/2 pings
/// in hyper.
pub fn accepted_connections(listener: TcpListener, keepalive: Option<Duration>) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(keepalive)
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    async fn accept_one(keepalive: Option<Duration>) -> tokio::net::TcpStream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut incoming = accepted_connections(listener, keepalive);
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        incoming.next().await.expect("a connection").unwrap()
    }

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_acks_and_probe_idle_peers() {
        let accepted = accept_one(Some(Duration::from_secs(75))).await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is off");
        let socket = socket2::SockRef::from(&accepted);
        assert!(socket.keepalive().unwrap(), "SO_KEEPALIVE is off");
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(75)
        );

        let accepted = accept_one(None).await;
        assert!(accepted.nodelay().unwrap(), "TCP_NODELAY is off");
        assert!(!socket2::SockRef::from(&accepted).keepalive().unwrap());
    }
}
