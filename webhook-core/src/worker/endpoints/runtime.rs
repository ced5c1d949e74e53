//! One registered endpoint at run time: its settings, its queue, its gate (breaker, rate
//! limit, `Retry-After` pause, in-flight cap, ordering keys) and its counters.

use crate::accounting::Counters;
use crate::endpoint::{Admission, Breaker, Endpoint, EndpointHealth, TokenBucket, Transition};
use crate::queue::QueuedEvent;
use crate::redact::Redactor;
use crate::worker::request::RequestFactory;
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::Notify;

/// How far into an endpoint's queue the scheduler looks for a delivery whose ordering
/// key is free (beyond it, the endpoint waits for a key to finish).
const KEY_SCAN: usize = 64;

/// What of an endpoint changes only when it is updated.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) endpoint: Endpoint,
    pub(crate) requests: RequestFactory,
    pub(crate) redactor: Redactor,
}

impl Settings {
    pub(crate) fn new(endpoint: Endpoint, user_agent: &str) -> Self {
        let d = &endpoint.delivery;
        Self {
            requests: RequestFactory::new(d, user_agent),
            redactor: Redactor::new(d.destination.as_deref(), &d.secrets),
            endpoint,
        }
    }
}

/// The mutable state, under one short lock.
#[derive(Debug)]
struct State {
    queue: VecDeque<QueuedEvent>,
    in_ring: bool,
    running: usize,
    busy_keys: HashSet<Arc<str>>,
    breaker: Option<Breaker>,
    bucket: Option<TokenBucket>,
    paused_until: Duration,
    enabled: bool,
    disabled_by_breaker: bool,
    /// A change made by the gate (open → half-open), reported with the next attempt's end.
    pending: Option<Transition>,
}

/// What became of a delivery offered to an endpoint's queue.
#[derive(Debug)]
pub(crate) enum Pushed {
    /// Queued; `joined` if the endpoint must join the scheduler's ring.
    Queued { joined: bool },
    /// The queue is full (or the endpoint removed): the caller applies the policy.
    Full(QueuedEvent),
}

/// What the gate says to a delivery that wants to make an attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Go (`probe`: the breaker's half-open probe); a running slot is taken.
    Go { probe: bool },
    /// Not before this time.
    WaitUntil(Duration),
    /// Until something changes (a slot frees, a probe reports, it is enabled).
    WaitForChange,
    /// The endpoint was removed.
    Removed,
}

/// One endpoint at run time.
#[derive(Debug)]
pub(crate) struct EndpointRuntime {
    settings: RwLock<Arc<Settings>>,
    state: Mutex<State>,
    removed: AtomicBool,
    /// Only the ledger changes these.
    pub(crate) counters: Counters,
    /// Woken when a slot frees, a probe reports, or it is enabled, updated or removed.
    pub(crate) changed: Notify,
}

impl EndpointRuntime {
    pub(crate) fn new(settings: Settings) -> Self {
        let e = &settings.endpoint;
        let state = State {
            queue: VecDeque::new(),
            in_ring: false,
            running: 0,
            busy_keys: HashSet::new(),
            breaker: e.breaker.map(Breaker::new),
            bucket: e
                .rate_limit
                .map(|(rate, burst)| TokenBucket::new(rate, burst)),
            paused_until: Duration::ZERO,
            enabled: e.enabled,
            disabled_by_breaker: false,
            pending: None,
        };
        Self {
            settings: RwLock::new(Arc::new(settings)),
            state: Mutex::new(state),
            removed: AtomicBool::new(false),
            counters: Counters::default(),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings now (an attempt keeps the ones it started with).
    pub(crate) fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The endpoint's id.
    pub(crate) fn id(&self) -> crate::endpoint::EndpointId {
        self.settings().endpoint.id.clone()
    }

    /// Replaces the settings; the queue, counters and breaker history stay (a breaker
    /// or rate limit whose settings changed starts afresh).
    pub(crate) fn update(&self, settings: Settings) {
        let mut state = self.lock();
        let old = self.settings();
        let e = &settings.endpoint;
        if old.endpoint.breaker != e.breaker {
            state.breaker = e.breaker.map(Breaker::new);
        }
        if old.endpoint.rate_limit != e.rate_limit {
            state.bucket = e
                .rate_limit
                .map(|(rate, burst)| TokenBucket::new(rate, burst));
        }
        state.enabled = e.enabled;
        state.disabled_by_breaker &= !e.enabled;
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Turns deliveries on or off (queued ones wait while it is off).
    pub(crate) fn set_enabled(&self, enabled: bool) {
        let mut state = self.lock();
        state.enabled = enabled;
        if enabled {
            state.disabled_by_breaker = false;
            if let Some(b) = state.breaker.as_mut() {
                b.restart_outage_clock();
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.lock().enabled
    }

    /// Marks it removed and takes what is queued (to be recorded).
    pub(crate) fn remove(&self) -> Vec<QueuedEvent> {
        self.removed.store(true, Ordering::SeqCst);
        let items = self.lock().queue.drain(..).collect();
        self.changed.notify_waiters();
        items
    }

    /// Takes what is queued (at shutdown).
    pub(crate) fn remove_queued(&self) -> Vec<QueuedEvent> {
        self.lock().queue.drain(..).collect()
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::SeqCst)
    }

    /// Adds a delivery to its queue, counted as accepted under the lock.
    pub(crate) fn push(&self, event: QueuedEvent, ledger: &crate::accounting::Ledger) -> Pushed {
        let capacity = self.settings().endpoint.queue_capacity;
        let mut state = self.lock();
        if state.queue.len() >= capacity || self.is_removed() {
            return Pushed::Full(event);
        }
        state.queue.push_back(event);
        ledger.accept(Some(&self.counters));
        let joined = !state.in_ring;
        state.in_ring = true;
        Pushed::Queued { joined }
    }

    /// Evicts its oldest queued delivery to make room (the `drop_oldest` policy).
    pub(crate) fn evict_oldest(&self, ledger: &crate::accounting::Ledger) -> Option<QueuedEvent> {
        let mut state = self.lock();
        let evicted = state.queue.pop_front()?;
        ledger.evict(Some(&self.counters));
        Some(evicted)
    }

    /// Whether its breaker is open (or half-open) now.
    pub(crate) fn circuit_open(&self, now: Duration) -> bool {
        let state = self.lock();
        state
            .breaker
            .as_ref()
            .is_some_and(|b| b.state(now) != crate::endpoint::BreakerState::Closed)
    }

    /// Takes the next queued delivery that may go now, with its running slot and (if
    /// limited) its token. `Err(None)`: nothing queued, it leaves the ring; `Err(Some(g))`:
    /// something is queued but must wait.
    pub(crate) fn take_next(
        &self,
        now: Duration,
        ledger: &crate::accounting::Ledger,
    ) -> Result<QueuedEvent, Option<Gate>> {
        let mut state = self.lock();
        if state.queue.is_empty() {
            state.in_ring = false;
            return Err(None);
        }
        let Some(at) = free_key_index(&state) else {
            return Err(Some(Gate::WaitForChange));
        };
        let probe = match self.gate_locked(&mut state, now) {
            Gate::Go { probe } => probe,
            other => return Err(Some(other)),
        };
        let Some(mut event) = state.queue.remove(at) else {
            return Err(Some(Gate::WaitForChange));
        };
        if let Some(key) = event.ordering_key() {
            state.busy_keys.insert(key.clone());
        }
        ledger.start(1, Some(&self.counters));
        if let Some(part) = event.endpoint.as_mut() {
            (part.probe, part.running) = (probe, true);
        }
        Ok(event)
    }

    /// Asks to make an attempt now (a retry, or an outbox entry).
    pub(crate) fn gate(&self, now: Duration) -> Gate {
        if self.is_removed() {
            return Gate::Removed;
        }
        let mut state = self.lock();
        self.gate_locked(&mut state, now)
    }

    fn gate_locked(&self, state: &mut State, now: Duration) -> Gate {
        if self.is_removed() {
            return Gate::Removed;
        }
        let cap = self.settings().endpoint.max_in_flight;
        if !state.enabled || state.running >= cap {
            return Gate::WaitForChange;
        }
        if state.paused_until > now {
            return Gate::WaitUntil(state.paused_until);
        }
        if let Some(Err(at)) = state.bucket.as_mut().map(|b| b.ready_at(now)) {
            return Gate::WaitUntil(at);
        }
        let probe = match state.breaker.as_mut().map(|b| b.admit(now)) {
            None | Some((Admission::Go, _)) => false,
            Some((Admission::Probe, t)) => {
                if let Some(t) = t {
                    self.log_transition(&t);
                    state.pending = Some(t);
                }
                true
            }
            Some((Admission::WaitUntil(at), _)) => return Gate::WaitUntil(at),
            Some((Admission::WaitForProbe, _)) => return Gate::WaitForChange,
        };
        if let Some(bucket) = state.bucket.as_mut() {
            let _ = bucket.take(now);
        }
        state.running += 1;
        Gate::Go { probe }
    }

    /// An attempt ended: frees its running slot and tells the breaker (`healthy`:
    /// `None` for an outcome that says nothing of the endpoint's health, e.g. a 429, or
    /// an attempt cut off). A `Retry-After` on a 429 pauses the whole endpoint (never
    /// shortening a pause already set). Returns the breaker's changes since the last
    /// call (the gate's open → half-open first), oldest first.
    pub(crate) fn attempt_done(
        &self,
        now: Duration,
        probe: bool,
        healthy: Option<bool>,
        pause: Option<Duration>,
    ) -> Vec<Transition> {
        let mut state = self.lock();
        state.running = state.running.saturating_sub(1);
        if let Some(p) = pause {
            state.paused_until = state.paused_until.max(now + p);
        }
        let transition = match (state.breaker.as_mut(), healthy) {
            (Some(b), Some(ok)) => b.record(now, ok, probe),
            (Some(b), None) if probe => {
                b.probe_abandoned();
                None
            }
            _ => None,
        };
        if state.breaker.as_ref().is_some_and(|b| b.wants_disable(now)) && state.enabled {
            state.enabled = false;
            state.disabled_by_breaker = true;
            tracing::warn!(endpoint = %self.id(), "endpoint disabled: its breaker stayed open for auto_disable_after");
        }
        let changes: Vec<Transition> = state.pending.take().into_iter().chain(transition).collect();
        drop(state);
        if let Some(t) = &transition {
            self.log_transition(t);
        }
        self.changed.notify_waiters();
        changes
    }

    /// A delivery with `key` reached its final outcome: the next with that key may go.
    pub(crate) fn key_done(&self, key: &Arc<str>) {
        self.lock().busy_keys.remove(key);
        self.changed.notify_waiters();
    }

    fn log_transition(&self, t: &Transition) {
        let id = self.settings().endpoint.id.clone();
        let (from, to) = (t.from.as_str(), t.to.as_str());
        match t.to {
            crate::endpoint::BreakerState::Open => {
                tracing::warn!(endpoint = %id, from, to, attempts = t.attempts, "endpoint breaker opened")
            }
            _ => tracing::info!(endpoint = %id, from, to, "endpoint breaker changed"),
        }
    }

    /// Its health at `now`.
    pub(crate) fn health(&self, now: Duration) -> EndpointHealth {
        let settings = self.settings();
        let e = &settings.endpoint;
        let state = self.lock();
        let remaining = |until: Duration| {
            (until > now).then(|| u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX))
        };
        let breaker = state.breaker.as_ref();
        EndpointHealth {
            id: e.id.to_string(),
            url: e.redacted_url().to_owned(),
            enabled: state.enabled,
            disabled_by_breaker: state.disabled_by_breaker,
            breaker: breaker.map(|b| b.state(now)),
            consecutive_failures: breaker.map_or(0, Breaker::consecutive_failures),
            breaker_opened: breaker.map_or(0, Breaker::opened_count),
            cool_down_remaining_ms: breaker
                .filter(|b| b.state(now) == crate::endpoint::BreakerState::Open)
                .and_then(|b| remaining(b.open_until())),
            paused_remaining_ms: remaining(state.paused_until),
            running: state.running,
            max_in_flight: e.max_in_flight,
            counts: self.counters.counts(),
        }
    }
}

/// The index of the first queued delivery whose ordering key is free (within the scan).
fn free_key_index(state: &State) -> Option<usize> {
    state.queue.iter().take(KEY_SCAN).position(|e| {
        e.ordering_key()
            .is_none_or(|k| !state.busy_keys.contains(k))
    })
}
