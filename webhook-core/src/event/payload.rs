//! The seed's JSON payload: `WebhookPayload` with a flattened `WebhookContext`.
//!
//! The field list lives here only, once: `json_object!` declares each struct as
//! written (serde's derives and attributes included) and also implements the direct
//! JSON writer of `event/json.rs` over the same fields, in the same order.
//!
//! Why not serde_json alone (tried in commit dcffcd3, measured, reverted):
//! `#[serde(flatten)]` sends serialization through serde's map machinery, and the body
//! is serialized on the caller's thread on every enqueue. callgrind counts 6,439
//! instructions per `WebhookMessage::from_payload` with serde_json against 2,906 with
//! this writer (criterion: 435–586 against 249–261 ns). Side by side on the enqueue
//! bench (BENCHMARKS.md, "Twins removed"), serde_json's 4-producer medians were
//! 490–718 ns against 300–445 ns for this writer: under the 1 µs target on that day's
//! fast machine, but the writer measured 762–1,202 ns in earlier phases of this 2-core
//! machine, where 2.2 times the serialization work would not meet it.
//! The writer's output equals serde_json's byte for byte (tests in `json.rs`, random
//! payloads included).

use super::WebhookEventType;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// Declares a struct exactly as written and implements `super::json::Fields` for it:
/// one `super::json::Field::write` call per field, in declaration order, under the
/// field's own name. Every field's type must implement `Field` (a new type is a
/// compile error until the writer knows it), and a renamed or skipped field would show
/// in the tests that compare the writer with serde_json.
macro_rules! json_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident : $ty:ty,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $ty,
            )*
        }

        impl super::json::Fields for $name {
            fn write_fields(&self, out: &mut Vec<u8>, spans: &mut super::json::Spans) {
                $(
                    super::json::Field::write(
                        &self.$field,
                        out,
                        concat!(",\"", stringify!($field), "\":").as_bytes(),
                        stringify!($field),
                        spans,
                    );
                )*
            }
        }
    };
}

json_object! {
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
}

json_object! {
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

/// A seed event's payload by reference, stamped when it is written: what the seed's
/// `notify_*` functions send, serialized without copying their strings into a
/// [`WebhookPayload`] first.
///
/// Its JSON is the JSON of the [`WebhookPayload`] with the same fields and a timestamp
/// of the moment it is written (tests compare the two, on random fields too). Send it
/// with [`Notifier::send_seed`](crate::Notifier::send_seed).
#[derive(Clone, Copy, Debug)]
pub struct SeedPayload<'a> {
    /// The seed event.
    pub event: WebhookEventType,
    /// The task this event is about, if any.
    pub task_id: Option<&'a str>,
    /// The task's title, if known.
    pub task_title: Option<&'a str>,
    /// The status before the change (status-change events).
    pub previous_status: Option<&'a str>,
    /// The status after the change.
    pub current_status: Option<&'a str>,
    /// A free-form note (e.g. a failure reason).
    pub note: Option<&'a str>,
    /// Optional run metadata, flattened into the payload object.
    pub context: Option<&'a WebhookContext>,
}

impl SeedPayload<'_> {
    /// A payload for `event` with no optional field.
    pub fn new(event: WebhookEventType) -> Self {
        Self {
            event,
            task_id: None,
            task_title: None,
            previous_status: None,
            current_status: None,
            note: None,
            context: None,
        }
    }
}

impl SeedPayload<'_> {
    /// Writes the members in [`WebhookPayload`]'s order, `timestamp` as the timestamp.
    pub(crate) fn write_fields(
        &self,
        out: &mut Vec<u8>,
        timestamp: &str,
        spans: &mut super::json::Spans,
    ) {
        use super::json::{Field, Fields};
        let event = self.event.as_str();
        let text: [(&str, &str, Option<&str>); 7] = [
            (",\"event\":", "event", Some(event)),
            (",\"timestamp\":", "timestamp", Some(timestamp)),
            (",\"task_id\":", "task_id", self.task_id),
            (",\"task_title\":", "task_title", self.task_title),
            (
                ",\"previous_status\":",
                "previous_status",
                self.previous_status,
            ),
            (
                ",\"current_status\":",
                "current_status",
                self.current_status,
            ),
            (",\"note\":", "note", self.note),
        ];
        for (key, name, value) in text {
            value.write(out, key.as_bytes(), name, spans);
        }
        if let Some(context) = self.context {
            context.write_fields(out, spans);
        }
    }
}
