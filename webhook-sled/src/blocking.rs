//! Running sled's blocking calls off the async worker threads.

use tokio::runtime::Handle;

/// Runs `work` on tokio's blocking pool and awaits it.
///
/// Outside a tokio runtime (another executor) it runs `work` in place, since such an
/// executor has no separate pool to offer. The error says why `work` produced nothing.
pub(crate) async fn run<T, F>(work: F) -> Result<T, &'static str>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work).await.map_err(|e| {
            if e.is_panic() {
                "the blocking task panicked"
            } else {
                "the runtime is shutting down"
            }
        }),
        Err(_) => Ok(work()),
    }
}
