//! A serialized event ready for the queue.

use super::{WebhookId, WebhookPayload};
use bytes::Bytes;
use serde::Serialize;

/// One event, serialized once, with its webhook id: what the queue holds and the worker sends.
///
/// Cloning is cheap (the body is reference-counted).
#[derive(Clone, Debug)]
pub struct WebhookMessage {
    id: WebhookId,
    event: String,
    task_id: Option<String>,
    body: Bytes,
}

/// A message that could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The payload could not be serialized to JSON (or given bytes are not JSON).
    #[error("webhook payload for event `{event}` is not valid JSON: {source}")]
    Serialize {
        /// The event name.
        event: String,
        /// The serializer's error.
        source: serde_json::Error,
    },
    /// A custom event name was empty or too long.
    #[error(
        "invalid event name ({len} bytes): expected 1..=128 characters without control characters"
    )]
    InvalidEventName {
        /// Length of the rejected name in bytes.
        len: usize,
    },
}

impl WebhookMessage {
    /// Serializes a seed payload. The event name and task id come from the payload.
    pub fn from_payload(payload: &WebhookPayload) -> Result<Self, MessageError> {
        // Sized up front: growing the buffer from serde_json's default 128 bytes took
        // about a third of the time of serializing a typical payload.
        let mut body = Vec::with_capacity(payload.json_len_hint());
        serde_json::to_writer(&mut body, payload).map_err(|source| MessageError::Serialize {
            event: payload.event.clone(),
            source,
        })?;
        Self::from_parts(&payload.event, payload.task_id.clone(), body)
    }

    /// A custom event: `body` is serialized to JSON as it is and sent under the event name `event`.
    pub fn custom(event: &str, body: &impl Serialize) -> Result<Self, MessageError> {
        let bytes = serde_json::to_vec(body).map_err(|source| MessageError::Serialize {
            event: event.to_owned(),
            source,
        })?;
        Self::from_parts(event, None, bytes)
    }

    /// A message from already serialized JSON bytes (replay resends a stored body this
    /// way). The bytes must be one valid JSON value.
    pub fn from_json_bytes(
        event: &str,
        task_id: Option<String>,
        body: impl Into<Bytes>,
    ) -> Result<Self, MessageError> {
        let body = body.into();
        if let Err(source) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return Err(MessageError::Serialize {
                event: event.to_owned(),
                source,
            });
        }
        Self::from_parts(event, task_id, body)
    }

    fn from_parts(
        event: &str,
        task_id: Option<String>,
        body: impl Into<Bytes>,
    ) -> Result<Self, MessageError> {
        if event.is_empty() || event.len() > 128 || event.chars().any(char::is_control) {
            return Err(MessageError::InvalidEventName { len: event.len() });
        }
        Ok(Self {
            id: WebhookId::generate(),
            event: event.to_owned(),
            task_id,
            body: body.into(),
        })
    }

    /// Replaces the generated id (replay keeps the original id).
    pub fn with_id(mut self, id: WebhookId) -> Self {
        self.id = id;
        self
    }

    /// Attaches a task id (for custom events that concern a task).
    pub fn with_task_id(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// The webhook id, the same on every attempt and replay.
    pub fn id(&self) -> &WebhookId {
        &self.id
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The task id, if any.
    pub fn task_id(&self) -> Option<&str> {
        self.task_id.as_deref()
    }

    /// The JSON body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}
