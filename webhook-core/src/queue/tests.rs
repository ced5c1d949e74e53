//! The bounded queue on its own: admission, eviction and the `block_with_timeout` wait,
//! with the producers' waits observed directly.

use super::{BoundedQueue, PushResult};
use crate::accounting::Ledger;
use crate::event::WebhookMessage;
use crate::queue::{FullQueue, FullQueueAction, QueuePolicy, QueuedEvent, WebhookQueuePolicy};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn event(n: usize) -> QueuedEvent {
    let message = WebhookMessage::custom("numbered", &serde_json::json!({ "n": n }))
        .expect("a valid message");
    QueuedEvent::new(message)
}

fn number(event: &QueuedEvent) -> u64 {
    let body: serde_json::Value =
        serde_json::from_slice(event.message.body()).expect("the body is JSON");
    body["n"].as_u64().expect("numbered")
}

fn queue(capacity: usize, policy: WebhookQueuePolicy, wait: Duration) -> Arc<BoundedQueue> {
    Arc::new(BoundedQueue::new(
        capacity,
        Arc::new(policy),
        wait,
        Arc::new(Ledger::default()),
    ))
}

/// Fills `q` to capacity with events numbered from 0.
fn fill(q: &BoundedQueue) {
    for n in 0..q.capacity() {
        assert_eq!(q.push(event(n)), PushResult::Accepted);
    }
    assert_eq!(q.len(), q.capacity());
}

/// Waits (without sleeping) until a producer is blocked in the queue's wait; fails
/// after `limit`. A producer counts itself as waiting under the lock and keeps the lock
/// until it waits, so once this returns the next `pop` is what wakes it.
fn until_a_producer_waits(q: &BoundedQueue, limit: Duration) {
    let started = Instant::now();
    while q.waiting_producers.load(Ordering::SeqCst) == 0 {
        assert!(started.elapsed() < limit, "no producer started waiting");
        std::thread::yield_now();
    }
}

/// A producer thread blocked in the queue's wait with event `n`.
struct Blocked {
    outcome: std::sync::mpsc::Receiver<PushResult>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts a producer that pushes event `n` into the full `q`, and returns once it waits.
fn blocked_producer(q: &Arc<BoundedQueue>, n: usize) -> Blocked {
    let (done, outcome) = std::sync::mpsc::channel();
    let thread = {
        let q = q.clone();
        std::thread::spawn(move || {
            let _ = done.send(q.push(event(n)));
        })
    };
    until_a_producer_waits(q, Duration::from_secs(10));
    Blocked { outcome, thread }
}

impl Blocked {
    /// What the push came to (bounded wait), once the thread has ended.
    fn result(self, why: &str) -> PushResult {
        let result = self
            .outcome
            .recv_timeout(Duration::from_secs(20))
            .expect(why);
        self.thread.join().expect("the producer thread ends");
        result
    }
}

#[test]
fn a_blocked_producer_is_admitted_as_soon_as_a_slot_frees() {
    let bound = Duration::from_secs(60);
    let q = queue(2, WebhookQueuePolicy::BlockWithTimeout, bound);
    fill(&q);
    let (done, outcome) = std::sync::mpsc::channel();
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let result = q.push(event(2));
            let _ = done.send((result, started.elapsed()));
        })
    };
    until_a_producer_waits(&q, Duration::from_secs(10));
    let first = q.pop().expect("the queue is full");
    assert_eq!(number(&first), 0);
    let (result, waited) = outcome
        .recv_timeout(Duration::from_secs(20))
        .expect("the producer is woken when the slot frees, long before its 60 s bound");
    assert_eq!(result, PushResult::Accepted);
    assert!(waited < Duration::from_secs(20), "waited {waited:?}");
    producer.join().expect("the producer thread ends");
    assert_eq!(q.waiting_producers.load(Ordering::SeqCst), 0);
    let rest: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|e| number(&e)).collect();
    assert_eq!(
        rest,
        [1, 2],
        "the admitted event is queued behind the others"
    );
}

#[test]
fn a_blocked_producer_is_admitted_when_a_batch_is_taken_for_the_outbox() {
    let q = queue(
        2,
        WebhookQueuePolicy::BlockWithTimeout,
        Duration::from_secs(60),
    );
    fill(&q);
    let producer = blocked_producer(&q, 2);
    let batch: Vec<u64> = q.pop_batch(5).iter().map(number).collect();
    assert_eq!(batch, [0, 1]);
    assert_eq!(
        producer.result("the producer is woken when a batch frees slots"),
        PushResult::Accepted
    );
    assert_eq!(q.len(), 1);
}

#[test]
fn an_empty_batch_takes_nothing_and_counts_nothing() {
    let q = queue(2, WebhookQueuePolicy::DropNew, Duration::ZERO);
    assert!(q.pop_batch(5).is_empty());
    assert_eq!(q.push(event(0)), PushResult::Accepted);
    assert_eq!(q.pop_batch(0).len(), 0);
    assert_eq!(q.len(), 1);
    let s = q.ledger.snapshot();
    assert_eq!((s.accepted, s.queued), (1, 1));
}

#[test]
fn a_blocked_producer_waits_its_whole_bound_then_times_out() {
    let bound = Duration::from_millis(150);
    let q = queue(1, WebhookQueuePolicy::BlockWithTimeout, bound);
    fill(&q);
    let started = Instant::now();
    assert_eq!(q.push(event(1)), PushResult::TimedOut);
    let waited = started.elapsed();
    assert!(
        waited >= bound,
        "gave up after {waited:?}, before its bound"
    );
    assert_eq!(q.waiting_producers.load(Ordering::SeqCst), 0);
    assert_eq!(q.len(), 1);
}

#[test]
fn closing_wakes_a_blocked_producer_and_refuses_it() {
    let q = queue(
        1,
        WebhookQueuePolicy::BlockWithTimeout,
        Duration::from_secs(60),
    );
    fill(&q);
    let producer = blocked_producer(&q, 1);
    q.close();
    assert_eq!(
        producer.result("closing wakes the producer"),
        PushResult::Closed
    );
    assert!(q.is_closed());
    assert_eq!(q.push(event(2)), PushResult::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_async_producer_is_admitted_when_a_slot_frees_without_waiting_its_bound() {
    let bound = Duration::from_secs(60);
    let q = queue(1, WebhookQueuePolicy::BlockWithTimeout, bound);
    fill(&q);
    let started = tokio::time::Instant::now();
    let producer = {
        let q = q.clone();
        tokio::spawn(async move { q.push_async(event(1)).await })
    };
    // The producer runs until it awaits room (a current-thread runtime).
    tokio::task::yield_now().await;
    assert_eq!(q.waiting_producers.load(Ordering::SeqCst), 1);
    assert_eq!(number(&q.pop().expect("full")), 0);
    let result = producer.await.expect("the producer task ends");
    assert_eq!(result, PushResult::Accepted);
    assert_eq!(
        tokio::time::Instant::now() - started,
        Duration::ZERO,
        "admitted at once, not at its bound"
    );
    assert_eq!(q.waiting_producers.load(Ordering::SeqCst), 0);
    assert_eq!(number(&q.pop().expect("admitted")), 1);
}

#[tokio::test(start_paused = true)]
async fn an_async_producer_waits_its_whole_bound_then_times_out() {
    let bound = Duration::from_secs(60);
    let q = queue(1, WebhookQueuePolicy::BlockWithTimeout, bound);
    fill(&q);
    let started = tokio::time::Instant::now();
    assert_eq!(q.push_async(event(1)).await, PushResult::TimedOut);
    assert_eq!(tokio::time::Instant::now() - started, bound);
    assert_eq!(q.waiting_producers.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn closing_wakes_an_async_producer_and_refuses_it() {
    let q = queue(
        1,
        WebhookQueuePolicy::BlockWithTimeout,
        Duration::from_secs(60),
    );
    fill(&q);
    let started = tokio::time::Instant::now();
    let producer = {
        let q = q.clone();
        tokio::spawn(async move { q.push_async(event(1)).await })
    };
    tokio::task::yield_now().await;
    q.close();
    assert_eq!(producer.await.expect("ends"), PushResult::Closed);
    assert_eq!(tokio::time::Instant::now() - started, Duration::ZERO);
}

#[test]
fn replays_never_evict_and_are_refused_on_a_full_queue() {
    let q = queue(2, WebhookQueuePolicy::DropOldest, Duration::ZERO);
    assert_eq!(q.push_if_room(event(0)), PushResult::Accepted);
    assert_eq!(q.push_if_room(event(1)), PushResult::Accepted);
    assert_eq!(q.push_if_room(event(2)), PushResult::Full);
    let s = q.ledger.snapshot();
    assert_eq!((s.accepted, s.evicted, s.queued), (2, 0, 2));
}

/// Evicts whatever position it was built with.
#[derive(Debug)]
struct EvictAt(usize);

impl QueuePolicy for EvictAt {
    fn on_full(&self, _queue: &FullQueue<'_>) -> FullQueueAction {
        FullQueueAction::Evict(self.0)
    }
}

#[test]
fn evict_removes_exactly_the_chosen_position_and_a_position_past_the_end_drops() {
    for (at, expected) in [
        (0, Some(vec![1, 2, 3])),
        (2, Some(vec![0, 1, 3])),
        (3, None),
    ] {
        let ledger = Arc::new(Ledger::default());
        let q = BoundedQueue::new(3, Arc::new(EvictAt(at)), Duration::ZERO, ledger.clone());
        fill(&q);
        let result = q.push(event(3));
        let s = ledger.snapshot();
        match expected {
            Some(order) => {
                assert_eq!(result, PushResult::AcceptedAfterEviction, "evict {at}");
                assert_eq!((s.accepted, s.evicted, s.queued), (4, 1, 3), "evict {at}");
                let left: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|e| number(&e)).collect();
                assert_eq!(left, order, "evict {at}");
            }
            None => {
                assert_eq!(result, PushResult::Full, "evict {at}");
                assert_eq!((s.accepted, s.evicted, s.queued), (3, 0, 3), "evict {at}");
            }
        }
    }
}

#[test]
fn draining_takes_everything_in_order_and_counts_it_in_flight() {
    let q = queue(3, WebhookQueuePolicy::DropNew, Duration::ZERO);
    fill(&q);
    let drained: Vec<u64> = q.drain().iter().map(number).collect();
    assert_eq!(drained, [0, 1, 2]);
    let s = q.ledger.snapshot();
    assert_eq!((s.queued, s.in_flight), (0, 3));
    assert_eq!(q.len(), 0);
    assert!(!q.is_closed());
}

#[test]
fn the_debug_form_shows_capacity_and_length() {
    let q = queue(3, WebhookQueuePolicy::DropNew, Duration::ZERO);
    assert_eq!(q.push(event(0)), PushResult::Accepted);
    assert_eq!(format!("{q:?}"), "BoundedQueue { capacity: 3, len: 1 }");
}

#[test]
fn the_policies_have_their_configuration_names_and_actions() {
    let incoming = event(9);
    let queued: std::collections::VecDeque<QueuedEvent> = (0..2).map(event).collect();
    let view = FullQueue {
        incoming: &incoming,
        queued: &queued,
        configured_wait: Duration::from_millis(7),
    };
    assert_eq!((view.len(), view.is_empty()), (2, false));
    assert_eq!(number(view.incoming()), 9);
    assert_eq!(view.queued().map(number).collect::<Vec<_>>(), [0, 1]);
    let cases = [
        (
            WebhookQueuePolicy::DropOldest,
            "drop_oldest",
            FullQueueAction::EvictOldest,
        ),
        (
            WebhookQueuePolicy::DropNew,
            "drop_new",
            FullQueueAction::DropIncoming,
        ),
        (
            WebhookQueuePolicy::BlockWithTimeout,
            "block_with_timeout",
            FullQueueAction::Wait(Duration::from_millis(7)),
        ),
    ];
    for (policy, name, action) in cases {
        assert_eq!(policy.as_str(), name);
        assert_eq!(policy.to_string(), name);
        assert_eq!(policy.on_full(&view), action, "{name}");
    }
    let nothing = std::collections::VecDeque::new();
    let empty = FullQueue {
        incoming: &incoming,
        queued: &nothing,
        configured_wait: Duration::ZERO,
    };
    assert_eq!((empty.len(), empty.is_empty()), (0, true));
}

#[tokio::test(start_paused = true)]
async fn a_producer_admitted_after_waiting_wakes_the_idle_worker() {
    let q = queue(
        1,
        WebhookQueuePolicy::BlockWithTimeout,
        Duration::from_secs(60),
    );
    fill(&q);
    // The worker takes the wake-up the first event left and finds the queue empty.
    q.ready().await;
    let producer = blocked_producer(&q, 1);
    assert_eq!(number(&q.pop().expect("full")), 0);
    assert_eq!(
        producer.result("the producer is admitted"),
        PushResult::Accepted
    );
    // A worker that waits now must be woken for the admitted event.
    assert!(
        tokio::time::timeout(Duration::from_secs(60), q.ready())
            .await
            .is_ok(),
        "the admitted event never woke the worker"
    );
    assert_eq!(number(&q.pop().expect("admitted")), 1);
}

#[tokio::test(start_paused = true)]
async fn an_async_producer_admitted_after_waiting_wakes_the_idle_worker() {
    let q = queue(
        1,
        WebhookQueuePolicy::BlockWithTimeout,
        Duration::from_secs(60),
    );
    fill(&q);
    q.ready().await;
    let producer = {
        let q = q.clone();
        tokio::spawn(async move { q.push_async(event(1)).await })
    };
    tokio::task::yield_now().await;
    assert_eq!(number(&q.pop().expect("full")), 0);
    assert_eq!(producer.await.expect("ends"), PushResult::Accepted);
    assert!(
        tokio::time::timeout(Duration::from_secs(60), q.ready())
            .await
            .is_ok(),
        "the admitted event never woke the worker"
    );
}

#[tokio::test(start_paused = true)]
async fn the_worker_keeps_waiting_while_nothing_is_queued() {
    let q = queue(1, WebhookQueuePolicy::DropNew, Duration::ZERO);
    assert!(
        tokio::time::timeout(Duration::from_secs(60), q.ready())
            .await
            .is_err(),
        "woken with nothing queued"
    );
    assert_eq!(q.push(event(0)), PushResult::Accepted);
    assert!(
        tokio::time::timeout(Duration::from_secs(60), q.ready())
            .await
            .is_ok()
    );
}

#[test]
fn stamps_are_the_latest_reading_and_one_enqueue_in_64_reads_the_clock() {
    let q = queue(1000, WebhookQueuePolicy::DropNew, Duration::ZERO);
    let read = q.stamps.read();
    // A reading is published only when it is a grain past the published one.
    let published = q.stamps.latest();
    assert!(published <= read && read - published < super::STAMP_GRAIN_NS);
    for _ in 0..super::READ_EVERY - 1 {
        assert_eq!(q.push(event(0)), PushResult::Accepted);
    }
    assert_eq!(q.stamps.latest(), published, "no enqueue read the clock");
    let before = q.stamps.origin.elapsed().as_nanos() as u64;
    q.push(event(0));
    let stamps: Vec<u64> = q.lock().items.iter().map(|e| e.enqueued_at).collect();
    assert!(stamps[..63].iter().all(|s| *s == published));
    assert!(stamps[63] >= before, "the 64th enqueue read the clock");
}

#[test]
fn a_reading_a_grain_past_the_published_one_is_published() {
    let q = queue(10, WebhookQueuePolicy::DropNew, Duration::ZERO);
    let published = q.stamps.latest();
    let due = published + super::STAMP_GRAIN_NS;
    // Wait for the clock to pass the grain (bounded: a grain is 100 µs).
    let started = Instant::now();
    while (q.stamps.origin.elapsed().as_nanos() as u64) < due {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the clock stood still"
        );
        std::hint::spin_loop();
    }
    let read = q.stamps.read();
    assert!(read >= due);
    assert_eq!(
        q.stamps.latest(),
        read,
        "a reading past the grain is published"
    );
    let again = q.stamps.read();
    let latest = q.stamps.latest();
    // Published only if that reading was a grain past (a preempted test may get there).
    let expected = if again >= read + super::STAMP_GRAIN_NS {
        again
    } else {
        read
    };
    assert_eq!(latest, expected, "one within the grain is not published");
}

#[test]
fn the_oldest_age_is_never_less_than_the_true_wait() {
    let q = queue(1000, WebhookQueuePolicy::DropNew, Duration::ZERO);
    assert_eq!(q.oldest_age(), None);
    q.push(event(0));
    let pushed = Instant::now();
    q.push(event(0));
    let at_least = pushed.elapsed();
    let age = q.oldest_age().expect("queued");
    assert!(age >= at_least, "{age:?} < {at_least:?}");
    q.pop();
    q.pop();
    assert_eq!(q.oldest_age(), None);
}

/// What a policy was shown: the configured wait, the queued events counted one by one,
/// `len`, `is_empty`, and whether the incoming event is a replay.
type Shown = (Duration, usize, usize, bool, bool);

/// Remembers what a full queue showed it, and drops the incoming event.
#[derive(Debug, Default)]
struct Remembers(std::sync::Mutex<Vec<Shown>>);

impl QueuePolicy for Remembers {
    fn on_full(&self, full: &FullQueue<'_>) -> FullQueueAction {
        let seen = (
            full.configured_wait(),
            full.queued().count(),
            full.len(),
            full.is_empty(),
            full.incoming().is_replay(),
        );
        self.0.lock().expect("not poisoned").push(seen);
        FullQueueAction::DropIncoming
    }
}

#[test]
fn a_policy_is_shown_the_configured_wait_the_queue_and_the_incoming_event() {
    let policy = Arc::new(Remembers::default());
    let q = BoundedQueue::new(
        3,
        policy.clone(),
        Duration::from_millis(123),
        Arc::new(Ledger::default()),
    );
    fill(&q);
    assert_eq!(q.push(event(9)), PushResult::Full);
    let seen = policy.0.lock().expect("not poisoned").clone();
    assert_eq!(seen, [(Duration::from_millis(123), 3, 3, false, false)]);
}
