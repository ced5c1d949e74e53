//! A serialized event ready for the queue.

use super::{SeedPayload, WebhookEventType, WebhookId, WebhookPayload, json};
use bytes::{Bytes, BytesMut};
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;

/// One event, serialized once, with its webhook id: what the queue holds and the worker sends.
///
/// Cloning is cheap (the body is reference-counted). The constructors here give each
/// body an allocation of its own. The bodies a `Notifier` serializes for its own queue
/// (`send` and its forms, `send_seed` and the seed's functions, when it has neither
/// endpoints nor an outbox) are cut from an 8 KiB block shared with the bodies the same
/// thread made just before and after; such a body kept for long (a clone of
/// [`body`](Self::body) held past its delivery) keeps that block alive.
#[derive(Clone)]
pub struct WebhookMessage {
    id: WebhookId,
    event: EventName,
    task_id: TaskId,
    body: Bytes,
    /// Whether `body` is a slice of a shared block (see [`WebhookMessage::detach`]).
    carved: bool,
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
        let seed = WebhookEventType::from_name(&payload.event);
        Self::from_seed_payload(payload, seed, Body::Exact)
    }

    /// [`from_payload`](Self::from_payload) for a caller that has already looked up
    /// the payload's event name: `seed` must be `WebhookEventType::from_name(&payload.event)`.
    ///
    /// With [`Body::Carved`] a small body is cut from this thread's block, for a message
    /// that goes straight into the notifier's queue.
    pub(crate) fn from_seed_payload(
        payload: &WebhookPayload,
        seed: Option<WebhookEventType>,
        layout: Body,
    ) -> Result<Self, MessageError> {
        let (body, span) =
            serialize(layout, |buf| Ok(json::write_payload(buf, payload))).map_err(|source| {
                MessageError::Serialize {
                    event: payload.event.clone(),
                    source,
                }
            })?;
        let mut message = Self::from_parts(&payload.event, seed, None, body.bytes)?;
        message.carved = body.carved;
        message.task_id = match (span, &payload.task_id) {
            (Some((start, end)), _) => TaskId::InBody { start, end },
            (None, Some(task_id)) => TaskId::Owned(task_id.clone()),
            (None, None) => TaskId::None,
        };
        Ok(message)
    }

    /// Serializes a seed payload given by reference, stamped now, its body laid out as
    /// `layout` says.
    pub(crate) fn from_seed(payload: &SeedPayload<'_>, layout: Body) -> Self {
        let stamp = crate::time::Rfc3339::at(std::time::SystemTime::now());
        Self::from_seed_at(payload, stamp.as_str(), layout)
    }

    /// [`from_seed`](Self::from_seed) with a given timestamp.
    pub(crate) fn from_seed_at(payload: &SeedPayload<'_>, timestamp: &str, layout: Body) -> Self {
        let written = serialize(layout, |buf| Ok(json::write_seed(buf, payload, timestamp)));
        let (body, span) = match written {
            Ok(written) => written,
            // The writer does not fail.
            Err(_) => (Laid::exact(Bytes::new()), None),
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
            body: body.bytes,
            carved: body.carved,
        }
    }

    /// A custom event: `body` is serialized to JSON as it is and sent under the event name `event`.
    pub fn custom(event: &str, body: &impl Serialize) -> Result<Self, MessageError> {
        let (body, ()) =
            serialize(Body::Exact, |buf| serde_json::to_writer(buf, body)).map_err(|source| {
                MessageError::Serialize {
                    event: event.to_owned(),
                    source,
                }
            })?;
        Self::from_parts(event, WebhookEventType::from_name(event), None, body.bytes)
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
            carved: false,
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

    /// Gives a carved body an allocation of its own (a no-op for any other), so that
    /// holding this message for long (a retry's wait, an endpoint's queue) keeps only
    /// its own bytes alive, not the block it was cut from.
    pub(crate) fn detach(&mut self) {
        if std::mem::take(&mut self.carved) {
            self.body = Bytes::from(Box::<[u8]>::from(&self.body[..]));
        }
    }

    /// Whether the body is still a slice of a shared block.
    #[cfg(test)]
    pub(crate) fn is_carved(&self) -> bool {
        self.carved
    }
}

/// How a serialized body is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// In an allocation of its exact size: for messages handed to the caller, which may
    /// keep them for as long as it likes.
    Exact,
    /// Cut from this thread's [`CarvedBlock`] when it is small: for messages that go
    /// straight into the notifier's queue, to be delivered and dropped in about the
    /// order they were made.
    Carved,
}

/// A serialized body and whether it was carved.
struct Laid {
    bytes: Bytes,
    carved: bool,
}

impl Laid {
    fn exact(bytes: Bytes) -> Self {
        Self {
            bytes,
            carved: false,
        }
    }
}

/// What `write` writes, laid out as `layout` says, and what `write` returned.
///
/// The bytes are written into a per-thread scratch buffer, then copied once: into a
/// buffer of their length, which [`Bytes`] holds as it is, or into this thread's
/// [`CarvedBlock`]. Writing straight into a `Vec` costs two more allocations per message
/// (the vector grows, and `Bytes` adds a reference count block when the length is not
/// the capacity), and on the enqueue path every allocation counts: the memory is freed
/// by the worker's threads, so the caller's allocator cache never refills.
fn serialize<T>(
    layout: Body,
    write: impl FnOnce(&mut Vec<u8>) -> Result<T, serde_json::Error>,
) -> Result<(Laid, T), serde_json::Error> {
    /// The most scratch a thread keeps between messages (a larger body frees it).
    const KEEP: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            let written = write(&mut buf).map(|extra| {
                let carved = match layout {
                    Body::Carved => CarvedBlock::carve(&buf),
                    Body::Exact => None,
                };
                let laid = match carved {
                    Some(bytes) => Laid {
                        bytes,
                        carved: true,
                    },
                    None => Laid::exact(Bytes::from(Box::<[u8]>::from(&buf[..]))),
                };
                (laid, extra)
            });
            if buf.capacity() > KEEP {
                *buf = Vec::new();
            }
            written
        }
        // A `Serialize` impl that itself builds a message: no scratch for the inner one.
        Err(_) => {
            let mut buf = Vec::new();
            let extra = write(&mut buf)?;
            Ok((Laid::exact(Bytes::from(buf)), extra))
        }
    })
}

/// The block a thread cuts the bodies it enqueues from.
///
/// Each body used to be an allocation of its own, made on the caller's thread and freed
/// on the worker's, which a deep queue turns into allocator traffic between cores (the
/// body itself, and the reference count `Bytes` adds on the worker's first clone). A
/// block of [`CarvedBlock::SIZE`] holds about 18 of the seed's bodies: one allocation
/// and one reference count for all of them, freed when the last is dropped
/// (BENCHMARKS.md, "Round 13": about 2 points of throughput at C = 8 against a bare
/// client that signs, and a single producer's enqueue p99 of 0.6–0.9 µs instead of
/// 2.5–3.3). The price is that a carved body keeps its whole block alive: an event that
/// waits for a retry is detached first ([`WebhookMessage::detach`]), bodies that an
/// endpoint's queue or an outbox may hold are never carved, and a thread keeps at most
/// one partly used block.
struct CarvedBlock;

impl CarvedBlock {
    /// The size of a block.
    const SIZE: usize = 8 * 1024;
    /// Bodies over this size get an allocation of their own.
    const LARGEST: usize = Self::SIZE / 4;

    /// `bytes` copied into this thread's block (a fresh one when it has no room);
    /// `None` for a body over [`Self::LARGEST`].
    fn carve(bytes: &[u8]) -> Option<Bytes> {
        thread_local! {
            static BLOCK: RefCell<BytesMut> = RefCell::new(BytesMut::new());
        }
        if bytes.len() > Self::LARGEST {
            return None;
        }
        BLOCK.with(|block| {
            let mut block = block.try_borrow_mut().ok()?;
            if block.capacity() < bytes.len() {
                // The old block is freed once the bodies cut from it are.
                *block = BytesMut::with_capacity(Self::SIZE);
            }
            block.extend_from_slice(bytes);
            Some(block.split().freeze())
        })
    }
}

#[cfg(test)]
mod carving {
    use super::*;
    use crate::event::{WebhookEventType, WebhookPayload};

    fn payload(note: &str) -> WebhookPayload {
        WebhookPayload::new(WebhookEventType::TaskCompleted)
            .task_id("RQ-7")
            .note(note)
    }

    /// Where `b` starts, as an address.
    fn at(b: &Bytes) -> usize {
        b.as_ptr() as usize
    }

    /// Whether `b` starts right where `a` ends: only slices of one block do (two
    /// allocations are always at least an allocator header apart).
    fn back_to_back(a: &Bytes, b: &Bytes) -> bool {
        at(a) + a.len() == at(b)
    }

    fn carved(note: &str) -> WebhookMessage {
        let seed = Some(WebhookEventType::TaskCompleted);
        WebhookMessage::from_seed_payload(&payload(note), seed, Body::Carved).expect("valid")
    }

    #[test]
    fn carved_bodies_are_cut_back_to_back_and_equal_the_exact_ones() {
        // A fresh thread starts with no block, so the first two fit one.
        std::thread::spawn(|| {
            let (a, b) = (carved("first"), carved("second"));
            assert!(a.is_carved() && b.is_carved());
            assert!(back_to_back(a.body(), b.body()));
            let exact = WebhookMessage::from_payload(&payload("first")).expect("valid");
            assert!(!exact.is_carved());
            assert_eq!(a.body(), exact.body());
            assert_eq!(a.task_id(), Some("RQ-7"));
            let value: serde_json::Value = serde_json::from_slice(b.body()).expect("JSON");
            assert_eq!(value["note"], "second");
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn a_full_block_is_followed_by_a_new_one_and_every_body_stays_whole() {
        std::thread::spawn(|| {
            let pad = "p".repeat(200);
            let messages: Vec<_> = (0..100).map(|i| carved(&format!("n{i} {pad}"))).collect();
            let total: usize = messages.iter().map(|m| m.body().len()).sum();
            assert!(
                total > 2 * CarvedBlock::SIZE,
                "{total} bytes fill over two blocks"
            );
            let starts = messages
                .windows(2)
                .filter(|w| !back_to_back(w[0].body(), w[1].body()))
                .count();
            // A block is taken whenever the last has no room for the next body.
            let (mut room, mut blocks) = (0, 0);
            for m in &messages {
                if room < m.body().len() {
                    (room, blocks) = (CarvedBlock::SIZE, blocks + 1);
                }
                room -= m.body().len();
            }
            assert!(blocks >= 3, "{blocks} blocks");
            assert_eq!(starts, blocks - 1, "{total} bytes in {blocks} blocks");
            for (i, m) in messages.iter().enumerate() {
                let value: serde_json::Value = serde_json::from_slice(m.body()).expect("JSON");
                assert_eq!(value["note"], format!("n{i} {pad}"));
            }
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn a_body_over_the_largest_gets_its_own_allocation() {
        std::thread::spawn(|| {
            let big = "x".repeat(CarvedBlock::LARGEST);
            let (a, b, c) = (carved("a"), carved(&big), carved("c"));
            assert!(a.is_carved() && !b.is_carved() && c.is_carved());
            assert!(b.body().len() > CarvedBlock::LARGEST);
            // The small ones around it still share the block.
            assert!(back_to_back(a.body(), c.body()));
        })
        .join()
        .expect("no panic");
    }

    #[test]
    fn detaching_copies_a_carved_body_once_and_leaves_others_alone() {
        let mut message = carved("held");
        let before = message.body().clone();
        message.detach();
        assert!(!message.is_carved());
        assert_eq!(message.body(), &before);
        assert_ne!(at(message.body()), at(&before));
        assert_eq!(message.task_id(), Some("RQ-7"));
        let copied = at(message.body());
        message.detach();
        assert_eq!(at(message.body()), copied, "a second detach copies nothing");
        let mut exact = WebhookMessage::from_payload(&payload("own")).expect("valid");
        let own = at(exact.body());
        exact.detach();
        assert_eq!(at(exact.body()), own);
    }
}
