//! Diagnostics cost: `Notifier::stats()` (a few atomic loads, callable from any thread
//! as often as wanted) and `Notifier::diagnostics_blocking` (a round trip to the
//! worker's runtime that also reads the failure store).
//!
//! Run with `cargo bench -p webhook-core --bench diagnostics`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

// Each bench uses only some of the shared fixtures.
#[allow(dead_code)]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

fn diagnostics(c: &mut Criterion) {
    let notifier = support::notifier(Arc::new(support::Instant204));
    // Some history, so the counters are not all zero.
    for _ in 0..1_000 {
        let _ = notifier.send(&support::seed_payload());
    }
    assert!(notifier.wait_idle(Duration::from_secs(10)));

    let mut group = c.benchmark_group("diagnostics");
    group.bench_function("stats_snapshot", |b| {
        b.iter(|| black_box(notifier.stats()));
    });
    group.bench_function("diagnostics_blocking_10_recent", |b| {
        b.iter(|| black_box(notifier.diagnostics(10)));
    });
    group.finish();
    let _ = notifier.shutdown(Duration::from_secs(5));
}

criterion_group!(benches, diagnostics);
criterion_main!(benches);
