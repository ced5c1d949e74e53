//! What an [`Observer`](super::Observer) is told, and the figures of the moment.

use crate::event::WebhookId;
use crate::store::{FailureKind, RecordId};
use crate::transport::TransportErrorKind;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::time::Duration;

/// One report from the worker.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObserverEvent {
    /// An attempt finished (one per request sent).
    Attempt(AttemptReport),
    /// An event was delivered (a final outcome).
    Delivered(DeliveredReport),
    /// An event finally failed and was recorded in the failure store (a final outcome).
    Failed(FailedReport),
    /// An event was refused at enqueue, or evicted from the queue by its policy.
    Dropped(DroppedReport),
    /// A replayed failure record was delivered and marked resolved.
    Recovered(RecoveredReport),
    /// An endpoint's circuit breaker changed state.
    Breaker(BreakerReport),
}

/// An endpoint's breaker changed state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerReport {
    /// The endpoint's id.
    pub endpoint: String,
    /// The state before.
    pub from: crate::endpoint::BreakerState,
    /// The state after.
    pub to: crate::endpoint::BreakerState,
    /// Attempts the breaker saw since it last closed.
    pub attempts: u64,
}

/// One finished attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptReport {
    /// The event's webhook id (the same on every attempt and replay).
    pub webhook_id: WebhookId,
    /// The event name.
    pub event: Cow<'static, str>,
    /// The endpoint's id, once endpoints exist (`None` with a single destination).
    pub endpoint: Option<String>,
    /// The attempt's number (1 for the first; replays go on from the record's count).
    pub attempt: u32,
    /// What came back.
    pub result: AttemptResult,
    /// From the request's start to its result.
    pub duration: Duration,
}

/// What one attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttemptResult {
    /// The server answered with this status (any status, 2xx included).
    Status(u16),
    /// No status was obtained, for this reason.
    Error(TransportErrorKind),
}

impl AttemptResult {
    /// Whether the server answered 2xx.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Status(200..=299))
    }

    /// A label with few values (for a metric): `2xx`, `3xx`, `4xx`, `5xx`, `1xx`,
    /// `other_status`, or the error kind (`timeout`, `connect`, `tls`, `blocked`,
    /// `invalid_url`, `io`, `request`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Status(100..=199) => "1xx",
            Self::Status(200..=299) => "2xx",
            Self::Status(300..=399) => "3xx",
            Self::Status(400..=499) => "4xx",
            Self::Status(500..=599) => "5xx",
            Self::Status(_) => "other_status",
            Self::Error(kind) => kind.as_str(),
        }
    }
}

/// An event delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveredReport {
    /// The event's webhook id.
    pub webhook_id: WebhookId,
    /// The event name.
    pub event: Cow<'static, str>,
    /// The failure record it was replayed from, if it was a replay.
    pub replay_of: Option<RecordId>,
}

/// An event that finally failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedReport {
    /// The event's webhook id.
    pub webhook_id: WebhookId,
    /// The event name.
    pub event: Cow<'static, str>,
    /// Why: retries used up, not worth retrying, too many waiting, left at shutdown.
    pub kind: FailureKind,
    /// The record written (or the replayed record updated); `None` if the store write
    /// failed or timed out (counted in `DeliveryStats::store_errors`).
    pub record: Option<RecordId>,
}

/// An event refused or evicted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DroppedReport {
    /// Why.
    pub reason: DroppedWhy,
}

/// Why an event was dropped (the `reason` label of `webhook_dropped_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DroppedWhy {
    /// The queue was full and the policy refused the new event.
    QueueFull,
    /// `block_with_timeout` waited its bound without room.
    BlockTimeout,
    /// The body was over `max_payload_bytes`.
    PayloadTooLarge,
    /// The notifier was shutting down.
    ShuttingDown,
    /// The payload could not be serialized.
    Invalid,
    /// An accepted event was evicted from the full queue by its policy.
    Evicted,
}

impl DroppedWhy {
    /// Every reason, in label order.
    pub const ALL: [Self; 6] = [
        Self::QueueFull,
        Self::BlockTimeout,
        Self::PayloadTooLarge,
        Self::ShuttingDown,
        Self::Invalid,
        Self::Evicted,
    ];

    /// A stable snake_case name (the metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::QueueFull => "queue_full",
            Self::BlockTimeout => "block_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::ShuttingDown => "shutting_down",
            Self::Invalid => "invalid",
            Self::Evicted => "evicted",
        }
    }
}

/// A replayed record that was delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveredReport {
    /// The record, now resolved.
    pub record: RecordId,
    /// The event's webhook id.
    pub webhook_id: WebhookId,
}

/// The figures of the moment that gauges show: what is pending and how old the oldest is.
///
/// Cheap to take (a few atomic loads and one short look at the front of the queue).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Figures {
    /// Events in the queue (`webhook_queue_depth`).
    pub queue_depth: u64,
    /// Events being attempted or recorded (`webhook_in_flight`).
    pub in_flight: u64,
    /// Events waiting for a retry.
    pub waiting_retries: u64,
    /// Entries in a durable outbox not yet delivered (`webhook_outbox_pending`); `None`
    /// without an outbox.
    pub outbox_pending: Option<u64>,
    /// The age of the oldest pending event (`webhook_oldest_pending_seconds`): the
    /// oldest queued event, or the outbox's oldest entry when it has one; `None` when
    /// nothing is pending.
    #[serde(with = "opt_secs")]
    pub oldest_pending: Option<Duration>,
}

impl Figures {
    /// Builds figures; for code outside this crate that reports its own (tests, tools).
    pub fn new(
        queue_depth: u64,
        in_flight: u64,
        waiting_retries: u64,
        outbox_pending: Option<u64>,
        oldest_pending: Option<Duration>,
    ) -> Self {
        Self {
            queue_depth,
            in_flight,
            waiting_retries,
            outbox_pending,
            oldest_pending,
        }
    }

    /// The oldest pending age in seconds (0 when nothing is pending), as the gauge shows it.
    pub fn oldest_pending_seconds(&self) -> f64 {
        self.oldest_pending.map_or(0.0, |d| d.as_secs_f64())
    }
}

/// `Option<Duration>` as seconds (a float) in JSON.
mod opt_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let secs = Option::<f64>::deserialize(d)?;
        Ok(secs
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_labels_group_statuses_by_class_and_errors_by_kind() {
        assert_eq!(AttemptResult::Status(204).label(), "2xx");
        assert_eq!(AttemptResult::Status(429).label(), "4xx");
        assert_eq!(AttemptResult::Status(503).label(), "5xx");
        assert_eq!(AttemptResult::Status(700).label(), "other_status");
        assert_eq!(
            AttemptResult::Error(TransportErrorKind::Timeout).label(),
            "timeout"
        );
        assert!(AttemptResult::Status(200).is_success());
        assert!(!AttemptResult::Status(301).is_success());
    }

    #[test]
    fn figures_serialize_the_oldest_age_in_seconds() {
        let f = Figures::new(3, 1, 0, None, Some(Duration::from_millis(1500)));
        let json = serde_json::to_value(f).expect("json");
        assert_eq!(json["oldest_pending"], 1.5);
        assert_eq!(json["outbox_pending"], serde_json::Value::Null);
        let back: Figures = serde_json::from_value(json).expect("back");
        assert_eq!(back, f);
        assert_eq!(Figures::default().oldest_pending_seconds(), 0.0);
    }
}
