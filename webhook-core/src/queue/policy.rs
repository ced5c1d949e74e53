//! The `QueuePolicy` plug point: what happens to a new event when the queue is full.

use super::QueuedEvent;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// Decides what to do with an incoming event when the queue is full.
///
/// # What the queue promises
/// - `on_full` is called only when the queue is at capacity, with the incoming event and
///   a view of the queued ones (oldest first). It is called under the queue's lock, so it
///   must be quick and must not block.
/// - The action is applied exactly: an eviction removes that event (counted as evicted),
///   a drop refuses the incoming one (counted as dropped), a wait blocks the caller (or
///   awaits, on the async path) up to the bound and then drops if still full.
///
/// # Example: never evict `task_failed`
/// ```
/// use webhook_core::queue::{FullQueue, FullQueueAction, QueuePolicy};
///
/// #[derive(Debug)]
/// struct KeepFailures;
///
/// impl QueuePolicy for KeepFailures {
///     fn on_full(&self, queue: &FullQueue<'_>) -> FullQueueAction {
///         match queue.queued().position(|e| e.event() != "task_failed") {
///             Some(i) => FullQueueAction::Evict(i),
///             None => FullQueueAction::DropIncoming,
///         }
///     }
/// }
/// let _shared: std::sync::Arc<dyn QueuePolicy> = std::sync::Arc::new(KeepFailures);
/// ```
pub trait QueuePolicy: Send + Sync + std::fmt::Debug {
    /// Chooses the action for `queue.incoming()` on a full queue.
    fn on_full(&self, queue: &FullQueue<'_>) -> FullQueueAction;
}

/// What to do with an incoming event on a full queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FullQueueAction {
    /// Refuse the incoming event.
    DropIncoming,
    /// Evict the oldest queued event and accept the incoming one.
    EvictOldest,
    /// Evict the queued event at this position (0 = oldest) and accept the incoming one.
    /// A position past the end drops the incoming event instead.
    Evict(usize),
    /// Wait up to this long for space, then drop the incoming event if there is none.
    Wait(Duration),
}

/// The state a [`QueuePolicy`] sees: the incoming event and the queued ones.
#[derive(Debug)]
pub struct FullQueue<'a> {
    pub(crate) incoming: &'a QueuedEvent,
    pub(crate) queued: &'a VecDeque<QueuedEvent>,
    pub(crate) configured_wait: Duration,
}

impl<'a> FullQueue<'a> {
    /// The event being enqueued.
    pub fn incoming(&self) -> &'a QueuedEvent {
        self.incoming
    }

    /// The queued events, oldest first.
    pub fn queued(&self) -> impl Iterator<Item = &'a QueuedEvent> + 'a {
        self.queued.iter()
    }

    /// How many events are queued (the capacity).
    pub fn len(&self) -> usize {
        self.queued.len()
    }

    /// Whether nothing is queued (only with a zero capacity).
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// The wait configured by `block_timeout_ms` (default 100 ms).
    pub fn configured_wait(&self) -> Duration {
        self.configured_wait
    }
}

/// The built-in policies, by their configuration names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookQueuePolicy {
    /// Evict the oldest queued event to make room (the default).
    #[default]
    DropOldest,
    /// Refuse the new event.
    DropNew,
    /// Wait up to `block_timeout_ms` (default 100 ms) for room, then refuse the new event.
    BlockWithTimeout,
}

impl WebhookQueuePolicy {
    /// The configuration name, e.g. `"drop_oldest"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DropOldest => "drop_oldest",
            Self::DropNew => "drop_new",
            Self::BlockWithTimeout => "block_with_timeout",
        }
    }
}

impl std::fmt::Display for WebhookQueuePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl QueuePolicy for WebhookQueuePolicy {
    fn on_full(&self, queue: &FullQueue<'_>) -> FullQueueAction {
        match self {
            Self::DropOldest => FullQueueAction::EvictOldest,
            Self::DropNew => FullQueueAction::DropIncoming,
            Self::BlockWithTimeout => FullQueueAction::Wait(queue.configured_wait()),
        }
    }
}
