//! SQLite runs one whole store operation per trip off the async workers, not one per statement.
//!
//! diesel-async's `SyncConnectionWrapper` sends every statement (BEGIN, each query, COMMIT) to
//! tokio's blocking pool and waits for it: two thread wake-ups per statement, a handful of
//! statements per operation. Here the wrapper runs statements inline ([`Inline`]), and
//! [`run_blocking`] runs the operation's body (every statement of it) in one
//! `block_in_place`, so the worker hands its other tasks to another thread once per operation.
//! `apikeys-bench run --scenarios e` measures CreateKey, one such operation, on SQLite.

use std::error::Error;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use diesel_async::sync_connection_wrapper::SpawnBlocking;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs each SQLite statement on the calling thread. Only [`run_blocking`] may call into a
/// connection with this runtime, so async workers never wait for SQLite.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Inline;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        // As on tokio's blocking pool, a panicking statement becomes an error of this query
        // instead of unwinding through the caller.
        let result = std::panic::catch_unwind(AssertUnwindSafe(task))
            .map_err(|_| Box::<dyn Error + Send + Sync>::from("SQLite statement panicked"));
        std::future::ready(result).boxed()
    }

    fn get_runtime() -> Self {
        Inline
    }
}

/// Drives `body`, a store operation on an [`Inline`] SQLite connection, to completion on this
/// thread. On a multi-threaded runtime the worker first hands its queued tasks to another
/// thread (`block_in_place`), so a slow commit (fsync) or a busy wait for the write lock
/// delays nobody else. A current-thread runtime (tests) simply runs it.
pub(crate) fn run_blocking<T>(body: impl Future<Output = T>) -> T {
    let run = || futures_executor::block_on(body);
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}
