//! Endpoint figures, printed one line each (`cargo bench -p webhook-core --bench endpoints`):
//!
//! - `endpoint_memory`: resident memory per idle endpoint with 10,000 registered (each
//!   with a secret, a filter and a static header), from `VmRSS` before and after;
//! - `fan_out`: the caller's cost of one `send` that fans out to 1,000 of 10,000
//!   registered endpoints (the other 9,000 filter the event out), median and p99 over
//!   single calls, the worker waiting (every attempt held) so the figure is the fan-out
//!   alone; queues are emptied between rounds (untimed);
//! - `endpoint_enqueue_latency`: `send` of the typical seed payload to one endpoint with
//!   4 producers at once, every call timed on its own (compare with the single-URL
//!   `enqueue_latency` of the `enqueue` bench), worker waiting and worker delivering.
//!
//! Without `--bench` (as under `cargo test --benches`) it runs a few calls only.

#[allow(dead_code)]
mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use webhook_core::endpoint::EndpointConfig;
use webhook_core::transport::Transport;
use webhook_core::{Notifier, WebhookConfig, WebhookEventType, WebhookPayload};

const DRAIN_BOUND: Duration = Duration::from_secs(120);

/// A notifier in fan-out mode (no single URL) with 64 delivery slots and `transport`.
fn notifier(transport: Arc<dyn Transport>) -> Notifier {
    let config = WebhookConfig {
        enabled: Some(true),
        endpoints: Some(Vec::new()),
        events: Some(vec!["*".into()]),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        max_concurrency: Some(64),
        ..WebhookConfig::default()
    }
    .resolve()
    .expect("bench config is valid");
    Notifier::builder(config, transport)
        .start()
        .expect("worker starts")
}

fn endpoint(i: usize, events: &[&str], capacity: u32) -> EndpointConfig {
    EndpointConfig {
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
        events: Some(events.iter().map(|e| (*e).to_owned()).collect()),
        headers: Some([("x-tenant".to_owned(), format!("tenant-{i}"))].into()),
        queue_capacity: Some(capacity),
        max_in_flight: Some(64),
        ..EndpointConfig::new(format!("ep-{i}"), format!("http://127.0.0.1:9/hooks/{i}"))
    }
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn summary(mut samples: Vec<u64>) -> String {
    samples.sort_unstable();
    format!(
        "median_ns={} p90_ns={} p99_ns={} max_ns={}",
        quantile(&samples, 0.5),
        quantile(&samples, 0.9),
        quantile(&samples, 0.99),
        samples.last().copied().unwrap_or(0)
    )
}

/// Registers `count` endpoints, 1 in 10 subscribed to `task_completed`.
fn register(n: &Notifier, count: usize, capacity: u32) {
    for i in 0..count {
        let events: &[&str] = if i % 10 == 0 {
            &["task_completed"]
        } else {
            &["loop_started"]
        };
        n.upsert_endpoint(&endpoint(i, events, capacity))
            .expect("valid endpoint");
    }
}

fn endpoint_memory(count: usize) {
    let gate = support::Gate::closed();
    let n = notifier(gate.clone());
    let before = rss_bytes();
    register(&n, count, 1000);
    let after = rss_bytes();
    let per = after.saturating_sub(before) / count as u64;
    println!(
        "endpoint_memory endpoints={count} rss_before_bytes={before} rss_after_bytes={after} per_endpoint_bytes={per}"
    );
    gate.set_open(true);
    n.shutdown(Duration::from_secs(5));
}

fn fan_out(registered: usize, rounds: usize, per_round: usize) {
    let gate = support::Gate::closed();
    let n = notifier(gate.clone());
    register(&n, registered, per_round as u32 + 10);
    let payload = support::seed_payload();
    let mut samples = Vec::with_capacity(rounds * per_round);
    for _ in 0..rounds {
        for _ in 0..per_round {
            let t = Instant::now();
            let outcome = n.send(&payload);
            samples.push(t.elapsed().as_nanos() as u64);
            assert!(outcome.is_accepted());
        }
        gate.set_open(true);
        assert!(n.wait_idle(DRAIN_BOUND), "drained");
        gate.set_open(false);
    }
    let matched = n
        .endpoints()
        .iter()
        .filter(|h| h.counts.accepted > 0)
        .count();
    println!(
        "fan_out registered={registered} matched={matched} sends={} per_send: {}",
        samples.len(),
        summary(samples)
    );
    gate.set_open(true);
    n.shutdown(Duration::from_secs(5));
}

fn one_endpoint_latency(
    name: &str,
    transport: Arc<dyn Transport>,
    gate: Option<&support::Gate>,
    per_producer: usize,
) {
    let n = notifier(transport);
    n.upsert_endpoint(&EndpointConfig {
        queue_capacity: Some(100_000),
        max_in_flight: Some(8),
        ..endpoint(0, &["*"], 100_000)
    })
    .expect("valid");
    let payload = support::seed_payload();
    let producers = 4;
    let round = (8_000 / producers).min(per_producer);
    let mut all = Vec::new();
    let mut done = 0;
    while done < per_producer {
        let barrier = Arc::new(Barrier::new(producers));
        let handles: Vec<_> = (0..producers)
            .map(|_| {
                let (n, payload, barrier) = (n.clone(), payload.clone(), barrier.clone());
                std::thread::spawn(move || timed_sends(&n, &payload, &barrier, round))
            })
            .collect();
        for h in handles {
            all.extend(h.join().expect("producer"));
        }
        done += round;
        if let Some(g) = gate {
            g.set_open(true);
        }
        assert!(n.wait_idle(DRAIN_BOUND), "drained");
        if let Some(g) = gate {
            g.set_open(false);
        }
    }
    println!(
        "endpoint_enqueue_latency {name} producers={producers} calls={} per_call: {}",
        all.len(),
        summary(all)
    );
    if let Some(g) = gate {
        g.set_open(true);
    }
    n.shutdown(Duration::from_secs(5));
}

fn timed_sends(
    n: &Notifier,
    payload: &WebhookPayload,
    barrier: &Barrier,
    count: usize,
) -> Vec<u64> {
    let mut out = Vec::with_capacity(count);
    barrier.wait();
    let mut prev = Instant::now();
    for _ in 0..count {
        let outcome = n.send(payload);
        let now = Instant::now();
        out.push((now - prev).as_nanos() as u64);
        prev = now;
        assert!(outcome.is_accepted(), "the queue must not be full");
    }
    out
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let _ = WebhookEventType::TaskCompleted;
    let (registered, rounds, per_producer) = if bench_mode {
        (10_000, 10, 250_000)
    } else {
        (200, 1, 1_000)
    };
    endpoint_memory(registered);
    fan_out(registered, rounds, 100);
    let gate = support::Gate::closed();
    one_endpoint_latency("worker_waiting", gate.clone(), Some(&gate), per_producer);
    one_endpoint_latency(
        "worker_delivering",
        Arc::new(support::Instant204),
        None,
        per_producer,
    );
}
