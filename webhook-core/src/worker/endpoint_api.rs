//! The notifier's endpoint set, changed at run time, and routed sends.

use super::endpoints::{FanOut, Placed};
use super::notifier::Notifier;
use super::outcome::{DropReason, EnqueueOutcome};
use crate::accounting::Refusal;
use crate::endpoint::{EndpointConfig, EndpointError, EndpointHealth, EndpointId, Route};
use crate::event::{WebhookEventType, WebhookMessage, WebhookPayload};
use crate::queue::{PushResult, QueuedEvent};

impl Notifier {
    /// Adds `endpoint`, or updates the registered one with its id: its queued
    /// deliveries, counters and (unless its breaker settings changed) breaker stay. The
    /// first endpoint turns fan-out on. Checked against the notifier's destination rules
    /// and timeout; a bad value is refused with an error naming the endpoint and field.
    pub fn upsert_endpoint(&self, endpoint: &EndpointConfig) -> Result<(), EndpointError> {
        let config = &self.inner.engine.config;
        let resolved = endpoint.resolve(config.destination_policy, config.timeout)?;
        self.inner.engine.endpoints.upsert(resolved);
        Ok(())
    }

    /// Stops new deliveries to `id`; those queued or waiting for a retry wait until it
    /// is enabled again (or removed, or shutdown records them).
    pub fn disable_endpoint(&self, id: &str) -> Result<(), EndpointError> {
        self.inner
            .engine
            .endpoints
            .set_enabled(&EndpointId::new(id)?, false)
    }

    /// Resumes deliveries to `id` (also after the breaker's auto-disable).
    pub fn enable_endpoint(&self, id: &str) -> Result<(), EndpointError> {
        self.inner
            .engine
            .endpoints
            .set_enabled(&EndpointId::new(id)?, true)
    }

    /// Removes `id`. Its queued deliveries are recorded in the failure store as
    /// `permanent` ("endpoint removed"), so they can be replayed elsewhere; attempts
    /// under way finish; waiting retries fail the same way when they are due.
    pub fn remove_endpoint(&self, id: &str) -> Result<(), EndpointError> {
        let engine = &self.inner.engine;
        engine
            .endpoints
            .remove(&EndpointId::new(id)?, &engine.ledger)
    }

    /// Every endpoint with its health, in registration order.
    pub fn endpoints(&self) -> Vec<EndpointHealth> {
        self.inner.engine.endpoints.list()
    }

    /// One endpoint's health: breaker state, pause, counters (the identity holds for it).
    pub fn endpoint_health(&self, id: &str) -> Result<EndpointHealth, EndpointError> {
        self.inner.engine.endpoints.health(&EndpointId::new(id)?)
    }

    /// Serializes `payload` and sends it along `route` (one named endpoint, and/or an
    /// ordering key). An unknown endpoint is an error; the rest is as [`Notifier::send`].
    pub fn send_routed(
        &self,
        payload: &WebhookPayload,
        route: &Route,
    ) -> Result<EnqueueOutcome, EndpointError> {
        let seed = WebhookEventType::from_name(&payload.event);
        if let Some(outcome) = self.admit(seed) {
            return Ok(outcome);
        }
        match WebhookMessage::from_seed_payload(payload, seed, crate::event::Body::Exact) {
            Ok(message) => self.enqueue_routed(message, route),
            Err(e) => Ok(self.invalid(&e)),
        }
    }

    /// Enqueues a ready message along `route` (see [`Notifier::send_routed`]).
    pub fn enqueue_routed(
        &self,
        message: WebhookMessage,
        route: &Route,
    ) -> Result<EnqueueOutcome, EndpointError> {
        let engine = &self.inner.engine;
        if !engine.endpoints.is_active() {
            return Err(EndpointError::NotEnabled);
        }
        if let Some(outcome) = self.admit(message.seed()) {
            return Ok(outcome);
        }
        if let Some(outcome) = self.oversize(&message) {
            return Ok(outcome);
        }
        self.fan_out(message, route)
    }

    /// Fans `message` out: the configuration's URL (if any, filtered by its `events`,
    /// unless one endpoint is named) and every matching endpoint.
    pub(super) fn fan_out(
        &self,
        mut message: WebhookMessage,
        route: &Route,
    ) -> Result<EnqueueOutcome, EndpointError> {
        // Endpoints' queues may hold an event for long (an open breaker, a rate limit).
        // `Notifier::layout` already serializes for endpoints without carving; a carved
        // body gets here only when endpoints were added between its `send` and its push.
        message.detach();
        let engine = &self.inner.engine;
        let single = route.endpoint.is_none()
            && engine.config.destination.is_some()
            && engine.config.events.allows(message.event());
        let single = single.then(|| engine.queue.push(QueuedEvent::new(message.clone())));
        let outbox = engine.outbox.is_some();
        let fan = engine.endpoints.fan_out(&message, route, |event| {
            if outbox {
                placed(engine.queue.push(event))
            } else {
                engine.endpoints.place(event, &engine.ledger)
            }
        })?;
        Ok(self.fan_out_outcome(single, fan))
    }

    fn fan_out_outcome(&self, single: Option<PushResult>, fan: FanOut) -> EnqueueOutcome {
        let single = single.map(|r| self.outcome(r));
        let any_evicted =
            fan.after_eviction > 0 || single == Some(EnqueueOutcome::AcceptedAfterEviction);
        if fan.accepted > 0 || single.is_some_and(|o| o.is_accepted()) {
            return if any_evicted {
                EnqueueOutcome::AcceptedAfterEviction
            } else {
                EnqueueOutcome::Accepted
            };
        }
        if let Some(outcome) = single {
            return outcome;
        }
        if fan.full > 0 {
            return EnqueueOutcome::Dropped(DropReason::QueueFull);
        }
        self.inner.engine.ledger.refuse(Refusal::Filtered);
        EnqueueOutcome::Dropped(DropReason::Filtered)
    }
}

fn placed(result: PushResult) -> Placed {
    match result {
        PushResult::Accepted => Placed::Accepted,
        PushResult::AcceptedAfterEviction => Placed::AfterEviction,
        _ => Placed::Full,
    }
}
