//! The bounded queue: a lock-protected ring with a policy for when it is full.

use super::{FullQueue, FullQueueAction, QueuePolicy, QueuedEvent};
use crate::accounting::Ledger;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What happened to an offered event.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushResult {
    Accepted,
    AcceptedAfterEviction,
    Full,
    TimedOut,
    Closed,
}

struct State {
    items: VecDeque<QueuedEvent>,
    closed: bool,
    /// Events taken since the clock was last read by a producer.
    since_read: u32,
}

/// A producer reads the clock once per this many events (the others take the clock's
/// last reading).
const READ_EVERY: u32 = 64;

/// A reading is published only when it is this much later than the published one.
const STAMP_GRAIN_NS: u64 = 100_000;

/// The enqueue times, without a clock read per enqueue.
///
/// Each event is stamped with the last reading of a monotonic clock, not with a fresh
/// one: a clock read (about 25 ns here) was 7–10 % of an enqueue (BENCHMARKS.md). The
/// clock is read when the worker takes an event, when the figures are asked for, and by
/// one enqueue in [`READ_EVERY`]. A stamp is therefore never later than the true time,
/// so the oldest pending age never understates; it overstates by at most the time since
/// the previous reading (the previous `figures()` call or gauge refresh, the worker's
/// previous pop, or the last 64 enqueues, whichever is most recent), plus at most
/// [`STAMP_GRAIN_NS`].
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Stamps {
    origin: Instant,
    /// Nanoseconds since `origin` at the latest reading.
    latest: AtomicU64,
}

impl Stamps {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            latest: AtomicU64::new(0),
        }
    }

    /// Reads the clock and publishes the reading if it is [`STAMP_GRAIN_NS`] past the
    /// published one. Producers read `latest` on every enqueue; publishing each of the
    /// worker's readings (one per event) took that line from their core every time.
    fn read(&self) -> u64 {
        let now = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if now
            >= self
                .latest
                .load(Ordering::Relaxed)
                .saturating_add(STAMP_GRAIN_NS)
        {
            self.latest.fetch_max(now, Ordering::Relaxed);
        }
        now
    }

    /// The latest reading (no clock read).
    fn latest(&self) -> u64 {
        self.latest.load(Ordering::Relaxed)
    }
}

/// The queue shared by producers (any thread) and the worker.
pub(crate) struct BoundedQueue {
    state: Mutex<State>,
    capacity: usize,
    /// Producers blocked in `block_with_timeout` wait here (sync path).
    space: Condvar,
    /// Async producers wait here.
    space_async: Notify,
    waiting_producers: AtomicUsize,
    /// The worker waits here for items.
    items_ready: Notify,
    policy: Arc<dyn QueuePolicy>,
    configured_wait: Duration,
    /// Counts every event that enters or leaves (under the lock).
    ledger: Arc<Ledger>,
    stamps: Stamps,
}

impl std::fmt::Debug for BoundedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedQueue")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// How a push may wait when the policy asks it to.
enum Waiting {
    /// Block the calling thread (sync API).
    Block,
    /// Do not wait here; report how long to wait so the async caller can await.
    Report,
}

enum Attempt {
    Done(PushResult),
    Wait(QueuedEvent, Duration),
}

impl BoundedQueue {
    pub(crate) fn new(
        capacity: usize,
        policy: Arc<dyn QueuePolicy>,
        configured_wait: Duration,
        ledger: Arc<Ledger>,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity.min(1024)),
                closed: false,
                since_read: 0,
            }),
            capacity,
            space: Condvar::new(),
            space_async: Notify::new(),
            waiting_producers: AtomicUsize::new(0),
            items_ready: Notify::new(),
            policy,
            configured_wait,
            ledger,
            stamps: Stamps::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the deque consistent, so a poisoned lock is usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Events queued now (the ledger's count, changed under the lock).
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.ledger.queued()).unwrap_or(usize::MAX)
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Offers an event; `event` is counted as accepted on success (under the lock, so
    /// the accounting identity never sees it queued but not accepted).
    fn try_push(&self, event: QueuedEvent, mode: &Waiting, use_policy: bool) -> Attempt {
        let mut state = self.lock();
        if state.closed {
            return Attempt::Done(PushResult::Closed);
        }
        if state.items.len() < self.capacity {
            self.push_locked(&mut state, event);
            drop(state);
            self.items_ready.notify_one();
            return Attempt::Done(PushResult::Accepted);
        }
        if !use_policy {
            return Attempt::Done(PushResult::Full);
        }
        let action = self.policy.on_full(&FullQueue {
            incoming: &event,
            queued: &state.items,
            configured_wait: self.configured_wait,
        });
        let evict_at = match action {
            FullQueueAction::DropIncoming => return Attempt::Done(PushResult::Full),
            FullQueueAction::EvictOldest => 0,
            FullQueueAction::Evict(i) if i < state.items.len() => i,
            FullQueueAction::Evict(_) => return Attempt::Done(PushResult::Full),
            FullQueueAction::Wait(bound) => match mode {
                Waiting::Report => return Attempt::Wait(event, bound),
                Waiting::Block => return self.block_then_push(state, event, bound),
            },
        };
        if let Some(evicted) = state.items.remove(evict_at) {
            self.ledger.evict(evicted.tally());
            tracing::debug!(webhook_id = %evicted.webhook_id(), event = evicted.event(), "queue full: evicted a queued event");
        }
        self.push_locked(&mut state, event);
        drop(state);
        self.items_ready.notify_one();
        Attempt::Done(PushResult::AcceptedAfterEviction)
    }

    /// Adds `event` and counts it as accepted. The caller wakes the worker once the lock
    /// is released (waking it may mean a system call; other producers need not wait on it).
    fn push_locked(&self, state: &mut MutexGuard<'_, State>, mut event: QueuedEvent) {
        state.since_read += 1;
        event.enqueued_at = if state.since_read >= READ_EVERY {
            state.since_read = 0;
            self.stamps.read()
        } else {
            self.stamps.latest()
        };
        self.ledger.accept(event.tally());
        state.items.push_back(event);
    }

    fn block_then_push(
        &self,
        mut state: MutexGuard<'_, State>,
        event: QueuedEvent,
        bound: Duration,
    ) -> Attempt {
        let deadline = Instant::now() + bound;
        self.waiting_producers.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            if state.closed {
                break PushResult::Closed;
            }
            if state.items.len() < self.capacity {
                self.push_locked(&mut state, event);
                break PushResult::Accepted;
            }
            let now = Instant::now();
            if now >= deadline {
                break PushResult::TimedOut;
            }
            state = self
                .space
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(state);
        if result == PushResult::Accepted {
            self.items_ready.notify_one();
        }
        self.waiting_producers.fetch_sub(1, Ordering::SeqCst);
        Attempt::Done(result)
    }

    /// Offers an event from synchronous code (may block only under a `Wait` policy).
    pub(crate) fn push(&self, event: QueuedEvent) -> PushResult {
        match self.try_push(event, &Waiting::Block, true) {
            Attempt::Done(result) => result,
            Attempt::Wait(..) => unreachable!("blocking mode never reports a wait"),
        }
    }

    /// Offers an event without applying the policy (replays never evict other events).
    pub(crate) fn push_if_room(&self, event: QueuedEvent) -> PushResult {
        match self.try_push(event, &Waiting::Report, false) {
            Attempt::Done(result) => result,
            Attempt::Wait(..) => PushResult::Full,
        }
    }

    /// Offers an event from async code: a `Wait` policy awaits instead of blocking.
    pub(crate) async fn push_async(&self, event: QueuedEvent) -> PushResult {
        let (event, bound) = match self.try_push(event, &Waiting::Report, true) {
            Attempt::Done(result) => return result,
            Attempt::Wait(event, bound) => (event, bound),
        };
        let deadline = tokio::time::Instant::now() + bound;
        self.waiting_producers.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            let notified = self.space_async.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    break PushResult::Closed;
                }
                if state.items.len() < self.capacity {
                    self.push_locked(&mut state, event);
                    break PushResult::Accepted;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break PushResult::TimedOut;
            }
        };
        if result == PushResult::Accepted {
            self.items_ready.notify_one();
        }
        self.waiting_producers.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Takes the oldest event, counting it as in flight under the lock.
    pub(crate) fn pop(&self) -> Option<QueuedEvent> {
        // The worker's reading keeps the stamps of later enqueues fresh (one clock read
        // per event on the worker, none on the callers' threads).
        self.stamps.read();
        let mut state = self.lock();
        let event = state.items.pop_front()?;
        self.ledger.start(1, event.tally());
        drop(state);
        if self.waiting_producers.load(Ordering::SeqCst) > 0 {
            self.space.notify_one();
            self.space_async.notify_waiters();
        }
        Some(event)
    }

    /// Takes up to `max` of the oldest events to append them to the outbox.
    pub(crate) fn pop_batch(&self, max: usize) -> Vec<QueuedEvent> {
        let mut state = self.lock();
        let take = state.items.len().min(max);
        let batch: Vec<QueuedEvent> = state.items.drain(..take).collect();
        for event in &batch {
            self.ledger.to_append(1, event.tally());
        }
        drop(state);
        if !batch.is_empty() && self.waiting_producers.load(Ordering::SeqCst) > 0 {
            self.space.notify_all();
            self.space_async.notify_waiters();
        }
        batch
    }

    /// Whether intake is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How long the oldest queued event has waited (one clock read and one short look
    /// at the front); never less than the true wait (see [`Stamps`]).
    pub(crate) fn oldest_age(&self) -> Option<Duration> {
        let now = self.stamps.read();
        let stamp = self.lock().items.front().map(|e| e.enqueued_at)?;
        Some(Duration::from_nanos(now.saturating_sub(stamp)))
    }

    /// Waits until an event may be available.
    pub(crate) async fn ready(&self) {
        self.items_ready.notified().await;
    }

    /// Refuses further events and wakes every blocked producer.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.space.notify_all();
        self.space_async.notify_waiters();
        self.items_ready.notify_one();
    }

    /// Removes everything still queued (at shutdown), counting it as in flight.
    pub(crate) fn drain(&self) -> Vec<QueuedEvent> {
        let mut state = self.lock();
        let items: Vec<QueuedEvent> = state.items.drain(..).collect();
        for event in &items {
            self.ledger.start(1, event.tally());
        }
        items
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
