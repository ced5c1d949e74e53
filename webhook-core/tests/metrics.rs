//! The `metrics` feature: names, labels and values, read back from a debugging recorder.
#![cfg(feature = "metrics")]

mod support;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::time::Duration;
use support::{Gated, Scripted, config, ok};
use webhook_core::observe::names;
use webhook_core::{Notifier, ResolvedWebhookConfig, Transport, WebhookEventType, WebhookPayload};

/// Starts a notifier whose instruments are registered with a recorder of its own.
fn start(
    cfg: ResolvedWebhookConfig,
    transport: std::sync::Arc<dyn Transport>,
    paused: bool,
) -> (Notifier, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let notifier = metrics::with_local_recorder(&recorder, || {
        let builder = Notifier::builder(cfg, transport);
        let builder = if paused {
            builder.paused_clock()
        } else {
            builder
        };
        builder.start().expect("start")
    });
    (notifier, snapshotter)
}

/// Every metric now (reading resets the recorder's counters and gauges to 0).
fn read(snapshotter: &Snapshotter) -> Vec<Entry> {
    snapshotter.snapshot().into_vec()
}

type Entry = (
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
);

/// The value of metric `name` with label `label` = `value` (or without labels).
fn value<'a>(
    snapshot: &'a [Entry],
    name: &str,
    label: Option<(&str, &str)>,
) -> Option<&'a DebugValue> {
    snapshot.iter().find_map(|(key, _, _, v)| {
        let key = key.key();
        let labelled = match label {
            Some((k, val)) => key.labels().any(|l| l.key() == k && l.value() == val),
            None => key.labels().next().is_none(),
        };
        (key.name() == name && labelled).then_some(v)
    })
}

fn counter(snapshotter: &[Entry], name: &str, label: (&str, &str)) -> u64 {
    match value(snapshotter, name, Some(label)) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}{label:?}: {other:?}"),
    }
}

fn gauge(snapshotter: &[Entry], name: &str) -> f64 {
    match value(snapshotter, name, None) {
        Some(DebugValue::Gauge(g)) => g.into_inner(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn outcomes_attempts_durations_and_drops_are_counted_under_their_labels() {
    // Call 0: 503 (retried), call 1: 200, call 2: 400 (permanent).
    let transport = Scripted::new(|_, n| Ok(ok([503, 200, 400][n.min(2)])));
    let cfg = config(serde_json::json!({ "retry_backoff_ms": 100, "max_payload_bytes": 1024 }));
    let (notifier, snap) = start(cfg, transport, true);
    let payload = WebhookPayload::new(WebhookEventType::TaskCreated);
    notifier.send(&payload);
    assert!(notifier.wait_idle(Duration::from_secs(60)));
    notifier.send(&payload);
    assert!(notifier.wait_idle(Duration::from_secs(60)));
    assert!(
        !notifier
            .send(&payload.clone().note("x".repeat(2_000)))
            .is_accepted()
    );
    notifier.shutdown(Duration::from_secs(5));

    let snap = read(&snap);
    let deliveries = |outcome| counter(&snap, names::DELIVERIES_TOTAL, ("outcome", outcome));
    assert_eq!(deliveries("delivered"), 1);
    assert_eq!(deliveries("permanent"), 1);
    assert_eq!(deliveries("exhausted"), 0);
    let attempts = |result| counter(&snap, names::ATTEMPTS_TOTAL, ("result", result));
    assert_eq!(
        (attempts("5xx"), attempts("2xx"), attempts("4xx")),
        (1, 1, 1)
    );
    assert_eq!(attempts("timeout"), 0);
    let dropped = |reason| counter(&snap, names::DROPPED_TOTAL, ("reason", reason));
    assert_eq!(dropped("payload_too_large"), 1);
    assert_eq!(dropped("queue_full"), 0);
    match value(&snap, names::ATTEMPT_DURATION_SECONDS, None) {
        Some(DebugValue::Histogram(samples)) => {
            assert_eq!(samples.len(), 3);
            assert!(samples.iter().all(|s| s.into_inner() >= 0.0));
        }
        other => panic!("histogram: {other:?}"),
    }
}

#[tokio::test]
async fn the_gauges_show_queue_depth_in_flight_and_the_oldest_pending_age() {
    let (transport, mut arrived) = Gated::new();
    let cfg = config(serde_json::json!({ "max_concurrency": 1 }));
    let (notifier, snap) = start(cfg, transport.clone(), false);
    let payload = WebhookPayload::new(WebhookEventType::TaskCreated);
    notifier.send(&payload);
    arrived.recv().await.expect("first attempt under way");
    notifier.send(&payload);
    notifier.send(&payload);

    notifier.update_gauges();
    // Read the gauges before taking the figures: the observer thread may refresh the
    // gauges at any moment, but never with an age computed after this read.
    let now = read(&snap);
    let oldest = notifier
        .figures()
        .oldest_pending
        .expect("pending")
        .as_secs_f64();
    assert_eq!(gauge(&now, names::QUEUE_DEPTH), 2.0);
    assert_eq!(gauge(&now, names::IN_FLIGHT), 1.0);
    let shown = gauge(&now, names::OLDEST_PENDING_SECONDS);
    assert!(shown > 0.0 && shown <= oldest, "{shown} vs {oldest}");

    transport.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    notifier.update_gauges();
    let now = read(&snap);
    assert_eq!(gauge(&now, names::QUEUE_DEPTH), 0.0);
    assert_eq!(gauge(&now, names::OLDEST_PENDING_SECONDS), 0.0);
    notifier.shutdown_async(Duration::from_secs(5)).await;
}
