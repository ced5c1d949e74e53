//! Enqueue cost: `Notifier::send` of a typical seed payload (JSON serialization and
//! webhook id included) with 1 and 4 producer threads, the queue never full.
//!
//! Two parts, both run by `cargo bench -p webhook-core --bench enqueue`:
//! - criterion (`enqueue/<worker>/<p>_producers`): the mean time one producer spends per
//!   enqueue while `p` producers enqueue at once; and, for comparison,
//!   `enqueue/serialize_seed_payload_only` (the JSON body and webhook id alone);
//! - a percentile pass (`enqueue_latency ...` lines): every call timed on its own
//!   (consecutive `Instant` stamps, so each figure includes one clock read of about
//!   20 ns), reporting median, p90, p99, p99.9 and max, and the same figures for the
//!   mean of each run of 16 consecutive calls.
//!
//! Both run in two situations of the worker:
//! - `worker_waiting`: every delivery slot is taken by an attempt that the endpoint has
//!   not answered yet (a gate that opens between rounds), as with a slow endpoint: the
//!   producers have the CPU to themselves;
//! - `worker_delivering`: the endpoint answers at once, so during a round the worker
//!   signs and dispatches as fast as it can and competes with the producers for the
//!   queue lock and, on a small machine, for the CPU.
//!
//! The queue is never full: producers enqueue in rounds of at most 8,000 events in all
//! into a 10,000-slot queue, and between rounds (untimed) the worker is left to drain.
//!
//! Run with a filter that does not match `enqueue_latency` to skip the percentile pass.
//! Without `--bench` (as under `cargo test --benches`) it takes a few calls only.

mod support;

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use webhook_core::{EnqueueOutcome, Notifier, WebhookMessage, WebhookPayload};

/// Events per round, all producers together: below the capacity, so none is refused.
const ROUND_EVENTS: usize = support::CAPACITY * 4 / 5;
/// How long the untimed drain between rounds may take.
const DRAIN_BOUND: Duration = Duration::from_secs(30);

/// A notifier and how to empty its queue between rounds.
struct Scenario {
    name: &'static str,
    notifier: Notifier,
    gate: Option<Arc<support::Gate>>,
}

impl Scenario {
    fn worker_waiting() -> Self {
        let gate = support::Gate::closed();
        Self {
            name: "worker_waiting",
            notifier: support::notifier(gate.clone()),
            gate: Some(gate),
        }
    }

    fn worker_delivering() -> Self {
        Self {
            name: "worker_delivering",
            notifier: support::notifier(Arc::new(support::Instant204)),
            gate: None,
        }
    }

    /// Delivers everything queued (untimed).
    fn drain(&self) {
        if let Some(gate) = &self.gate {
            gate.set_open(true);
        }
        assert!(
            self.notifier.wait_idle(DRAIN_BOUND),
            "the worker did not drain a round in time"
        );
        if let Some(gate) = &self.gate {
            gate.set_open(false);
        }
    }

    fn stop(self) {
        if let Some(gate) = &self.gate {
            gate.set_open(true);
        }
        let _ = self.notifier.shutdown(DRAIN_BOUND);
    }
}

/// Runs `per_producer` enqueues on each of `producers` threads in rounds that never fill
/// the queue, and hands each producer's round to `timed` (which does the enqueues and
/// records what it measured in its accumulator). Returns the accumulators in producer
/// order.
fn in_rounds<T: Send>(
    scenario: &Scenario,
    producers: usize,
    per_producer: u64,
    timed: impl Fn(&Notifier, usize, &mut T) + Sync,
    init: impl Fn() -> T + Sync,
) -> Vec<T> {
    let round = (ROUND_EVENTS / producers) as u64;
    let rounds = per_producer.div_ceil(round);
    let start = Barrier::new(producers + 1);
    let end = Barrier::new(producers + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|_| {
                scope.spawn(|| {
                    let mut acc = init();
                    let mut left = per_producer;
                    for _ in 0..rounds {
                        let n = left.min(round);
                        left -= n;
                        start.wait();
                        timed(&scenario.notifier, n as usize, &mut acc);
                        end.wait();
                    }
                    acc
                })
            })
            .collect();
        for _ in 0..rounds {
            start.wait();
            end.wait();
            scenario.drain();
        }
        handles
            .into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect()
    })
}

fn send_all(notifier: &Notifier, payload: &WebhookPayload, n: usize) {
    for _ in 0..n {
        let outcome = notifier.send(payload);
        assert_eq!(
            outcome,
            EnqueueOutcome::Accepted,
            "the queue must not be full"
        );
    }
}

/// Criterion: the time per enqueue as one producer sees it while all enqueue.
fn criterion_enqueue(c: &mut Criterion) {
    let payload = support::seed_payload();
    let mut group = c.benchmark_group("enqueue");
    group.throughput(Throughput::Elements(1));
    group.bench_function("serialize_seed_payload_only", |b| {
        b.iter(|| WebhookMessage::from_payload(black_box(&payload)).expect("serializes"));
    });
    for scenario in [Scenario::worker_waiting(), Scenario::worker_delivering()] {
        for producers in [1_usize, 4] {
            let id = BenchmarkId::new(scenario.name, format!("{producers}_producers"));
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let per_thread = in_rounds(
                        &scenario,
                        producers,
                        iters,
                        |n, count, spent: &mut Duration| {
                            let t = Instant::now();
                            send_all(n, &payload, count);
                            *spent += t.elapsed();
                        },
                        Duration::default,
                    );
                    per_thread.iter().sum::<Duration>() / producers as u32
                });
            });
        }
        scenario.stop();
    }
    group.finish();
}

/// Nanoseconds at the given quantile (0.0..=1.0) of sorted samples.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut samples: Vec<u64>) -> String {
    samples.sort_unstable();
    format!(
        "median_ns={} p90_ns={} p99_ns={} p999_ns={} max_ns={}",
        quantile(&samples, 0.5),
        quantile(&samples, 0.9),
        quantile(&samples, 0.99),
        quantile(&samples, 0.999),
        samples.last().copied().unwrap_or(0),
    )
}

/// Times every call on its own and prints the percentiles per worker situation and
/// producer count.
fn latency_percentiles(per_producer: u64) {
    let payload = support::seed_payload();
    for scenario in [Scenario::worker_waiting(), Scenario::worker_delivering()] {
        // Warm the allocator, the worker and the caches.
        in_rounds(
            &scenario,
            1,
            20_000.min(per_producer),
            |n, count, (): &mut ()| send_all(n, &payload, count),
            || (),
        );
        for producers in [1_usize, 4] {
            let per_thread = in_rounds(
                &scenario,
                producers,
                per_producer,
                |n, count, out: &mut Vec<u64>| {
                    let mut prev = Instant::now();
                    for _ in 0..count {
                        let outcome = n.send(&payload);
                        let now = Instant::now();
                        out.push((now - prev).as_nanos() as u64);
                        prev = now;
                        assert_eq!(
                            outcome,
                            EnqueueOutcome::Accepted,
                            "the queue must not be full"
                        );
                    }
                },
                || Vec::with_capacity(per_producer as usize),
            );
            let batches: Vec<u64> = per_thread
                .iter()
                .flat_map(|calls| calls.chunks_exact(16).map(|b| b.iter().sum::<u64>() / 16))
                .collect();
            let calls: Vec<u64> = per_thread.into_iter().flatten().collect();
            let name = scenario.name;
            println!(
                "enqueue_latency {name} producers={producers} calls={} per_call: {}",
                calls.len(),
                summary(calls)
            );
            println!(
                "enqueue_latency {name} producers={producers} batches_of_16={} per_call_in_batch: {}",
                batches.len(),
                summary(batches)
            );
        }
        scenario.stop();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench_mode = args.iter().any(|a| a == "--bench");
    let filter = args.iter().find(|a| !a.starts_with('-'));

    let mut criterion = Criterion::default().configure_from_args();
    criterion_enqueue(&mut criterion);
    criterion.final_summary();

    if filter.is_none_or(|f| "enqueue_latency".contains(f.as_str())) {
        latency_percentiles(if bench_mode { 250_000 } else { 2_000 });
    }
}
