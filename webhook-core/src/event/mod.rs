//! What is sent: event names, the seed's payload shape, and ready-to-queue messages.

mod id;
mod json;
mod message;
mod payload;

pub use id::{InvalidWebhookId, WebhookId};
pub(crate) use message::Body;
pub use message::{MAX_EVENT_NAME_CHARS, MessageError, WebhookMessage};
pub use payload::{SeedPayload, WebhookContext, WebhookPayload};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The ten lifecycle events of the seed module. Their wire names are the snake_case forms.
///
/// Custom event names are sent with [`WebhookMessage::custom`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEventType {
    /// A task was created.
    TaskCreated,
    /// A task started running.
    TaskStarted,
    /// A task completed successfully.
    TaskCompleted,
    /// A task failed or was rejected.
    TaskFailed,
    /// A task moved from one status to another.
    TaskStatusChanged,
    /// The run loop started (no task association).
    LoopStarted,
    /// The run loop stopped (no task association).
    LoopStopped,
    /// A phase of a task started.
    PhaseStarted,
    /// A phase of a task completed.
    PhaseCompleted,
    /// The queue became unblocked (no task association).
    QueueUnblocked,
}

impl WebhookEventType {
    /// Every event type, in declaration order.
    pub const ALL: [WebhookEventType; 10] = [
        Self::TaskCreated,
        Self::TaskStarted,
        Self::TaskCompleted,
        Self::TaskFailed,
        Self::TaskStatusChanged,
        Self::LoopStarted,
        Self::LoopStopped,
        Self::PhaseStarted,
        Self::PhaseCompleted,
        Self::QueueUnblocked,
    ];

    /// The events delivered when a configuration names none: the five `task_*` events.
    pub const DEFAULT_SUBSCRIPTION: [WebhookEventType; 5] = [
        Self::TaskCreated,
        Self::TaskStarted,
        Self::TaskCompleted,
        Self::TaskFailed,
        Self::TaskStatusChanged,
    ];

    /// The event whose wire name is `name`, if any.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The wire name, e.g. `"task_created"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TaskCreated => "task_created",
            Self::TaskStarted => "task_started",
            Self::TaskCompleted => "task_completed",
            Self::TaskFailed => "task_failed",
            Self::TaskStatusChanged => "task_status_changed",
            Self::LoopStarted => "loop_started",
            Self::LoopStopped => "loop_stopped",
            Self::PhaseStarted => "phase_started",
            Self::PhaseCompleted => "phase_completed",
            Self::QueueUnblocked => "queue_unblocked",
        }
    }
}

impl fmt::Display for WebhookEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event name that is not one of the ten [`WebhookEventType`]s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown webhook event `{name}`; expected one of: {}",
    valid_event_names()
)]
pub struct UnknownEventType {
    /// The name that was given.
    pub name: String,
}

/// The valid event names joined with `, ` (used in error messages).
pub(crate) fn valid_event_names() -> String {
    WebhookEventType::ALL
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for WebhookEventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| UnknownEventType { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests;
