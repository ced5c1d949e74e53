//! The `FailureStore` plug point: where deliveries that finally failed are kept.

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod error;
mod memory;
mod record;

pub use error::StoreError;
pub use memory::{DEFAULT_CAPACITY, MemoryFailureStore};
pub use record::{
    FailureKind, FailureRecord, InvalidRecordId, MAX_ERROR_CHARS, MAX_RECORD_ID_LEN, RecordFilter,
    RecordId, RecordStatus, RecordUpdate, UpdateRejected, WebhookFailureRecord,
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
/// # The ids it is handed
/// Ids reach a store from outside the process too: from records it decodes, from an
/// operator's `--id`, from an application's own replay selector. Every [`RecordId`] has
/// been checked to be 1 to [`MAX_RECORD_ID_LEN`] characters of ASCII letters, digits,
/// `_` and `-` (the worker's own are `rec_` + 20 hex digits, sorting by time), but `get`
/// and `update` may still be asked for ids the store never wrote. Treat an id as an
/// opaque key: a store that derives file names, paths or queries from it must still
/// confine it to its own folder or table (join it under a fixed directory, bind it as a
/// query parameter) and must not build anything executable from it. The ids in a
/// [`RecordFilter`] (record ids or webhook ids, as typed) are not checked at all: compare
/// them, never use them as paths.
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
