//! The seed's free functions against `Notifier::send`, the same payload, 4 producers.
//!
//! `cargo bench --bench enqueue_seed` starts a loopback HTTP sink (current-thread hyper
//! server on a thread of its own), configures the global notifier for it (signing on, a
//! 10,000-slot queue, failures in a temporary folder) and then, in alternating rounds,
//! times every call of
//! - `send`: `Notifier::send(&payload)` on the global notifier's handle, with `payload`
//!   built beforehand: what `notify_task_completed_with_context` builds;
//! - `notify`: `notify_task_completed_with_context(id, title, &config, &context)`: the
//!   seed's call path (the global notifier looked up for the config, the payload built
//!   with a fresh timestamp, then enqueued).
//!
//! Each round has 4 producers enqueue 2,000 events each (8,000 in all, so the queue
//! never fills) while the worker delivers; between rounds (untimed) the worker drains.
//! It prints median, p90 and p99 per call for both and the ratio of the medians (DESIGN
//! §8: within 1.5×). Under `cargo test --benches` (no `--bench`) it runs one short round.

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Barrier;
use std::time::{Duration, Instant};
use webhook::{
    EnqueueOutcome, Notifier, WebhookConfig, WebhookContext, WebhookEventType, WebhookPayload,
    WebhookQueuePolicy, global_notifier, notify_task_completed_with_context, shutdown_worker,
};

const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 2_000;
const TASK_ID: &str = "RQ-0142";
const TITLE: &str = "Add a retry budget to the delivery worker";

fn context() -> WebhookContext {
    WebhookContext {
        runner: Some("codex".to_owned()),
        model: Some("gpt-5.1-codex".to_owned()),
        phase: Some(3),
        phase_count: Some(3),
        duration_ms: Some(184_203),
        repo_root: Some("/home/dev/src/ralph".to_owned()),
        branch: Some("ralph/RQ-0142".to_owned()),
        commit: Some("9f3c2a1e5b7d4c6a8e0f1b2c3d4e5f6a7b8c9d0e".to_owned()),
        ci_gate: Some("make ci".to_owned()),
    }
}

/// A sink answering 200 at once, on a thread of its own; returns its port.
fn start_sink() -> u16 {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("sink runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((stream, _)) = listener.accept().await {
                let service = service_fn(|req: Request<Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, std::convert::Infallible>(Response::new(Empty::<Bytes>::new()))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
    });
    port
}

/// Times every call of `call` from `PRODUCERS` threads at once; the sorted latencies.
fn timed_round(per_producer: usize, call: &(dyn Fn() -> bool + Sync)) -> Vec<u64> {
    let start = Barrier::new(PRODUCERS);
    let mut all: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut latencies = Vec::with_capacity(per_producer);
                    start.wait();
                    for _ in 0..per_producer {
                        let t = Instant::now();
                        let outcome = black_box(call());
                        latencies.push(t.elapsed().as_nanos() as u64);
                        assert!(outcome, "every call is accepted (the queue never fills)");
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("producer"))
            .collect()
    });
    all.sort_unstable();
    all
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(0)
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let rounds = if measuring { 40 } else { 1 };
    let per_producer = if measuring { PER_PRODUCER } else { 50 };
    let store = tempfile::tempdir().expect("temporary folder");
    let config = WebhookConfig {
        enabled: Some(true),
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        queue_capacity: Some(10_000),
        queue_policy: Some(WebhookQueuePolicy::DropNew),
        store_path: Some(store.path().join("failures")),
        ..WebhookConfig::for_url(format!("http://127.0.0.1:{}/hook", start_sink()))
    };
    let context = context();
    let notifier: Notifier = global_notifier(&config).expect("global notifier");
    let payload = WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id(TASK_ID)
        .task_title(TITLE)
        .context(context.clone());
    let send = || notifier.send(&payload) == EnqueueOutcome::Accepted;
    let notify =
        || notify_task_completed_with_context(TASK_ID, TITLE, &config, &context).is_accepted();
    let (mut sends, mut notifies) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so neither always follows a drain.
        let order: [(&mut Vec<u64>, &(dyn Fn() -> bool + Sync)); 2] = if round % 2 == 0 {
            [(&mut sends, &send), (&mut notifies, &notify)]
        } else {
            [(&mut notifies, &notify), (&mut sends, &send)]
        };
        for (samples, call) in order {
            samples.extend(timed_round(per_producer, call));
            assert!(notifier.wait_idle(Duration::from_secs(60)), "drained");
        }
    }
    sends.sort_unstable();
    notifies.sort_unstable();
    let line = |name: &str, s: &[u64]| {
        println!(
            "enqueue_seed {name:<6} producers={PRODUCERS} calls={} per_call: median_ns={} p90_ns={} p99_ns={} p999_ns={}",
            s.len(),
            quantile(s, 0.5),
            quantile(s, 0.9),
            quantile(s, 0.99),
            quantile(s, 0.999),
        );
    };
    line("send", &sends);
    line("notify", &notifies);
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len().max(1) as f64;
    println!(
        "enqueue_seed ratio notify/send: median {:.2} p99 {:.2} mean {:.2}",
        quantile(&notifies, 0.5) as f64 / quantile(&sends, 0.5).max(1) as f64,
        quantile(&notifies, 0.99) as f64 / quantile(&sends, 0.99).max(1) as f64,
        mean(&notifies) / mean(&sends).max(1.0),
    );
    drop(notifier);
    let _ = shutdown_worker(Duration::from_secs(5));
}
