//! The `metrics` feature: counters, a histogram and gauges through the `metrics` facade.
//!
//! Every instrument is registered once, when the notifier starts, with the recorder in
//! force then (install the exporter's recorder first): afterwards recording is an
//! atomic operation on a handle, with no name or label lookup on the delivery path.

use super::names;
use super::report::{AttemptResult, DroppedWhy, Figures};
use crate::store::FailureKind;
use crate::transport::TransportErrorKind;
use metrics::{Counter, Gauge, Histogram, Unit};
use std::time::Duration;

/// The `result` labels of `webhook_attempts_total`, in index order.
const ATTEMPT_LABELS: [&str; 13] = [
    "1xx",
    "2xx",
    "3xx",
    "4xx",
    "5xx",
    "other_status",
    "timeout",
    "connect",
    "tls",
    "blocked",
    "invalid_url",
    "io",
    "request",
];

const fn attempt_index(result: AttemptResult) -> usize {
    match result {
        AttemptResult::Status(100..=199) => 0,
        AttemptResult::Status(200..=299) => 1,
        AttemptResult::Status(300..=399) => 2,
        AttemptResult::Status(400..=499) => 3,
        AttemptResult::Status(500..=599) => 4,
        AttemptResult::Status(_) => 5,
        AttemptResult::Error(kind) => match kind {
            TransportErrorKind::Timeout => 6,
            TransportErrorKind::Connect => 7,
            TransportErrorKind::Tls => 8,
            TransportErrorKind::Blocked => 9,
            TransportErrorKind::InvalidUrl => 10,
            TransportErrorKind::Io => 11,
            TransportErrorKind::Request => 12,
        },
    }
}

/// The `outcome` labels of `webhook_deliveries_total`, in index order.
const OUTCOME_LABELS: [&str; 6] = [
    "delivered",
    "exhausted",
    "permanent",
    "overflow",
    "shutdown",
    "circuit_open",
];

const fn failed_index(kind: FailureKind) -> usize {
    match kind {
        FailureKind::Exhausted => 1,
        FailureKind::Permanent => 2,
        FailureKind::Overflow => 3,
        FailureKind::Shutdown => 4,
        FailureKind::CircuitOpen => 5,
    }
}

/// The registered handles.
pub(crate) struct Instruments {
    deliveries: [Counter; 6],
    attempts: [Counter; 13],
    attempt_duration: Histogram,
    dropped: [Counter; 6],
    queue_depth: Gauge,
    in_flight: Gauge,
    outbox_pending: Gauge,
    oldest_pending: Gauge,
}

impl Instruments {
    /// Registers every instrument with the recorder in force now.
    pub(crate) fn register() -> Self {
        use names::*;
        metrics::describe_counter!(DELIVERIES_TOTAL, "Events that reached a final outcome");
        metrics::describe_counter!(ATTEMPTS_TOTAL, "Delivery attempts, by result");
        metrics::describe_histogram!(
            ATTEMPT_DURATION_SECONDS,
            Unit::Seconds,
            "Duration of delivery attempts"
        );
        metrics::describe_gauge!(QUEUE_DEPTH, "Events in the queue");
        metrics::describe_gauge!(IN_FLIGHT, "Events being attempted or recorded");
        metrics::describe_gauge!(OUTBOX_PENDING, "Outbox entries not yet delivered");
        metrics::describe_gauge!(
            OLDEST_PENDING_SECONDS,
            Unit::Seconds,
            "Age of the oldest pending event"
        );
        metrics::describe_counter!(DROPPED_TOTAL, "Events refused or evicted, by reason");
        Self {
            deliveries: OUTCOME_LABELS.map(|o| metrics::counter!(DELIVERIES_TOTAL, "outcome" => o)),
            attempts: ATTEMPT_LABELS.map(|r| metrics::counter!(ATTEMPTS_TOTAL, "result" => r)),
            attempt_duration: metrics::histogram!(ATTEMPT_DURATION_SECONDS),
            dropped: DroppedWhy::ALL
                .map(|why| metrics::counter!(DROPPED_TOTAL, "reason" => why.as_str())),
            queue_depth: metrics::gauge!(QUEUE_DEPTH),
            in_flight: metrics::gauge!(IN_FLIGHT),
            outbox_pending: metrics::gauge!(OUTBOX_PENDING),
            oldest_pending: metrics::gauge!(OLDEST_PENDING_SECONDS),
        }
    }

    pub(crate) fn attempt(&self, result: AttemptResult, duration: Duration) {
        self.attempts[attempt_index(result)].increment(1);
        self.attempt_duration.record(duration.as_secs_f64());
    }

    pub(crate) fn delivered(&self) {
        self.deliveries[0].increment(1);
    }

    pub(crate) fn failed(&self, kind: FailureKind) {
        self.deliveries[failed_index(kind)].increment(1);
    }

    pub(crate) fn dropped(&self, why: DroppedWhy) {
        let i = DroppedWhy::ALL.iter().position(|w| *w == why).unwrap_or(0);
        self.dropped[i].increment(1);
    }

    pub(crate) fn set_gauges(&self, figures: &Figures) {
        self.queue_depth.set(figures.queue_depth as f64);
        self.in_flight.set(figures.in_flight as f64);
        if let Some(pending) = figures.outbox_pending {
            self.outbox_pending.set(pending as f64);
        }
        self.oldest_pending.set(figures.oldest_pending_seconds());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_indices_match_the_labels() {
        for result in [
            AttemptResult::Status(101),
            AttemptResult::Status(204),
            AttemptResult::Status(302),
            AttemptResult::Status(429),
            AttemptResult::Status(503),
            AttemptResult::Status(999),
            AttemptResult::Error(TransportErrorKind::Timeout),
            AttemptResult::Error(TransportErrorKind::Request),
        ] {
            assert_eq!(ATTEMPT_LABELS[attempt_index(result)], result.label());
        }
        assert_eq!(
            OUTCOME_LABELS[failed_index(FailureKind::Shutdown)],
            "shutdown"
        );
        assert_eq!(
            OUTCOME_LABELS[failed_index(FailureKind::Exhausted)],
            "exhausted"
        );
    }
}
