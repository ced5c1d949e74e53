//! The notifier's endpoint set at run time: the registry, fan-out into per-endpoint
//! queues, and the fair scheduler that picks the next delivery.
//!
//! # Fairness
//! Endpoints with queued deliveries sit in a ring. The scheduler takes the endpoint at
//! the front, asks its gate (enabled, in-flight cap, `Retry-After` pause, rate limit,
//! breaker, ordering keys) and, if it may go, takes one delivery and puts the endpoint
//! at the back: round robin with a quantum of one delivery, so a burst of a million
//! events to one endpoint gets one turn in N like every other busy endpoint. An
//! endpoint that must wait keeps its place; the earliest time one of them may go next
//! is what the dispatch loop sleeps until.

mod runtime;

pub(crate) use runtime::{EndpointRuntime, Gate, Pushed, Settings};

use crate::accounting::{Ledger, Refusal};
use crate::endpoint::{Endpoint, EndpointError, EndpointHealth, EndpointId, Route};
use crate::event::WebhookMessage;
use crate::queue::{QueuedEvent, WebhookQueuePolicy};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// A delivery to record without an attempt, its outcome kind and why.
pub(crate) type ToRecord = (QueuedEvent, crate::store::FailureKind, &'static str);

/// The registered endpoints, by id and in registration order.
#[derive(Debug, Default)]
struct Registry {
    list: Vec<Arc<EndpointRuntime>>,
    by_id: HashMap<EndpointId, usize>,
}

/// What one fan-out did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FanOut {
    /// Deliveries accepted (one per endpoint).
    pub(crate) accepted: usize,
    /// Of those, accepted after evicting an older delivery.
    pub(crate) after_eviction: usize,
    /// Endpoints whose queue was full (refused).
    pub(crate) full: usize,
    /// Endpoints that matched.
    pub(crate) matched: usize,
}

/// The endpoint set of one notifier.
#[derive(Debug)]
pub(crate) struct EndpointSet {
    active: AtomicBool,
    /// Alternates between the single URL's queue and the endpoints' ring.
    turn: AtomicBool,
    registry: RwLock<Registry>,
    ring: Mutex<VecDeque<Arc<EndpointRuntime>>>,
    /// The dispatch loop waits here for work.
    pub(crate) work: Notify,
    origin: OnceLock<tokio::time::Instant>,
    last_now: AtomicU64,
    user_agent: String,
    policy: WebhookQueuePolicy,
    /// Deliveries to record without an attempt (circuit-open overflow, removed endpoint).
    to_record: mpsc::UnboundedSender<ToRecord>,
    pub(crate) to_record_rx: Mutex<Option<mpsc::UnboundedReceiver<ToRecord>>>,
}

impl EndpointSet {
    pub(crate) fn new(user_agent: &str, policy: WebhookQueuePolicy) -> Self {
        let (to_record, rx) = mpsc::unbounded_channel();
        Self {
            active: AtomicBool::new(false),
            turn: AtomicBool::new(false),
            registry: RwLock::default(),
            ring: Mutex::default(),
            work: Notify::new(),
            origin: OnceLock::new(),
            last_now: AtomicU64::new(0),
            user_agent: user_agent.to_owned(),
            policy,
            to_record,
            to_record_rx: Mutex::new(Some(rx)),
        }
    }

    /// Whether the notifier fans out to endpoints (one atomic load: the single-URL path
    /// pays nothing else).
    pub(crate) fn is_active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Turns fan-out on (a notifier configured or built with endpoints, or the first
    /// one added).
    pub(crate) fn activate(&self) {
        self.active.store(true, Ordering::Release);
    }

    /// The worker's time since the set's origin (call on the worker's runtime: a paused
    /// clock is honoured), remembered for callers on other threads.
    pub(crate) fn now(&self) -> Duration {
        let origin = *self.origin.get_or_init(tokio::time::Instant::now);
        let now = origin.elapsed();
        self.last_now.fetch_max(
            u64::try_from(now.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        now
    }

    /// The latest time the worker saw (for callers outside its runtime).
    pub(crate) fn now_seen(&self) -> Duration {
        Duration::from_nanos(self.last_now.load(Ordering::Relaxed))
    }

    /// A worker time as an instant of the worker's runtime.
    pub(crate) fn instant(&self, at: Duration) -> tokio::time::Instant {
        *self.origin.get_or_init(tokio::time::Instant::now) + at
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The endpoint `id`, if registered.
    pub(crate) fn get(&self, id: &EndpointId) -> Option<Arc<EndpointRuntime>> {
        let reg = self.read();
        reg.by_id.get(id).map(|&i| reg.list[i].clone())
    }

    /// Adds `endpoint`, or updates the one with its id (keeping its queue and counters).
    pub(crate) fn upsert(&self, endpoint: Endpoint) {
        self.activate();
        let settings = Settings::new(endpoint, &self.user_agent);
        let mut reg = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match reg.by_id.get(&settings.endpoint.id) {
            Some(&i) => reg.list[i].update(settings),
            None => {
                let id = settings.endpoint.id.clone();
                let index = reg.list.len();
                reg.list.push(Arc::new(EndpointRuntime::new(settings)));
                reg.by_id.insert(id, index);
            }
        }
        drop(reg);
        self.work.notify_one();
    }

    /// Removes `id`; its queued deliveries are recorded as failed (`permanent`,
    /// "endpoint removed"), attempts under way finish.
    pub(crate) fn remove(&self, id: &EndpointId, ledger: &Ledger) -> Result<(), EndpointError> {
        let mut reg = self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let index = reg.by_id.remove(id).ok_or_else(|| unknown(id))?;
        let rt = reg.list.remove(index);
        let moved: Vec<(EndpointId, usize)> = (index..reg.list.len())
            .map(|i| (reg.list[i].id(), i))
            .collect();
        reg.by_id.extend(moved);
        drop(reg);
        for event in rt.remove() {
            ledger.start(1, Some(&rt.counters));
            self.record(
                event,
                crate::store::FailureKind::Permanent,
                "endpoint removed",
            );
        }
        self.work.notify_one();
        Ok(())
    }

    /// Sends a delivery that is already in flight in the ledger to be recorded.
    fn record(&self, event: QueuedEvent, kind: crate::store::FailureKind, why: &'static str) {
        let _ = self.to_record.send((event, kind, why));
    }

    /// Enables or disables `id`.
    pub(crate) fn set_enabled(&self, id: &EndpointId, on: bool) -> Result<(), EndpointError> {
        self.get(id).ok_or_else(|| unknown(id))?.set_enabled(on);
        self.work.notify_one();
        Ok(())
    }

    /// Every endpoint's health, in registration order.
    pub(crate) fn list(&self) -> Vec<EndpointHealth> {
        let now = self.now_seen();
        self.read().list.iter().map(|r| r.health(now)).collect()
    }

    /// One endpoint's health.
    pub(crate) fn health(&self, id: &EndpointId) -> Result<EndpointHealth, EndpointError> {
        Ok(self
            .get(id)
            .ok_or_else(|| unknown(id))?
            .health(self.now_seen()))
    }

    /// Fans `message` out along `route`, offering each delivery to `place` (the
    /// endpoint's queue in memory mode, the outbox's queue in outbox mode).
    pub(crate) fn fan_out(
        &self,
        message: &WebhookMessage,
        route: &Route,
        mut place: impl FnMut(QueuedEvent) -> Placed,
    ) -> Result<FanOut, EndpointError> {
        let reg = self.read();
        let mut out = FanOut::default();
        let mut offer = |rt: &Arc<EndpointRuntime>| {
            out.matched += 1;
            let event =
                QueuedEvent::for_endpoint(message.clone(), rt.clone(), route.ordering_key.clone());
            match place(event) {
                Placed::Accepted => out.accepted += 1,
                Placed::AfterEviction => {
                    out.accepted += 1;
                    out.after_eviction += 1;
                }
                Placed::Full => out.full += 1,
            }
        };
        match &route.endpoint {
            Some(id) => {
                let i = *reg.by_id.get(id).ok_or_else(|| unknown(id))?;
                if reg.list[i].is_enabled() {
                    offer(&reg.list[i]);
                }
            }
            None => {
                let event = message.event();
                for rt in &reg.list {
                    if rt.is_enabled() && rt.settings().endpoint.wants(event) {
                        offer(rt);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Memory mode: puts a delivery in its endpoint's queue; a full queue evicts its
    /// oldest (`drop_oldest`) or refuses; with the breaker open it records the delivery
    /// as `circuit_open` instead (it can be replayed).
    pub(crate) fn place(&self, event: QueuedEvent, ledger: &Ledger) -> Placed {
        let Some(rt) = event.endpoint_runtime().cloned() else {
            return Placed::Full;
        };
        let event = match rt.push(event, ledger) {
            Pushed::Queued { joined } => return self.queued(rt, joined, Placed::Accepted),
            Pushed::Full(event) => event,
        };
        if rt.circuit_open(self.now_seen()) && !rt.is_removed() {
            ledger.accept(Some(&rt.counters));
            ledger.start(1, Some(&rt.counters));
            self.record(
                event,
                crate::store::FailureKind::CircuitOpen,
                "endpoint breaker open and its queue full",
            );
            return Placed::Accepted;
        }
        if self.policy != WebhookQueuePolicy::DropOldest || rt.evict_oldest(ledger).is_none() {
            ledger.refuse(Refusal::QueueFull);
            return Placed::Full;
        }
        match rt.push(event, ledger) {
            Pushed::Queued { joined } => self.queued(rt, joined, Placed::AfterEviction),
            Pushed::Full(_) => {
                ledger.refuse(Refusal::QueueFull);
                Placed::Full
            }
        }
    }

    /// Memory mode: puts a replayed delivery in its endpoint's queue if there is room
    /// (a replay never evicts another delivery).
    pub(crate) fn place_if_room(&self, event: QueuedEvent, ledger: &Ledger) -> bool {
        let Some(rt) = event.endpoint_runtime().cloned() else {
            return false;
        };
        match rt.push(event, ledger) {
            Pushed::Queued { joined } => {
                self.queued(rt, joined, Placed::Accepted) == Placed::Accepted
            }
            Pushed::Full(_) => false,
        }
    }

    fn queued(&self, rt: Arc<EndpointRuntime>, joined: bool, placed: Placed) -> Placed {
        if joined {
            self.ring
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(rt);
        }
        self.work.notify_one();
        placed
    }

    /// The next delivery that may go, fairly; `Err(wake)`: none now, and the earliest
    /// time one may (`None`: when something changes).
    pub(crate) fn next(
        &self,
        ledger: &Ledger,
    ) -> Result<QueuedEvent, Option<tokio::time::Instant>> {
        let now = self.now();
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wake: Option<Duration> = None;
        for _ in 0..ring.len() {
            let Some(rt) = ring.pop_front() else { break };
            match rt.take_next(now, ledger) {
                Ok(event) => {
                    ring.push_back(rt);
                    return Ok(event);
                }
                Err(None | Some(Gate::Removed)) => {}
                Err(Some(Gate::WaitUntil(at))) => {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    ring.push_back(rt);
                }
                Err(Some(_)) => ring.push_back(rt),
            }
        }
        Err(wake.map(|w| self.instant(w)))
    }

    /// The next delivery from the single URL's queue or the endpoints' ring, the two
    /// served in turn; `Err(wake)` as [`EndpointSet::next`].
    pub(crate) fn next_any(
        &self,
        queue: &crate::queue::BoundedQueue,
        ledger: &Ledger,
    ) -> Result<QueuedEvent, Option<tokio::time::Instant>> {
        if !self.is_active() {
            return queue.pop().ok_or(None);
        }
        if self.turn.fetch_xor(true, Ordering::Relaxed) {
            if let Some(event) = queue.pop() {
                return Ok(event);
            }
            return self.next(ledger);
        }
        match self.next(ledger) {
            Ok(event) => Ok(event),
            Err(wake) => queue.pop().ok_or(wake),
        }
    }

    /// An attempt to `rt` ended (see [`EndpointRuntime::attempt_done`]); tells the
    /// observer of a breaker change and wakes the dispatch loop.
    pub(crate) fn attempt_done(
        &self,
        rt: &EndpointRuntime,
        probe: bool,
        healthy: Option<bool>,
        pause: Option<Duration>,
        observe: &crate::observe::Hub,
    ) {
        for t in rt.attempt_done(self.now(), probe, healthy, pause) {
            observe.breaker(rt.id().as_str(), &t);
        }
        self.work.notify_one();
    }

    /// A delivery with an ordering key reached its final outcome.
    pub(crate) fn finished(&self, event: &QueuedEvent) {
        if let (Some(rt), Some(key)) = (event.endpoint_runtime(), event.ordering_key()) {
            rt.key_done(key);
            self.work.notify_one();
        }
    }

    /// Everything still queued, taken at shutdown (counted as in flight).
    pub(crate) fn drain(&self, ledger: &Ledger) -> Vec<QueuedEvent> {
        let list: Vec<_> = self.read().list.clone();
        let mut out = Vec::new();
        for rt in list {
            for event in rt.remove_queued() {
                ledger.start(1, Some(&rt.counters));
                out.push(event);
            }
        }
        out
    }
}

/// Where a delivery was put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    Accepted,
    AfterEviction,
    Full,
}

fn unknown(id: &EndpointId) -> EndpointError {
    EndpointError::Unknown { id: id.to_string() }
}
