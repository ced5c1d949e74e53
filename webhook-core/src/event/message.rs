//! A serialized event ready for the queue.

use super::{WebhookEventType, WebhookId, WebhookPayload};
use bytes::Bytes;
use serde::Serialize;
use std::borrow::Cow;
use std::cell::RefCell;

/// One event, serialized once, with its webhook id: what the queue holds and the worker sends.
///
/// Cloning is cheap (the body is reference-counted).
#[derive(Clone, Debug)]
pub struct WebhookMessage {
    id: WebhookId,
    /// Borrowed for the seed's event names, so most messages allocate no name.
    event: Cow<'static, str>,
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
        let body = to_json(payload).map_err(|source| MessageError::Serialize {
            event: payload.event.clone(),
            source,
        })?;
        Self::from_parts(&payload.event, payload.task_id.clone(), body)
    }

    /// A custom event: `body` is serialized to JSON as it is and sent under the event name `event`.
    pub fn custom(event: &str, body: &impl Serialize) -> Result<Self, MessageError> {
        let bytes = to_json(body).map_err(|source| MessageError::Serialize {
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
            event: match event.parse::<WebhookEventType>() {
                Ok(seed) => Cow::Borrowed(seed.as_str()),
                Err(_) => Cow::Owned(event.to_owned()),
            },
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

/// JSON of `value` in an allocation of its exact size.
///
/// The JSON is written into a per-thread scratch buffer, then copied once into a buffer
/// of its length, which [`Bytes`] holds as it is. Serializing straight into a `Vec`
/// costs two more allocations per message (the vector grows from 128 bytes, and `Bytes`
/// adds a reference count block when the length is not the capacity), and on the
/// enqueue path every allocation counts: the memory is freed by the worker's threads,
/// so the caller's allocator cache never refills.
fn to_json(value: &impl Serialize) -> Result<Bytes, serde_json::Error> {
    /// The most scratch a thread keeps between messages (a larger body frees it).
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let written = serde_json::to_writer(&mut *buf, value);
            let json = written.map(|()| Bytes::from(Box::<[u8]>::from(buf.as_slice())));
            if buf.capacity() > KEEP {
                *buf = Vec::new();
            }
            json
        }
        // A `Serialize` impl that itself builds a message: no scratch for the inner one.
        Err(_) => serde_json::to_vec(value).map(Bytes::from),
    })
}
