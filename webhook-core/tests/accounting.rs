//! Stress: 4 producer threads × 50,000 events into a small queue, with permanent and
//! transient failures. At the end every counter adds up exactly.

mod support;

use http::StatusCode;
use serde_json::json;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;
use support::{Scripted, config};
use webhook_core::transport::DeliveryResponse;
use webhook_core::{
    DropReason, EnqueueOutcome, FailureStore, MemoryFailureStore, Notifier, WebhookMessage,
};

const PRODUCERS: usize = 4;
const PER_PRODUCER: usize = 50_000;

fn bucket(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish() % 100
}

#[derive(Default, Debug)]
struct Tally {
    accepted: u64,
    evicting: u64,
    full: u64,
}

#[test]
fn every_accepted_event_is_delivered_failed_or_evicted_and_drops_are_exact() {
    // 10 % fail permanently (400); 20 % fail their first attempt (500) then succeed.
    let fake = Scripted::new(|req, _| {
        let b = bucket(req.webhook_id().unwrap_or_default());
        let status = match b {
            0..=9 => 400,
            10..=29 if req.attempt == 1 => 500,
            _ => 204,
        };
        Ok(DeliveryResponse::new(
            StatusCode::from_u16(status).expect("valid"),
        ))
    });
    let cfg = {
        let mut c = config(json!({
            "queue_capacity": 64, "retry_count": 2, "retry_backoff_ms": 100,
            "max_concurrency": 8, "max_pending_retries": 200,
        }));
        c.retry = c.retry.without_jitter();
        c
    };
    let store = Arc::new(MemoryFailureStore::with_capacity(1_000_000));
    let notifier = Notifier::builder(cfg, fake)
        .store(store.clone())
        .paused_clock()
        .start()
        .expect("starts");
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let n = notifier.clone();
                s.spawn(move || {
                    let mut t = Tally::default();
                    for i in 0..PER_PRODUCER {
                        let m = WebhookMessage::custom("stress", &json!({"p": p, "i": i}))
                            .expect("valid");
                        match n.enqueue(m) {
                            EnqueueOutcome::Accepted => t.accepted += 1,
                            EnqueueOutcome::AcceptedAfterEviction => t.evicting += 1,
                            EnqueueOutcome::Dropped(DropReason::QueueFull) => t.full += 1,
                            other => panic!("unexpected outcome {other:?}"),
                        }
                    }
                    t
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("producer"))
            .collect()
    });
    assert!(
        notifier.wait_idle(Duration::from_secs(3600)),
        "worker drains"
    );
    let stats = notifier.stats();
    let accepted: u64 = tallies.iter().map(|t| t.accepted + t.evicting).sum();
    let evicting: u64 = tallies.iter().map(|t| t.evicting).sum();
    let full: u64 = tallies.iter().map(|t| t.full).sum();
    assert_eq!(
        accepted + full,
        (PRODUCERS * PER_PRODUCER) as u64,
        "every enqueue answered"
    );
    assert_eq!(stats.accepted, accepted, "{stats:?}");
    assert_eq!(
        stats.evicted, evicting,
        "each eviction reported to its producer"
    );
    assert_eq!(stats.dropped.queue_full, full);
    assert_eq!(
        stats.accepted,
        stats.delivered + stats.failed + stats.evicted,
        "{stats:?}"
    );
    assert!(stats.is_idle() && stats.balances());
    assert!(
        stats.failed_by_kind.permanent > 0 && stats.retries > 0,
        "{stats:?}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let stored = rt.block_on(store.count()).expect("count") as u64;
    assert_eq!(stored, stats.failed, "store holds exactly the failures");
    println!("stress: {stats:?}");
}
