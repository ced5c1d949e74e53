//! An in-memory, bounded failure store.

use super::{FailureRecord, FailureStore, RecordFilter, RecordId, RecordUpdate, StoreError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Keeps failure records in memory, at most `capacity` of them (oldest pruned first).
///
/// Records are lost when the process exits; use `webhook-sled` to keep them.
///
/// # Default
/// - capacity: 10,000 records
#[derive(Debug)]
pub struct MemoryFailureStore {
    records: Mutex<BTreeMap<RecordId, FailureRecord>>,
    capacity: usize,
}

/// The default number of records kept.
pub const DEFAULT_CAPACITY: usize = 10_000;

impl Default for MemoryFailureStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl MemoryFailureStore {
    /// An empty store with the default capacity.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store keeping at most `capacity` records (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            records: Mutex::new(BTreeMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<RecordId, FailureRecord>> {
        // A panic while holding the lock cannot leave the map half-updated (each
        // operation is a single map call), so the data is still consistent.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn prune_map(map: &mut BTreeMap<RecordId, FailureRecord>, keep: usize) -> usize {
    let mut removed = 0;
    while map.len() > keep {
        map.pop_first();
        removed += 1;
    }
    removed
}

#[async_trait]
impl FailureStore for MemoryFailureStore {
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
        let mut map = self.lock();
        map.insert(record.id.clone(), record);
        prune_map(&mut map, self.capacity);
        Ok(())
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        Ok(self
            .lock()
            .values()
            .rev()
            .filter(|r| filter.matches(r))
            .take(filter.limit)
            .cloned()
            .collect())
    }

    async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
        Ok(self.lock().get(id).cloned())
    }

    async fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError> {
        let mut map = self.lock();
        let Some(record) = map.get_mut(id) else {
            return Ok(None);
        };
        let mut next = record.clone();
        next.apply(update).map_err(|reason| StoreError::Rejected {
            id: id.clone(),
            reason,
        })?;
        *record = next.clone();
        Ok(Some(next))
    }

    async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        Ok(prune_map(&mut self.lock(), keep))
    }

    async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().len())
    }

    fn location(&self) -> String {
        "memory".to_owned()
    }
}
