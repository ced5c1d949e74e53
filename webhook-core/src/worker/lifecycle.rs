//! Where the worker is in its life: running, draining, aborted; the cut-off of attempts
//! still running at the deadline; the shutdown report once it exists.

use super::report::ShutdownReport;
use std::future::poll_fn;
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::sync::watch;

/// Where the worker is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Intake is closed; keep delivering until the deadline.
    Draining {
        deadline: tokio::time::Instant,
    },
    /// The deadline passed: everything still pending goes to the store.
    Aborted,
}

/// The phase, the abort slots and the report: everything about stopping.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    phase: watch::Sender<Phase>,
    aborts: AbortSlots,
    report: ReportSlot,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            phase: watch::channel(Phase::Running).0,
            aborts: AbortSlots::default(),
            report: ReportSlot::default(),
        }
    }
}

impl Lifecycle {
    pub(crate) fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    pub(crate) fn is_running(&self) -> bool {
        self.phase() == Phase::Running
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    pub(crate) fn begin_drain(&self, deadline: tokio::time::Instant) {
        self.phase.send_replace(Phase::Draining { deadline });
    }

    /// The deadline passed: cuts off every attempt still running, now and to come.
    pub(crate) fn abort(&self) {
        self.phase.send_replace(Phase::Aborted);
        self.aborts.fire_all();
    }

    /// A cut-off for one delivery task.
    pub(crate) fn abort_slot(&self) -> Arc<AbortSlot> {
        self.aborts.slot()
    }

    pub(crate) fn report(&self) -> &ReportSlot {
        &self.report
    }
}

/// How the shutdown cuts off the attempts still running at its deadline.
///
/// Each delivery task (a lane that goes on with the next queued event, or a task spawned
/// while draining) holds one slot for its whole life, so an attempt only stores its
/// task's waker (usually the same one, so nothing is cloned) under an uncontended lock.
/// A `watch` receiver per attempt cost a subscription and a registration in a shared
/// waiter list for every event.
#[derive(Debug, Default)]
pub(crate) struct AbortSlot {
    /// Whether the shutdown fired, and the waker of the attempt waiting on it.
    state: Mutex<(bool, Option<Waker>)>,
}

impl AbortSlot {
    fn fire(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Resolves once the shutdown deadline has passed.
    pub(crate) async fn fired(&self) {
        poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0 {
                return Poll::Ready(());
            }
            match &state.1 {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.1 = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
    }
}

/// Every live [`AbortSlot`], and whether they have been fired.
#[derive(Debug, Default)]
struct AbortSlots {
    state: Mutex<(bool, Vec<Weak<AbortSlot>>)>,
}

impl AbortSlots {
    /// A new slot, already fired if the shutdown deadline has passed.
    fn slot(&self) -> Arc<AbortSlot> {
        let slot = Arc::new(AbortSlot::default());
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 {
            slot.fire();
            return slot;
        }
        // Slots die with their tasks; forget the dead ones before the list doubles.
        if state.1.len() == state.1.capacity() {
            state.1.retain(|weak| weak.strong_count() > 0);
        }
        state.1.push(Arc::downgrade(&slot));
        slot
    }

    /// Fires every slot, now and to come.
    fn fire_all(&self) {
        let slots = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            std::mem::take(&mut state.1)
        };
        for slot in slots.iter().filter_map(Weak::upgrade) {
            slot.fire();
        }
    }
}

/// The shutdown report, published once by the worker thread, read by any handle from
/// a plain thread (blocking) or a task (awaiting).
#[derive(Debug)]
pub(crate) struct ReportSlot {
    report: Mutex<Option<ShutdownReport>>,
    ready: Condvar,
    watch: watch::Sender<Option<ShutdownReport>>,
}

impl Default for ReportSlot {
    fn default() -> Self {
        Self {
            report: Mutex::new(None),
            ready: Condvar::new(),
            watch: watch::channel(None).0,
        }
    }
}

impl ReportSlot {
    pub(crate) fn publish(&self, report: ShutdownReport) {
        *self.report.lock().unwrap_or_else(PoisonError::into_inner) = Some(report.clone());
        self.ready.notify_all();
        self.watch.send_replace(Some(report));
    }

    pub(crate) fn get(&self) -> Option<ShutdownReport> {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Blocks until the report is published, up to `bound`.
    pub(crate) fn wait_blocking(&self, bound: Duration) -> Option<ShutdownReport> {
        let guard = self.report.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) = self
            .ready
            .wait_timeout_while(guard, bound, |r| r.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        guard.clone()
    }

    /// Awaits the report (no timer of its own: the caller bounds it).
    pub(crate) async fn wait(&self) -> Option<ShutdownReport> {
        let mut rx = self.watch.subscribe();
        rx.wait_for(Option::is_some).await.ok()?.clone()
    }
}
