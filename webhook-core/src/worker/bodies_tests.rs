//! The worker gives delivered bodies' buffers back, and `send` reuses them.

use super::Notifier;
use crate::event::{IDLE_HELD, WebhookEventType, WebhookMessage, WebhookPayload};
use crate::store::{FailureStore, MemoryFailureStore, RecordFilter};
use crate::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use crate::{ResolvedWebhookConfig, WebhookConfig};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(10);

/// Answers every attempt with `status` once the gate lets it; with `keep`, holds on to
/// every body it was sent.
#[derive(Debug)]
struct Answers {
    status: u16,
    keep: Option<Mutex<Vec<Bytes>>>,
    gate: tokio::sync::Semaphore,
}

impl Answers {
    fn new(status: u16, keep: bool, open: bool) -> Arc<Self> {
        let permits = if open {
            tokio::sync::Semaphore::MAX_PERMITS
        } else {
            0
        };
        Arc::new(Self {
            status,
            keep: keep.then(|| Mutex::new(Vec::new())),
            gate: tokio::sync::Semaphore::new(permits),
        })
    }
}

#[async_trait]
impl Transport for Answers {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        // The gate is never closed; the permit is given back when the attempt ends.
        let _pass = self.gate.acquire().await;
        if let Some(kept) = &self.keep {
            kept.lock().expect("lock").push(request.body.clone());
        }
        let status = http::StatusCode::from_u16(self.status).expect("a valid status");
        Ok(DeliveryResponse::new(status))
    }
}

fn config() -> ResolvedWebhookConfig {
    WebhookConfig::from_json_str(
        r#"{"enabled": true, "url": "https://hooks.example.com/hook", "events": ["*"],
            "secret": "whsec-bodies-test", "max_concurrency": 2}"#,
    )
    .expect("parses")
    .resolve()
    .expect("valid")
}

fn payload(i: usize) -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id(format!("RQ-{i:04}"))
        .note("a note long enough to make the body a few hundred bytes long")
}

/// Sends `n` payloads, opens `transport`'s gate, waits until they are settled, and
/// stops the worker (its thread is joined, so every delivery has finished, buffer
/// returns included).
fn send_all(notifier: &Notifier, transport: &Answers, n: usize) {
    for i in 0..n {
        assert_eq!(notifier.send(&payload(i)), crate::EnqueueOutcome::Accepted);
    }
    transport.gate.add_permits(n);
    assert!(notifier.wait_idle(BOUND), "settled in time");
    let report = notifier.shutdown(BOUND);
    assert_eq!(report.unfinished, 0);
}

#[test]
fn delivered_bodies_come_back_and_later_bodies_are_written_into_them() {
    // Nothing is delivered until all are made, so each has a buffer of its own.
    let transport = Answers::new(204, false, false);
    let notifier = Notifier::builder(config(), transport.clone())
        .start()
        .expect("starts");
    send_all(&notifier, &transport, 12);
    assert_eq!(notifier.stats().delivered, 12);
    let pool = &notifier.inner.engine.bodies;
    assert_eq!(pool.len(), 12, "every delivered body's buffer is back");
    assert!(pool.held() <= IDLE_HELD);

    // A body made from the pool is the same bytes as one made afresh.
    let p = payload(7);
    let seed = Some(WebhookEventType::TaskCompleted);
    let fresh = WebhookMessage::from_seed_payload(&p, seed, None).expect("serializes");
    let reused = WebhookMessage::from_seed_payload(&p, seed, Some(pool)).expect("serializes");
    assert_eq!(pool.len(), 11, "one buffer taken");
    assert_eq!(reused.body(), fresh.body());
    assert_eq!(reused.task_id(), Some("RQ-0007"));
}

#[test]
fn bodies_held_elsewhere_are_never_reused() {
    let transport = Answers::new(204, true, false);
    let notifier = Notifier::builder(config(), transport.clone())
        .start()
        .expect("starts");
    send_all(&notifier, &transport, 8);
    assert_eq!(
        notifier.inner.engine.bodies.len(),
        0,
        "the transport holds them"
    );
    let kept = transport
        .keep
        .as_ref()
        .expect("kept")
        .lock()
        .expect("lock")
        .clone();
    assert_eq!(kept.len(), 8);
    for body in kept {
        let json: serde_json::Value = serde_json::from_slice(&body).expect("intact JSON");
        assert_eq!(json["event"], "task_completed");
    }
}

#[test]
fn failed_bodies_are_stored_whole_and_their_buffers_reused() {
    let store = Arc::new(MemoryFailureStore::new());
    let transport = Answers::new(400, false, true);
    let notifier = Notifier::builder(config(), transport)
        .store(store.clone())
        .start()
        .expect("starts");
    // Two rounds, so the second round's bodies are written into the first round's
    // buffers after those were stored.
    for i in 0..6 {
        assert_eq!(notifier.send(&payload(i)), crate::EnqueueOutcome::Accepted);
    }
    assert!(notifier.wait_idle(BOUND));
    for i in 6..12 {
        assert_eq!(notifier.send(&payload(i)), crate::EnqueueOutcome::Accepted);
    }
    assert!(notifier.wait_idle(BOUND));
    assert_eq!(notifier.shutdown(BOUND).unfinished, 0);
    assert_eq!(notifier.stats().failed, 12);
    assert!(
        notifier.inner.engine.bodies.len() > 0,
        "recorded bodies come back"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let records = runtime
        .block_on(store.list(&RecordFilter::default()))
        .expect("lists");
    let mut tasks: Vec<String> = records
        .iter()
        .map(|r| {
            let json: serde_json::Value = serde_json::from_str(r.payload.get()).expect("JSON");
            assert_eq!(json["task_id"].as_str(), r.task_id.as_deref());
            json["task_id"].as_str().expect("a task id").to_owned()
        })
        .collect();
    tasks.sort();
    let expected: Vec<String> = (0..12).map(|i| format!("RQ-{i:04}")).collect();
    assert_eq!(tasks, expected);
}
