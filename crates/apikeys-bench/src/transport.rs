//! The load generator's TCP connections. h2 writes a DATA frame of more than 256 bytes on its
//! own (a `writev` per request) when the transport supports vectored writes, but copies frames
//! of up to 1 KiB into its write buffer, several requests per syscall, when it does not. An
//! IntrospectRequest with a client secret is under 256 bytes; one with an access token, and an
//! Envoy CheckRequest, are over. Left as is, the client would pay a syscall per call for those
//! scenarios only, on the cores the server is measured on, and the ratios would measure the
//! client. So every connection here reports no vectored writes; Envoy's own HTTP/2 codec
//! batches its writes too.
//!
//! The HTTP/1.1 scenarios connect through [`connect`] as well: hyper's HTTP/1 client then copies
//! a request's body into the buffer of its head and sends both in one `write`, as a gateway's
//! proxy sends a small request.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::Uri;

/// A TCP stream that writes whole buffers and says so.
pub struct WholeBufferStream(TcpStream);

impl AsyncRead for WholeBufferStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for WholeBufferStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Connects every channel to one address with TCP_NODELAY, ignoring the URI's authority.
#[derive(Debug, Clone, Copy)]
pub struct Connector {
    pub addr: SocketAddr,
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<WholeBufferStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        Box::pin(connect(self.addr))
    }
}

/// One TCP connection with TCP_NODELAY that writes whole buffers.
pub async fn connect(addr: SocketAddr) -> io::Result<TokioIo<WholeBufferStream>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(TokioIo::new(WholeBufferStream(stream)))
}
