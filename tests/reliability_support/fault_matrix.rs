//! The fault plan: what the receiver does with each webhook id, a run of it through a
//! notifier, and what the run must show.

use super::{all_records, message, transport};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook_core::store::{FailureKind, FailureRecord, FailureStore};
use webhook_core::{
    DeliveryStats, Notifier, ResolvedWebhookConfig, WebhookConfig, WebhookQueuePolicy,
};
use webhook_testkit::{Reply, Script, TestReceiver};

/// What the receiver does with one webhook id, for its whole life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Fault {
    /// 200 at once.
    Ok,
    /// One 500, then 200.
    ServerErrorOnce,
    /// 500 to every attempt.
    ServerErrorAlways,
    /// One attempt left unanswered past the timeout, then 200.
    HangOnce,
    /// Every attempt left unanswered.
    HangAlways,
    /// One connection closed without an answer, then 200.
    ResetOnce,
    /// Every connection closed without an answer.
    ResetAlways,
    /// One 429 with `Retry-After: 1`, then 200.
    Throttled,
}

/// How long a throttled webhook is told to wait.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Fault {
    /// The fault of the `i`th event. Every 100 consecutive indices hold each bucket
    /// once (37 is prime to 100), so the mix is exact for multiples of 100:
    /// 30 % 500s (20 + 10), 10 % hangs (9 + 1), 5 % resets (4 + 1), 5 % 429, 50 % 2xx.
    pub(crate) fn for_index(i: usize) -> Self {
        match (i * 37) % 100 {
            0..20 => Self::ServerErrorOnce,
            20..30 => Self::ServerErrorAlways,
            30..39 => Self::HangOnce,
            39..40 => Self::HangAlways,
            40..44 => Self::ResetOnce,
            44..45 => Self::ResetAlways,
            45..50 => Self::Throttled,
            _ => Self::Ok,
        }
    }

    /// The receiver's script for it.
    pub(crate) fn script(self) -> Script {
        match self {
            Self::Ok => Script::always(Reply::ok()),
            Self::ServerErrorOnce => Script::fail_then_succeed(1, 500),
            Self::ServerErrorAlways => Script::always(Reply::status(500)),
            Self::HangOnce => Script::sequence([Reply::no_answer()]),
            Self::HangAlways => Script::always(Reply::no_answer()),
            Self::ResetOnce => Script::sequence([Reply::close()]),
            Self::ResetAlways => Script::always(Reply::close()),
            Self::Throttled => Script::sequence([Reply::status(429).retry_after(RETRY_AFTER)]),
        }
    }

    /// Whether no attempt can ever get a 2xx.
    pub(crate) fn never_succeeds(self) -> bool {
        matches!(
            self,
            Self::ServerErrorAlways | Self::HangAlways | Self::ResetAlways
        )
    }
}

/// The fault-matrix settings on top of `base`: 1 s timeout, 2 retries 100 ms apart,
/// a 10,000-slot queue that makes producers wait (never drops), 256 deliveries at once,
/// room for every retry to wait.
pub(crate) fn matrix_config(base: WebhookConfig) -> WebhookConfig {
    WebhookConfig {
        timeout_secs: Some(1),
        retry_count: Some(2),
        retry_backoff_ms: Some(100),
        queue_capacity: Some(10_000),
        queue_policy: Some(WebhookQueuePolicy::BlockWithTimeout),
        block_timeout_ms: Some(60_000),
        max_concurrency: Some(256),
        max_pending_retries: Some(100_000),
        ..base
    }
}

/// Attempts one event may get under [`matrix_config`].
pub(crate) const MATRIX_ATTEMPTS: usize = 3;

/// What a fault-matrix run left behind.
pub(crate) struct MatrixRun {
    /// The notifier (still running, idle).
    pub(crate) notifier: Notifier,
    /// Every event's webhook id and fault, in enqueue order.
    pub(crate) events: Vec<(String, Fault)>,
    /// The counters once idle.
    pub(crate) stats: DeliveryStats,
    /// Every record in the store.
    pub(crate) records: Vec<FailureRecord>,
    /// Requests per webhook id.
    pub(crate) requests: HashMap<String, usize>,
    /// 2xx answers per webhook id.
    pub(crate) successes: HashMap<String, usize>,
    /// From the first enqueue until idle.
    pub(crate) elapsed: Duration,
}

/// Scripts each of `events` messages' ids at `receiver`, enqueues them all (waiting for
/// room, never dropping), waits until idle, and collects what happened.
pub(crate) async fn run_fault_matrix(
    receiver: &TestReceiver,
    config: ResolvedWebhookConfig,
    store: Arc<dyn FailureStore>,
    events: usize,
) -> MatrixRun {
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .store(store.clone())
        .store_timeout(Duration::from_secs(30))
        .jitter_seed(7)
        .start()
        .expect("notifier starts");
    let started = Instant::now();
    let mut planned = Vec::with_capacity(events);
    for i in 0..events {
        let fault = Fault::for_index(i);
        let message = message(i);
        let id = message.id().as_str().to_owned();
        receiver.script_for(&id, fault.script());
        let outcome = notifier.enqueue_async(message).await;
        assert!(outcome.is_accepted(), "event {i} was {outcome}");
        planned.push((id, fault));
    }
    assert!(
        notifier.wait_idle_async(Duration::from_secs(120)).await,
        "not idle in time: {:?}",
        notifier.stats()
    );
    let elapsed = started.elapsed();
    let stats = notifier.stats();
    let records = all_records(store.as_ref()).await;
    let mut requests = HashMap::new();
    for request in receiver.requests() {
        let id = request.webhook_id().unwrap_or_default().to_owned();
        *requests.entry(id).or_insert(0) += 1;
    }
    let mut successes = HashMap::new();
    for request in receiver.deliveries() {
        let id = request.webhook_id().unwrap_or_default().to_owned();
        *successes.entry(id).or_insert(0) += 1;
    }
    MatrixRun {
        notifier,
        events: planned,
        stats,
        records,
        requests,
        successes,
        elapsed,
    }
}

impl MatrixRun {
    /// Asserts what the fault matrix must show: the accounting identity holds exactly,
    /// every event was delivered (a 2xx at the receiver) or is in the store, no id got
    /// more requests than its attempts allow, and the hopeless ones are all stored.
    pub(crate) fn assert_nothing_lost(&self) {
        let total = self.events.len() as u64;
        let s = &self.stats;
        assert!(s.balances(), "identity broken: {s:?}");
        assert!(s.is_idle(), "not idle: {s:?}");
        assert_eq!(s.accepted, total, "{s:?}");
        assert_eq!(s.dropped_total, 0, "{s:?}");
        assert_eq!(s.evicted, 0, "{s:?}");
        assert_eq!(s.delivered + s.failed + s.evicted, s.accepted, "{s:?}");
        assert_eq!(s.store_errors, 0, "{s:?}");

        let stored: HashSet<&str> = self.records.iter().map(|r| r.webhook_id.as_str()).collect();
        assert_eq!(stored.len(), self.records.len(), "one record per event");
        assert_eq!(self.records.len() as u64, s.failed, "{s:?}");
        let mut delivered = 0u64;
        for (id, fault) in &self.events {
            let answered = self.successes.get(id).copied().unwrap_or(0);
            let requests = self.requests.get(id).copied().unwrap_or(0);
            let in_store = stored.contains(id.as_str());
            assert!(
                answered > 0 || in_store,
                "{id} ({fault:?}) neither delivered nor stored"
            );
            assert!(
                requests <= MATRIX_ATTEMPTS,
                "{id} ({fault:?}) got {requests} requests"
            );
            assert!(answered <= requests, "{id}: {answered} 2xx of {requests}");
            if fault.never_succeeds() {
                assert!(
                    in_store,
                    "{id} ({fault:?}) never answered 2xx yet not stored"
                );
            }
            if !in_store {
                delivered += 1;
            }
        }
        assert_eq!(delivered, s.delivered, "{s:?}");
        let faults: HashMap<&str, Fault> = self
            .events
            .iter()
            .map(|(id, f)| (id.as_str(), *f))
            .collect();
        for record in &self.records {
            assert_eq!(record.outcome, FailureKind::Exhausted, "{record:?}");
            assert_eq!(record.attempts as usize, MATRIX_ATTEMPTS, "{record:?}");
            let fault = faults[record.webhook_id.as_str()];
            if !fault.never_succeeds() {
                // Its 2xx came too late three times: the last error is a timeout.
                assert!(record.error.contains("within"), "{fault:?}: {record:?}");
            }
        }
    }

    /// Ids whose 2xx answer came too late: answered 2xx at the receiver yet stored, or
    /// answered 2xx twice. A 2xx the client had stopped waiting for (the attempt timed
    /// out first) is only possible when the machine stalls past the 1 s timeout.
    pub(crate) fn late_answers(&self) -> Vec<&str> {
        let stored: HashSet<&str> = self.records.iter().map(|r| r.webhook_id.as_str()).collect();
        self.successes
            .iter()
            .filter(|(id, n)| **n > 1 || stored.contains(id.as_str()))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Attempts the worker made that the receiver never saw (their connection was not
    /// accepted within the timeout: the receiver's listen backlog overflowed).
    pub(crate) fn unseen_attempts(&self) -> u64 {
        let seen: usize = self.requests.values().sum();
        self.stats.attempts.saturating_sub(seen as u64)
    }

    /// How many events had `fault`.
    pub(crate) fn count(&self, fault: Fault) -> usize {
        self.events.iter().filter(|(_, f)| *f == fault).count()
    }
}
