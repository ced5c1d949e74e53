//! The `Observer` plug point, the figures operators watch, and (with the `metrics`
//! feature) the Prometheus-style instruments.
//!
//! The worker reports what happens through one `Hub` (an [`Engine`](crate::worker)
//! part): each attempt, each final outcome, each refusal and each recovered record.
//! The hub hands reports to a dedicated thread through a bounded buffer, so an
//! [`Observer`] never runs on the delivery path: a slow one loses reports (counted in
//! [`DeliveryStats::observer_missed`](crate::DeliveryStats::observer_missed)), a
//! panicking one is caught (counted in
//! [`DeliveryStats::observer_panics`](crate::DeliveryStats::observer_panics)); neither
//! slows or stops delivery.
//!
//! Each attempt also runs inside a `tracing` span named `webhook.attempt` (fields
//! `webhook.id`, `webhook.event`, `webhook.endpoint`, `webhook.attempt`,
//! `server.address`, `outcome`, `http.response.status_code`, `error.type`): never a
//! secret, a URL path or a query.

mod hub;
#[cfg(feature = "metrics")]
mod instruments;
pub mod names;
mod report;

pub(crate) use hub::{DEFAULT_OBSERVER_BUFFER, Hub, HubOptions};
pub use report::{
    AttemptReport, AttemptResult, BreakerReport, DeliveredReport, DroppedReport, DroppedWhy,
    FailedReport, Figures, ObserverEvent, RecoveredReport,
};

/// Told what the worker does: attempts, final outcomes, refusals, recoveries.
///
/// Register one with [`NotifierBuilder::observer`](crate::NotifierBuilder::observer).
///
/// # What the worker promises
/// - Every report is handed over after the fact, on a thread of its own
///   (`webhook-observer`), never on the delivery path and never on the caller's thread.
/// - Reports arrive in the order the worker made them, one call at a time.
/// - Reports hold no secret, URL path or query: ids, event names, attempt numbers,
///   statuses, error kinds, durations, record ids and reasons.
/// - A report that does not fit in the bounded buffer (the observer fell behind) is
///   dropped and counted in `DeliveryStats::observer_missed`; a panic in
///   [`on_event`](Observer::on_event) is caught and counted in
///   `DeliveryStats::observer_panics`. Delivery goes on at full speed either way.
/// - At shutdown the worker lets the observer catch up (within the shutdown's store
///   bound) before the shutdown returns.
///
/// # What the worker expects back
/// - Nothing: `on_event` returns nothing and cannot refuse a report. It should be quick
///   (aggregate, forward to a channel); whatever time it takes costs it reports, not
///   the worker its speed.
///
/// # Example: count deliveries by outcome
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use webhook_core::observe::{Observer, ObserverEvent};
///
/// #[derive(Debug, Default)]
/// struct Tally {
///     delivered: AtomicU64,
///     failed: AtomicU64,
/// }
///
/// impl Observer for Tally {
///     fn on_event(&self, event: &ObserverEvent) {
///         match event {
///             ObserverEvent::Delivered(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
///             ObserverEvent::Failed(_) => self.failed.fetch_add(1, Ordering::Relaxed),
///             _ => 0,
///         };
///     }
/// }
/// let _shared: std::sync::Arc<dyn Observer> = std::sync::Arc::new(Tally::default());
/// ```
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// Called once per report, on the observer's thread.
    fn on_event(&self, event: &ObserverEvent);
}
