//! The handle applications hold, and how it offers events to the queue.

use super::builder::{NotifierBuilder, StartError};
use super::engine::Engine;
use super::outcome::{DropReason, EnqueueOutcome};
use super::run::Command;
use crate::accounting::{DeliveryStats, Refusal};
use crate::config::ResolvedWebhookConfig;
use crate::event::{SeedPayload, WebhookEventType, WebhookMessage, WebhookPayload};
use crate::observe::{DroppedWhy, Figures};
use crate::queue::{PushResult, QueuedEvent};
use crate::store::FailureStore;
use crate::transport::Transport;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use tokio::sync::{mpsc, watch};

/// A handle to a running webhook worker. Cheap to clone; all clones share one worker.
///
/// Enqueueing never fails the caller and never blocks it (except under
/// `block_with_timeout`, up to its bound; [`Notifier::enqueue_async`] awaits instead).
/// Dropping the last clone shuts the worker down with the configured grace
/// (`shutdown_grace_ms`), records what is left in the store, and joins the thread.
///
/// # Waiting: one rule
/// Methods that never wait (`stats`, `config`, `store`) have one form. Every method that
/// may wait has two, with the same meaning:
/// - `name(..)` blocks the calling thread. It needs no runtime and is safe from plain
///   threads and from inside any tokio runtime, current-thread or multi-thread (the
///   worker runs on its own thread and never needs the caller's runtime), though inside
///   a runtime it holds that runtime's thread while it waits;
/// - `name_async(..)` awaits instead.
///
/// Both give up after the operation's own bound plus [`WAIT_SLACK`](super::WAIT_SLACK)
/// (a worker that does not answer in that time is reported, never waited on for
/// ever). The pairs: [`send`](Self::send) / [`send_async`](Self::send_async),
/// [`enqueue`](Self::enqueue) / [`enqueue_async`](Self::enqueue_async) (these wait only
/// under `block_with_timeout`), [`wait_idle`](Self::wait_idle),
/// [`diagnostics`](Self::diagnostics), [`replay`](Self::replay) and
/// [`shutdown`](Self::shutdown), each with its `_async` twin.
///
/// ```
/// use std::sync::Arc;
/// use webhook_core::{MemoryFailureStore, Notifier, WebhookConfig, WebhookEventType, WebhookPayload};
/// # use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
/// # #[derive(Debug)] struct Ok204;
/// # #[async_trait::async_trait] impl Transport for Ok204 {
/// #     async fn send(&self, _: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
/// #         Ok(DeliveryResponse::new(http::StatusCode::NO_CONTENT))
/// #     }
/// # }
/// let config = WebhookConfig::for_url("https://hooks.example.com/in").resolve().unwrap();
/// let notifier = Notifier::builder(config, Arc::new(Ok204))
///     .store(Arc::new(MemoryFailureStore::new()))
///     .start()
///     .unwrap();
/// let outcome = notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated).task_id("T-1"));
/// assert!(outcome.is_accepted());
/// let report = notifier.shutdown(std::time::Duration::from_secs(5));
/// assert_eq!(report.stats.delivered, 1);
/// ```
#[derive(Clone)]
pub struct Notifier {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) engine: Arc<Engine>,
    pub(super) commands: mpsc::UnboundedSender<Command>,
    pub(super) worker: WorkerThread,
}

/// The worker's OS thread and a handle to its runtime.
#[derive(Debug)]
pub(crate) struct WorkerThread {
    pub(super) runtime: tokio::runtime::Handle,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Completes (or closes) when the thread is about to return.
    done: watch::Receiver<bool>,
}

impl WorkerThread {
    pub(super) fn new(
        runtime: tokio::runtime::Handle,
        thread: JoinHandle<()>,
        done: watch::Receiver<bool>,
    ) -> Self {
        Self {
            runtime,
            thread: Mutex::new(Some(thread)),
            done,
        }
    }

    /// Awaits the thread's last step (no timer of its own: the caller bounds it).
    pub(super) async fn finished(&self) {
        let mut done = self.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }

    /// Joins the thread (once; later calls return at once).
    pub(super) fn join(&self) {
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("webhook worker thread panicked");
            }
        }
    }
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.inner.engine.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Notifier {
    pub(super) fn new(
        engine: Arc<Engine>,
        commands: mpsc::UnboundedSender<Command>,
        worker: WorkerThread,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                engine,
                commands,
                worker,
            }),
        }
    }

    /// A builder for a notifier over `config` delivering through `transport`.
    pub fn builder(
        config: ResolvedWebhookConfig,
        transport: Arc<dyn Transport>,
    ) -> NotifierBuilder {
        NotifierBuilder::new(config, transport)
    }

    /// Starts a notifier with the default options and `store`.
    pub fn start(
        config: ResolvedWebhookConfig,
        transport: Arc<dyn Transport>,
        store: Arc<dyn FailureStore>,
    ) -> Result<Self, StartError> {
        Self::builder(config, transport).store(store).start()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ResolvedWebhookConfig {
        &self.inner.engine.config
    }

    /// The failure store.
    pub fn store(&self) -> &Arc<dyn FailureStore> {
        &self.inner.engine.plugs.store
    }

    /// The counters now (a few atomic loads).
    pub fn stats(&self) -> DeliveryStats {
        self.inner.engine.ledger.snapshot()
    }

    /// What is pending now and how old the oldest pending event is: the figures the
    /// gauges show (`webhook_queue_depth`, `webhook_in_flight`,
    /// `webhook_outbox_pending`, `webhook_oldest_pending_seconds`). Cheap: a few atomic
    /// loads and one short look at the front of the queue.
    pub fn figures(&self) -> Figures {
        self.inner.engine.figures()
    }

    /// Sets the gauges from [`Notifier::figures`] now (the observer's thread also does
    /// so every [`gauge_interval`](NotifierBuilder::gauge_interval)); call it before a
    /// scrape for figures of this very moment.
    #[cfg(feature = "metrics")]
    pub fn update_gauges(&self) {
        let engine = &self.inner.engine;
        engine.observe.set_gauges(&engine.figures());
    }

    /// Serializes `payload` and enqueues it (subject to the event filter).
    pub fn send(&self, payload: &WebhookPayload) -> EnqueueOutcome {
        let seed = WebhookEventType::from_name(&payload.event);
        match self.admit(seed) {
            Some(outcome) => outcome,
            None => match WebhookMessage::from_seed_payload(payload, seed, self.layout()) {
                Ok(message) => self.push(message),
                Err(e) => self.invalid(&e),
            },
        }
    }

    /// Like [`Notifier::send`], but builds the payload only if `event` is delivered at
    /// all: a disabled configuration or the event filter answers before `build` runs
    /// (the seed's `notify_*` functions use this, so a filtered event costs no payload).
    /// A payload whose event is not `event` is sent as [`Notifier::send`] would.
    pub fn send_with(
        &self,
        event: WebhookEventType,
        build: impl FnOnce() -> WebhookPayload,
    ) -> EnqueueOutcome {
        if let Some(outcome) = self.admit(Some(event)) {
            return outcome;
        }
        let payload = build();
        if payload.event != event.as_str() {
            return self.send(&payload);
        }
        match WebhookMessage::from_seed_payload(&payload, Some(event), self.layout()) {
            Ok(message) => self.push(message),
            Err(e) => self.invalid(&e),
        }
    }

    /// Enqueues a seed event given by reference (subject to the event filter): the body
    /// is that of [`send`](Self::send) with the equal [`WebhookPayload`] stamped now,
    /// written without copying the strings into a payload first. A disabled or filtered
    /// event costs no serialization. The seed's `notify_*` functions use it.
    pub fn send_seed(&self, payload: &SeedPayload<'_>) -> EnqueueOutcome {
        match self.admit(Some(payload.event)) {
            Some(outcome) => outcome,
            None => self.push(WebhookMessage::from_seed(payload, self.layout())),
        }
    }

    /// Enqueues a ready message (subject to the event filter).
    pub fn enqueue(&self, message: WebhookMessage) -> EnqueueOutcome {
        match self.admit(message.seed()) {
            Some(outcome) => outcome,
            None => self.push(message),
        }
    }

    /// Like [`Notifier::send`], but a `block_with_timeout` wait awaits instead of blocking.
    pub async fn send_async(&self, payload: &WebhookPayload) -> EnqueueOutcome {
        let seed = WebhookEventType::from_name(&payload.event);
        if let Some(outcome) = self.admit(seed) {
            return outcome;
        }
        match WebhookMessage::from_seed_payload(payload, seed, self.layout()) {
            Ok(message) => self.push_async(message).await,
            Err(e) => self.invalid(&e),
        }
    }

    /// Like [`Notifier::enqueue`], but a `block_with_timeout` wait awaits instead of blocking.
    pub async fn enqueue_async(&self, message: WebhookMessage) -> EnqueueOutcome {
        match self.admit(message.seed()) {
            Some(outcome) => outcome,
            None => self.push_async(message).await,
        }
    }

    fn push(&self, message: WebhookMessage) -> EnqueueOutcome {
        if self.inner.engine.endpoints.is_active() {
            return self.push_endpoints(message);
        }
        if self.sync_durability() {
            return super::durable_send::as_outcome(self.confirm_blocking(message));
        }
        if let Some(outcome) = self.oversize(&message) {
            return outcome;
        }
        let result = self.inner.engine.queue.push(QueuedEvent::new(message));
        self.outcome(result)
    }

    async fn push_async(&self, message: WebhookMessage) -> EnqueueOutcome {
        if self.inner.engine.endpoints.is_active() {
            return self.push_endpoints(message);
        }
        if self.sync_durability() {
            return super::durable_send::as_outcome(self.confirm_async(message).await);
        }
        if let Some(outcome) = self.oversize(&message) {
            return outcome;
        }
        let queue = &self.inner.engine.queue;
        let result = queue.push_async(QueuedEvent::new(message)).await;
        self.outcome(result)
    }

    /// Fan-out mode: every matching endpoint (never waits: a slow endpoint's full queue
    /// refuses or evicts rather than block the caller).
    fn push_endpoints(&self, message: WebhookMessage) -> EnqueueOutcome {
        if let Some(outcome) = self.oversize(&message) {
            return outcome;
        }
        self.fan_out(message, &crate::endpoint::Route::all())
            .unwrap_or(EnqueueOutcome::Dropped(DropReason::Filtered))
    }

    /// How the bodies this notifier serializes are laid out: carved when they go straight
    /// into its queue and out to the transport, each in its own allocation when
    /// something may hold them for long (an endpoint's queue; an outbox, which may keep
    /// the body it is given until the entry is delivered).
    pub(super) fn layout(&self) -> crate::event::Body {
        let engine = &self.inner.engine;
        if engine.endpoints.is_active() || engine.outbox.is_some() {
            crate::event::Body::Exact
        } else {
            crate::event::Body::Carved
        }
    }

    pub(super) fn invalid(&self, error: &crate::event::MessageError) -> EnqueueOutcome {
        self.inner.engine.ledger.refuse(Refusal::Invalid);
        self.inner.engine.observe.dropped(DroppedWhy::Invalid);
        tracing::warn!(%error, "webhook event dropped");
        EnqueueOutcome::Dropped(DropReason::Invalid)
    }

    /// Disabled / filtered checks for an event whose seed type is `seed` (custom events
    /// pass every filter); `None` means go on.
    pub(super) fn admit(&self, seed: Option<WebhookEventType>) -> Option<EnqueueOutcome> {
        let engine = &self.inner.engine;
        if !engine.config.enabled {
            engine.ledger.refuse(Refusal::Disabled);
            return Some(EnqueueOutcome::Dropped(DropReason::Disabled));
        }
        // With endpoints, each has its own filter (the configuration's applies to its URL).
        if seed.is_some_and(|e| !engine.config.events.allows_type(e))
            && !engine.endpoints.is_active()
        {
            engine.ledger.refuse(Refusal::Filtered);
            return Some(EnqueueOutcome::Dropped(DropReason::Filtered));
        }
        None
    }

    pub(super) fn oversize(&self, message: &WebhookMessage) -> Option<EnqueueOutcome> {
        let engine = &self.inner.engine;
        let (size, limit) = (message.body().len(), engine.config.max_payload_bytes);
        if size <= limit {
            return None;
        }
        engine.ledger.refuse(Refusal::PayloadTooLarge);
        engine.observe.dropped(DroppedWhy::PayloadTooLarge);
        tracing::warn!(
            event = message.event(),
            size,
            limit,
            "webhook payload over max_payload_bytes: dropped"
        );
        Some(EnqueueOutcome::Dropped(DropReason::PayloadTooLarge {
            size,
            limit,
        }))
    }

    pub(super) fn outcome(&self, result: PushResult) -> EnqueueOutcome {
        let (refusal, reason, why) = match result {
            PushResult::Accepted => return EnqueueOutcome::Accepted,
            PushResult::AcceptedAfterEviction => {
                self.inner.engine.observe.dropped(DroppedWhy::Evicted);
                return EnqueueOutcome::AcceptedAfterEviction;
            }
            PushResult::Full => (
                Refusal::QueueFull,
                DropReason::QueueFull,
                DroppedWhy::QueueFull,
            ),
            PushResult::TimedOut => (
                Refusal::BlockTimeout,
                DropReason::BlockTimeout,
                DroppedWhy::BlockTimeout,
            ),
            PushResult::Closed => (
                Refusal::ShuttingDown,
                DropReason::ShuttingDown,
                DroppedWhy::ShuttingDown,
            ),
        };
        self.inner.engine.ledger.refuse(refusal);
        self.inner.engine.observe.dropped(why);
        tracing::debug!(%reason, "webhook event dropped");
        EnqueueOutcome::Dropped(reason)
    }
}
