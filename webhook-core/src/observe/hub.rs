//! The hub: where the worker's hooks land, the bounded hand-off to the observer's
//! thread, the attempt span, and (with the `metrics` feature) the instruments.
//!
//! Each hook is one call from the worker. With no observer and the `metrics` feature
//! off, a hook is a branch on a field that is `None`, and an attempt costs one disabled
//! `tracing` span (a cached interest check) and nothing else: no clock read, no
//! allocation.

use super::Observer;
use super::report::{
    AttemptReport, AttemptResult, DeliveredReport, DroppedReport, DroppedWhy, FailedReport,
    Figures, ObserverEvent, RecoveredReport,
};
use crate::accounting::{Activity, Ledger};
use crate::config::Destination;
use crate::queue::QueuedEvent;
use crate::retry::StatusClass;
use crate::store::{FailureKind, RecordId};
use crate::worker::Verdict;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often the observer's thread refreshes the gauges (with the `metrics` feature).
pub(crate) const DEFAULT_GAUGE_INTERVAL: Duration = Duration::from_secs(1);

/// The default number of reports an observer may fall behind by before reports are lost.
pub(crate) const DEFAULT_OBSERVER_BUFFER: usize = 4096;

/// What the builder gives the hub.
#[derive(Debug)]
pub(crate) struct HubOptions {
    pub(crate) observer: Option<Arc<dyn Observer>>,
    pub(crate) buffer: usize,
    pub(crate) gauge_interval: Duration,
}

impl Default for HubOptions {
    fn default() -> Self {
        Self {
            observer: None,
            buffer: DEFAULT_OBSERVER_BUFFER,
            gauge_interval: DEFAULT_GAUGE_INTERVAL,
        }
    }
}

/// Reports waiting for the observer's thread.
struct Buffer {
    state: Mutex<BufferState>,
    /// The thread waits here for reports (or for the end).
    ready: Condvar,
    /// `finish` waits here for the thread to catch up.
    done: Condvar,
    capacity: usize,
}

struct BufferState {
    items: VecDeque<ObserverEvent>,
    closing: bool,
    finished: bool,
    /// The thread waits for a wake-up (it found nothing at its last poll); otherwise
    /// it polls every [`POLL`] and reports need not wake it.
    asleep: bool,
}

/// How often the observer's thread looks for reports while they keep coming. Under
/// load, reports then cost no wake-up (a system call) each: the thread takes them in
/// batches; it is woken only from its deep sleep, or when the buffer is half full.
const POLL: Duration = Duration::from_millis(10);

impl Buffer {
    fn lock(&self) -> MutexGuard<'_, BufferState> {
        // Every critical section leaves the state consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the end: the thread drains what is left, then stops.
    fn close(&self) {
        self.lock().closing = true;
        self.ready.notify_one();
    }
}

/// The observer's hand-off, the instruments, and the hooks the worker calls.
pub(crate) struct Hub {
    /// `None` when no observer is registered (reports are then never built).
    buffer: Option<Arc<Buffer>>,
    observer: Option<Arc<dyn Observer>>,
    ledger: Arc<Ledger>,
    /// Whether attempts are timed (an observer or instruments want durations).
    timed: bool,
    gauge_interval: Duration,
    #[cfg(feature = "metrics")]
    instruments: Arc<super::instruments::Instruments>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("observer", &self.observer)
            .field("timed", &self.timed)
            .finish_non_exhaustive()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(buffer) = &self.buffer {
            buffer.close();
        }
    }
}

impl Hub {
    pub(crate) fn new(options: HubOptions, ledger: Arc<Ledger>) -> Self {
        let buffer = options.observer.as_ref().map(|_| {
            let capacity = options.buffer.max(1);
            Arc::new(Buffer {
                state: Mutex::new(BufferState {
                    items: VecDeque::with_capacity(capacity.min(1024)),
                    closing: false,
                    finished: false,
                    asleep: false,
                }),
                ready: Condvar::new(),
                done: Condvar::new(),
                capacity,
            })
        });
        Self {
            timed: options.observer.is_some() || cfg!(feature = "metrics"),
            buffer,
            observer: options.observer,
            ledger,
            gauge_interval: options.gauge_interval,
            #[cfg(feature = "metrics")]
            instruments: Arc::new(super::instruments::Instruments::register()),
        }
    }

    /// Starts the observer's thread if there is anything for it to do: an observer to
    /// call, or (with the `metrics` feature) gauges to refresh from `figures` (which
    /// returns `None` once the engine is gone).
    pub(crate) fn start<F>(&self, figures: F) -> std::io::Result<()>
    where
        F: Fn() -> Option<Figures> + Send + 'static,
    {
        #[cfg(feature = "metrics")]
        let gauges = {
            let instruments = self.instruments.clone();
            move || figures().map(|f| instruments.set_gauges(&f)).is_some()
        };
        #[cfg(not(feature = "metrics"))]
        let gauges = {
            drop(figures);
            || true
        };
        if self.buffer.is_none() && !cfg!(feature = "metrics") {
            return Ok(());
        }
        let buffer = self.buffer.clone();
        let observer = self.observer.clone();
        let ledger = self.ledger.clone();
        let interval = self.gauge_interval;
        std::thread::Builder::new()
            .name("webhook-observer".to_owned())
            .spawn(move || run(buffer, observer, &ledger, interval, gauges))
            .map(drop)
    }

    /// Lets the observer catch up with every report made so far (at shutdown, after the
    /// worker stopped), waiting at most `bound`.
    pub(crate) fn finish(&self, bound: Duration) {
        let Some(buffer) = &self.buffer else {
            return;
        };
        buffer.close();
        let deadline = Instant::now() + bound;
        let mut state = buffer.lock();
        while !state.finished {
            let now = Instant::now();
            if now >= deadline {
                tracing::warn!("webhook observer still busy at shutdown: not waited for");
                return;
            }
            state = buffer
                .done
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Hands a report to the observer's thread, or counts it missed if the buffer is full.
    fn emit(&self, buffer: &Buffer, event: ObserverEvent) {
        let mut state = buffer.lock();
        if state.closing {
            // After the shutdown: the observer has stopped listening.
            return;
        }
        if state.items.len() >= buffer.capacity {
            drop(state);
            self.ledger.note(Activity::ObserverMissed);
            return;
        }
        state.items.push_back(event);
        let wake = state.asleep || state.items.len() == buffer.capacity.div_ceil(2);
        state.asleep = false;
        drop(state);
        if wake {
            buffer.ready.notify_one();
        }
    }

    // ---- hooks (one call each from the worker) ----

    /// An attempt starts: its span, and its start time if anyone wants durations.
    pub(crate) fn attempt_probe(
        &self,
        event: &QueuedEvent,
        attempt: u32,
        destination: &Destination,
    ) -> AttemptProbe {
        AttemptProbe {
            span: attempt_span(event, attempt, destination),
            started: self.timed.then(Instant::now),
        }
    }

    /// An attempt finished with `verdict`; `span` is the one from
    /// [`attempt_probe`](Self::attempt_probe).
    pub(crate) fn attempt_done(
        &self,
        started: Option<Instant>,
        span: &tracing::Span,
        event: &QueuedEvent,
        attempt: u32,
        verdict: &Verdict,
    ) {
        let result = verdict.result;
        if !span.is_disabled() {
            let outcome = match verdict.class {
                StatusClass::Success => "success",
                StatusClass::Retryable => "retryable",
                StatusClass::Permanent => "permanent",
            };
            span.record("outcome", outcome);
            match result {
                AttemptResult::Status(code) => {
                    span.record("http.response.status_code", code);
                }
                AttemptResult::Error(kind) => {
                    span.record("error.type", kind.as_str());
                }
            }
        }
        let Some(started) = started else {
            return;
        };
        let duration = started.elapsed();
        #[cfg(feature = "metrics")]
        self.instruments.attempt(result, duration);
        if let Some(buffer) = &self.buffer {
            let report = AttemptReport {
                webhook_id: event.webhook_id().clone(),
                event: event_name(event),
                endpoint: event.endpoint_id().map(|id| id.to_string()),
                attempt,
                result,
                duration,
            };
            self.emit(buffer, ObserverEvent::Attempt(report));
        }
    }

    /// Endpoint `endpoint`'s breaker changed state.
    pub(crate) fn breaker(&self, endpoint: &str, t: &crate::endpoint::Transition) {
        #[cfg(feature = "metrics")]
        metrics::gauge!(super::names::ENDPOINT_BREAKER_STATE, "endpoint" => endpoint.to_owned())
            .set(f64::from(t.to.as_gauge()));
        if let Some(buffer) = &self.buffer {
            let report = super::report::BreakerReport {
                endpoint: endpoint.to_owned(),
                from: t.from,
                to: t.to,
                attempts: t.attempts,
            };
            self.emit(buffer, ObserverEvent::Breaker(report));
        }
    }

    /// `event` was delivered.
    pub(crate) fn delivered(&self, event: &QueuedEvent) {
        #[cfg(feature = "metrics")]
        self.instruments.delivered();
        if let Some(buffer) = &self.buffer {
            let report = DeliveredReport {
                webhook_id: event.webhook_id().clone(),
                event: event_name(event),
                replay_of: event.replay_of.clone(),
            };
            self.emit(buffer, ObserverEvent::Delivered(report));
        }
    }

    /// `event` finally failed as `kind`; `record` is the record written, if it was.
    pub(crate) fn failed(&self, event: &QueuedEvent, kind: FailureKind, record: Option<RecordId>) {
        #[cfg(feature = "metrics")]
        self.instruments.failed(kind);
        if let Some(buffer) = &self.buffer {
            let report = FailedReport {
                webhook_id: event.webhook_id().clone(),
                event: event_name(event),
                kind,
                record,
            };
            self.emit(buffer, ObserverEvent::Failed(report));
        }
    }

    /// An event was refused, or evicted from the queue.
    pub(crate) fn dropped(&self, reason: DroppedWhy) {
        #[cfg(feature = "metrics")]
        self.instruments.dropped(reason);
        if let Some(buffer) = &self.buffer {
            self.emit(buffer, ObserverEvent::Dropped(DroppedReport { reason }));
        }
    }

    /// A replayed record was delivered and marked resolved.
    pub(crate) fn recovered(&self, record: &RecordId, event: &QueuedEvent) {
        if let Some(buffer) = &self.buffer {
            let report = RecoveredReport {
                record: record.clone(),
                webhook_id: event.webhook_id().clone(),
            };
            self.emit(buffer, ObserverEvent::Recovered(report));
        }
    }

    /// Sets the gauges from `figures` now (with the `metrics` feature).
    #[cfg(feature = "metrics")]
    pub(crate) fn set_gauges(&self, figures: &Figures) {
        self.instruments.set_gauges(figures);
    }
}

/// An attempt under way: its span (the transport's future runs inside it) and its start
/// time (only when someone wants durations).
#[derive(Debug)]
pub(crate) struct AttemptProbe {
    pub(crate) span: tracing::Span,
    pub(crate) started: Option<Instant>,
}

/// The event's name, without an allocation for the seed's events.
fn event_name(event: &QueuedEvent) -> Cow<'static, str> {
    match event.message.seed() {
        Some(seed) => Cow::Borrowed(seed.as_str()),
        None => Cow::Owned(event.event().to_owned()),
    }
}

/// The observer's thread: calls the observer for each report, catching panics, and
/// refreshes the gauges every `interval` (`gauges` returns `false` once the engine is
/// gone). Stops when the buffer is closed and empty.
fn run(
    buffer: Option<Arc<Buffer>>,
    observer: Option<Arc<dyn Observer>>,
    ledger: &Ledger,
    interval: Duration,
    gauges: impl Fn() -> bool,
) {
    let Some(buffer) = buffer else {
        // Gauges only: refresh until the engine is gone.
        while gauges() {
            std::thread::park_timeout(interval);
        }
        return;
    };
    let mut batch = Vec::new();
    // Without gauges to refresh, the thread sleeps until a report comes.
    let refresh = cfg!(feature = "metrics");
    let mut next_refresh = Instant::now();
    loop {
        let closing = wait_for_reports(&buffer, refresh.then_some(next_refresh), &mut batch);
        if refresh && Instant::now() >= next_refresh {
            if !gauges() && batch.is_empty() {
                break;
            }
            next_refresh = Instant::now() + interval;
        }
        if let Some(observer) = &observer {
            tell(observer.as_ref(), batch.drain(..), ledger);
        }
        batch.clear();
        if closing && buffer.lock().items.is_empty() {
            break;
        }
    }
    let _ = gauges();
    buffer.lock().finished = true;
    buffer.done.notify_all();
}

/// Waits for reports (or for `refresh_at`), moves them into `batch`, and says whether
/// the buffer is closing. The first wait is a poll; after a poll that found nothing, a
/// deep sleep until a report wakes it or the gauges are due.
fn wait_for_reports(
    buffer: &Buffer,
    refresh_at: Option<Instant>,
    batch: &mut Vec<ObserverEvent>,
) -> bool {
    let mut state = buffer.lock();
    let mut quiet = false;
    while state.items.is_empty() && !state.closing {
        let now = Instant::now();
        if refresh_at.is_some_and(|at| now >= at) {
            break;
        }
        let mut wait = (!quiet).then_some(POLL);
        if let Some(at) = refresh_at {
            let due = at - now;
            wait = Some(wait.map_or(due, |w| w.min(due)));
        }
        state.asleep = quiet;
        state = match wait {
            Some(wait) => {
                buffer
                    .ready
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => buffer
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
        state.asleep = false;
        quiet = true;
    }
    batch.extend(state.items.drain(..));
    state.closing
}

/// Calls the observer for each report, counting the ones it panicked on.
fn tell(observer: &dyn Observer, reports: impl Iterator<Item = ObserverEvent>, ledger: &Ledger) {
    for event in reports {
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| observer.on_event(&event)));
        if call.is_err() {
            ledger.note(Activity::ObserverPanic);
        }
    }
}

/// The `webhook.attempt` span, or a disabled one unless a tracing subscriber wants INFO.
/// Without one, tracing's `log` feature (which sqlx turns on for every crate in the
/// build) would still evaluate every field and offer the span to `log` at creation and
/// at each poll: about 1,000 instructions per attempt for lines no one asked for.
fn attempt_span(event: &QueuedEvent, attempt: u32, destination: &Destination) -> tracing::Span {
    let info = tracing::Level::INFO;
    if info > tracing::level_filters::STATIC_MAX_LEVEL
        || info > tracing::level_filters::LevelFilter::current()
    {
        return tracing::Span::none();
    }
    let endpoint = event.endpoint_id();
    tracing::info_span!(
        "webhook.attempt",
        webhook.id = %event.webhook_id(),
        webhook.event = event.event(),
        webhook.endpoint = endpoint.as_ref().map(crate::endpoint::EndpointId::as_str),
        webhook.attempt = attempt,
        server.address = destination.host(),
        outcome = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}
