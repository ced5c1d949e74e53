//! A serialized event ready for the queue.

use super::{SeedPayload, WebhookEventType, WebhookId, WebhookPayload, json};
use bytes::Bytes;
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;

/// One event, serialized once, with its webhook id: what the queue holds and the worker sends.
///
/// Cloning is cheap (the body is reference-counted).
#[derive(Clone)]
pub struct WebhookMessage {
    id: WebhookId,
    event: EventName,
    task_id: TaskId,
    body: Bytes,
}

/// A message's event: one of the seed's (no allocation, and the filter needs no parse)
/// or a custom name.
#[derive(Clone)]
enum EventName {
    Seed(WebhookEventType),
    Custom(Box<str>),
}

/// Where a message's task id is kept.
#[derive(Clone)]
enum TaskId {
    None,
    /// The bytes `start..end` of the body: a seed payload's `task_id` value that needed
    /// no escaping (the usual case; the message then allocates nothing for it).
    InBody {
        start: usize,
        end: usize,
    },
    Owned(String),
}

impl fmt::Debug for WebhookMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookMessage")
            .field("id", &self.id)
            .field("event", &self.event())
            .field("task_id", &self.task_id())
            .field("body_bytes", &self.body.len())
            .finish()
    }
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
    /// A custom event name was empty, too long or held a control character.
    #[error(
        "invalid event name ({len} characters): expected 1..={MAX_EVENT_NAME_CHARS} characters without control characters"
    )]
    InvalidEventName {
        /// Length of the rejected name in characters.
        len: usize,
    },
    /// The JSON body holds bytes that are not UTF-8 (JSON text is UTF-8, RFC 8259).
    #[error(
        "webhook payload for event `{event}` is not valid UTF-8 at byte {offset}; expected JSON text in UTF-8"
    )]
    InvalidUtf8 {
        /// The event name.
        event: String,
        /// The offset of the first invalid byte.
        offset: usize,
    },
}

/// The longest custom event name, in characters (not bytes).
pub const MAX_EVENT_NAME_CHARS: usize = 128;

impl WebhookMessage {
    /// Serializes a seed payload. The event name and task id come from the payload.
    pub fn from_payload(payload: &WebhookPayload) -> Result<Self, MessageError> {
        Self::from_seed_payload(payload, WebhookEventType::from_name(&payload.event))
    }

    /// [`from_payload`](Self::from_payload) for a caller that has already looked up
    /// the payload's event name: `seed` must be `WebhookEventType::from_name(&payload.event)`.
    pub(crate) fn from_seed_payload(
        payload: &WebhookPayload,
        seed: Option<WebhookEventType>,
    ) -> Result<Self, MessageError> {
        let (body, span) =
            exact_size(|buf| Ok(json::write_payload(buf, payload))).map_err(|source| {
                MessageError::Serialize {
                    event: payload.event.clone(),
                    source,
                }
            })?;
        let mut message = Self::from_parts(&payload.event, seed, None, body)?;
        message.task_id = match (span, &payload.task_id) {
            (Some((start, end)), _) => TaskId::InBody { start, end },
            (None, Some(task_id)) => TaskId::Owned(task_id.clone()),
            (None, None) => TaskId::None,
        };
        Ok(message)
    }

    /// Serializes a seed payload given by reference, stamped now.
    pub(crate) fn from_seed(payload: &SeedPayload<'_>) -> Self {
        let stamp = crate::time::Rfc3339::at(std::time::SystemTime::now());
        Self::from_seed_at(payload, stamp.as_str())
    }

    /// [`from_seed`](Self::from_seed) with a given timestamp.
    pub(crate) fn from_seed_at(payload: &SeedPayload<'_>, timestamp: &str) -> Self {
        let written = exact_size(|buf| Ok(json::write_seed(buf, payload, timestamp)));
        let (body, span) = match written {
            Ok(written) => written,
            // The writer does not fail.
            Err(_) => (Bytes::new(), None),
        };
        let task_id = match (span, payload.task_id) {
            (Some((start, end)), _) => TaskId::InBody { start, end },
            (None, Some(task_id)) => TaskId::Owned(task_id.to_owned()),
            (None, None) => TaskId::None,
        };
        Self {
            id: WebhookId::generate(),
            event: EventName::Seed(payload.event),
            task_id,
            body,
        }
    }

    /// A custom event: `body` is serialized to JSON as it is and sent under the event name `event`.
    pub fn custom(event: &str, body: &impl Serialize) -> Result<Self, MessageError> {
        let (bytes, ()) = exact_size(|buf| serde_json::to_writer(buf, body)).map_err(|source| {
            MessageError::Serialize {
                event: event.to_owned(),
                source,
            }
        })?;
        Self::from_parts(event, WebhookEventType::from_name(event), None, bytes)
    }

    /// A message from already serialized JSON bytes (replay resends a stored body this
    /// way). The bytes must be one valid JSON value.
    pub fn from_json_bytes(
        event: &str,
        task_id: Option<String>,
        body: impl Into<Bytes>,
    ) -> Result<Self, MessageError> {
        let body = body.into();
        // serde_json skips ignored strings without checking their UTF-8: check it first.
        if let Err(e) = std::str::from_utf8(&body) {
            return Err(MessageError::InvalidUtf8 {
                event: event.to_owned(),
                offset: e.valid_up_to(),
            });
        }
        if let Err(source) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
            return Err(MessageError::Serialize {
                event: event.to_owned(),
                source,
            });
        }
        Self::from_parts(event, WebhookEventType::from_name(event), task_id, body)
    }

    /// A message read back from an outbox: the body was checked when it was first made,
    /// so it is not parsed again.
    pub(crate) fn from_stored(
        id: WebhookId,
        event: &str,
        task_id: Option<String>,
        body: Bytes,
    ) -> Result<Self, MessageError> {
        Self::from_parts(event, WebhookEventType::from_name(event), task_id, body)
            .map(|m| m.with_id(id))
    }

    /// `seed` is `WebhookEventType::from_name(event)`, looked up by the caller.
    fn from_parts(
        event: &str,
        seed: Option<WebhookEventType>,
        task_id: Option<String>,
        body: impl Into<Bytes>,
    ) -> Result<Self, MessageError> {
        let event = match seed {
            Some(seed) => EventName::Seed(seed),
            None if event.is_empty()
                || event.chars().count() > MAX_EVENT_NAME_CHARS
                || event.chars().any(char::is_control) =>
            {
                return Err(MessageError::InvalidEventName {
                    len: event.chars().count(),
                });
            }
            None => EventName::Custom(event.into()),
        };
        Ok(Self {
            id: WebhookId::generate(),
            event,
            task_id: task_id.map_or(TaskId::None, TaskId::Owned),
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
        self.task_id = TaskId::Owned(task_id.into());
        self
    }

    /// The webhook id, the same on every attempt and replay.
    pub fn id(&self) -> &WebhookId {
        &self.id
    }

    /// The event name.
    pub fn event(&self) -> &str {
        match &self.event {
            EventName::Seed(seed) => seed.as_str(),
            EventName::Custom(name) => name,
        }
    }

    /// The seed event this message carries, if its name is one of them.
    pub(crate) fn seed(&self) -> Option<WebhookEventType> {
        match self.event {
            EventName::Seed(seed) => Some(seed),
            EventName::Custom(_) => None,
        }
    }

    /// The task id, if any.
    pub fn task_id(&self) -> Option<&str> {
        match &self.task_id {
            TaskId::None => None,
            // The span was cut at a `"` on both sides of a `&str`'s bytes, so it is
            // always UTF-8.
            TaskId::InBody { start, end } => std::str::from_utf8(self.body.get(*start..*end)?).ok(),
            TaskId::Owned(task_id) => Some(task_id),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// What `write` writes, in an allocation of its exact size, and what `write` returned.
///
/// The bytes are written into a per-thread scratch buffer, then copied once into a
/// buffer of their length, which [`Bytes`] holds as it is. Writing straight into a
/// `Vec` costs two more allocations per message (the vector grows, and `Bytes` adds a
/// reference count block when the length is not the capacity), and on the enqueue path
/// every allocation counts: the memory is freed by the worker's threads, so the
/// caller's allocator cache never refills.
fn exact_size<T>(
    write: impl FnOnce(&mut Vec<u8>) -> Result<T, serde_json::Error>,
) -> Result<(Bytes, T), serde_json::Error> {
    /// The most scratch a thread keeps between messages (a larger body frees it).
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let written = write(&mut buf)
                .map(|extra| (Bytes::from(Box::<[u8]>::from(buf.as_slice())), extra));
            if buf.capacity() > KEEP {
                *buf = Vec::new();
            }
            written
        }
        // A `Serialize` impl that itself builds a message: no scratch for the inner one.
        Err(_) => {
            let mut buf = Vec::new();
            let extra = write(&mut buf)?;
            Ok((Bytes::from(buf), extra))
        }
    })
}
