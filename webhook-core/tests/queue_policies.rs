//! Each full-queue policy against a blocked transport, with exact counts.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Gated, Hangs, config};
use webhook_core::queue::{FullQueue, FullQueueAction, QueuePolicy};
use webhook_core::{
    DropReason, EnqueueOutcome, MemoryFailureStore, Notifier, WebhookMessage, WebhookQueuePolicy,
};

fn message(i: usize) -> WebhookMessage {
    WebhookMessage::custom("numbered", &json!({ "n": i })).expect("valid")
}

/// Starts a notifier whose single delivery slot is taken by event 0 (held at the gate),
/// so the queue of 10 is empty and everything after fills it deterministically.
async fn blocked_notifier(
    policy: WebhookQueuePolicy,
) -> (Notifier, Arc<Gated>, Vec<EnqueueOutcome>) {
    let (gated, mut arrived) = Gated::new();
    let cfg = config(json!({
        "queue_capacity": 10, "max_concurrency": 1, "queue_policy": policy,
        "block_timeout_ms": 5,
    }));
    let notifier = Notifier::builder(cfg, gated.clone())
        .start()
        .expect("starts");
    assert!(notifier.enqueue(message(0)).is_accepted());
    let first = arrived.recv().await.expect("event 0 reaches the transport");
    assert!(first.contains("\"n\":0"));
    let outcomes = (1..=25).map(|i| notifier.enqueue(message(i))).collect();
    (notifier, gated, outcomes)
}

fn count(outcomes: &[EnqueueOutcome], wanted: EnqueueOutcome) -> usize {
    outcomes.iter().filter(|o| **o == wanted).count()
}

#[tokio::test]
async fn drop_new_keeps_the_first_ten_and_refuses_the_rest() {
    let (notifier, gated, outcomes) = blocked_notifier(WebhookQueuePolicy::DropNew).await;
    assert_eq!(count(&outcomes, EnqueueOutcome::Accepted), 10);
    assert_eq!(
        count(&outcomes, EnqueueOutcome::Dropped(DropReason::QueueFull)),
        15
    );
    let stats = notifier.stats();
    assert_eq!(
        (stats.accepted, stats.queued, stats.dropped.queue_full),
        (11, 10, 15)
    );
    gated.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    let mut delivered: Vec<String> = gated.delivered();
    delivered.sort();
    let mut expected: Vec<String> = (0..=10).map(|i| json!({ "n": i }).to_string()).collect();
    expected.sort();
    assert_eq!(delivered, expected);
    assert!(notifier.stats().balances());
}

#[tokio::test]
async fn drop_oldest_really_evicts_the_oldest_and_delivers_the_ten_newest() {
    let (notifier, gated, outcomes) = blocked_notifier(WebhookQueuePolicy::DropOldest).await;
    assert_eq!(count(&outcomes, EnqueueOutcome::Accepted), 10);
    assert_eq!(count(&outcomes, EnqueueOutcome::AcceptedAfterEviction), 15);
    let stats = notifier.stats();
    assert_eq!(
        (stats.accepted, stats.evicted, stats.dropped_total),
        (26, 15, 0)
    );
    gated.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    let delivered = gated.delivered();
    let expected: Vec<String> = std::iter::once(0)
        .chain(16..=25)
        .map(|i| json!({ "n": i }).to_string())
        .collect();
    assert_eq!(
        delivered, expected,
        "event 0 (in flight) then the 10 newest, in order"
    );
    let stats = notifier.stats();
    assert_eq!(stats.delivered, 11);
    assert!(stats.balances(), "{stats:?}");
}

#[tokio::test]
async fn block_with_timeout_waits_its_bound_then_drops() {
    let (notifier, gated, outcomes) = blocked_notifier(WebhookQueuePolicy::BlockWithTimeout).await;
    assert_eq!(count(&outcomes, EnqueueOutcome::Accepted), 10);
    assert_eq!(
        count(&outcomes, EnqueueOutcome::Dropped(DropReason::BlockTimeout)),
        15
    );
    assert_eq!(notifier.stats().dropped.block_timeout, 15);
    gated.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    assert_eq!(notifier.stats().delivered, 11);
}

#[tokio::test]
async fn block_with_timeout_async_variant_awaits_and_gets_room_when_a_slot_frees() {
    let (notifier, gated, _) = blocked_notifier(WebhookQueuePolicy::BlockWithTimeout).await;
    let cfg_wait = notifier.config().block_timeout;
    assert_eq!(cfg_wait, Duration::from_millis(5));
    // Full: the async variant times out without blocking this runtime thread.
    let outcome = notifier.enqueue_async(message(99)).await;
    assert_eq!(outcome, EnqueueOutcome::Dropped(DropReason::BlockTimeout));
    gated.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    assert_eq!(
        notifier.enqueue_async(message(100)).await,
        EnqueueOutcome::Accepted
    );
}

#[test]
fn enqueue_never_blocks_while_the_transport_hangs() {
    for policy in [WebhookQueuePolicy::DropNew, WebhookQueuePolicy::DropOldest] {
        let cfg =
            config(json!({"queue_capacity": 10, "queue_policy": policy, "shutdown_grace_ms": 0}));
        let store = Arc::new(MemoryFailureStore::with_capacity(100));
        let notifier = Notifier::start(cfg, Arc::new(Hangs), store.clone()).expect("starts");
        let started = Instant::now();
        let mut answered = 0;
        for i in 0..10_000 {
            let _ = notifier.enqueue(message(i));
            answered += 1;
        }
        assert_eq!(answered, 10_000);
        // Generous ceiling: 10k non-blocking enqueues take milliseconds.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{policy}: {:?}",
            started.elapsed()
        );
        let stats = notifier.stats();
        assert_eq!(
            stats.accepted + stats.dropped_total,
            10_000,
            "{policy}: {stats:?}"
        );
        let report = notifier.shutdown(Duration::ZERO);
        assert!(report.stats.balances(), "{report:?}");
    }
}

/// Never evicts `task_failed`: evicts the oldest other event, or refuses the new one.
#[derive(Debug)]
struct KeepFailures;

impl QueuePolicy for KeepFailures {
    fn on_full(&self, queue: &FullQueue<'_>) -> FullQueueAction {
        match queue.queued().position(|e| e.event() != "task_failed") {
            Some(i) => FullQueueAction::Evict(i),
            None => FullQueueAction::DropIncoming,
        }
    }
}

#[tokio::test]
async fn a_custom_policy_decides_which_event_to_evict() {
    let (gated, mut arrived) = Gated::new();
    let cfg = config(json!({"queue_capacity": 10, "max_concurrency": 1}));
    let notifier = Notifier::builder(cfg, gated.clone())
        .policy(Arc::new(KeepFailures))
        .start()
        .expect("starts");
    notifier.enqueue(message(0));
    arrived.recv().await.expect("first in flight");
    let failed =
        |i: usize| WebhookMessage::custom("task_failed", &json!({ "f": i })).expect("valid");
    for i in 0..5 {
        notifier.enqueue(failed(i));
        notifier.enqueue(message(i + 1));
    }
    // Queue: f0 n1 f1 n2 ... (10). Five more failures evict n1..n5, then nothing is left to evict.
    for i in 5..10 {
        assert_eq!(
            notifier.enqueue(failed(i)),
            EnqueueOutcome::AcceptedAfterEviction
        );
    }
    assert_eq!(
        notifier.enqueue(failed(10)),
        EnqueueOutcome::Dropped(DropReason::QueueFull)
    );
    gated.release_all();
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    let delivered = gated.delivered();
    assert_eq!(delivered.len(), 11);
    assert_eq!(delivered.iter().filter(|b| b.contains("\"f\"")).count(), 10);
    assert_eq!(notifier.diagnostics_async(0).await.queue_policy, "custom");
}

#[tokio::test]
async fn oversized_payloads_are_refused_with_size_and_limit() {
    let cfg = config(json!({"max_payload_bytes": 1024}));
    let notifier = Notifier::builder(cfg, support::Scripted::status(204))
        .start()
        .expect("starts");
    let big = WebhookMessage::custom("big", &json!({ "pad": "x".repeat(2000) })).expect("valid");
    match notifier.enqueue(big) {
        EnqueueOutcome::Dropped(reason @ DropReason::PayloadTooLarge { limit: 1024, .. }) => {
            assert!(reason.to_string().contains("over max_payload_bytes = 1024"));
        }
        other => panic!("expected PayloadTooLarge, got {other:?}"),
    }
    assert_eq!(notifier.stats().dropped.payload_too_large, 1);
}

#[tokio::test]
async fn disabled_and_filtered_events_are_not_queued() {
    let off = Notifier::builder(
        webhook_core::ResolvedWebhookConfig::disabled(),
        support::Scripted::status(204),
    )
    .start()
    .expect("starts");
    assert_eq!(
        off.enqueue(message(1)),
        EnqueueOutcome::Dropped(DropReason::Disabled)
    );
    let cfg = config(json!({"events": ["task_failed"]}));
    let notifier = Notifier::builder(cfg, support::Scripted::status(204))
        .start()
        .expect("starts");
    let payload = webhook_core::WebhookPayload::new(webhook_core::WebhookEventType::LoopStarted);
    assert_eq!(
        notifier.send(&payload),
        EnqueueOutcome::Dropped(DropReason::Filtered)
    );
    assert_eq!(notifier.stats().filtered, 1);
}

#[tokio::test]
async fn send_with_builds_a_payload_only_for_events_that_are_delivered() {
    use webhook_core::{WebhookEventType as E, WebhookPayload};
    let fake = support::Scripted::status(204);
    let cfg = config(json!({"events": ["task_failed"]}));
    let notifier = Notifier::builder(cfg, fake.clone())
        .start()
        .expect("starts");
    let filtered = notifier.send_with(E::LoopStarted, || panic!("built for a filtered event"));
    assert_eq!(filtered, EnqueueOutcome::Dropped(DropReason::Filtered));
    let sent = notifier.send_with(E::TaskFailed, || {
        WebhookPayload::new(E::TaskFailed).task_id("T-1")
    });
    assert_eq!(sent, EnqueueOutcome::Accepted);
    // A payload that names another event than the one announced is judged by its own.
    let renamed = notifier.send_with(E::TaskFailed, || WebhookPayload::new(E::LoopStarted));
    assert_eq!(renamed, EnqueueOutcome::Dropped(DropReason::Filtered));
    let off = Notifier::builder(
        webhook_core::ResolvedWebhookConfig::disabled(),
        support::Scripted::status(204),
    )
    .start()
    .expect("starts");
    let disabled = off.send_with(E::TaskFailed, || panic!("built while disabled"));
    assert_eq!(disabled, EnqueueOutcome::Dropped(DropReason::Disabled));
    assert!(
        notifier
            .wait_idle_async(std::time::Duration::from_secs(10))
            .await
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        std::str::from_utf8(&seen[0].body)
            .expect("utf-8")
            .contains(r#""task_id":"T-1""#)
    );
    assert_eq!(notifier.stats().filtered, 2);
}
