//! Confirmed sends: the caller learns that its event is durable, or that it was not
//! stored.

use super::outcome::DropReason;
use crate::event::WebhookId;
use std::time::Duration;

/// The event's append committed: it is in the outbox and survives a crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Durable {
    /// The event's webhook id (the same on every attempt and replay).
    pub webhook_id: WebhookId,
}

/// Why a confirmed send could not say the event is durable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotStored {
    /// The notifier has no outbox: nothing it holds is durable.
    #[error("not stored: this notifier has no outbox (configure one to confirm durability)")]
    NoOutbox,
    /// The event was refused before it reached the outbox.
    #[error("not stored: {0}")]
    Dropped(DropReason),
    /// The event left the queue without being appended: evicted by the queue policy, or
    /// recorded in the failure store at shutdown.
    #[error(
        "not stored: the event left the queue before its append (evicted, or recorded at shutdown)"
    )]
    Discarded,
    /// The outbox refused the append (a full disk, a locked or read-only store, a lost
    /// connection); the event is not in the outbox.
    #[error("not stored: the outbox append failed: {detail}")]
    AppendFailed {
        /// The outbox's error, redacted.
        detail: String,
    },
    /// No answer within the bound: the event may still be stored later.
    #[error(
        "not confirmed within {after:?}: the event may still be stored; its webhook id is in the logs"
    )]
    NoAnswer {
        /// The bound waited.
        after: Duration,
    },
}

/// Where the commit writer reports an event's append.
#[derive(Debug)]
pub(crate) enum Confirm {
    Blocking(std::sync::mpsc::SyncSender<Result<(), String>>),
    Async(tokio::sync::oneshot::Sender<Result<(), String>>),
}

impl Confirm {
    pub(crate) fn send(self, result: Result<(), String>) {
        match self {
            Self::Blocking(tx) => {
                let _ = tx.try_send(result);
            }
            Self::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// The claim an event is delivered under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClaimRef {
    pub(crate) id: crate::outbox::EntryId,
    pub(crate) token: crate::outbox::LeaseToken,
    pub(crate) created_ms: u64,
}
