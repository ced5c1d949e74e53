use super::*;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_behaviour_suite() {
    conformance::run_all(Arc::new(MemoryFailureStore::new())).await;
}

#[tokio::test]
async fn memory_store_prunes_the_oldest_beyond_its_capacity() {
    let store = MemoryFailureStore::with_capacity(3);
    let mut ids = Vec::new();
    for i in 0..5 {
        let rec = conformance::sample_record("task_failed", None, 1_000 + i);
        ids.push(rec.id.clone());
        store.record(rec).await.expect("record");
    }
    assert_eq!(store.count().await.expect("count"), 3);
    assert!(store.get(&ids[1]).await.expect("get").is_none());
    assert!(store.get(&ids[2]).await.expect("get").is_some());
}

#[test]
fn record_ids_sort_by_time() {
    use std::time::{Duration, UNIX_EPOCH};
    let a = RecordId::new(UNIX_EPOCH + Duration::from_millis(5));
    let b = RecordId::new(UNIX_EPOCH + Duration::from_millis(6));
    assert!(a < b);
    assert_eq!(a.as_str().len(), 24);
}

#[test]
fn errors_are_clipped_to_400_characters() {
    let long = "é".repeat(1000);
    assert_eq!(
        crate::redact::clip(&long, record::MAX_ERROR_CHARS)
            .chars()
            .count(),
        400
    );
}
