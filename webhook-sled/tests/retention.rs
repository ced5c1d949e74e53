//! The retention bound and pruning by age.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use webhook_core::store::conformance::sample_record;
use webhook_core::store::{FailureStore, RecordFilter, RecordId};
use webhook_sled::{SledFailureStore, SledStoreOptions};

/// Concurrent callers per batch: enough to exercise group commit, far below the bound, so
/// every record of a batch is newer than every record the bound has already pruned.
const BATCH: u64 = 100;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("milliseconds fit u64")
}

/// Records one record per millisecond `base + i` for `i` in `range`, `BATCH` at a time,
/// and returns their ids in order (oldest first).
async fn record_range(
    store: &Arc<SledFailureStore>,
    base: u64,
    range: std::ops::Range<u64>,
) -> Vec<RecordId> {
    let mut ids = Vec::new();
    let mut next = range.start;
    while next < range.end {
        let end = (next + BATCH).min(range.end);
        let mut tasks = Vec::new();
        for i in next..end {
            let record = sample_record("task_failed", Some("T-9"), base + i);
            ids.push(record.id.clone());
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move { store.record(record).await }));
        }
        for task in tasks {
            task.await.expect("recorder task").expect("record");
        }
        next = end;
    }
    ids
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .expect("read store folder")
        .map(|entry| {
            let entry = entry.expect("folder entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                dir_size(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_25k_records_with_a_bound_of_10k_exactly_the_newest_10k_remain_and_disk_use_levels_off()
 {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    let store = Arc::new(
        SledStoreOptions::new()
            .with_max_records(10_000)
            .open(&path)
            .expect("open"),
    );
    let base = now_ms() - 1_000_000;
    let started = std::time::Instant::now();

    let mut ids = record_range(&store, base, 0..10_000).await;
    let size_at_10k = dir_size(&path);
    ids.extend(record_range(&store, base, 10_000..17_500).await);
    let size_at_17k = dir_size(&path);
    ids.extend(record_range(&store, base, 17_500..25_000).await);
    let size_at_25k = dir_size(&path);
    eprintln!(
        "recorded 25,000 in {:?}; store size at 10k: {size_at_10k} B, 17.5k: {size_at_17k} B, 25k: {size_at_25k} B",
        started.elapsed()
    );

    assert_eq!(store.count().await.expect("count"), 10_000);
    let listed: Vec<RecordId> = store
        .list(&RecordFilter::newest(25_000))
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let newest: Vec<RecordId> = ids[15_000..].iter().rev().cloned().collect();
    assert_eq!(listed.len(), 10_000, "exactly the bound remains");
    assert!(listed == newest, "the newest 10,000, newest first");

    assert!(
        size_at_25k < 2 * size_at_10k,
        "disk use keeps growing: {size_at_10k} B at 10k records, {size_at_25k} B at 25k"
    );
    assert!(
        size_at_25k * 4 <= size_at_17k * 5,
        "disk use keeps growing once the bound is reached: {size_at_17k} B at 17.5k records, \
         {size_at_25k} B at 25k"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_is_enforced_by_every_record_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(
        SledStoreOptions::new()
            .with_max_records(3)
            .open(dir.path().join("failures"))
            .expect("open"),
    );
    let base = now_ms();
    for i in 0..10 {
        store
            .record(sample_record("task_failed", None, base + i))
            .await
            .expect("record");
        assert_eq!(store.count().await.expect("count"), (i + 1).min(3) as usize);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_older_than_removes_only_records_first_recorded_before_the_cutoff() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SledFailureStore::open(dir.path().join("failures")).expect("open"));
    let now = now_ms();
    let hour = 3_600_000;
    let old = record_range(&store, now - 3 * hour, 0..5).await;
    let recent = record_range(&store, now - 60_000, 0..4).await;

    let removed = store
        .prune_older_than(Duration::from_secs(3600))
        .await
        .expect("prune by age");
    assert_eq!(removed, old.len());
    assert_eq!(store.count().await.expect("count"), recent.len());
    for id in &old {
        assert!(store.get(id).await.expect("get").is_none(), "{id} pruned");
    }
    for id in &recent {
        assert!(store.get(id).await.expect("get").is_some(), "{id} kept");
    }

    let cutoff = UNIX_EPOCH + Duration::from_millis(now);
    assert_eq!(
        store
            .prune_recorded_before(cutoff)
            .await
            .expect("prune by cutoff"),
        recent.len()
    );
    assert_eq!(store.count().await.expect("count"), 0);
}
