//! What enqueueing an event came to.

use std::fmt;

/// The result of offering an event to the notifier. Callers may ignore it: a refused
/// event is counted and logged either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Queued for delivery.
    Accepted,
    /// Queued after the policy evicted an older queued event.
    AcceptedAfterEviction,
    /// Not queued, for this reason.
    Dropped(DropReason),
}

impl EnqueueOutcome {
    /// Whether the event was queued.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted | Self::AcceptedAfterEviction)
    }
}

/// Why an event was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// Webhooks are disabled in the configuration.
    #[error("webhooks are disabled (enabled = false)")]
    Disabled,
    /// The configuration does not subscribe to this event.
    #[error("event not in the configured `events` list")]
    Filtered,
    /// The queue was full and the policy refused the event.
    #[error("queue full: the policy refused the new event")]
    QueueFull,
    /// `block_with_timeout` waited its bound without room.
    #[error("queue full: no room within the block_with_timeout bound")]
    BlockTimeout,
    /// The body is larger than `max_payload_bytes`.
    #[error("payload of {size} bytes is over max_payload_bytes = {limit}")]
    PayloadTooLarge {
        /// The body's size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The notifier is shutting down.
    #[error("the notifier is shutting down")]
    ShuttingDown,
    /// Synchronous durability: the outbox append failed, so the event was not stored.
    #[error("the outbox could not store the event (durability = sync)")]
    NotStored,
    /// The payload could not be serialized to JSON.
    #[error("the payload could not be serialized to JSON")]
    Invalid,
}

impl fmt::Display for EnqueueOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accepted => f.write_str("accepted"),
            Self::AcceptedAfterEviction => {
                f.write_str("accepted (evicted the oldest queued event)")
            }
            Self::Dropped(reason) => write!(f, "dropped: {reason}"),
        }
    }
}
