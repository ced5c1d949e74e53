//! The [`FailureStore`] implementation: each call hops to the blocking pool.

use super::SledFailureStore;
use async_trait::async_trait;
use webhook_core::store::{
    FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError,
};

#[async_trait]
impl FailureStore for SledFailureStore {
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
        self.change("record", move |inner| inner.record(&record))
            .await
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        let filter = filter.clone();
        self.blocking("list", move |inner| inner.list(&filter))
            .await
    }

    async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
        let id = id.clone();
        self.blocking("get", move |inner| inner.get(&id)).await
    }

    async fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError> {
        let (id, update) = (id.clone(), update.clone());
        self.change("update", move |inner| inner.update(&id, &update))
            .await
    }

    async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        self.change("prune", move |inner| inner.prune(keep)).await
    }

    async fn count(&self) -> Result<usize, StoreError> {
        // Kept exact in memory: no scan, no blocking.
        Ok(self.inner.count())
    }

    fn location(&self) -> String {
        self.inner.location.clone()
    }
}
