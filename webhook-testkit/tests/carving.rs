//! Where the bodies a notifier serializes live: sent from one thread, they are cut back
//! to back from that thread's block, and whatever may hold an event for long (a retry's
//! wait, an outbox) holds a copy of its own, so it keeps no block of other bodies alive.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{Notifier, WebhookEventType, WebhookPayload};
use webhook_testkit::{MemoryOutbox, TestConfig};

/// One delivery attempt as the transport saw it.
#[derive(Clone, Debug)]
struct Attempt {
    webhook_id: String,
    number: u32,
    body: bytes::Bytes,
}

impl Attempt {
    /// Where the body's bytes start.
    fn at(&self) -> usize {
        self.body.as_ptr() as usize
    }

    /// Whether `next`'s body starts where this one's ends: only two slices of one block
    /// do (two allocations are always at least an allocator header apart).
    fn right_before(&self, next: &Attempt) -> bool {
        self.at() + self.body.len() == next.at()
    }
}

/// Answers 500 to the first attempt and 200 to the rest (or 200 to all), and keeps each
/// attempt's body as it came.
#[derive(Debug)]
struct Bodies {
    fail_first: bool,
    seen: Mutex<Vec<Attempt>>,
}

impl Bodies {
    fn new(fail_first: bool) -> Arc<Self> {
        Arc::new(Self {
            fail_first,
            seen: Mutex::default(),
        })
    }

    fn seen(&self) -> Vec<Attempt> {
        self.seen.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl Transport for Bodies {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        let mut seen = self.seen.lock().expect("lock");
        let status = if self.fail_first && seen.is_empty() {
            http::StatusCode::INTERNAL_SERVER_ERROR
        } else {
            http::StatusCode::OK
        };
        seen.push(Attempt {
            webhook_id: request.webhook_id().unwrap_or_default().to_owned(),
            number: request.attempt,
            body: request.body.clone(),
        });
        Ok(DeliveryResponse::new(status))
    }
}

/// Sends tasks `T-1` and `T-2` from a thread of their own (whose block starts empty, so
/// carved bodies share it), then waits until both are settled.
fn send_two_from_a_fresh_thread(notifier: &Notifier) {
    let sender = notifier.clone();
    std::thread::spawn(move || {
        for id in ["T-1", "T-2"] {
            let payload = WebhookPayload::new(WebhookEventType::TaskFailed).task_id(id);
            assert!(sender.send(&payload).is_accepted());
        }
    })
    .join()
    .expect("no panic");
    assert!(notifier.wait_idle(Duration::from_secs(10)));
}

#[test]
fn a_body_waiting_for_a_retry_is_copied_out_of_its_block() {
    let transport = Bodies::new(true);
    let config = TestConfig::default()
        .edit(|c| c.retry_count = Some(1))
        .resolve()
        .expect("config");
    // The retry's backoff passes on the worker's paused clock, in no real time.
    let notifier = Notifier::builder(config, transport.clone())
        .paused_clock()
        .start()
        .expect("starts");
    send_two_from_a_fresh_thread(&notifier);
    // The retry may come before or after the other event's attempt.
    let seen = transport.seen();
    let failed = &seen[0].webhook_id;
    let find = |retried: bool, number: u32| {
        seen.iter()
            .find(|a| (&a.webhook_id == failed) == retried && a.number == number)
            .unwrap_or_else(|| panic!("attempt {number} (retried: {retried}) in {seen:?}"))
    };
    let (first, retried, other) = (find(true, 1), find(true, 2), find(false, 1));
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        first.right_before(other) || other.right_before(first),
        "the sent bodies share a block"
    );
    assert_eq!(retried.body, first.body);
    assert_ne!(retried.at(), first.at(), "the retried body was copied out");
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.failed), (2, 0));
}

#[test]
fn bodies_handed_to_an_outbox_have_allocations_of_their_own() {
    // An outbox may keep the body it is given until the entry is delivered (this one
    // does, and hands the same bytes back), so such bodies are never carved.
    let transport = Bodies::new(false);
    let config = TestConfig::default()
        .edit(|c| c.commit_linger_ms = Some(0))
        .resolve()
        .expect("config");
    let notifier = Notifier::builder(config, transport.clone())
        .outbox(Arc::new(MemoryOutbox::new()))
        .start()
        .expect("starts");
    send_two_from_a_fresh_thread(&notifier);
    let mut seen = transport.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    seen.sort_unstable_by_key(Attempt::at);
    assert!(
        !seen[0].right_before(&seen[1]),
        "the two bodies share a block"
    );
    assert_eq!(notifier.stats().delivered, 2);
}
