//! The pipeline's side: the payload, the configuration, the notifier, and the producers.

use crate::sink::Sink;
use crate::{BoxError, PACING_STRIDE, PHASE_BOUND, QUEUE_CAPACITY, SECRET};
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use std::time::{Duration, Instant};
use webhook_core::signing::{Signer, WEBHOOK_ID};
use webhook_core::worker::USER_AGENT_VALUE;
use webhook_core::{
    EnqueueOutcome, Notifier, ResolvedWebhookConfig, WebhookConfig, WebhookContext,
    WebhookEventType, WebhookMessage, WebhookPayload, WebhookQueuePolicy,
};

/// A `task_completed` event as the seed's `notify_task_completed_with_context` builds
/// it (the same as the webhook-core enqueue bench's).
pub(crate) fn seed_payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id("RQ-0142")
        .task_title("Add a retry budget to the delivery worker")
        .statuses("doing", "done")
        .note("all checks passed")
        .context(WebhookContext {
            runner: Some("codex".to_owned()),
            model: Some("gpt-5.1-codex".to_owned()),
            phase: Some(3),
            phase_count: Some(3),
            duration_ms: Some(184_203),
            repo_root: Some("/home/dev/src/ralph".to_owned()),
            branch: Some("ralph/RQ-0142".to_owned()),
            commit: Some("9f3c2a1e5b7d4c6a8e0f1b2c3d4e5f6a7b8c9d0e".to_owned()),
            ci_gate: Some("make ci".to_owned()),
        })
}

/// The sink's URL: `http://127.0.0.1:PORT/hook`, or `https://` when it speaks TLS.
pub(crate) fn url(sink: &Sink) -> String {
    let scheme = if sink.ca_pem.is_some() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://127.0.0.1:{}/hook", sink.port)
}

/// The notifier's configuration: signing on, a 10,000-slot queue, `concurrency`
/// deliveries at once, loopback allowed.
pub(crate) fn config(
    url: String,
    concurrency: u32,
    policy: WebhookQueuePolicy,
) -> Result<ResolvedWebhookConfig, BoxError> {
    Ok(WebhookConfig {
        secret: Some(SECRET.to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        queue_capacity: Some(QUEUE_CAPACITY as u32),
        queue_policy: Some(policy),
        // Throughput mode never lets the queue fill; this is only a backstop.
        block_timeout_ms: Some(60_000),
        max_concurrency: Some(concurrency),
        timeout_secs: Some(30),
        ..WebhookConfig::for_url(url)
    }
    .resolve()?)
}

/// The headers the pipeline sends for one attempt of `message`, signed now, plus `host`
/// when given (over HTTP/1.1 the transport sends the one its destination made).
pub(crate) fn signed_headers(
    signer: &Signer,
    message: &WebhookMessage,
    host: Option<&HeaderValue>,
) -> HeaderMap {
    // Room for all of them: content-type, user-agent, id, host, timestamp, signature.
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    if let Ok(id) = HeaderValue::try_from(message.id().as_str()) {
        headers.insert(WEBHOOK_ID, id);
    }
    if let Some(host) = host {
        headers.insert(HOST, host.clone());
    }
    let now = webhook_core::time::unix_seconds(std::time::SystemTime::now());
    signer.sign_into(&mut headers, message.id().as_str(), now, message.body());
    headers
}

/// What one measured stretch of the pipeline did.
pub(crate) struct PipelineRun {
    pub(crate) elapsed: Duration,
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
    pub(crate) dropped: u64,
    pub(crate) latencies_ns: Vec<u64>,
}

/// Delivers `warm_up` events untimed, then `n` timed from the first enqueue until the
/// worker is idle.
pub(crate) fn pipeline(
    notifier: &Notifier,
    payload: &WebhookPayload,
    (producers, backlog): (usize, usize),
    warm_up: u64,
    n: u64,
) -> Result<PipelineRun, BoxError> {
    produce(notifier, payload, (1, backlog), warm_up);
    if !notifier.wait_idle(PHASE_BOUND) {
        return Err("the warm-up did not finish in time".into());
    }
    let before = notifier.stats();
    let started = Instant::now();
    let latencies_ns = produce(notifier, payload, (producers, backlog), n);
    if !notifier.wait_idle(PHASE_BOUND) {
        return Err("the pipeline did not finish in time".into());
    }
    let elapsed = started.elapsed();
    let after = notifier.stats();
    Ok(PipelineRun {
        elapsed,
        delivered: after.delivered - before.delivered,
        failed: after.failed - before.failed,
        dropped: after.dropped_total - before.dropped_total,
        latencies_ns,
    })
}

/// Events per second no worker drains faster than (about twice the fastest measured), so
/// a producer that sleeps for the excess over the low-water mark at this rate never lets
/// the queue run dry.
const FASTEST_DRAIN: f64 = 250_000.0;

/// One enqueue in this many is timed: timing every call took two clock reads per event
/// (about 55 ns) that the bare client, which times only its whole run, does not pay.
const TIMED_EVERY: u64 = 8;

/// Enqueues `n` events from `producers` threads, one call in [`TIMED_EVERY`] timed
/// (the latencies returned are those calls'). When the queue holds
/// `backlog` events, producers pause until it holds half as many, so every enqueue
/// finds room (and the queue never runs dry while the worker drains half the backlog).
pub(crate) fn produce(
    notifier: &Notifier,
    payload: &WebhookPayload,
    (producers, backlog): (usize, usize),
    n: u64,
) -> Vec<u64> {
    let high_water = backlog.min(QUEUE_CAPACITY - 2 * PACING_STRIDE * producers) as u64;
    let low_water = high_water / 2;
    let share = |i: usize| n / producers as u64 + u64::from((i as u64) < n % producers as u64);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|i| {
                scope.spawn(move || {
                    let count = share(i);
                    let mut latencies = Vec::with_capacity((count / TIMED_EVERY + 1) as usize);
                    let mut sent = 0;
                    while sent < count {
                        if notifier.stats().queued >= high_water {
                            // Refill in large batches: wait until the queue is half
                            // empty, sleeping as long as the excess takes to drain at
                            // `FASTEST_DRAIN` (at least a millisecond), so the producer
                            // wakes a few times per refill instead of once a
                            // millisecond: its wake-ups preempted the worker (with a
                            // spinning sink the two share a core).
                            let waited = Instant::now();
                            loop {
                                let queued = notifier.stats().queued;
                                if queued <= low_water || waited.elapsed() >= PHASE_BOUND {
                                    break;
                                }
                                let excess = (queued - low_water) as f64;
                                let drain = Duration::from_secs_f64(excess / FASTEST_DRAIN);
                                std::thread::sleep(drain.max(Duration::from_millis(1)));
                            }
                        }
                        let stride = (count - sent).min(PACING_STRIDE as u64);
                        for k in 0..stride {
                            let timed = (sent + k) % TIMED_EVERY == 0;
                            let t = timed.then(Instant::now);
                            let outcome = notifier.send(payload);
                            if let Some(t) = t {
                                latencies.push(t.elapsed().as_nanos() as u64);
                            }
                            if outcome != EnqueueOutcome::Accepted {
                                eprintln!("load: an enqueue was not accepted: {outcome}");
                            }
                        }
                        sent += stride;
                    }
                    latencies
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}
