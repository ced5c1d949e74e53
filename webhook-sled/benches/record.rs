//! Durable `record()` throughput (DESIGN §8: at least 5,000 records/s), and `list` cost.
//!
//! Every `record()` returns only after its record is flushed to disk. With one caller
//! that is one fsync per record; with several concurrent callers, they share flushes
//! (group commit). Run with `cargo bench -p webhook-sled`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use webhook_core::store::conformance::sample_record;
use webhook_core::store::{FailureStore, RecordFilter};
use webhook_sled::SledFailureStore;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Records `callers` records at once, one per concurrent caller, and waits for all.
async fn record_batch(store: &Arc<SledFailureStore>, callers: usize) {
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let record = sample_record("task_failed", Some("T-1"), now_ms());
            store.record(record).await.expect("record");
        }));
    }
    for task in tasks {
        task.await.expect("recorder task");
    }
}

fn durable_record(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    // The default retention bound: once full, every record also prunes the oldest one.
    let store = Arc::new(SledFailureStore::open(dir.path().join("failures")).expect("open"));

    let mut group = c.benchmark_group("durable_record");
    for callers in [1_usize, 4, 16, 64] {
        group.throughput(Throughput::Elements(callers as u64));
        group.bench_with_input(
            BenchmarkId::new("concurrent_callers", callers),
            &callers,
            |b, &callers| b.iter(|| runtime.block_on(record_batch(&store, callers))),
        );
    }
    group.finish();
}

/// Listing from a full store (10,000 records): the newest 20, and a filter that matches
/// one record, so the scan reads every record.
fn list(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SledFailureStore::open(dir.path().join("failures")).expect("open"));
    let base = now_ms();
    let mut oldest = None;
    runtime.block_on(async {
        for chunk in 0..100_u64 {
            let mut tasks = Vec::new();
            for i in 0..100 {
                let record = sample_record("task_failed", Some("T-1"), base + chunk * 100 + i);
                oldest.get_or_insert_with(|| record.webhook_id.clone());
                let store = Arc::clone(&store);
                tasks.push(tokio::spawn(async move { store.record(record).await }));
            }
            for task in tasks {
                task.await.expect("recorder task").expect("record");
            }
        }
    });
    let oldest = oldest.expect("recorded");

    let mut group = c.benchmark_group("list_10k");
    group.bench_function("newest_20", |b| {
        b.iter(|| {
            runtime
                .block_on(store.list(&RecordFilter::newest(20)))
                .expect("list")
        })
    });
    group.bench_function("by_webhook_id_full_scan", |b| {
        let filter = RecordFilter::newest(20).ids([oldest.as_str()]);
        b.iter(|| {
            let found = runtime.block_on(store.list(&filter)).expect("list");
            assert_eq!(found.len(), 1);
        })
    });
    group.finish();
}

criterion_group!(benches, durable_record, list);
criterion_main!(benches);
