//! What shutdown reports.

use crate::accounting::DeliveryStats;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The outcome of [`Notifier::shutdown`](super::Notifier::shutdown).
///
/// Every event accepted before shutdown is accounted for in `stats`; this report says
/// what happened during the drain itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownReport {
    /// Events delivered while draining.
    pub delivered: u64,
    /// Events written to the failure store because the deadline came first
    /// (still queued, in flight or waiting to retry).
    pub recorded: u64,
    /// Events that failed for other reasons while draining (and were recorded).
    pub failed: u64,
    /// Store writes that failed while shutting down: these events are lost.
    pub abandoned: u64,
    /// Events still unaccounted for when the store-write bound ran out (0 unless the
    /// store hangs).
    pub unfinished: u64,
    /// Whether the deadline passed with work left.
    pub deadline_reached: bool,
    /// How long the shutdown took.
    #[serde(with = "millis")]
    pub elapsed: Duration,
    /// The counters at the end.
    pub stats: DeliveryStats,
    /// Outbox mode: entries the outbox still holds (not delivered by the deadline, or
    /// waiting for a retry), for the next start or another instance.
    #[serde(default)]
    pub left_in_outbox: u64,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
