//! The `FailureStore` plug point: where deliveries that finally failed are kept.

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod error;
mod memory;
mod record;

pub use error::StoreError;
pub use memory::{DEFAULT_CAPACITY, MemoryFailureStore};
pub use record::{
    FailureKind, FailureRecord, MAX_ERROR_CHARS, RecordFilter, RecordId, RecordStatus,
    RecordUpdate, UpdateRejected, WebhookFailureRecord,
};

use async_trait::async_trait;

/// Keeps failed deliveries for diagnostics and replay.
///
/// # What the worker promises
/// - It calls [`FailureStore::record`] once per event that finally failed (exhausted
///   retries, permanent failure, retry overflow, or still pending at shutdown), with a
///   fresh [`RecordId`]. Replays of a record never create a new one: they go through
///   [`FailureStore::update`].
/// - It never stores secrets: destinations are redacted and errors sanitized.
///
/// # What it expects back
/// - `record` returns only once the record is as durable as the store promises to be
///   (a durable store flushes first). After `Ok`, `get` and `list` see it.
/// - `update` is atomic per record: concurrent updates of one record are never lost.
///   It applies [`FailureRecord::apply`] and reports a rejection as
///   [`StoreError::Rejected`] without changing the record.
/// - `list` returns newest first (by [`RecordId`], which sorts by time) and honours every
///   field of the [`RecordFilter`].
/// - A store enforces its own retention bound in `record` (pruning oldest first).
///
/// A custom store needs little code. The behaviour suite that checks an implementation
/// with one call is `conformance::run_all` (feature `test-util`), re-exported as
/// `webhook_testkit::store_suite`.
#[async_trait]
pub trait FailureStore: Send + Sync + std::fmt::Debug {
    /// Stores a new record.
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError>;

    /// Records matching `filter`, newest first, at most `filter.limit`.
    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError>;

    /// One record by its id; `Ok(None)` if there is none.
    async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError>;

    /// Applies `update` atomically and returns the updated record; `Ok(None)` if absent.
    async fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError>;

    /// Removes the oldest records until at most `keep` remain; returns how many were removed.
    async fn prune(&self, keep: usize) -> Result<usize, StoreError>;

    /// How many records are stored.
    async fn count(&self) -> Result<usize, StoreError>;

    /// Where the records live, for diagnostics (a path, or `"memory"`).
    fn location(&self) -> String;
}

#[cfg(test)]
mod tests;
