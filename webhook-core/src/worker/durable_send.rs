//! Confirmed sends (outbox mode): the call returns once the event is durable, or says
//! why it is not. They follow the one rule: `*_confirmed` blocks, `*_confirmed_async`
//! awaits; both give up after the commit's own bound (the linger plus every append try,
//! each bounded by the store timeout) plus `WAIT_SLACK`.

use super::commit::APPEND_TRIES;
use super::confirm::{Confirm, Durable, NotStored};
use super::notifier::Notifier;
use super::outcome::{DropReason, EnqueueOutcome};
use super::waiting::bound;
use crate::config::Durability;
use crate::event::{WebhookEventType, WebhookMessage, WebhookPayload};
use crate::queue::{self, QueuedEvent};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

impl Notifier {
    /// Sends `payload` and returns once its outbox append has committed.
    pub fn send_confirmed(&self, payload: &WebhookPayload) -> Result<Durable, NotStored> {
        self.message_for(payload)
            .and_then(|message| self.confirm_blocking(message))
    }

    /// Async form of [`Notifier::send_confirmed`].
    pub async fn send_confirmed_async(
        &self,
        payload: &WebhookPayload,
    ) -> Result<Durable, NotStored> {
        match self.message_for(payload) {
            Ok(message) => self.confirm_async(message).await,
            Err(e) => Err(e),
        }
    }

    /// Enqueues `message` and returns once its outbox append has committed.
    pub fn enqueue_confirmed(&self, message: WebhookMessage) -> Result<Durable, NotStored> {
        if let Some(outcome) = self.admit(message.seed()) {
            return Err(not_stored(outcome));
        }
        self.confirm_blocking(message)
    }

    /// Async form of [`Notifier::enqueue_confirmed`].
    pub async fn enqueue_confirmed_async(
        &self,
        message: WebhookMessage,
    ) -> Result<Durable, NotStored> {
        if let Some(outcome) = self.admit(message.seed()) {
            return Err(not_stored(outcome));
        }
        self.confirm_async(message).await
    }

    pub(super) fn sync_durability(&self) -> bool {
        let engine = &self.inner.engine;
        engine.outbox.is_some() && engine.config.outbox.durability == Durability::Sync
    }

    fn message_for(&self, payload: &WebhookPayload) -> Result<WebhookMessage, NotStored> {
        let seed = WebhookEventType::from_name(&payload.event);
        if let Some(outcome) = self.admit(seed) {
            return Err(not_stored(outcome));
        }
        WebhookMessage::from_seed_payload(payload, seed, crate::event::Body::Exact)
            .map_err(|e| not_stored(self.invalid(&e)))
    }

    /// The commit's own bound: the linger, then every append try.
    fn commit_work(&self) -> Duration {
        let engine = &self.inner.engine;
        let tries = engine.plugs.store_timeout.saturating_mul(APPEND_TRIES);
        engine.config.outbox.linger + tries + Duration::from_secs(1)
    }

    /// Queues `message` with a confirmation, or says why it was not queued.
    fn queue_confirmed(&self, message: WebhookMessage, confirm: Confirm) -> Result<(), NotStored> {
        let engine = &self.inner.engine;
        if engine.outbox.is_none() {
            return Err(NotStored::NoOutbox);
        }
        if let Some(outcome) = self.oversize(&message) {
            return Err(not_stored(outcome));
        }
        let mut event = QueuedEvent::new(message);
        event.durable = Some(Box::new(queue::Durable {
            confirm: Some(confirm),
            claim: None,
        }));
        match self.outcome(engine.queue.push(event)) {
            outcome if outcome.is_accepted() => Ok(()),
            outcome => Err(not_stored(outcome)),
        }
    }

    pub(super) fn confirm_blocking(&self, message: WebhookMessage) -> Result<Durable, NotStored> {
        let webhook_id = message.id().clone();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.queue_confirmed(message, Confirm::Blocking(tx))?;
        let after = bound(self.commit_work());
        match rx.recv_timeout(after) {
            Ok(Ok(())) => Ok(Durable { webhook_id }),
            Ok(Err(detail)) => Err(NotStored::AppendFailed { detail }),
            Err(RecvTimeoutError::Timeout) => Err(NotStored::NoAnswer { after }),
            Err(RecvTimeoutError::Disconnected) => Err(NotStored::Discarded),
        }
    }

    pub(super) async fn confirm_async(
        &self,
        message: WebhookMessage,
    ) -> Result<Durable, NotStored> {
        let webhook_id = message.id().clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue_confirmed(message, Confirm::Async(tx))?;
        let work = self.commit_work();
        match self.call_async(work, rx).await {
            Some(Ok(Ok(()))) => Ok(Durable { webhook_id }),
            Some(Ok(Err(detail))) => Err(NotStored::AppendFailed { detail }),
            Some(Err(_)) => Err(NotStored::Discarded),
            None => Err(NotStored::NoAnswer { after: bound(work) }),
        }
    }
}

fn not_stored(outcome: EnqueueOutcome) -> NotStored {
    match outcome {
        EnqueueOutcome::Dropped(reason) => NotStored::Dropped(reason),
        EnqueueOutcome::Accepted | EnqueueOutcome::AcceptedAfterEviction => NotStored::Discarded,
    }
}

/// What a synchronous-durability `send` returns.
pub(super) fn as_outcome(result: Result<Durable, NotStored>) -> EnqueueOutcome {
    match result {
        Ok(_) => EnqueueOutcome::Accepted,
        Err(NotStored::Dropped(reason)) => EnqueueOutcome::Dropped(reason),
        Err(_) => EnqueueOutcome::Dropped(DropReason::NotStored),
    }
}
