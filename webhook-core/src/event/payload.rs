//! The seed's JSON payload: `WebhookPayload` with a flattened `WebhookContext`.
//!
//! The field list lives here only: bodies are written by serde_json from these derives
//! (`WebhookMessage::from_payload`). A direct writer of the same bytes used to sit beside
//! them for speed; side by side on the enqueue bench (BENCHMARKS.md, "One serializer"),
//! serde_json costs about 0.3 µs more per event (its `#[serde(flatten)]` goes through
//! serde's map machinery) and the 4-producer enqueue median stays at 0.52–0.59 µs, under
//! the 1 µs target. Should a slower machine need the time back, history has the writer
//! generated from this same field list by a macro (commit 1b24746).

use super::WebhookEventType;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Webhook event payload structure (the JSON body of every seed event).
///
/// Optional fields are serialized only when set; the [`WebhookContext`] fields are
/// flattened into the same object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// The event name, e.g. `task_created` (custom names are allowed).
    pub event: String,
    /// When the event happened, RFC 3339 in UTC.
    pub timestamp: String,
    /// The task this event is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The task's title, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_title: Option<String>,
    /// The status before the change (status-change events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// The status after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_status: Option<String>,
    /// A free-form note (e.g. a failure reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Optional run metadata, flattened into the payload object.
    #[serde(flatten)]
    pub context: WebhookContext,
}

/// Optional context metadata for webhook payloads. These fields are only serialized when set (Some).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookContext {
    /// The runner that executed the task (e.g. an agent name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// The model used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The current phase number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<u32>,
    /// The number of phases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_count: Option<u32>,
    /// How long the task or phase took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The repository root the run works in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_root: Option<String>,
    /// The git branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The git commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The CI gate result or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_gate: Option<String>,
}

impl WebhookPayload {
    /// A payload for `event` stamped with the current time and no optional fields.
    pub fn new(event: WebhookEventType) -> Self {
        Self::named(event.as_str())
    }

    /// A payload with a custom event name, stamped with the current time.
    pub fn named(event: impl Into<String>) -> Self {
        Self {
            event: event.into(),
            timestamp: crate::time::rfc3339(SystemTime::now()),
            ..Self::default()
        }
    }

    /// Sets `task_id`.
    pub fn task_id(mut self, id: impl Into<String>) -> Self {
        self.task_id = Some(id.into());
        self
    }

    /// Sets `task_title`.
    pub fn task_title(mut self, title: impl Into<String>) -> Self {
        self.task_title = Some(title.into());
        self
    }

    /// Sets `previous_status` and `current_status`.
    pub fn statuses(mut self, previous: impl Into<String>, current: impl Into<String>) -> Self {
        self.previous_status = Some(previous.into());
        self.current_status = Some(current.into());
        self
    }

    /// Sets `note`.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Sets the flattened context.
    pub fn context(mut self, context: WebhookContext) -> Self {
        self.context = context;
        self
    }
}
