//! What the reliability tests share: the fault plan and its run against a real
//! receiver, stores, transports and messages.
//!
//! Each `tests/reliability_*.rs` binary uses part of it.
#![allow(dead_code)]

pub(crate) mod fault_matrix;
pub(crate) mod raw_server;

use std::path::Path;
use std::sync::Arc;
use webhook_core::store::{FailureRecord, FailureStore, RecordFilter};
use webhook_core::{ResolvedWebhookConfig, WebhookEventType, WebhookMessage, WebhookPayload};
use webhook_http::HttpTransport;
use webhook_sled::SledFailureStore;

/// The production transport with the config's destination policy.
pub(crate) fn transport(config: &ResolvedWebhookConfig) -> Arc<HttpTransport> {
    Arc::new(HttpTransport::from_config(config).expect("transport builds"))
}

/// A sled store in `path` that keeps up to 100,000 records.
pub(crate) fn sled_store(path: &Path) -> Arc<SledFailureStore> {
    Arc::new(
        SledFailureStore::builder()
            .with_max_records(100_000)
            .open(path)
            .expect("sled store opens"),
    )
}

/// Every record in `store`, newest first.
pub(crate) async fn all_records(store: &dyn FailureStore) -> Vec<FailureRecord> {
    store
        .list(&RecordFilter::newest(1_000_000))
        .await
        .expect("store lists")
}

/// The `i`th test message: a `task_completed` for task `T-<i>`.
pub(crate) fn message(i: usize) -> WebhookMessage {
    let payload = WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id(format!("T-{i}"))
        .task_title("reliability");
    WebhookMessage::from_payload(&payload).expect("payload serializes")
}
