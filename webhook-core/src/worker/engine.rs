//! The engine: the parts one worker is made of, each owned by the module that changes it.

use super::clock::WallClock;
use super::lifecycle::Lifecycle;
use super::request::RequestFactory;
use crate::accounting::{Activity, Ledger};
use crate::config::ResolvedWebhookConfig;
use crate::observe::{Figures, Hub};
use crate::queue::{BoundedQueue, PushResult, QueuedEvent};
use crate::redact::Redactor;
use crate::retry::{JitterSource, RetrySchedule};
use crate::store::FailureStore;
use crate::transport::Transport;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// What a worker is made of. Each part has one owner: the [`Ledger`] the counters, the
/// queue its events, [`Lifecycle`] the phase, [`RequestFactory`] the headers and
/// signing, [`Retries`] the schedule, [`Redactor`] what may be shown.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) config: ResolvedWebhookConfig,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) queue: BoundedQueue,
    /// `drop_oldest`, `drop_new`, `block_with_timeout` or `custom`.
    pub(crate) policy_name: String,
    pub(crate) plugs: Plugs,
    /// Delivery slots: `max_concurrency` attempts at once.
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) requests: RequestFactory,
    pub(crate) retries: Retries,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) redactor: Redactor,
    pub(crate) clock: WallClock,
    /// The observer's hand-off, the attempt spans and the metrics.
    pub(crate) observe: Hub,
}

/// The transport and the store, with what the worker learned about them once.
#[derive(Debug)]
pub(crate) struct Plugs {
    pub(crate) transport: Arc<dyn Transport>,
    /// [`Transport::enforces_timeout`], asked once.
    pub(crate) transport_bounds_itself: bool,
    pub(crate) store: Arc<dyn FailureStore>,
    /// Bound on each store call.
    pub(crate) store_timeout: Duration,
}

/// The retry schedule, its jitter, and how many retries may wait at once.
#[derive(Debug)]
pub(crate) struct Retries {
    schedule: RetrySchedule,
    jitter: Mutex<JitterSource>,
    pub(crate) max_waiting: u64,
}

impl Retries {
    pub(crate) fn new(schedule: RetrySchedule, jitter: JitterSource, max_waiting: usize) -> Self {
        Self {
            schedule,
            jitter: Mutex::new(jitter),
            max_waiting: max_waiting as u64,
        }
    }

    /// The wait before retry `retry` (1-based), or `None` when retries are used up.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let unit = if self.schedule.has_jitter() {
            self.jitter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .next_unit()
        } else {
            0.0
        };
        self.schedule.delay(retry, retry_after, unit)
    }
}

impl Engine {
    /// What is pending now and how old the oldest is (the gauges' figures).
    ///
    /// The one place these figures are computed: a durable outbox adds its own pending
    /// count and oldest age here (the older of the two ages is reported).
    pub(crate) fn figures(&self) -> Figures {
        let stats = self.ledger.snapshot();
        let oldest = self.queue.oldest_age();
        Figures::new(
            stats.queued,
            stats.in_flight,
            stats.waiting_retries,
            None,
            oldest,
        )
    }

    /// Offers a replayed event without evicting anything.
    pub(crate) fn push_replay(&self, event: QueuedEvent) -> bool {
        let ok = self.queue.push_if_room(event) == PushResult::Accepted;
        if ok {
            self.ledger.note(Activity::ReplayEnqueued);
        }
        ok
    }
}
