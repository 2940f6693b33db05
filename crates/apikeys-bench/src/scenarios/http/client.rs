//! The load generator's HTTP/1.1 client: hyper's low-level client connection, one per
//! closed-loop task, without a pool in between (the load generator shares the cores with the
//! server, so it must cost as little per request as it can).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::Context as _;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;

use super::Prepared;
use crate::load::{Call, CallError};
use crate::scenarios::calls::pick;
use crate::transport;

/// A request body of at most one frame, its size known.
pub struct Payload(Option<Bytes>);

impl Payload {
    pub(super) fn new(data: Bytes) -> Self {
        Self((!data.is_empty()).then_some(data))
    }
}

impl Body for Payload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |data| data.len() as u64))
    }
}

/// One HTTP/1.1 connection (hyper's client connection, driven by a task of its own, which ends
/// when the returned sender is dropped).
pub async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Payload>> {
    let io = transport::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// `count` connections, one per closed-loop task.
pub async fn connect_all(
    addr: SocketAddr,
    count: usize,
) -> anyhow::Result<Vec<SendRequest<Payload>>> {
    let mut connections = Vec::with_capacity(count);
    for _ in 0..count {
        connections.push(connect(addr).await?);
    }
    Ok(connections)
}

/// One task's connection and the requests it cycles through.
pub struct HttpCall {
    addr: SocketAddr,
    /// Reconnected when the server closed it; the call that finds it closed is an error.
    sender: Option<SendRequest<Payload>>,
    requests: Arc<Vec<Prepared>>,
}

impl HttpCall {
    pub fn new(
        addr: SocketAddr,
        sender: Option<SendRequest<Payload>>,
        requests: Arc<Vec<Prepared>>,
    ) -> Self {
        Self {
            addr,
            sender,
            requests,
        }
    }
}

impl Call for HttpCall {
    async fn call(&mut self, seq: u64) -> Result<(), CallError> {
        let reconnect = |error: anyhow::Error| CallError::wrong_answer(format!("{error:#}"));
        let mut sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            Some(_closed) => {
                // The target is about keep-alive connections: a server that closes them fails
                // it, though a gateway would reconnect (and so does the next call).
                self.sender = Some(connect(self.addr).await.map_err(reconnect)?);
                return Err(CallError::wrong_answer(
                    "the server closed the keep-alive connection",
                ));
            }
            None => connect(self.addr).await.map_err(reconnect)?,
        };
        let outcome = exchange(&mut sender, pick(&self.requests, seq)).await;
        self.sender = Some(sender);
        outcome
    }
}

async fn exchange(sender: &mut SendRequest<Payload>, prepared: &Prepared) -> Result<(), CallError> {
    let failed = |error: hyper::Error| CallError::wrong_answer(format!("HTTP/1.1: {error}"));
    sender.ready().await.map_err(failed)?;
    let response = sender
        .send_request(prepared.request())
        .await
        .map_err(failed)?;
    let (head, body) = response.into_parts();
    // Read to the end, so the connection can carry the next request.
    let body = read_body(body).await.map_err(failed)?;
    prepared.expect.judge(head.status, &head.headers, &body)
}

async fn read_body(body: Incoming) -> Result<Bytes, hyper::Error> {
    let mut body = pin!(body);
    let mut collected = Bytes::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        collected = if collected.is_empty() {
            data
        } else {
            [collected.as_ref(), data.as_ref()].concat().into()
        };
    }
    Ok(collected)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpListener;

    use super::*;
    use crate::auth::Minter;
    use crate::load::{LoadConfig, run_closed_loop};
    use crate::scenarios::calls::bare_key;
    use crate::scenarios::http::{basic, forward_auth};
    use crate::servers::{BARE_CLIENT_ID, serve_bare};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keep_alive_connections_against_the_in_process_bare_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(serve_bare(listener));
        let gateway = Minter::random().bearer("acme").expect("caller token");
        let request =
            forward_auth(0, &basic(&bare_key()), &gateway, BARE_CLIENT_ID).expect("built");

        // The answer of the bare server is what docs/http.md says an allow looks like.
        let mut sender = connect(addr).await.expect("connect");
        let response = sender
            .send_request(request.request())
            .await
            .expect("answer");
        assert_eq!(response.status(), http::StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["x-account-id"], "bench-warm");
        assert_eq!(headers["x-envoy-auth-headers-to-remove"], "authorization");
        assert_eq!(headers[http::header::CACHE_CONTROL], "no-store");
        assert!(
            read_body(response.into_body())
                .await
                .expect("body")
                .is_empty()
        );

        let requests = Arc::new(vec![request]);
        let config = LoadConfig {
            concurrency: 3,
            warmup: Duration::from_millis(20),
            duration: Duration::from_millis(200),
            server_pid: None,
        };
        let mut connections = connect_all(addr, 3).await.expect("connect").into_iter();
        let result = run_closed_loop(config, |_task| {
            HttpCall::new(addr, connections.next(), Arc::clone(&requests))
        })
        .await
        .expect("load run");
        server.abort();
        assert!(result.calls > 0, "no request succeeded: {result:?}");
        // Every task kept its connection: one that found it closed would have failed.
        assert_eq!(result.errors, 0, "errors: {:?}", result.first_error);
        assert!(result.first_error.is_none(), "{:?}", result.first_error);
    }
}
