//! An attempt's bound: `tokio::time::timeout` (a fresh timer per attempt, registered
//! in the runtime's timer wheel and removed again) against
//! `AttemptTimers::timeout` (a kept timer, see `webhook_core::transport`), side by
//! side. Each attempt is a future that is pending once and then ready, as an exchange
//! that waits for its answer is, so the timer is polled (and, for tokio's, registered)
//! every time. Run sequentially and as 8 tasks at once (the load driver's C = 8).
//!
//! Run with `cargo bench -p webhook-core --bench timers`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook_core::transport::AttemptTimers;

/// The attempts' timeout: far longer than any attempt here, as in real deliveries.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Which bound an attempt gets.
#[derive(Clone, Copy)]
enum Bound {
    Tokio,
    Kept,
}

/// One attempt: pending once, then the answer.
async fn exchange() -> u16 {
    tokio::task::yield_now().await;
    204
}

async fn attempt(bound: Bound, timers: &AttemptTimers) -> Option<u16> {
    match bound {
        Bound::Tokio => tokio::time::timeout(TIMEOUT, exchange()).await.ok(),
        Bound::Kept => timers.timeout(TIMEOUT, exchange()).await,
    }
}

fn run<F: Future<Output = Duration>>(f: F) -> Duration {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime")
        .block_on(f)
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("attempt_bound");
    for (name, bound) in [
        ("tokio_timeout", Bound::Tokio),
        ("attempt_timers", Bound::Kept),
    ] {
        group.bench_function(BenchmarkId::new(name, "sequential"), |b| {
            b.iter_custom(|iters| {
                run(async move {
                    let timers = AttemptTimers::new();
                    let started = Instant::now();
                    for _ in 0..iters {
                        black_box(attempt(bound, &timers).await);
                    }
                    started.elapsed()
                })
            });
        });
        group.bench_function(BenchmarkId::new(name, "8_tasks"), |b| {
            b.iter_custom(|iters| {
                run(async move {
                    let timers = Arc::new(AttemptTimers::new());
                    let started = Instant::now();
                    let mut tasks = tokio::task::JoinSet::new();
                    for task in 0..8 {
                        let timers = timers.clone();
                        let share = iters / 8 + u64::from(task < iters % 8);
                        tasks.spawn(async move {
                            for _ in 0..share {
                                black_box(attempt(bound, &timers).await);
                            }
                        });
                    }
                    while tasks.join_next().await.is_some() {}
                    started.elapsed()
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, timers);
criterion_main!(benches);
