//! A custom store (records in memory, saved to a JSON file) in under 100 lines passes the suite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use webhook_core::async_trait;
use webhook_core::store::{StoreError::Rejected, *};

#[derive(Debug)]
struct JsonFileStore {
    path: PathBuf,
    records: Mutex<BTreeMap<RecordId, FailureRecord>>,
}

impl JsonFileStore {
    fn open(path: PathBuf) -> Result<Self, StoreError> {
        let records = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io(&path, "decode", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(&path, "read", e)),
        };
        let records = Mutex::new(records);
        Ok(Self { path, records })
    }

    fn records(&self) -> MutexGuard<'_, BTreeMap<RecordId, FailureRecord>> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, records: &BTreeMap<RecordId, FailureRecord>) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(records).map_err(|e| io(&self.path, "encode", e))?;
        std::fs::write(&self.path, bytes).map_err(|e| io(&self.path, "write", e))
    }
}

#[rustfmt::skip]
fn io(path: &Path, operation: &'static str, e: impl ToString) -> StoreError {
    StoreError::Io { path: path.display().to_string(), operation, detail: e.to_string() }
}

#[async_trait]
impl FailureStore for JsonFileStore {
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
        let mut records = self.records();
        records.insert(record.id.clone(), record);
        self.save(&records)
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        let records = self.records();
        let matching = records.values().rev().filter(|r| filter.matches(r));
        Ok(matching.take(filter.limit).cloned().collect())
    }

    async fn get(&self, id: &RecordId) -> Result<Option<FailureRecord>, StoreError> {
        Ok(self.records().get(id).cloned())
    }

    async fn update(
        &self,
        id: &RecordId,
        update: &RecordUpdate,
    ) -> Result<Option<FailureRecord>, StoreError> {
        let mut records = self.records();
        let Some(record) = records.get_mut(id) else {
            return Ok(None);
        };
        let id = id.clone();
        record
            .apply(update)
            .map_err(|reason| Rejected { id, reason })?;
        let updated = record.clone();
        self.save(&records)?;
        Ok(Some(updated))
    }

    async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        let mut records = self.records();
        let excess = records.len().saturating_sub(keep);
        (0..excess).for_each(|_| drop(records.pop_first()));
        self.save(&records)?;
        Ok(excess)
    }

    async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.records().len())
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

#[tokio::test]
async fn a_json_file_store_written_in_a_test_passes_the_behaviour_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = JsonFileStore::open(dir.path().join("failures.json")).expect("opens");
    webhook_testkit::store_suite::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_checks_a_bounded_store_keeps_its_newest_records() {
    let bound = webhook_testkit::store_suite::MIN_BOUND_FOR_RUN_ALL;
    let store = webhook_core::MemoryFailureStore::with_capacity(bound);
    webhook_testkit::store_suite::run_all_bounded(Arc::new(store), bound).await;
}

#[tokio::test]
#[should_panic(expected = "a store bounded to 3 records holds more after 4 records")]
async fn the_suite_catches_a_store_that_ignores_its_bound() {
    // The default capacity is 10,000: this store does not keep the bound claimed for it.
    let store = webhook_core::MemoryFailureStore::new();
    webhook_testkit::store_suite::retention_keeps_the_newest(&store, 3).await;
}
