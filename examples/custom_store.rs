//! A custom `FailureStore`: keep failed deliveries in a JSON file.
//!
//! The whole store is the `impl` below; every rule it must follow (atomic updates,
//! newest-first listing, filters, pruning) comes from `FailureRecord::apply` and
//! `RecordFilter::matches`. The example checks it with the testkit's behaviour suite,
//! then uses it in a notifier whose endpoint always fails.
//!
//! Run: `cargo run --example custom_store`

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webhook_core::store::{FailureRecord, RecordFilter, RecordId, RecordUpdate, StoreError};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{
    FailureStore, Notifier, WebhookConfig, WebhookEventType, WebhookPayload, async_trait,
};

/// All records in one JSON file, rewritten on every change (fine for small volumes).
#[derive(Debug)]
struct JsonFileStore {
    path: PathBuf,
    records: Mutex<BTreeMap<RecordId, FailureRecord>>,
}

impl JsonFileStore {
    fn save(&self, records: &BTreeMap<RecordId, FailureRecord>) -> Result<(), StoreError> {
        let io = |e: std::io::Error| StoreError::Io {
            path: self.path.display().to_string(),
            operation: "write",
            detail: e.to_string(),
        };
        let text =
            serde_json::to_vec(&records.values().collect::<Vec<_>>()).map_err(|e| io(e.into()))?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<RecordId, FailureRecord>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl FailureStore for JsonFileStore {
    async fn record(&self, record: FailureRecord) -> Result<(), StoreError> {
        let mut records = self.lock();
        records.insert(record.id.clone(), record);
        self.save(&records)
    }

    async fn list(&self, filter: &RecordFilter) -> Result<Vec<FailureRecord>, StoreError> {
        let records = self.lock();
        Ok(records
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
        let mut records = self.lock();
        let Some(mut record) = records.get(id).cloned() else {
            return Ok(None);
        };
        record
            .apply(update)
            .map_err(|reason| StoreError::Rejected {
                id: id.clone(),
                reason,
            })?;
        records.insert(id.clone(), record.clone());
        self.save(&records)?;
        Ok(Some(record))
    }

    async fn prune(&self, keep: usize) -> Result<usize, StoreError> {
        let mut records = self.lock();
        let excess = records.len().saturating_sub(keep);
        for _ in 0..excess {
            records.pop_first();
        }
        self.save(&records)?;
        Ok(excess)
    }

    async fn count(&self) -> Result<usize, StoreError> {
        Ok(self.lock().len())
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// An endpoint that is always down.
#[derive(Debug)]
struct Down;

#[async_trait]
impl Transport for Down {
    async fn send(&self, r: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        Err(TransportError::Connect {
            destination: r.destination.redacted().to_owned(),
            detail: "connection refused".into(),
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let new_store = |name: &str| JsonFileStore {
        path: dir.path().join(name),
        records: Mutex::new(BTreeMap::new()),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(webhook_testkit::store_suite::run_all(Arc::new(new_store(
        "suite.json",
    ))));
    println!("JsonFileStore passes the FailureStore behaviour suite");

    let store = Arc::new(new_store("failures.json"));
    let mut config = WebhookConfig {
        retry_count: Some(1),
        retry_backoff_ms: Some(100),
        ..WebhookConfig::for_url("https://hooks.example.com/in")
    }
    .resolve()?;
    config.retry = config.retry.without_jitter();
    let notifier = Notifier::start(config, Arc::new(Down), store.clone())?;
    notifier.send(&WebhookPayload::new(WebhookEventType::TaskFailed).task_id("T-7"));
    notifier.shutdown(Duration::from_secs(5));
    println!(
        "{}",
        std::fs::read_to_string(dir.path().join("failures.json"))?
    );
    assert_eq!(runtime.block_on(store.count())?, 1);
    Ok(())
}
