//! The failure store as the command uses it: the sled store, plus the last write error
//! it returned, so that "not recorded" can say why (with the OS error number).

use std::sync::{Arc, Mutex, PoisonError};
use webhook_core::async_trait;
use webhook_core::store::{
    FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError,
};
use webhook_sled::SledFailureStore;

/// A [`SledFailureStore`] that remembers the last error of a write.
#[derive(Debug)]
pub(crate) struct WatchedStore {
    inner: Arc<SledFailureStore>,
    last_write_error: Mutex<Option<String>>,
}

impl WatchedStore {
    /// Watches `inner`.
    pub(crate) fn new(inner: SledFailureStore) -> Self {
        Self {
            inner: Arc::new(inner),
            last_write_error: Mutex::new(None),
        }
    }

    /// The durable outbox in the same database.
    pub(crate) fn outbox(
        &self,
    ) -> Result<webhook_sled::SledOutbox, webhook_core::outbox::OutboxError> {
        self.inner.outbox()
    }

    /// The last write error's text (it names the store, the operation and the cause,
    /// e.g. `No space left on device (os error 28)`).
    pub(crate) fn last_write_error(&self) -> Option<String> {
        self.last_write_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn note<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result {
            if !matches!(e, StoreError::Rejected { .. }) {
                *self
                    .last_write_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(e.to_string());
            }
        }
        result
    }
}

#[async_trait]
impl FailureStore for WatchedStore {
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
        self.note(self.inner.record(record).await)
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        self.inner.list(filter).await
    }

    async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
        self.inner.get(id).await
    }

    async fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError> {
        self.note(self.inner.update(id, update).await)
    }

    async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        self.note(self.inner.prune(keep).await)
    }

    async fn count(&self) -> Result<usize, StoreError> {
        self.inner.count().await
    }

    fn location(&self) -> String {
        self.inner.location()
    }
}
