//! [`assert_accounting`]: the accounting identity as an assertion.

use webhook_core::{DeliveryStats, ShutdownReport, WebhookDiagnostics};

/// Anything that carries the notifier's counters: [`DeliveryStats`] (from
/// `Notifier::stats`), a [`WebhookDiagnostics`] snapshot, or a [`ShutdownReport`].
pub trait AccountingSnapshot {
    /// The counters.
    fn delivery_stats(&self) -> &DeliveryStats;
}

impl AccountingSnapshot for DeliveryStats {
    fn delivery_stats(&self) -> &DeliveryStats {
        self
    }
}

impl AccountingSnapshot for WebhookDiagnostics {
    fn delivery_stats(&self) -> &DeliveryStats {
        &self.stats
    }
}

impl AccountingSnapshot for ShutdownReport {
    fn delivery_stats(&self) -> &DeliveryStats {
        &self.stats
    }
}

/// Panics, naming every term, unless
/// `accepted = delivered + failed + evicted + queued + in_flight + waiting_retries`.
///
/// The identity holds at any quiet moment: after `Notifier::wait_idle`, in a diagnostics
/// snapshot taken then, and in a `ShutdownReport`. All three can be passed as they are
/// (see [`AccountingSnapshot`]).
///
/// ```
/// use webhook_core::DeliveryStats;
/// use webhook_testkit::assert_accounting;
///
/// let stats = DeliveryStats { accepted: 3, delivered: 2, evicted: 1, ..DeliveryStats::default() };
/// assert_accounting(&stats);
/// ```
///
/// ```should_panic
/// # use webhook_core::DeliveryStats;
/// # use webhook_testkit::assert_accounting;
/// // One accepted event is missing: the message shows every term.
/// assert_accounting(&DeliveryStats { accepted: 3, delivered: 2, ..DeliveryStats::default() });
/// ```
#[track_caller]
pub fn assert_accounting(snapshot: &impl AccountingSnapshot) {
    let stats = snapshot.delivery_stats();
    if stats.balances() {
        return;
    }
    let outcomes = stats.delivered
        + stats.failed
        + stats.evicted
        + stats.queued
        + stats.in_flight
        + stats.waiting_retries;
    panic!(
        "accounting identity broken: accepted ({}) != delivered ({}) + failed ({}) + evicted ({}) \
         + queued ({}) + in_flight ({}) + waiting_retries ({}) = {outcomes}; {} event(s) {}\n\
         full counters: {stats:?}",
        stats.accepted,
        stats.delivered,
        stats.failed,
        stats.evicted,
        stats.queued,
        stats.in_flight,
        stats.waiting_retries,
        stats.accepted.abs_diff(outcomes),
        if stats.accepted > outcomes {
            "unaccounted for"
        } else {
            "counted twice"
        },
    );
}
