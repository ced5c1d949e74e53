//! A recording [`Observer`]: keeps every report, and can be held back to play a slow one.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use webhook_core::observe::{
    AttemptReport, DeliveredReport, DroppedReport, FailedReport, Observer, ObserverEvent,
};

/// The longest a held observer waits for [`RecordingObserver::release`] on one report.
pub const MAX_HOLD: Duration = Duration::from_secs(30);

/// An [`Observer`] that records every report it is told, in order.
///
/// After [`Notifier::shutdown`](webhook_core::Notifier::shutdown) returns, the observer
/// has been told everything (the shutdown lets it catch up), so a test reads
/// [`events`](Self::events) without waiting.
///
/// [`hold`](Self::hold) makes it block on each report until [`release`](Self::release)
/// (at most [`MAX_HOLD`] per report): a slow observer, to check that delivery does not
/// wait for it and that what it misses is counted.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use webhook_core::observe::ObserverEvent;
/// use webhook_core::{Notifier, WebhookEventType, WebhookPayload};
/// use webhook_testkit::{RecordingObserver, Script, ScriptedTransport, TestConfig};
///
/// let observer = Arc::new(RecordingObserver::new());
/// let transport = Arc::new(ScriptedTransport::per_webhook(Script::fail_then_succeed(1, 503)));
/// let notifier = Notifier::builder(TestConfig::default().resolve()?, transport)
///     .observer(observer.clone())
///     .paused_clock()
///     .start()?;
/// notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated));
/// notifier.shutdown(Duration::from_secs(5));
///
/// let attempts = observer.attempts();
/// assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(observer.delivered().len(), 1);
/// assert!(matches!(observer.events().last(), Some(ObserverEvent::Delivered(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct RecordingObserver {
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct State {
    events: Vec<ObserverEvent>,
    held: bool,
}

impl RecordingObserver {
    /// An observer that records without delay.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// From now on, each report waits for [`release`](Self::release) before it is
    /// recorded (at most [`MAX_HOLD`]).
    pub fn hold(&self) {
        self.lock().held = true;
    }

    /// Lets held reports through, and records later ones without delay.
    pub fn release(&self) {
        self.lock().held = false;
        self.released.notify_all();
    }

    /// Every report so far, in order.
    pub fn events(&self) -> Vec<ObserverEvent> {
        self.lock().events.clone()
    }

    /// How many reports were recorded.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// The attempt reports, in order.
    pub fn attempts(&self) -> Vec<AttemptReport> {
        self.pick(|e| match e {
            ObserverEvent::Attempt(a) => Some(a.clone()),
            _ => None,
        })
    }

    /// The delivered reports, in order.
    pub fn delivered(&self) -> Vec<DeliveredReport> {
        self.pick(|e| match e {
            ObserverEvent::Delivered(d) => Some(d.clone()),
            _ => None,
        })
    }

    /// The final-failure reports, in order.
    pub fn failed(&self) -> Vec<FailedReport> {
        self.pick(|e| match e {
            ObserverEvent::Failed(f) => Some(f.clone()),
            _ => None,
        })
    }

    /// The refusal and eviction reports, in order.
    pub fn dropped(&self) -> Vec<DroppedReport> {
        self.pick(|e| match e {
            ObserverEvent::Dropped(d) => Some(d.clone()),
            _ => None,
        })
    }

    fn pick<T>(&self, f: impl FnMut(&ObserverEvent) -> Option<T>) -> Vec<T> {
        self.lock().events.iter().filter_map(f).collect()
    }
}

impl Observer for RecordingObserver {
    fn on_event(&self, event: &ObserverEvent) {
        let deadline = Instant::now() + MAX_HOLD;
        let mut state = self.lock();
        while state.held {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .released
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.events.push(event.clone());
    }
}
