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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_an_application_db_passes_the_core_behaviour_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::open(dir.path().join("app.db")).expect("open app db");
    let tree = db.open_tree("webhook_failures").expect("tree");
    let store = SledFailureStore::from_tree(db, tree, "app.db").expect("store");
    conformance::run_all(Arc::new(store)).await;
}
