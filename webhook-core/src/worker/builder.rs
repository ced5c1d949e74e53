//! Configuring and starting a notifier: the engine, then its thread and runtime.

use super::clock::WallClock;
use super::engine::{Engine, OutboxPart, Plugs, Retries};
use super::lifecycle::Lifecycle;
use super::notifier::{Notifier, WorkerThread};
use super::report::ShutdownReport;
use super::request::{RequestFactory, USER_AGENT_VALUE};
use super::run::{self, Command};
use crate::accounting::Ledger;
use crate::config::ResolvedWebhookConfig;
use crate::observe::{Hub, HubOptions, Observer};
use crate::outbox::{Outbox, OwnerId};
use crate::queue::{BoundedQueue, QueuePolicy};
use crate::redact::Redactor;
use crate::retry::JitterSource;
use crate::store::{FailureStore, MemoryFailureStore};
use crate::transport::{AttemptTimers, Transport};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// The default bound on one failure-store write (shutdown waits at most this long for
/// the store after its delivery deadline).
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// The default number of reports an observer may fall behind by
/// ([`NotifierBuilder::observer_buffer`]).
pub const DEFAULT_OBSERVER_BUFFER: usize = crate::observe::DEFAULT_OBSERVER_BUFFER;

/// How long a shutdown waits for the observer to catch up, at most.
const OBSERVER_CATCH_UP: Duration = Duration::from_secs(1);

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
/// - outbox: none (events live in memory until their final outcome)
/// - observer: none; its buffer: [`DEFAULT_OBSERVER_BUFFER`] reports
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
    outbox: Option<Arc<dyn Outbox>>,
    observe: HubOptions,
    endpoints: Vec<crate::endpoint::Endpoint>,
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
    pub(crate) fn new(config: ResolvedWebhookConfig, transport: Arc<dyn Transport>) -> Self {
        Self {
            config,
            transport,
            store: None,
            policy: None,
            worker_threads: 1,
            store_timeout: DEFAULT_STORE_TIMEOUT,
            user_agent: USER_AGENT_VALUE.to_owned(),
            jitter_seed: None,
            paused_clock: false,
            outbox: None,
            observe: HubOptions::default(),
            endpoints: Vec::new(),
        }
    }

    /// Fans out to `endpoint` too (checked with [`EndpointConfig::resolve`]; more can
    /// be added at run time with [`Notifier::upsert_endpoint`]). With at least one
    /// endpoint, every event goes to each enabled endpoint whose filter matches, and to
    /// the configuration's URL if it has one.
    ///
    /// [`EndpointConfig::resolve`]: crate::endpoint::EndpointConfig::resolve
    pub fn endpoint(mut self, endpoint: crate::endpoint::Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    /// Keeps every accepted event in `outbox` until its final outcome (see
    /// [`crate::outbox`]): `send` hands events to a group-commit writer, deliveries are
    /// claimed from the outbox under a lease, retries wait there, and whatever a
    /// previous run left is delivered first. The configuration's
    /// [`OutboxSettings`](crate::config::OutboxSettings) tune it.
    pub fn outbox(mut self, outbox: Arc<dyn Outbox>) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Tells `observer` of every attempt, final outcome, refusal and recovery, on a
    /// thread of its own (see [`Observer`] for what it is promised).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observe.observer = Some(observer);
        self
    }

    /// How many reports the observer may fall behind by before reports are lost (and
    /// counted in `DeliveryStats::observer_missed`); at least 1.
    pub fn observer_buffer(mut self, reports: usize) -> Self {
        self.observe.buffer = reports.max(1);
        self
    }

    /// How often the gauges (`webhook_queue_depth`, `webhook_oldest_pending_seconds`,
    /// …) are refreshed (default 1 s; at least 1 ms).
    #[cfg(feature = "metrics")]
    pub fn gauge_interval(mut self, interval: Duration) -> Self {
        self.observe.gauge_interval = interval.max(Duration::from_millis(1));
        self
    }

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
        let (threads, paused) = (self.worker_threads, self.paused_clock);
        let engine = Arc::new(self.into_engine());
        let weak = Arc::downgrade(&engine);
        engine
            .observe
            .start(move || weak.upgrade().map(|e| e.figures()))
            .map_err(StartError::Thread)?;
        let (commands, rx) = mpsc::unbounded_channel();
        let thread = spawn_worker(engine.clone(), rx, threads, paused)?;
        tracing::debug!(config = %engine.config, "webhook worker started");
        Ok(Notifier::new(engine, commands, thread))
    }

    fn into_engine(self) -> Engine {
        let ledger = Arc::new(Ledger::default());
        let policy_name = match self.policy {
            Some(_) => "custom".to_owned(),
            None => self.config.queue_policy.as_str().to_owned(),
        };
        let policy = self
            .policy
            .unwrap_or_else(|| Arc::new(self.config.queue_policy));
        let config = self.config;
        let queue = BoundedQueue::new(
            config.queue_capacity,
            policy,
            config.block_timeout,
            ledger.clone(),
        );
        let jitter = self
            .jitter_seed
            .map_or_else(JitterSource::random, JitterSource::seeded);
        let plugs = Plugs {
            backstop: (!self.transport.enforces_timeout()).then(AttemptTimers::new),
            transport: self.transport,
            store: self
                .store
                .unwrap_or_else(|| Arc::new(MemoryFailureStore::new())),
            store_timeout: self.store_timeout,
        };
        let endpoints = endpoint_set(&config, &self.user_agent, self.endpoints);
        Engine {
            endpoints,
            observe: Hub::new(self.observe, ledger.clone()),
            ledger,
            queue,
            policy_name,
            plugs,
            permits: Arc::new(Semaphore::new(config.max_concurrency)),
            requests: RequestFactory::new(&config, &self.user_agent),
            retries: Retries::new(config.retry.clone(), jitter, config.max_pending_retries),
            lifecycle: Lifecycle::default(),
            redactor: Redactor::new(config.destination.as_deref(), &config.secrets),
            clock: WallClock::new(self.paused_clock),
            outbox: self.outbox.map(|outbox| {
                let (settles, rx) = tokio::sync::mpsc::unbounded_channel();
                OutboxPart {
                    outbox,
                    owner: OwnerId::generate(),
                    settings: config.outbox,
                    appended: tokio::sync::Notify::new(),
                    settles,
                    settles_rx: std::sync::Mutex::new(Some(rx)),
                    ready: std::sync::Mutex::default(),
                    low: tokio::sync::Notify::new(),
                    pending: std::sync::Mutex::new(None),
                }
            }),
            config,
        }
    }
}

/// The endpoint set: those of the configuration, then those given to the builder.
fn endpoint_set(
    config: &ResolvedWebhookConfig,
    user_agent: &str,
    extra: Vec<crate::endpoint::Endpoint>,
) -> super::endpoints::EndpointSet {
    let set = super::endpoints::EndpointSet::new(user_agent, config.queue_policy);
    if config.endpoints.is_some() {
        set.activate();
    }
    for endpoint in config.endpoints.iter().flatten().cloned().chain(extra) {
        set.upsert(endpoint);
    }
    set
}

/// Starts the worker's thread and runtime, and waits until the runtime is up.
fn spawn_worker(
    engine: Arc<Engine>,
    commands: mpsc::UnboundedReceiver<Command>,
    threads: usize,
    paused: bool,
) -> Result<WorkerThread, StartError> {
    let (handle_tx, handle_rx) = std::sync::mpsc::sync_channel(1);
    let (done_tx, done_rx) = tokio::sync::watch::channel(false);
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
            // The dispatch loop runs as a task on the runtime's own threads, not on this
            // one: the delivery tasks it spawns then start on the same thread and a
            // finished delivery wakes it without a cross-thread unpark (with this thread
            // as a third one in the hand-off, delivery throughput fell by about a fifth
            // on two cores).
            let dispatch = runtime.spawn(run::run(engine.clone(), commands));
            let report = match runtime.block_on(dispatch) {
                Ok(report) => report,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => std::panic::resume_unwind(panic),
                    Err(_) => ShutdownReport::default(),
                },
            };
            engine.observe.finish(OBSERVER_CATCH_UP);
            engine.lifecycle.report().publish(report);
            runtime.shutdown_timeout(Duration::from_secs(1));
            let _ = done_tx.send(true);
        })
        .map_err(StartError::Thread)?;
    match handle_rx.recv() {
        Ok(Ok(runtime)) => Ok(WorkerThread::new(runtime, thread, done_rx)),
        Ok(Err(e)) => Err(StartError::Thread(e)),
        Err(_) => Err(StartError::Thread(std::io::Error::other(
            "worker thread exited during start-up",
        ))),
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
