//! [`assert_accounting`]: the accounting identity as an assertion.

use webhook_core::DeliveryStats;

/// Panics, naming every term, unless
/// `accepted = delivered + failed + evicted + queued + in_flight + waiting_retries`.
///
/// The identity holds at any quiet moment (after `Notifier::wait_idle`, or in a
/// `ShutdownReport`); take a diagnostics snapshot's counters with `&diagnostics.stats`.
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
pub fn assert_accounting(stats: &DeliveryStats) {
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
