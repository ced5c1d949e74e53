//! The crate's own runtime: every query of the store and the outbox runs on it.
//!
//! A sqlx connection belongs to the runtime that opened it: its socket is registered
//! with that runtime's reactor and only moves while that runtime runs. The notifier's
//! worker, the command line and an application's own runtime come and go at different
//! times (a `block_on` that returns stops a current-thread runtime's reactor), so the
//! pool lives on one small runtime of its own that is always driven, and callers on any
//! runtime (or none) await its work through a join handle.

use std::future::Future;
use tokio::runtime::{Builder, Handle, Runtime};

/// The pool's runtime: one worker thread, shut down in the background when dropped
/// (dropping a runtime in async context would otherwise panic).
#[derive(Debug)]
pub(crate) struct Backend {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Backend {
    /// Starts the runtime's thread.
    pub(crate) fn start() -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("webhook-postgres")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Some(runtime),
            handle,
        })
    }

    /// Runs `work` on the backend and awaits its result from any runtime.
    ///
    /// # Panics
    /// Re-raises a panic of `work` (none of the crate's queries panics).
    pub(crate) async fn run<T, F>(&self, work: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        match self.handle.spawn(work).await {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Runs `work` on the backend and blocks the calling thread until it is done. Not
    /// for async code (use [`Backend::run`] there).
    pub(crate) fn block<T, F>(&self, work: F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            // The receiver waits below; it is gone only if that thread panicked.
            let _ = tx.send(work.await);
        });
        rx.recv()
            .expect("the backend runtime runs until the backend is dropped")
    }

    /// Spawns a task that runs as long as the backend.
    pub(crate) fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(self.handle.spawn(work));
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
