//! One event's life after it leaves the queue: attempts, retry waits, the final outcome.

use super::attempt::{Verdict, attempt};
use super::engine::Engine;
use super::lifecycle::{AbortSlot, Phase};
use super::settle::{self, Failure};
use crate::accounting::Activity;
use crate::queue::QueuedEvent;
use crate::retry::StatusClass;
use crate::store::FailureKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, watch};

/// What to do after an attempt.
enum Next {
    /// The event reached its final outcome.
    Done,
    /// Wait this long, then try again.
    Retry(Duration, Verdict),
}

/// Delivers `event`, holding `permit` while an attempt runs. The event is in flight on
/// entry and reaches exactly one final outcome in the ledger.
///
/// Returns the delivery slot it holds at the end (none if the event was still waiting
/// for a retry at shutdown), so the caller may go on with the next queued event.
pub(crate) async fn deliver(
    engine: Arc<Engine>,
    event: QueuedEvent,
    permit: OwnedSemaphorePermit,
    abort: &AbortSlot,
) -> Option<OwnedSemaphorePermit> {
    let Some(destination) = engine.requests.destination().cloned() else {
        let failure =
            Failure::without_status(FailureKind::Permanent, "no destination configured", 0);
        settle::failed(&engine, &event, failure).await;
        return Some(permit);
    };
    let mut permit = Some(permit);
    let mut made = 0u32;
    loop {
        made += 1;
        engine.ledger.note(Activity::Attempt);
        if made > 1 {
            engine.ledger.note(Activity::Retry);
        }
        let attempt_no = event.prior_attempts + made;
        let Some(verdict) = attempt(&engine, &destination, &event, attempt_no, abort).await else {
            let error = "shut down before the attempt finished";
            let failure = Failure::without_status(FailureKind::Shutdown, error, made);
            settle::failed(&engine, &event, failure).await;
            return permit;
        };
        let (delay, verdict) = match judge_next(&engine, &event, verdict, made).await {
            Next::Done => return permit,
            Next::Retry(delay, verdict) => (delay, verdict),
        };
        // Waiting holds no delivery slot.
        drop(permit.take());
        match wait_then_reacquire(&engine, delay, abort).await {
            Some(p) => permit = Some(p),
            None => {
                let failure = Failure {
                    kind: FailureKind::Shutdown,
                    error: format!("{} (retry pending at shutdown)", verdict.error),
                    last_status: verdict.status,
                    attempts: made,
                };
                settle::failed(&engine, &event, failure).await;
                return permit;
            }
        }
    }
}

/// Settles the event if `verdict` is final (delivered, permanent, retries used up, too
/// many waiting); otherwise parks it in the retry wait and says how long.
async fn judge_next(engine: &Engine, event: &QueuedEvent, verdict: Verdict, made: u32) -> Next {
    let id = event.webhook_id();
    let name = event.event();
    let kind = match verdict.class {
        StatusClass::Success => {
            tracing::debug!(webhook_id = %id, event = name, attempts = made, "delivered");
            settle::delivered(engine, event).await;
            return Next::Done;
        }
        StatusClass::Permanent => FailureKind::Permanent,
        StatusClass::Retryable => match engine.retries.delay(made, verdict.retry_after) {
            None => FailureKind::Exhausted,
            Some(_) if !engine.ledger.park_for_retry(engine.retries.max_waiting) => {
                FailureKind::Overflow
            }
            Some(delay) => {
                let error = engine.redactor.scrub(&verdict.error);
                tracing::debug!(webhook_id = %id, retry = made, delay_ms = delay.as_millis() as u64, %error, "retry scheduled");
                return Next::Retry(delay, verdict);
            }
        },
    };
    let error = match kind {
        FailureKind::Overflow => format!(
            "{} (retry not scheduled: max_pending_retries reached)",
            verdict.error
        ),
        _ => verdict.error,
    };
    tracing::warn!(webhook_id = %id, event = name, attempts = made, outcome = kind.as_str(), error = %engine.redactor.scrub(&error), "delivery failed");
    let failure = Failure {
        kind,
        error,
        last_status: verdict.status,
        attempts: made,
    };
    settle::failed(engine, event, failure).await;
    Next::Done
}

/// Waits `delay` in the retry wait (counted there by the ledger), then takes a delivery
/// slot. `None` when the shutdown deadline comes first. Either way the event is back in
/// flight when this returns.
async fn wait_then_reacquire(
    engine: &Engine,
    delay: Duration,
    abort: &AbortSlot,
) -> Option<OwnedSemaphorePermit> {
    let wake = tokio::time::Instant::now() + delay;
    let mut phase = engine.lifecycle.subscribe();
    let resumed = match wait_for_retry(&mut phase, wake).await {
        Wait::Shutdown => None,
        Wait::Elapsed => tokio::select! {
            biased;
            () = abort.fired() => None,
            p = engine.permits.clone().acquire_owned() => p.ok(),
        },
    };
    engine.ledger.resume();
    engine.ledger.poke();
    resumed
}

enum Wait {
    Elapsed,
    Shutdown,
}

/// Sleeps until `wake`, unless the shutdown deadline comes first.
async fn wait_for_retry(phase: &mut watch::Receiver<Phase>, wake: tokio::time::Instant) -> Wait {
    loop {
        match *phase.borrow_and_update() {
            Phase::Aborted => return Wait::Shutdown,
            Phase::Draining { deadline } if wake > deadline => return Wait::Shutdown,
            _ => {}
        }
        tokio::select! {
            () = tokio::time::sleep_until(wake) => return Wait::Elapsed,
            changed = phase.changed() => if changed.is_err() { return Wait::Shutdown },
        }
    }
}
