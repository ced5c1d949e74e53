//! One event's life after it leaves the queue: attempts, retry waits, the final outcome.

use super::attempt::{Verdict, attempt};
use super::endpoints::Gate;
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
    mut event: QueuedEvent,
    permit: OwnedSemaphorePermit,
    abort: &AbortSlot,
) -> Option<OwnedSemaphorePermit> {
    let Some(destination) = super::attempt::destination_of(&engine, &event) else {
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
        // Waiting holds no delivery slot, nor the block a carved body was cut from.
        drop(permit.take());
        event.message.detach();
        match wait_then_reacquire(&engine, delay, abort, &mut event).await {
            Ok(p) => permit = Some(p),
            Err(stop) => {
                let (kind, why) = match stop {
                    Stop::Shutdown => (FailureKind::Shutdown, "retry pending at shutdown"),
                    Stop::Removed => (FailureKind::Permanent, "endpoint removed"),
                };
                let failure = Failure {
                    kind,
                    error: format!("{} ({why})", verdict.error),
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
            Some(_)
                if !engine
                    .ledger
                    .park_for_retry(engine.retries.max_waiting, event.tally()) =>
            {
                FailureKind::Overflow
            }
            Some(delay) => {
                let error = engine.scrub(event, &verdict.error);
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
    tracing::warn!(webhook_id = %id, event = name, attempts = made, outcome = kind.as_str(), error = %engine.scrub(event, &error), "delivery failed");
    let failure = Failure {
        kind,
        error,
        last_status: verdict.status,
        attempts: made,
    };
    settle::failed(engine, event, failure).await;
    Next::Done
}

/// Why a waiting delivery will make no further attempt.
enum Stop {
    Shutdown,
    Removed,
}

/// Waits `delay` in the retry wait (counted there by the ledger), then, for an
/// endpoint's delivery, until its gate lets it go (breaker, rate limit, pause, cap: no
/// retry is spent meanwhile), then takes a delivery slot. Either way the event is back
/// in flight when this returns.
async fn wait_then_reacquire(
    engine: &Engine,
    delay: Duration,
    abort: &AbortSlot,
    event: &mut QueuedEvent,
) -> Result<OwnedSemaphorePermit, Stop> {
    let wake = tokio::time::Instant::now() + delay;
    let mut phase = engine.lifecycle.subscribe();
    let resumed = match wait_for_retry(&mut phase, wake).await {
        Wait::Shutdown => Err(Stop::Shutdown),
        Wait::Elapsed => gate_then_slot(engine, event, &mut phase, abort).await,
    };
    if resumed.is_err() {
        if let Some(part) = event.endpoint.as_ref().filter(|p| p.running) {
            let rt = &part.runtime;
            engine
                .endpoints
                .attempt_done(rt, part.probe, None, None, &engine.observe);
        }
    }
    engine.ledger.resume(event.tally());
    engine.ledger.poke();
    resumed
}

/// Passes the endpoint's gate (if any), then takes a delivery slot. A delivery that
/// passed its gate but finds no free slot gives its endpoint slot back while it waits
/// for one, so it never holds one kind of slot while it waits for the other.
async fn gate_then_slot(
    engine: &Engine,
    event: &mut QueuedEvent,
    phase: &mut watch::Receiver<Phase>,
    abort: &AbortSlot,
) -> Result<OwnedSemaphorePermit, Stop> {
    loop {
        wait_for_gate(engine, event, phase).await?;
        if let Ok(p) = engine.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        release_gate(engine, event);
        let permit = tokio::select! {
            biased;
            () = abort.fired() => return Err(Stop::Shutdown),
            p = engine.permits.clone().acquire_owned() => p.map_err(|_| Stop::Shutdown)?,
        };
        if pass_gate_now(engine, event) {
            return Ok(permit);
        }
    }
}

/// Gives back the endpoint slot a delivery took at its gate (no attempt was made).
fn release_gate(engine: &Engine, event: &mut QueuedEvent) {
    if let Some(part) = event.endpoint.as_mut().filter(|p| p.running) {
        part.running = false;
        let rt = &part.runtime;
        engine
            .endpoints
            .attempt_done(rt, part.probe, None, None, &engine.observe);
    }
}

/// The gate's answer now, without waiting: `true` if the delivery may go (or has no
/// endpoint).
fn pass_gate_now(engine: &Engine, event: &mut QueuedEvent) -> bool {
    let Some(part) = event.endpoint.as_mut() else {
        return true;
    };
    match part.runtime.gate(engine.endpoints.now()) {
        Gate::Go { probe } => {
            (part.probe, part.running) = (probe, true);
            true
        }
        _ => false,
    }
}

/// An endpoint's delivery waits here until its gate says go (taking a running slot);
/// other deliveries go at once.
async fn wait_for_gate(
    engine: &Engine,
    event: &mut QueuedEvent,
    phase: &mut watch::Receiver<Phase>,
) -> Result<(), Stop> {
    let Some(part) = event.endpoint.as_mut() else {
        return Ok(());
    };
    part.running = false;
    loop {
        let changed = part.runtime.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let until = match part.runtime.gate(engine.endpoints.now()) {
            Gate::Go { probe } => {
                (part.probe, part.running) = (probe, true);
                return Ok(());
            }
            Gate::Removed => return Err(Stop::Removed),
            Gate::WaitUntil(at) => Some(engine.endpoints.instant(at)),
            Gate::WaitForChange => None,
        };
        if *phase.borrow_and_update() == Phase::Aborted {
            return Err(Stop::Shutdown);
        }
        let sleep = async {
            match until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = changed => {}
            () = sleep => {}
            c = phase.changed() => if c.is_err() { return Err(Stop::Shutdown) },
        }
    }
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
