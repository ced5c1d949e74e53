//! The engine: the parts one worker is made of, each owned by the module that changes it.

use super::clock::WallClock;
use super::lifecycle::Lifecycle;
use super::request::RequestFactory;
use crate::accounting::{Activity, Ledger};
use crate::config::OutboxSettings;
use crate::config::ResolvedWebhookConfig;
use crate::observe::{Figures, Hub};
use crate::outbox::{Claimed, Outbox, OutboxError, OwnerId};
use crate::queue::{BoundedQueue, PushResult, QueuedEvent};
use crate::redact::Redactor;
use crate::retry::{JitterSource, RetrySchedule};
use crate::store::FailureStore;
use crate::transport::{AttemptTimers, Transport};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};

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
    /// The durable outbox, when there is one.
    pub(crate) outbox: Option<OutboxPart>,
    /// The endpoints, their queues and the fair scheduler (inactive in the single-URL
    /// case).
    pub(crate) endpoints: super::endpoints::EndpointSet,
}

/// The outbox, who this notifier is to it, and how it is used.
#[derive(Debug)]
pub(crate) struct OutboxPart {
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) owner: OwnerId,
    pub(crate) settings: OutboxSettings,
    /// Woken by each commit, so an idle claimer looks at once.
    pub(crate) appended: Notify,
    /// Settlements on their way to the settler, which applies them in batches.
    pub(crate) settles: mpsc::UnboundedSender<SettleMsg>,
    /// The settler's end, taken when the worker starts.
    pub(crate) settles_rx: Mutex<Option<mpsc::UnboundedReceiver<SettleMsg>>>,
    /// Entries claimed and not yet started, with when they were claimed.
    pub(crate) ready: Mutex<VecDeque<(Claimed, tokio::time::Instant)>>,
    /// Woken when the ready buffer runs low.
    pub(crate) low: Notify,
    /// What the outbox said it held the last time it was asked, and when, plus what this
    /// notifier appended since (an upper bound until the next answer): for the outbox
    /// bound, and for the figures and gauges, which cannot wait. Asked again when older
    /// than [`PENDING_FRESH`] (counting what a shared outbox holds is a query).
    pub(crate) pending: Mutex<Option<(crate::outbox::PendingStats, tokio::time::Instant)>>,
}

/// How old the outbox's pending count may be before a commit or a batch of
/// settlements asks again. Counting a table of a million rows takes a database tens of
/// milliseconds; asking once per batch made the count the bottleneck of every commit.
pub(crate) const PENDING_FRESH: std::time::Duration = std::time::Duration::from_millis(250);

/// What the settler is told.
#[derive(Debug)]
pub(crate) enum SettleMsg {
    /// Apply this settlement (in a batch with others).
    Settle(crate::outbox::Settle),
    /// Answer once every settlement sent before this one was applied.
    Flush(tokio::sync::oneshot::Sender<()>),
}

impl OutboxPart {
    /// The outbox's pending figures as last read.
    pub(crate) fn last_pending(&self) -> Option<crate::outbox::PendingStats> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|(p, _)| p)
    }

    /// The pending figures, asking the outbox only if the last answer is older than
    /// `max_age`.
    pub(crate) async fn pending_within(
        &self,
        engine: &Engine,
        max_age: std::time::Duration,
    ) -> Option<crate::outbox::PendingStats> {
        let cached = *self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match cached {
            Some((p, at)) if at.elapsed() <= max_age => Some(p),
            _ => self.refresh_pending(engine).await,
        }
    }

    /// Counts `n` entries appended by this notifier into the last answer, so it stays
    /// an upper bound until the outbox is asked again.
    pub(crate) fn note_appended(&self, n: u64) {
        if let Some((p, _)) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            p.count += n;
        }
    }

    /// Asks the outbox what it holds and keeps the answer for [`Self::last_pending`].
    pub(crate) async fn refresh_pending(
        &self,
        engine: &Engine,
    ) -> Option<crate::outbox::PendingStats> {
        match self.outbox.pending().await {
            Ok(p) => {
                *self.pending.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((p, tokio::time::Instant::now()));
                Some(p)
            }
            Err(e) => {
                self.error(engine, "pending", &e);
                None
            }
        }
    }

    pub(crate) fn ready_len(&self) -> usize {
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn push_ready(&self, fresh: VecDeque<(Claimed, tokio::time::Instant)>) {
        self.ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(fresh);
    }

    /// The next ready entry that still fits in its lease (the others are left to run
    /// out); wakes the claimer when fewer than `max_concurrency` are left.
    pub(crate) fn pop_ready(&self, engine: &Engine) -> Option<Claimed> {
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        let next = loop {
            match ready.pop_front() {
                Some((claimed, at)) if super::claim::fits_in_lease(engine, self, at) => {
                    break Some(claimed);
                }
                Some(_) => {}
                None => break None,
            }
        };
        if ready.len() < engine.config.max_concurrency {
            self.low.notify_one();
        }
        next
    }

    /// Empties the ready buffer.
    pub(crate) fn take_ready(&self) -> Vec<Claimed> {
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        ready.drain(..).map(|(c, _)| c).collect()
    }

    /// Logs and counts a failed outbox call (the caller retries or gives up).
    pub(crate) fn error(&self, engine: &Engine, operation: &str, error: &OutboxError) {
        engine.ledger.note(crate::accounting::Activity::OutboxError);
        let error = engine.redactor.scrub(&error.to_string());
        tracing::warn!(operation, %error, "outbox call failed");
    }
}

/// The transport and the store, with what the worker learned about them once.
#[derive(Debug)]
pub(crate) struct Plugs {
    pub(crate) transport: Arc<dyn Transport>,
    /// The timers of the worker's backstop; `None` when the transport bounds its own
    /// attempts ([`Transport::enforces_timeout`], asked once).
    pub(crate) backstop: Option<AttemptTimers>,
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
        let mut oldest = self.queue.oldest_age();
        let outbox = self.outbox.as_ref().and_then(OutboxPart::last_pending);
        if let Some(created_ms) = outbox.and_then(|p| p.oldest_created_ms) {
            let now_ms = crate::time::unix_millis(self.clock.now());
            let age = Duration::from_millis(now_ms.saturating_sub(created_ms));
            oldest = Some(oldest.map_or(age, |queued| queued.max(age)));
        }
        Figures::new(
            stats.queued,
            stats.in_flight,
            stats.waiting_retries,
            outbox.map(|p| p.count),
            oldest,
        )
    }

    /// Scrubs `text` of the secrets and URL parts of the destination `event` goes to.
    pub(crate) fn scrub(&self, event: &QueuedEvent, text: &str) -> String {
        match event.endpoint_runtime() {
            Some(rt) => rt.settings().redactor.scrub(text),
            None => self.redactor.scrub(text),
        }
    }

    /// Offers a replayed event without evicting anything, to its endpoint if it names
    /// one (`false` if that endpoint is no longer registered, or its queue is full).
    pub(crate) fn push_replay(&self, mut event: QueuedEvent, endpoint: Option<&str>) -> bool {
        let ok = match endpoint {
            None => self.queue.push_if_room(event) == PushResult::Accepted,
            Some(id) => {
                let Some(rt) = crate::endpoint::EndpointId::new(id)
                    .ok()
                    .and_then(|id| self.endpoints.get(&id))
                else {
                    return false;
                };
                event.attach_endpoint(rt);
                match self.outbox {
                    Some(_) => self.queue.push_if_room(event) == PushResult::Accepted,
                    None => self.endpoints.place_if_room(event, &self.ledger),
                }
            }
        };
        if ok {
            self.ledger.note(Activity::ReplayEnqueued);
        }
        ok
    }
}
