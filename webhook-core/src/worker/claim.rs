//! Outbox mode: claim due entries under a lease and deliver each with one attempt; the
//! outbox learns every outcome (retries wait there, not in memory).

use super::attempt::attempt;
use super::confirm::ClaimRef;
use super::engine::{Engine, OutboxPart};
use super::lifecycle::AbortSlot;
use super::settle::{self, Failure};
use crate::accounting::Activity;
use crate::event::WebhookMessage;
use crate::outbox::{Claimed, Settle, Settlement};
use crate::queue::{Durable, QueuedEvent};
use crate::retry::StatusClass;
use crate::store::FailureKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// The longest an idle claimer sleeps before it looks again (a slow poll, in case an
/// append it was not told of, or a lapsed lease, made something due).
const POLL: Duration = Duration::from_secs(1);

/// Claims and starts deliveries while the worker runs.
pub(crate) async fn claim_loop(engine: Arc<Engine>) {
    let Some(part) = engine.outbox.as_ref() else {
        return;
    };
    let mut phase = engine.lifecycle.subscribe();
    while engine.lifecycle.is_running() {
        let permits = tokio::select! {
            p = slots(&engine) => p,
            _ = phase.changed() => continue,
        };
        let now_ms = crate::time::unix_millis(engine.clock.now());
        let lease = part.settings.lease;
        let claimed = match part
            .outbox
            .claim(&part.owner, now_ms, lease, permits.len())
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                part.error(&engine, "claim", &e);
                Vec::new()
            }
        };
        if claimed.is_empty() {
            drop(permits);
            tokio::select! {
                () = wait_until_due(&engine, part) => {}
                _ = phase.changed() => {}
            }
            continue;
        }
        let recovered = claimed
            .iter()
            .filter(|c| c.entry.origin != part.owner)
            .count();
        engine.ledger.claim(claimed.len() as u64, recovered as u64);
        for (claimed, permit) in claimed.into_iter().zip(permits) {
            let engine = engine.clone();
            tokio::spawn(async move {
                let abort = engine.lifecycle.abort_slot();
                deliver_claimed(&engine, claimed, &abort).await;
                drop(permit);
            });
        }
    }
}

/// At least one delivery slot, and as many more as are free now.
async fn slots(engine: &Engine) -> Vec<OwnedSemaphorePermit> {
    let Ok(first) = engine.permits.clone().acquire_owned().await else {
        return Vec::new();
    };
    let mut permits = vec![first];
    while let Ok(p) = engine.permits.clone().try_acquire_owned() {
        permits.push(p);
    }
    permits
}

/// Sleeps until the next entry falls due, an append commits, or the slow poll.
async fn wait_until_due(engine: &Engine, part: &OutboxPart) {
    let appended = part.appended.notified();
    let now_ms = crate::time::unix_millis(engine.clock.now());
    let wait = match part.outbox.next_due().await {
        Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms)).min(POLL),
        Ok(None) => POLL,
        Err(e) => {
            part.error(engine, "next_due", &e);
            POLL
        }
    };
    if wait.is_zero() {
        tokio::task::yield_now().await;
        return;
    }
    tokio::select! {
        () = appended => {}
        () = tokio::time::sleep(wait) => {}
    }
}

/// One attempt of a claimed entry, then its settlement.
async fn deliver_claimed(engine: &Engine, claimed: Claimed, abort: &AbortSlot) {
    let Claimed { entry, token } = claimed;
    let claim = ClaimRef {
        id: entry.id,
        token,
        created_ms: entry.created_ms,
    };
    let message =
        WebhookMessage::from_stored(entry.webhook_id, &entry.event, entry.task_id, entry.body);
    let mut event = match message {
        Ok(message) => QueuedEvent::new(message),
        Err(e) => {
            tracing::error!(entry = %entry.id, error = %e, "outbox entry cannot be sent: removing it");
            settle_outbox(engine, claim, Settlement::Failed).await;
            engine.ledger.failed(FailureKind::Permanent);
            return;
        }
    };
    event.replay_of = entry.replay_of;
    event.prior_attempts = entry.attempts;
    event.durable = Some(Box::new(Durable {
        confirm: None,
        claim: Some(claim),
    }));
    let made = entry.attempts + 1;
    engine.ledger.note(Activity::Attempt);
    if entry.attempts > 0 {
        engine.ledger.note(Activity::Retry);
    }
    let Some(destination) = engine.requests.destination().cloned() else {
        let failure =
            Failure::without_status(FailureKind::Permanent, "no destination configured", 0);
        settle::failed(engine, &event, failure).await;
        return;
    };
    let Some(verdict) = attempt(engine, &destination, &event, made, abort).await else {
        settle_outbox(engine, claim, Settlement::Release { attempts: made }).await;
        engine.ledger.released();
        return;
    };
    let kind = match verdict.class {
        StatusClass::Success => return settle::delivered(engine, &event).await,
        StatusClass::Permanent => FailureKind::Permanent,
        StatusClass::Retryable => match engine.retries.delay(made, verdict.retry_after) {
            None => FailureKind::Exhausted,
            Some(delay) => {
                let at = crate::time::unix_millis(engine.clock.now() + delay);
                let how = Settlement::RetryAt {
                    attempts: made,
                    not_before_ms: at,
                };
                tracing::debug!(webhook_id = %event.webhook_id(), retry = made, delay_ms = delay.as_millis() as u64, "retry stored in the outbox");
                settle_outbox(engine, claim, how).await;
                engine.ledger.released();
                return;
            }
        },
    };
    tracing::warn!(webhook_id = %event.webhook_id(), attempts = made, outcome = kind.as_str(), error = %engine.redactor.scrub(&verdict.error), "delivery failed");
    let failure = Failure {
        kind,
        error: verdict.error,
        last_status: verdict.status,
        attempts: made,
    };
    settle::failed(engine, &event, failure).await;
}

/// Tells the outbox what became of a claim, retrying a failed call a few times. A claim
/// that cannot be settled runs out of lease and is claimed again (an attempt repeated,
/// never an event lost).
pub(crate) async fn settle_outbox(engine: &Engine, claim: ClaimRef, how: Settlement) {
    let Some(part) = engine.outbox.as_ref() else {
        return;
    };
    let settle = Settle {
        id: claim.id,
        token: claim.token,
        how,
    };
    for attempt in 1..=3u32 {
        let call = part.outbox.settle(vec![settle]);
        match tokio::time::timeout(engine.plugs.store_timeout, call).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => part.error(engine, "settle", &e),
            Err(_) => engine.ledger.note(Activity::OutboxError),
        }
        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
    }
}
