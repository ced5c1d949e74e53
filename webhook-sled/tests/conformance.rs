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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_sled_store_passes_the_suite_with_its_bound() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bound = conformance::MIN_BOUND_FOR_RUN_ALL + 5;
    let store = SledFailureStore::builder()
        .with_max_records(bound)
        .open(dir.path().join("failures"))
        .expect("open");
    conformance::run_all_bounded(Arc::new(store), bound).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_sled_store_keeps_only_its_newest_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledFailureStore::builder()
        .with_max_records(3)
        .open(dir.path().join("failures"))
        .expect("open");
    conformance::retention_keeps_the_newest(&store, 3).await;
}

#[tokio::test]
async fn the_sled_outbox_passes_the_outbox_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = webhook_sled::SledFailureStore::open(dir.path()).expect("open");
    let outbox = store.outbox().expect("outbox");
    webhook_core::outbox::conformance::run_all(&outbox).await;
}
