//! The failure store as the command uses it: the sled store in a folder, or PostgreSQL
//! when `--store` is a `postgres://` URL, plus the last write error it returned, so
//! that "not recorded" can say why (with the OS error number).

use std::sync::{Arc, Mutex, PoisonError};
use webhook_core::async_trait;
use webhook_core::outbox::{Outbox, OutboxError};
use webhook_core::store::{
    FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError,
};
use webhook_postgres::Database;
use webhook_sled::SledFailureStore;

/// Where the store (and its outbox) live.
#[derive(Clone, Debug)]
pub(crate) enum Backend {
    /// A sled database in a folder (one process at a time).
    Sled(SledFailureStore),
    /// A PostgreSQL schema (shared by every instance).
    Postgres(Database),
}

/// A failure store that remembers the last error of a write.
#[derive(Debug)]
pub(crate) struct WatchedStore {
    inner: Arc<dyn FailureStore>,
    backend: Backend,
    last_write_error: Mutex<Option<String>>,
}

impl WatchedStore {
    /// Watches the store of `backend`.
    pub(crate) fn new(backend: Backend) -> Self {
        let inner: Arc<dyn FailureStore> = match &backend {
            Backend::Sled(store) => Arc::new(store.clone()),
            Backend::Postgres(db) => Arc::new(db.failure_store()),
        };
        Self {
            inner,
            backend,
            last_write_error: Mutex::new(None),
        }
    }

    /// The durable outbox beside the store (same folder, or same schema).
    pub(crate) fn outbox(&self) -> Result<Arc<dyn Outbox>, OutboxError> {
        Ok(match &self.backend {
            Backend::Sled(store) => Arc::new(store.outbox()?),
            Backend::Postgres(db) => Arc::new(db.outbox()),
        })
    }

    /// Where the store lives.
    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
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
