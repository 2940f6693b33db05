//! The server's request timeout: a gRPC call is answered DEADLINE_EXCEEDED, an HTTP request
//! `503` with `Retry-After`.
//!
//! tonic's own `Server::timeout` answers CANCELLED ("Timeout expired"), which clients read as
//! "the caller gave up"; a call the server stopped because it ran too long is
//! DEADLINE_EXCEEDED. A client's shorter `grpc-timeout` is still enforced by tonic.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::Status;
use tower_layer::Layer;
use tower_service::Service;

#[derive(Debug, Clone, Copy)]
pub struct RequestTimeoutLayer {
    limit: Duration,
}

impl RequestTimeoutLayer {
    pub fn new(limit: Duration) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, RequestBody, ResponseBody> Service<http::Request<RequestBody>> for RequestTimeout<S>
where
    S: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    ResponseBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        TimeoutFuture {
            grpc: super::rpc::is_grpc(request.headers()),
            inner: tokio::time::timeout(self.limit, self.inner.call(request)),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: tokio::time::Timeout<F>,
        grpc: bool,
    }
}

impl<F, ResponseBody, Error> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<http::Response<ResponseBody>, Error>>,
    ResponseBody: Default,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let grpc = *this.grpc;
        this.inner.poll(cx).map(|result| match result {
            Ok(response) => response,
            Err(_elapsed) if grpc => {
                tracing::warn!("call stopped at the server's request timeout");
                Ok(Status::deadline_exceeded(
                    "the call took longer than the server's request timeout",
                )
                .into_http())
            }
            Err(_elapsed) => {
                tracing::warn!("HTTP request stopped at the server's request timeout");
                let mut response = http::Response::new(ResponseBody::default());
                *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                let headers = response.headers_mut();
                headers.insert(
                    http::header::RETRY_AFTER,
                    http::HeaderValue::from_static("1"),
                );
                headers.insert(
                    http::header::CACHE_CONTROL,
                    http::HeaderValue::from_static("no-store"),
                );
                Ok(response)
            }
        })
    }
}
