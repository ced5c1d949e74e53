//! The core `FailureStore` behaviour suite, run against sled.

use std::sync::Arc;
use webhook_core::store::conformance;
use webhook_sled::SledFailureStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_store_passes_the_core_behaviour_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledFailureStore::open(dir.path().join("failures")).expect("open");
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sled_store_passes_the_core_behaviour_suite_on_a_current_thread_runtime() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledFailureStore::open(dir.path().join("failures")).expect("open");
    conformance::run_all(Arc::new(store)).await;
}
