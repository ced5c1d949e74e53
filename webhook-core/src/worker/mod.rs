//! The notifier: a cloneable handle over a background worker with its own thread.
//!
//! The worker runs on a dedicated OS thread with its own tokio runtime. That is what
//! lets the handle be used from plain threads (no runtime needed), from inside any
//! runtime flavour without blocking it (enqueue never awaits the worker), and be
//! dropped anywhere: the worker's runtime is created and dropped on its own thread, so
//! "cannot drop a runtime in a context where blocking is not allowed" cannot happen,
//! and a blocking shutdown never deadlocks a current-thread runtime, because the
//! worker never needs the caller's runtime to make progress.

mod delivery;
mod outcome;
mod report;
mod run;
mod shared;
mod stats;

pub use outcome::{DropReason, EnqueueOutcome};
pub use report::ShutdownReport;
pub use shared::USER_AGENT_VALUE;
pub(crate) use stats::Counters;
pub use stats::{DeliveryStats, DroppedCounts, FailedCounts};
pub(crate) type SharedRef = shared::Shared;

use crate::config::ResolvedWebhookConfig;
use crate::diagnostics::WebhookDiagnostics;
use crate::event::{WebhookEventType, WebhookMessage, WebhookPayload};
use crate::queue::{BoundedQueue, PushResult, QueuePolicy, QueuedEvent};
use crate::replay::{ReplayError, ReplayReport, ReplaySelector};
use crate::retry::JitterSource;
use crate::store::{FailureStore, MemoryFailureStore};
use crate::transport::Transport;
use run::Command;
use shared::{Phase, Shared};
use stats::bump;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};

/// The default bound on one failure-store write (shutdown waits at most this long for
/// the store after its delivery deadline).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle to a running webhook worker. Cheap to clone; all clones share one worker.
///
/// Enqueueing never fails the caller and never blocks it (except under
/// `block_with_timeout`, up to its bound; [`Notifier::enqueue_async`] awaits instead).
/// Dropping the last clone shuts the worker down with the configured grace
/// (`shutdown_grace_ms`), records what is left in the store, and joins the thread.
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
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
    runtime: tokio::runtime::Handle,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("config", &self.inner.shared.config)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The worker could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The OS refused to create the worker thread or its runtime.
    #[error("could not start the webhook worker thread: {0}")]
    Thread(std::io::Error),
}

/// Configures and starts a [`Notifier`].
///
/// # Default
/// - store: a [`MemoryFailureStore`]
/// - policy: the configuration's `queue_policy`
/// - worker threads: 1 (a current-thread runtime on the worker's own thread; see
///   [`worker_threads`](NotifierBuilder::worker_threads))
/// - store timeout: [`DEFAULT_STORE_TIMEOUT`]
/// - user agent: [`USER_AGENT_VALUE`]
pub struct NotifierBuilder {
    config: ResolvedWebhookConfig,
    transport: Arc<dyn Transport>,
    store: Option<Arc<dyn FailureStore>>,
    policy: Option<Arc<dyn QueuePolicy>>,
    worker_threads: usize,
    store_timeout: Duration,
    user_agent: String,
    jitter_seed: Option<u64>,
    paused_clock: bool,
}

impl fmt::Debug for NotifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifierBuilder")
            .field("config", &self.config)
            .field("worker_threads", &self.worker_threads)
            .finish_non_exhaustive()
    }
}

impl NotifierBuilder {
    /// Uses `store` for final failures.
    pub fn store(mut self, store: Arc<dyn FailureStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Uses a custom full-queue policy instead of the configured one.
    pub fn policy(mut self, policy: Arc<dyn QueuePolicy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Threads of the worker's runtime (at least 1; 1, the default, means a
    /// current-thread runtime on the worker's own thread).
    ///
    /// One thread delivers tens of thousands of events per second, and it takes the
    /// least CPU per event: with two, tasks and wake-ups move between threads (on a
    /// 2-core machine the pipeline spent about 30 % more CPU per event with 2 than with 1;
    /// BENCHMARKS.md). Ask for more when a [`Transport`] or [`FailureStore`] does
    /// blocking or CPU-heavy work inside its futures (a well-behaved one moves such work
    /// to `spawn_blocking`, as `webhook-sled` does), or when one core cannot keep up.
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.worker_threads = threads.max(1);
        self
    }

    /// Bounds each failure-store write.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Replaces the `user-agent` header.
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Seeds the retry jitter (reproducible delays).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Runs the worker's runtime on a paused clock that jumps to the next timer whenever
    /// the worker is idle: backoff and timeouts take no real time. For tests.
    #[cfg(feature = "test-util")]
    pub fn paused_clock(mut self) -> Self {
        self.paused_clock = true;
        self.worker_threads = 1;
        self
    }

    /// Starts the worker thread.
    pub fn start(self) -> Result<Notifier, StartError> {
        let counters = Arc::new(Counters::default());
        let policy_name = if self.policy.is_some() {
            "custom".to_owned()
        } else {
            self.config.queue_policy.as_str().to_owned()
        };
        let policy = self
            .policy
            .unwrap_or_else(|| Arc::new(self.config.queue_policy));
        let queue = BoundedQueue::new(
            self.config.queue_capacity,
            policy,
            self.config.block_timeout,
            counters.clone(),
        );
        let jitter = match self.jitter_seed {
            Some(seed) => JitterSource::seeded(seed),
            None => JitterSource::random(),
        };
        let (report_watch, _) = watch::channel(None);
        let signer = self.config.signer();
        let shared = Arc::new(Shared {
            base_headers: Shared::base_headers(&self.config, &self.user_agent, &signer),
            scrub: Shared::scrub_list(&self.config),
            signer,
            transport_bounds_itself: self.transport.enforces_timeout(),
            permits: Arc::new(Semaphore::new(self.config.max_concurrency)),
            phase: watch::channel(Phase::Running).0,
            aborts: shared::AbortSlots::default(),
            jitter: Mutex::new(jitter),
            store_timeout: self.store_timeout,
            policy_name,
            activity: tokio::sync::Notify::new(),
            report: Mutex::new(None),
            report_ready: Condvar::new(),
            report_watch,
            paused_clock: self.paused_clock,
            wall_origin: std::sync::OnceLock::new(),
            transport: self.transport,
            store: self
                .store
                .unwrap_or_else(|| Arc::new(MemoryFailureStore::new())),
            queue,
            counters,
            config: self.config,
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
        let worker_shared = shared.clone();
        let threads = self.worker_threads;
        let paused = self.paused_clock;
        let thread = std::thread::Builder::new()
            .name("webhook-worker".to_owned())
            .spawn(move || {
                let runtime = match build_runtime(threads, paused) {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(runtime.handle().clone()));
                // The dispatch loop runs as a task on the runtime's own threads, not on
                // this one: the delivery tasks it spawns then start on the same thread
                // and a finished delivery wakes it without a cross-thread unpark (with
                // this thread as a third one in the hand-off, delivery throughput fell
                // by about a fifth on two cores).
                let dispatch = runtime.spawn(run::run(worker_shared.clone(), rx));
                let report = match runtime.block_on(dispatch) {
                    Ok(report) => report,
                    Err(e) => match e.try_into_panic() {
                        Ok(panic) => std::panic::resume_unwind(panic),
                        Err(_) => ShutdownReport::default(),
                    },
                };
                worker_shared.publish_report(report);
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(StartError::Thread)?;
        let runtime = match handle_rx.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(e)) => return Err(StartError::Thread(e)),
            Err(_) => {
                return Err(StartError::Thread(std::io::Error::other(
                    "worker thread exited during start-up",
                )));
            }
        };
        tracing::debug!(config = %shared.config, "webhook worker started");
        Ok(Notifier {
            inner: Arc::new(Inner {
                shared,
                commands,
                runtime,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }
}

fn build_runtime(threads: usize, paused: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads).thread_name("webhook-delivery");
        b
    };
    // Only the drivers whose tokio features are compiled in: time always, I/O when
    // a transport (e.g. webhook-http) pulls in tokio's `net`.
    builder.enable_all();
    #[cfg(feature = "test-util")]
    if paused {
        builder.start_paused(true);
    }
    #[cfg(not(feature = "test-util"))]
    let _ = paused;
    builder.build()
}

impl Notifier {
    /// A builder for a notifier over `config` delivering through `transport`.
    pub fn builder(
        config: ResolvedWebhookConfig,
        transport: Arc<dyn Transport>,
    ) -> NotifierBuilder {
        NotifierBuilder {
            config,
            transport,
            store: None,
            policy: None,
            worker_threads: 1,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            user_agent: USER_AGENT_VALUE.to_owned(),
            jitter_seed: None,
            paused_clock: false,
        }
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
        &self.inner.shared.config
    }

    /// The failure store.
    pub fn store(&self) -> &Arc<dyn FailureStore> {
        &self.inner.shared.store
    }

    /// Serializes `payload` and enqueues it (subject to the event filter).
    pub fn send(&self, payload: &WebhookPayload) -> EnqueueOutcome {
        let seed = WebhookEventType::from_name(&payload.event);
        match self.admit(seed) {
            Some(outcome) => outcome,
            None => match WebhookMessage::from_seed_payload(payload, seed) {
                Ok(message) => self.push(QueuedEvent::new(message)),
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
        match WebhookMessage::from_seed_payload(&payload, Some(event)) {
            Ok(message) => self.push(QueuedEvent::new(message)),
            Err(e) => self.invalid(&e),
        }
    }

    /// Enqueues a ready message (subject to the event filter).
    pub fn enqueue(&self, message: WebhookMessage) -> EnqueueOutcome {
        match self.admit(message.seed()) {
            Some(outcome) => outcome,
            None => self.push(QueuedEvent::new(message)),
        }
    }

    /// Like [`Notifier::send`], but a `block_with_timeout` wait awaits instead of blocking.
    pub async fn send_async(&self, payload: &WebhookPayload) -> EnqueueOutcome {
        let seed = WebhookEventType::from_name(&payload.event);
        if let Some(outcome) = self.admit(seed) {
            return outcome;
        }
        match WebhookMessage::from_seed_payload(payload, seed) {
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

    async fn push_async(&self, message: WebhookMessage) -> EnqueueOutcome {
        if let Some(outcome) = self.oversize(&message) {
            return outcome;
        }
        let result = self
            .inner
            .shared
            .queue
            .push_async(QueuedEvent::new(message))
            .await;
        self.outcome(result)
    }

    fn invalid(&self, error: &crate::event::MessageError) -> EnqueueOutcome {
        bump(&self.inner.shared.counters.dropped_invalid);
        tracing::warn!(%error, "webhook event dropped");
        EnqueueOutcome::Dropped(DropReason::Invalid)
    }

    /// Disabled / filtered checks for an event whose seed type is `seed` (custom events
    /// pass every filter); `None` means go on.
    fn admit(&self, seed: Option<WebhookEventType>) -> Option<EnqueueOutcome> {
        let shared = &self.inner.shared;
        if !shared.config.enabled {
            bump(&shared.counters.disabled);
            return Some(EnqueueOutcome::Dropped(DropReason::Disabled));
        }
        if seed.is_some_and(|e| !shared.config.events.allows_type(e)) {
            bump(&shared.counters.filtered);
            return Some(EnqueueOutcome::Dropped(DropReason::Filtered));
        }
        None
    }

    fn oversize(&self, message: &WebhookMessage) -> Option<EnqueueOutcome> {
        let shared = &self.inner.shared;
        let (size, limit) = (message.body().len(), shared.config.max_payload_bytes);
        if size <= limit {
            return None;
        }
        bump(&shared.counters.dropped_payload_too_large);
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

    fn push(&self, event: QueuedEvent) -> EnqueueOutcome {
        if let Some(outcome) = self.oversize(&event.message) {
            return outcome;
        }
        let result = self.inner.shared.queue.push(event);
        self.outcome(result)
    }

    fn outcome(&self, result: PushResult) -> EnqueueOutcome {
        let counters = &self.inner.shared.counters;
        let reason = match result {
            PushResult::Accepted => return EnqueueOutcome::Accepted,
            PushResult::AcceptedAfterEviction => return EnqueueOutcome::AcceptedAfterEviction,
            PushResult::Full => {
                bump(&counters.dropped_queue_full);
                DropReason::QueueFull
            }
            PushResult::TimedOut => {
                bump(&counters.dropped_block_timeout);
                DropReason::BlockTimeout
            }
            PushResult::Closed => {
                bump(&counters.dropped_shutting_down);
                DropReason::ShuttingDown
            }
        };
        tracing::debug!(%reason, "webhook event dropped");
        EnqueueOutcome::Dropped(reason)
    }

    /// The counters now (a few atomic loads).
    pub fn stats(&self) -> DeliveryStats {
        let shared = &self.inner.shared;
        shared.counters.snapshot(shared.queue.len())
    }

    /// Waits until nothing is queued, in flight or waiting to retry, up to `timeout`.
    /// Returns whether that state was reached.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let shared = self.inner.shared.clone();
        self.call_async(async move {
            shared
                .wait_idle_until(tokio::time::Instant::now() + timeout)
                .await
        })
        .await
        .unwrap_or(false)
    }

    /// Blocking form of [`Notifier::wait_idle`], for code without a runtime.
    pub fn wait_idle_blocking(&self, timeout: Duration) -> bool {
        let shared = self.inner.shared.clone();
        self.call_blocking(
            async move {
                shared
                    .wait_idle_until(tokio::time::Instant::now() + timeout)
                    .await
            },
            timeout + Duration::from_secs(1),
        )
        .unwrap_or(false)
    }

    /// Counters, configuration and the newest `recent` failure records.
    pub async fn diagnostics(&self, recent: usize) -> WebhookDiagnostics {
        let shared = self.inner.shared.clone();
        let stats = self.stats();
        let fallback = WebhookDiagnostics::new(&shared, stats, None);
        self.call_async(async move { WebhookDiagnostics::collect(&shared, recent).await })
            .await
            .unwrap_or(fallback)
    }

    /// Blocking form of [`Notifier::diagnostics`].
    pub fn diagnostics_blocking(&self, recent: usize) -> WebhookDiagnostics {
        let shared = self.inner.shared.clone();
        let fallback = WebhookDiagnostics::new(&shared, self.stats(), None);
        let bound = shared.store_timeout + Duration::from_secs(1);
        self.call_blocking(
            async move { WebhookDiagnostics::collect(&shared, recent).await },
            bound,
        )
        .unwrap_or(fallback)
    }

    /// Replays stored failures chosen by `selector` (see [`crate::replay`]).
    pub async fn replay(
        &self,
        selector: &ReplaySelector,
        dry_run: bool,
    ) -> Result<ReplayReport, ReplayError> {
        selector.validate()?;
        let (shared, selector) = (self.inner.shared.clone(), selector.clone());
        self.call_async(async move { crate::replay::run(&shared, &selector, dry_run).await })
            .await
            .unwrap_or(Err(ReplayError::Stopped))
    }

    /// Blocking form of [`Notifier::replay`].
    pub fn replay_blocking(
        &self,
        selector: &ReplaySelector,
        dry_run: bool,
    ) -> Result<ReplayReport, ReplayError> {
        selector.validate()?;
        let (shared, selector) = (self.inner.shared.clone(), selector.clone());
        let bound = self.inner.shared.store_timeout * 2 + Duration::from_secs(1);
        self.call_blocking(
            async move { crate::replay::run(&shared, &selector, dry_run).await },
            bound,
        )
        .unwrap_or(Err(ReplayError::Stopped))
    }

    /// Stops intake, keeps delivering until the queue is empty or `timeout` passes, then
    /// records what is left in the store and stops the worker. Blocks the calling thread
    /// for at most `timeout` plus the store timeout (plus a second of slack).
    ///
    /// Calling it again returns the first report.
    pub fn shutdown(&self, timeout: Duration) -> ShutdownReport {
        let shared = &self.inner.shared;
        if let Some(report) = shared.finished_report() {
            return report;
        }
        let _ = self.inner.commands.send(Command::Shutdown { timeout });
        let bound = timeout + shared.store_timeout + Duration::from_secs(2);
        let report = shared
            .wait_report(bound)
            .unwrap_or_else(|| self.stuck_report());
        self.inner.join();
        report
    }

    /// Async form of [`Notifier::shutdown`]: awaits instead of blocking.
    pub async fn shutdown_async(&self, timeout: Duration) -> ShutdownReport {
        let shared = &self.inner.shared;
        let mut rx = shared.report_watch.subscribe();
        let _ = self.inner.commands.send(Command::Shutdown { timeout });
        let bound = timeout + shared.store_timeout + Duration::from_secs(2);
        let waited = tokio::time::timeout(bound, rx.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(report)) => report.clone().unwrap_or_default(),
            _ => self.stuck_report(),
        }
    }

    fn stuck_report(&self) -> ShutdownReport {
        let stats = self.stats();
        tracing::error!("webhook worker did not stop in time");
        ShutdownReport {
            unfinished: stats.queued + stats.in_flight + stats.waiting_retries,
            deadline_reached: true,
            stats,
            ..ShutdownReport::default()
        }
    }

    /// Runs `fut` on the worker's runtime and blocks for its result, up to `bound`.
    fn call_blocking<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
        bound: Duration,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.inner.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv_timeout(bound).ok()
    }

    /// Runs `fut` on the worker's runtime and awaits its result.
    async fn call_async<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.inner.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.await.ok()
    }
}

impl Inner {
    fn join(&self) {
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

impl Drop for Inner {
    fn drop(&mut self) {
        let shared = &self.shared;
        if shared.finished_report().is_none() {
            let grace = shared.config.shutdown_grace;
            let _ = self.commands.send(Command::Shutdown { timeout: grace });
            let bound = grace + shared.store_timeout + Duration::from_secs(2);
            if shared.wait_report(bound).is_none() {
                tracing::error!("webhook worker did not stop within its grace; detaching it");
                return;
            }
        }
        self.join();
    }
}
