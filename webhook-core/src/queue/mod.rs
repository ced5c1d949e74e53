//! The bounded queue between callers and the worker, and its full-queue policies.

mod bounded;
mod policy;

pub(crate) use bounded::{BoundedQueue, PushResult};

pub use policy::{FullQueue, FullQueueAction, QueuePolicy, WebhookQueuePolicy};

use crate::event::{WebhookId, WebhookMessage};
use crate::store::RecordId;

/// An event waiting in the queue (what a [`QueuePolicy`] sees).
#[derive(Debug)]
pub struct QueuedEvent {
    pub(crate) message: WebhookMessage,
    pub(crate) replay_of: Option<RecordId>,
    pub(crate) prior_attempts: u32,
    /// When the queue took it, on the queue's coarse clock (see `bounded::Stamps`).
    pub(crate) enqueued_at: u64,
    /// Outbox mode only (boxed so the common event stays small).
    pub(crate) durable: Option<Box<Durable>>,
    /// An endpoint's delivery (boxed so the single-URL event stays small).
    pub(crate) endpoint: Option<Box<EndpointPart>>,
}

/// What an endpoint's delivery carries.
#[derive(Debug)]
pub(crate) struct EndpointPart {
    /// The endpoint.
    pub(crate) runtime: std::sync::Arc<crate::worker::EndpointRuntime>,
    /// Its ordering key, if any.
    pub(crate) key: Option<std::sync::Arc<str>>,
    /// Whether the current attempt is the breaker's half-open probe.
    pub(crate) probe: bool,
    /// Whether it holds one of the endpoint's running slots (between its gate and the
    /// end of its attempt).
    pub(crate) running: bool,
}

/// What an event carries in outbox mode.
#[derive(Debug, Default)]
pub(crate) struct Durable {
    /// Told whether the append committed (a confirmed send).
    pub(crate) confirm: Option<crate::worker::Confirm>,
    /// The claim it is delivered under (an entry claimed from the outbox).
    pub(crate) claim: Option<crate::worker::ClaimRef>,
}

impl QueuedEvent {
    pub(crate) fn new(message: WebhookMessage) -> Self {
        Self {
            message,
            replay_of: None,
            prior_attempts: 0,
            durable: None,
            enqueued_at: 0,
            endpoint: None,
        }
    }

    /// A delivery of `message` to endpoint `runtime`.
    pub(crate) fn for_endpoint(
        message: WebhookMessage,
        runtime: std::sync::Arc<crate::worker::EndpointRuntime>,
        key: Option<std::sync::Arc<str>>,
    ) -> Self {
        Self {
            endpoint: Some(Box::new(EndpointPart {
                runtime,
                key,
                probe: false,
                running: false,
            })),
            ..Self::new(message)
        }
    }

    /// Makes this a delivery to `runtime` (a replay of an endpoint's record).
    pub(crate) fn attach_endpoint(
        &mut self,
        runtime: std::sync::Arc<crate::worker::EndpointRuntime>,
    ) {
        self.endpoint = Some(Box::new(EndpointPart {
            runtime,
            key: None,
            probe: false,
            running: false,
        }));
    }

    /// The endpoint this delivery is for, if any.
    pub(crate) fn endpoint_runtime(
        &self,
    ) -> Option<&std::sync::Arc<crate::worker::EndpointRuntime>> {
        self.endpoint.as_ref().map(|p| &p.runtime)
    }

    /// The endpoint's counters, if this is an endpoint's delivery.
    pub(crate) fn tally(&self) -> Option<&crate::accounting::Counters> {
        self.endpoint.as_ref().map(|p| &p.runtime.counters)
    }

    /// Its ordering key, if any.
    pub(crate) fn ordering_key(&self) -> Option<&std::sync::Arc<str>> {
        self.endpoint.as_ref().and_then(|p| p.key.as_ref())
    }

    /// The endpoint's id, if this is an endpoint's delivery.
    pub fn endpoint_id(&self) -> Option<crate::endpoint::EndpointId> {
        self.endpoint.as_ref().map(|p| p.runtime.id())
    }

    /// A replay of record `record`, which has made `prior_attempts` attempts so far.
    pub(crate) fn replay(message: WebhookMessage, record: RecordId, prior_attempts: u32) -> Self {
        Self {
            replay_of: Some(record),
            prior_attempts,
            ..Self::new(message)
        }
    }

    /// The claim this event is delivered under, in outbox mode.
    pub(crate) fn claim(&self) -> Option<&crate::worker::ClaimRef> {
        self.durable.as_ref().and_then(|d| d.claim.as_ref())
    }

    /// The event name.
    pub fn event(&self) -> &str {
        self.message.event()
    }

    /// The task id, if any.
    pub fn task_id(&self) -> Option<&str> {
        self.message.task_id()
    }

    /// The webhook id.
    pub fn webhook_id(&self) -> &WebhookId {
        self.message.id()
    }

    /// The body size in bytes.
    pub fn body_len(&self) -> usize {
        self.message.body().len()
    }

    /// Whether this is a replay of a stored failure.
    pub fn is_replay(&self) -> bool {
        self.replay_of.is_some()
    }
}
