//! The sled outbox's own costs, without a notifier: a durable append of a batch (one
//! fsync), and one delivery's claim and settlement. Run with
//! `cargo bench -p webhook-sled --bench outbox`; the notifier-level figures (durable
//! accepts, confirmed sends, end to end against memory mode) come from
//! `cargo run --release --example outbox_load`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use webhook_core::outbox::{NewEntry, Outbox, OwnerId, Settlement};
use webhook_core::transport::Bytes;
use webhook_sled::SledFailureStore;

const BODY: &str = r#"{"event":"task_completed","timestamp":"2026-12-02T10:00:00.000Z","task_id":"RQ-1234","task_title":"Write the outbox benchmark","runner":"codex","phase":2,"phase_count":3}"#;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn entries(n: usize) -> Vec<NewEntry> {
    (0..n)
        .map(|_| NewEntry {
            webhook_id: webhook_core::WebhookId::generate(),
            event: "task_completed".to_owned(),
            task_id: Some("RQ-1234".to_owned()),
            body: Bytes::from_static(BODY.as_bytes()),
            attempts: 0,
            not_before_ms: 0,
            created_ms: now_ms(),
            replay_of: None,
            endpoint: None,
            ordering_key: None,
        })
        .collect()
}

fn outbox(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledFailureStore::open(dir.path()).expect("open");
    let outbox = store.outbox().expect("outbox");
    let owner = OwnerId::generate();

    let mut group = c.benchmark_group("outbox_append_durable");
    for batch in [1_usize, 64, 512] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::new("batch", batch), &batch, |b, &batch| {
            b.iter_batched(
                || entries(batch),
                |new| {
                    runtime
                        .block_on(outbox.append(&owner, new))
                        .expect("append")
                },
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();

    // Claim 16 and settle them delivered: what the worker does per 16 deliveries.
    let mut group = c.benchmark_group("outbox_claim_and_settle");
    group.throughput(Throughput::Elements(16));
    group.bench_function("16_delivered", |b| {
        b.iter_batched(
            || {
                runtime
                    .block_on(outbox.append(&owner, entries(16)))
                    .expect("append")
            },
            |()| {
                runtime.block_on(async {
                    let claimed = outbox
                        .claim(&owner, u64::MAX / 4, Duration::from_secs(60), 16)
                        .await
                        .expect("claim");
                    let settles = claimed
                        .iter()
                        .map(|c| c.settle(Settlement::Delivered))
                        .collect();
                    outbox.settle(settles).await.expect("settle");
                });
            },
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, outbox);
criterion_main!(benches);
