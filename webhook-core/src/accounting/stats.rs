//! The snapshot of the ledger that callers see.

use serde::{Deserialize, Serialize};

/// Final failures by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedCounts {
    /// Retries used up.
    pub exhausted: u64,
    /// Not worth retrying.
    pub permanent: u64,
    /// Too many retries waiting.
    pub overflow: u64,
    /// Left over at shutdown.
    pub shutdown: u64,
    /// An endpoint's breaker was open and its queue full (recorded for replay).
    #[serde(default)]
    pub circuit_open: u64,
}

impl FailedCounts {
    /// The sum of all kinds.
    pub fn total(&self) -> u64 {
        self.exhausted + self.permanent + self.overflow + self.shutdown + self.circuit_open
    }
}

/// Events refused at enqueue, by reason (never accepted, so outside the identity).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedCounts {
    /// The queue was full and the policy refused the new event.
    pub queue_full: u64,
    /// `block_with_timeout` waited its bound without room.
    pub block_timeout: u64,
    /// The body was over `max_payload_bytes`.
    pub payload_too_large: u64,
    /// The notifier was shutting down.
    pub shutting_down: u64,
    /// The payload could not be serialized.
    pub invalid: u64,
}

impl DroppedCounts {
    /// The sum of all reasons.
    pub fn total(&self) -> u64 {
        self.queue_full
            + self.block_timeout
            + self.payload_too_large
            + self.shutting_down
            + self.invalid
    }
}

/// A consistent-enough snapshot of the counters: cheap (a few atomic loads), safe to
/// call often.
///
/// At any quiet moment [`DeliveryStats::balances`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStats {
    /// Events accepted into the queue (including replays).
    pub accepted: u64,
    /// Events delivered (a 2xx).
    pub delivered: u64,
    /// Events that finally failed (recorded in the store, or attempted to be).
    pub failed: u64,
    /// `failed`, by kind.
    pub failed_by_kind: FailedCounts,
    /// Accepted events evicted by the queue policy.
    pub evicted: u64,
    /// Events in the queue now.
    pub queued: u64,
    /// Events being attempted (or recorded) now.
    pub in_flight: u64,
    /// Events waiting for a retry now.
    pub waiting_retries: u64,
    /// Events refused at enqueue.
    pub dropped_total: u64,
    /// Refusals by reason.
    pub dropped: DroppedCounts,
    /// Events not sent because the configuration does not subscribe to them.
    pub filtered: u64,
    /// Events not sent because webhooks are disabled.
    pub disabled: u64,
    /// HTTP attempts made.
    pub attempts: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Replays enqueued.
    pub replays_enqueued: u64,
    /// Replays that delivered their record.
    pub replays_resolved: u64,
    /// Store writes that failed (their events are counted in `failed` all the same).
    pub store_errors: u64,
    /// Outbox mode: events being appended now (with `queued`, the accepted events that
    /// are not yet durable).
    #[serde(default)]
    pub appending: u64,
    /// Outbox mode: events appended durably.
    #[serde(default)]
    pub stored: u64,
    /// Outbox mode: events whose append failed (their callers were told; logged).
    #[serde(default)]
    pub not_stored: u64,
    /// Outbox mode: entries claimed from the outbox (including `recovered`).
    #[serde(default)]
    pub claimed: u64,
    /// Outbox mode: claimed entries given back to the outbox (to retry later, or left
    /// there at shutdown).
    #[serde(default)]
    pub released: u64,
    /// Outbox mode: claimed entries that a previous run or another instance appended.
    #[serde(default)]
    pub recovered: u64,
    /// Outbox mode: times the writer waited because the outbox was full.
    #[serde(default)]
    pub outbox_full: u64,
    /// Outbox mode: outbox calls that failed (and were retried).
    #[serde(default)]
    pub outbox_errors: u64,
    /// Reports an observer never got because it fell behind (its buffer was full).
    #[serde(default)]
    pub observer_missed: u64,
    /// Reports on which the observer panicked (caught; delivery went on).
    #[serde(default)]
    pub observer_panics: u64,
}

impl DeliveryStats {
    /// Whether `accepted + claimed = delivered + failed + evicted + not_stored + stored +
    /// released + queued + appending + in_flight + waiting_retries`.
    ///
    /// Without an outbox, `claimed`, `stored`, `not_stored`, `released` and `appending`
    /// stay 0 and this is `accepted = delivered + failed + evicted + queued + in_flight +
    /// waiting_retries`. With one, every accepted event ends as stored (or evicted, or
    /// not stored), and every claimed entry as delivered, failed or released.
    pub fn balances(&self) -> bool {
        self.identity_terms().balances()
    }

    /// The terms of the identity, as one endpoint's counters hold them (the identity is
    /// written once, in [`EndpointCounts::balances`]).
    fn identity_terms(&self) -> EndpointCounts {
        EndpointCounts {
            accepted: self.accepted,
            claimed: self.claimed,
            queued: self.queued,
            appending: self.appending,
            in_flight: self.in_flight,
            waiting_retries: self.waiting_retries,
            delivered: self.delivered,
            evicted: self.evicted,
            failed: self.failed,
            circuit_open: 0,
            stored: self.stored,
            not_stored: self.not_stored,
            released: self.released,
        }
    }

    /// Whether nothing is queued, being appended, in flight or waiting.
    pub fn is_idle(&self) -> bool {
        self.queued == 0 && self.appending == 0 && self.in_flight == 0 && self.waiting_retries == 0
    }

    /// Accepted events not yet durable (outbox mode): queued or being appended.
    pub fn not_yet_durable(&self) -> u64 {
        self.queued + self.appending
    }
}

/// One endpoint's share of the counters: the same identity holds for it alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointCounts {
    /// Deliveries accepted for it (one per event it was fanned out to).
    pub accepted: u64,
    /// Outbox mode: its entries claimed.
    pub claimed: u64,
    /// Waiting in its queue now.
    pub queued: u64,
    /// Outbox mode: being appended now.
    pub appending: u64,
    /// Being attempted (or recorded) now.
    pub in_flight: u64,
    /// Waiting for a retry (or for its breaker) now.
    pub waiting_retries: u64,
    /// Delivered.
    pub delivered: u64,
    /// Evicted by the full-queue policy.
    pub evicted: u64,
    /// Finally failed (every kind, `circuit_open` included).
    pub failed: u64,
    /// Failed because its breaker was open and its queue full.
    pub circuit_open: u64,
    /// Outbox mode: appended durably.
    pub stored: u64,
    /// Outbox mode: the append failed.
    pub not_stored: u64,
    /// Outbox mode: given back to the outbox.
    pub released: u64,
}

impl EndpointCounts {
    /// The identity of [`DeliveryStats::balances`], for this endpoint alone.
    pub fn balances(&self) -> bool {
        self.accepted + self.claimed
            == self.delivered
                + self.failed
                + self.evicted
                + self.not_stored
                + self.stored
                + self.released
                + self.queued
                + self.appending
                + self.in_flight
                + self.waiting_retries
    }
}
