//! The accounting identity and the one place that keeps it.
//!
//! Every accepted event is in exactly one state at a time: queued, in flight, waiting
//! for a retry, or finished (delivered, failed, evicted). Each change of state is one
//! method of [`Ledger`], and no other code touches its counters, so
//!
//! `accepted = delivered + failed + evicted + queued + in_flight + waiting_retries`
//!
//! holds by construction whenever no change is half done; debug builds assert it at
//! the quiet point at the end of a shutdown ([`Ledger::assert_balanced`]).
//!
//! Orderings: the counters of the identity are changed and read with `SeqCst` (on the
//! machines this runs on a read-modify-write costs the same under any ordering), so a
//! snapshot never sees an event leave one state before it entered the previous one.
//! Counters outside the identity (refusals, attempts, replays, store errors) are
//! statistics and use `Relaxed`.

mod stats;

pub use stats::{DeliveryStats, DroppedCounts, EndpointCounts, FailedCounts};

use crate::store::FailureKind;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Why an offered event was refused before it was accepted (outside the identity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    QueueFull,
    BlockTimeout,
    PayloadTooLarge,
    ShuttingDown,
    Invalid,
    Filtered,
    Disabled,
}

/// Counters outside the identity: what the engine did, for operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activity {
    /// An HTTP attempt started.
    Attempt,
    /// An attempt that is a retry started.
    Retry,
    /// A replayed record was enqueued.
    ReplayEnqueued,
    /// A replayed record was delivered and marked resolved.
    ReplayResolved,
    /// A failure-store write failed.
    StoreError,
    /// An entry left by a previous run or another instance was claimed.
    Recovered,
    /// The writer waited because the outbox held its maximum of pending entries.
    OutboxFull,
    /// An outbox call failed (it is retried; the count is for operators).
    OutboxError,
    /// A report for the observer was lost: its buffer was full (it fell behind).
    ObserverMissed,
    /// The observer panicked on a report (caught).
    ObserverPanic,
}

/// The counters of the identity: one set for the totals, one per endpoint.
///
/// Only [`Ledger`]'s methods change them (each transition changes the totals and, for an
/// endpoint's delivery, that endpoint's set in the same call).
///
/// The producers' counters (`accepted`, `queued`, `evicted`) sit on a cache line of
/// their own, apart from those only the worker changes: when they shared one, every
/// enqueue and every delivery took the line from the other core.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Counters {
    accepted: AtomicU64,
    queued: AtomicU64,
    evicted: AtomicU64,
    _producers_line: [u64; 5],
    in_flight: AtomicU64,
    waiting: AtomicU64,
    delivered: AtomicU64,
    failed: [AtomicU64; 5],
    /// Outbox mode: taken from the queue to be appended.
    appending: AtomicU64,
    /// Outbox mode: appended durably (a final state for an accepted event).
    stored: AtomicU64,
    /// Outbox mode: the append failed (a final state; the caller was told).
    not_stored: AtomicU64,
    /// Outbox mode: entries claimed from the outbox (the second source of events).
    claimed: AtomicU64,
    /// Outbox mode: claimed entries given back to the outbox (retry later, shutdown).
    released: AtomicU64,
}

/// The live counters, and the only code that changes them.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    total: Counters,
    refused: [AtomicU64; 7],
    activity: [AtomicU64; 10],
    /// Woken when the engine may have become idle (see [`Ledger::leave_in_flight`]).
    idle: Notify,
}

/// An endpoint's counters, if the event is an endpoint's delivery.
pub(crate) type Tally<'a> = Option<&'a Counters>;

const ID: Ordering = Ordering::SeqCst;

const fn failed_index(kind: FailureKind) -> usize {
    match kind {
        FailureKind::Exhausted => 0,
        FailureKind::Permanent => 1,
        FailureKind::Overflow => 2,
        FailureKind::Shutdown => 3,
        FailureKind::CircuitOpen => 4,
    }
}

impl Counters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, ID);
    }

    fn sub(c: &AtomicU64, n: u64) {
        c.fetch_sub(n, ID);
    }

    /// The counts now, as callers see them.
    pub(crate) fn counts(&self) -> EndpointCounts {
        let id = |c: &AtomicU64| c.load(ID);
        EndpointCounts {
            accepted: id(&self.accepted),
            claimed: id(&self.claimed),
            queued: id(&self.queued),
            appending: id(&self.appending),
            in_flight: id(&self.in_flight),
            waiting_retries: id(&self.waiting),
            delivered: id(&self.delivered),
            evicted: id(&self.evicted),
            failed: self.failed.iter().map(id).sum(),
            circuit_open: id(&self.failed[failed_index(FailureKind::CircuitOpen)]),
            stored: id(&self.stored),
            not_stored: id(&self.not_stored),
            released: id(&self.released),
        }
    }
}

impl Ledger {
    /// Applies `f` to the totals and to the endpoint's counters, if any.
    fn each(&self, t: Tally<'_>, f: impl Fn(&Counters)) {
        f(&self.total);
        if let Some(t) = t {
            f(t);
        }
    }

    // ---- queue side (called under the queue's lock) ----

    /// A new event entered the queue.
    pub(crate) fn accept(&self, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.queued, 1);
            Counters::add(&c.accepted, 1);
        });
    }

    /// A queued event was evicted by the full-queue policy (a final state).
    pub(crate) fn evict(&self, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.evicted, 1);
            Counters::sub(&c.queued, 1);
        });
    }

    /// `n` queued events were taken for delivery (or for recording at shutdown).
    pub(crate) fn start(&self, n: u64, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.in_flight, n);
            Counters::sub(&c.queued, n);
        });
    }

    /// `n` queued events were taken to be appended to the outbox.
    pub(crate) fn to_append(&self, n: u64, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.appending, n);
            Counters::sub(&c.queued, n);
        });
    }

    /// Events in the queue now.
    pub(crate) fn queued(&self) -> u64 {
        self.total.queued.load(ID)
    }

    // ---- delivery side ----

    /// Moves an in-flight event to the retry wait if fewer than `max` wait; `false`
    /// (nothing changed) otherwise.
    pub(crate) fn park_for_retry(&self, max: u64, t: Tally<'_>) -> bool {
        let reserved = self
            .total
            .waiting
            .fetch_update(ID, ID, |n| (n < max).then_some(n + 1))
            .is_ok();
        if reserved {
            if let Some(t) = t {
                Counters::add(&t.waiting, 1);
                Counters::sub(&t.in_flight, 1);
            }
            self.leave_in_flight();
        }
        reserved
    }

    /// A waiting event goes back in flight (its retry is due, or shutdown came).
    pub(crate) fn resume(&self, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.in_flight, 1);
            Counters::sub(&c.waiting, 1);
        });
    }

    /// An in-flight event was delivered (a final state).
    pub(crate) fn delivered(&self, t: Tally<'_>) {
        Counters::add(&self.total.delivered, 1);
        if let Some(t) = t {
            Counters::add(&t.delivered, 1);
            Counters::sub(&t.in_flight, 1);
        }
        self.leave_in_flight();
    }

    /// An in-flight event finally failed (a final state; the store write was tried).
    pub(crate) fn failed(&self, kind: FailureKind, t: Tally<'_>) {
        Counters::add(&self.total.failed[failed_index(kind)], 1);
        if let Some(t) = t {
            Counters::add(&t.failed[failed_index(kind)], 1);
            Counters::sub(&t.in_flight, 1);
        }
        self.leave_in_flight();
    }

    /// Leaves `in_flight` (of the totals) after the event's next state was counted.
    ///
    /// Only the waiters for idleness listen to `idle`, so they are woken only when this
    /// may have made the engine idle, not once per event. Whatever event leaves last
    /// sees the others' decrements (one chain of read-modify-writes), so the wake-up for
    /// the idle state is never missed.
    fn leave_in_flight(&self) {
        let before = self.total.in_flight.fetch_sub(1, ID);
        if before == 1 && self.is_idle() {
            self.idle.notify_waiters();
        }
    }

    // ---- outbox side ----

    /// `n` events being appended are durable now.
    pub(crate) fn stored(&self, n: u64, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.stored, n);
            Counters::sub(&c.appending, n);
        });
        self.wake_if_idle();
    }

    /// The append of `n` events failed: they are not stored (their callers are told).
    pub(crate) fn not_stored(&self, n: u64, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.not_stored, n);
            Counters::sub(&c.appending, n);
        });
        self.wake_if_idle();
    }

    /// `n` entries were claimed from the outbox and are in flight, `recovered` of them
    /// left by a previous run or another instance.
    pub(crate) fn claim(&self, n: u64, recovered: u64, t: Tally<'_>) {
        self.each(t, |c| {
            Counters::add(&c.in_flight, n);
            Counters::add(&c.claimed, n);
        });
        self.activity[Activity::Recovered as usize].fetch_add(recovered, Ordering::Relaxed);
    }

    /// A claimed entry went back to the outbox (to retry later, or at shutdown).
    pub(crate) fn released(&self, t: Tally<'_>) {
        Counters::add(&self.total.released, 1);
        if let Some(t) = t {
            Counters::add(&t.released, 1);
            Counters::sub(&t.in_flight, 1);
        }
        self.leave_in_flight();
    }

    fn wake_if_idle(&self) {
        if self.is_idle() {
            self.idle.notify_waiters();
        }
    }

    // ---- outside the identity ----

    /// Counts an event refused before acceptance.
    pub(crate) fn refuse(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts something the engine did.
    pub(crate) fn note(&self, what: Activity) {
        self.activity[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    // ---- reading ----

    /// Whether nothing is queued, in flight or waiting.
    pub(crate) fn is_idle(&self) -> bool {
        let c = &self.total;
        c.queued.load(ID) == 0
            && c.appending.load(ID) == 0
            && c.in_flight.load(ID) == 0
            && c.waiting.load(ID) == 0
    }

    /// Waits until the engine is idle or `deadline` passes; returns whether it is idle.
    pub(crate) async fn wait_idle_until(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let woken = self.idle.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if self.is_idle() {
                return true;
            }
            if tokio::time::timeout_at(deadline, woken).await.is_err() {
                return self.is_idle();
            }
        }
    }

    /// Wakes the idle waiters so they look again (after a state change that
    /// [`Ledger::leave_in_flight`] does not cover, e.g. a waiting retry resumed).
    pub(crate) fn poke(&self) {
        self.idle.notify_waiters();
    }

    /// The counters now. Each transition adds to the new state before it takes from
    /// the old one, and `accepted` is read first, so a snapshot taken while events move
    /// may count a moving event twice; at a quiet moment it is exact.
    pub(crate) fn snapshot(&self) -> DeliveryStats {
        let rel = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let id = |c: &AtomicU64| c.load(ID);
        let t = &self.total;
        let accepted = id(&t.accepted);
        let claimed = id(&t.claimed);
        let queued = id(&t.queued);
        let appending = id(&t.appending);
        let in_flight = id(&t.in_flight);
        let waiting_retries = id(&t.waiting);
        let failed_by_kind = FailedCounts {
            exhausted: id(&t.failed[0]),
            permanent: id(&t.failed[1]),
            overflow: id(&t.failed[2]),
            shutdown: id(&t.failed[3]),
            circuit_open: id(&t.failed[4]),
        };
        let r = |why: Refusal| rel(&self.refused[why as usize]);
        let dropped = DroppedCounts {
            queue_full: r(Refusal::QueueFull),
            block_timeout: r(Refusal::BlockTimeout),
            payload_too_large: r(Refusal::PayloadTooLarge),
            shutting_down: r(Refusal::ShuttingDown),
            invalid: r(Refusal::Invalid),
        };
        let a = |what: Activity| rel(&self.activity[what as usize]);
        DeliveryStats {
            delivered: id(&t.delivered),
            evicted: id(&t.evicted),
            accepted,
            failed: failed_by_kind.total(),
            failed_by_kind,
            queued,
            in_flight,
            waiting_retries,
            dropped_total: dropped.total(),
            dropped,
            filtered: r(Refusal::Filtered),
            disabled: r(Refusal::Disabled),
            attempts: a(Activity::Attempt),
            retries: a(Activity::Retry),
            replays_enqueued: a(Activity::ReplayEnqueued),
            replays_resolved: a(Activity::ReplayResolved),
            store_errors: a(Activity::StoreError),
            appending,
            stored: id(&t.stored),
            not_stored: id(&t.not_stored),
            claimed,
            released: id(&t.released),
            recovered: a(Activity::Recovered),
            outbox_full: a(Activity::OutboxFull),
            outbox_errors: a(Activity::OutboxError),
            observer_missed: a(Activity::ObserverMissed),
            observer_panics: a(Activity::ObserverPanic),
        }
    }

    /// At a quiet point (intake closed, nothing moving), checks the identity in debug
    /// builds and logs a violation in release builds.
    pub(crate) fn assert_balanced(&self) {
        let stats = self.snapshot();
        debug_assert!(stats.balances(), "accounting identity broken: {stats:?}");
        if !stats.balances() {
            tracing::error!(?stats, "webhook accounting identity broken");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_keeps_the_identity() {
        let ledger = Ledger::default();
        for _ in 0..5 {
            ledger.accept(None);
        }
        ledger.evict(None);
        ledger.accept(None);
        ledger.start(3, None);
        assert!(ledger.park_for_retry(10, None));
        ledger.delivered(None);
        ledger.failed(FailureKind::Permanent, None);
        ledger.resume(None);
        ledger.failed(FailureKind::Shutdown, None);
        let s = ledger.snapshot();
        assert!(s.balances(), "{s:?}");
        assert_eq!(
            (s.accepted, s.queued, s.in_flight, s.waiting_retries),
            (6, 2, 0, 0)
        );
        assert_eq!((s.delivered, s.evicted, s.failed), (1, 1, 2));
        assert_eq!(s.failed_by_kind.shutdown, 1);
    }

    #[test]
    fn the_retry_wait_is_bounded_and_a_refused_park_changes_nothing() {
        let ledger = Ledger::default();
        ledger.accept(None);
        ledger.accept(None);
        ledger.start(2, None);
        assert!(ledger.park_for_retry(1, None));
        assert!(!ledger.park_for_retry(1, None));
        let s = ledger.snapshot();
        assert_eq!((s.in_flight, s.waiting_retries), (1, 1));
        assert!(s.balances());
    }

    #[test]
    fn refusals_and_activity_stay_outside_the_identity() {
        let ledger = Ledger::default();
        ledger.refuse(Refusal::QueueFull);
        ledger.refuse(Refusal::Filtered);
        ledger.note(Activity::Attempt);
        ledger.note(Activity::ObserverMissed);
        ledger.note(Activity::ObserverPanic);
        let s = ledger.snapshot();
        assert_eq!((s.dropped_total, s.filtered, s.attempts), (1, 1, 1));
        assert_eq!((s.observer_missed, s.observer_panics), (1, 1));
        assert_eq!(s.accepted, 0);
        assert!(s.balances() && s.is_idle());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waiters_wake_when_the_last_event_finishes() {
        let ledger = std::sync::Arc::new(Ledger::default());
        ledger.accept(None);
        ledger.start(1, None);
        let waiter = {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
                ledger.wait_idle_until(deadline).await
            })
        };
        tokio::task::yield_now().await;
        ledger.delivered(None);
        assert!(waiter.await.expect("waiter"));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        ledger.accept(None);
        assert!(!ledger.wait_idle_until(deadline).await);
    }
}
