//! Outbox mode: claim due entries under a lease and deliver each with one attempt; the
//! outbox learns every outcome (retries wait there, not in memory).

use super::attempt::attempt;
use super::confirm::ClaimRef;
use super::endpoints::{EndpointRuntime, Gate};
use super::engine::{Engine, OutboxPart, SettleMsg};
use super::lifecycle::AbortSlot;
use super::settle::{self, Failure};
use crate::accounting::Activity;
use crate::endpoint::EndpointId;
use crate::event::WebhookMessage;
use crate::outbox::{Claimed, EntryId, LeaseToken, Settle, Settlement};
use crate::queue::{Durable, QueuedEvent};
use crate::retry::StatusClass;
use crate::store::FailureKind;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// Claims and starts deliveries while the worker runs.
///
/// Entries are claimed ahead, up to twice `max_concurrency`, into the part's ready
/// buffer. Each delivery slot runs a lane: it delivers one entry, then takes the next
/// from the buffer while there is one (no hand-off back to this loop per event), and the
/// lanes wake this loop when the buffer runs low. A claimed entry that waited so long
/// that its lease could run out during its attempt is not started (it runs out and is
/// claimed again), so an attempt always ends inside its lease.
pub(crate) async fn claim_loop(engine: Arc<Engine>) {
    let Some(part) = engine.outbox.as_ref() else {
        return;
    };
    let mut phase = engine.lifecycle.subscribe();
    let max = engine.config.max_concurrency;
    // Whether the last claim was full (more may be due): then claim ahead while the
    // claimed ones are delivered, so the slots never wait for a claim.
    let mut more_due = true;
    while engine.lifecycle.is_running() {
        let held = part.ready_len();
        if held == 0 || (more_due && held < max) {
            let mut fresh = VecDeque::new();
            more_due = claim_more(&engine, part, &mut fresh, 2 * max - held).await;
            part.push_ready(fresh);
            if part.ready_len() == 0 {
                tokio::select! {
                    () = wait_until_due(&engine, part) => {}
                    _ = phase.changed() => {}
                }
                continue;
            }
        }
        let permit = tokio::select! {
            p = engine.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = part.low.notified() => continue,
            _ = phase.changed() => continue,
        };
        if let Some(first) = part.pop_ready(&engine) {
            tokio::spawn(lane(engine.clone(), first, permit));
        }
    }
    // Claimed but never started: give them back at once rather than let them lapse.
    for claimed in part.take_ready() {
        let release = Settlement::Release {
            attempts: claimed.entry.attempts,
        };
        send_settle(part, claimed.entry.id, claimed.token, release);
    }
}

/// One delivery slot: delivers `claimed`, then the next ready entries while the worker
/// runs.
async fn lane(engine: Arc<Engine>, mut claimed: Claimed, permit: OwnedSemaphorePermit) {
    let Some(part) = engine.outbox.as_ref() else {
        return;
    };
    let abort = engine.lifecycle.abort_slot();
    loop {
        let recovered = u64::from(claimed.entry.origin != part.owner);
        let endpoint = endpoint_of(&engine, &claimed);
        engine
            .ledger
            .claim(1, recovered, endpoint.as_ref().map(|rt| &rt.counters));
        deliver_claimed(&engine, claimed, endpoint, &abort).await;
        if !engine.lifecycle.is_running() {
            break;
        }
        match part.pop_ready(&engine) {
            Some(next) => claimed = next,
            None => break,
        }
    }
    drop(permit);
}

/// Claims up to `max` due entries into `ready`; whether it got all `max`.
async fn claim_more(
    engine: &Engine,
    part: &OutboxPart,
    ready: &mut VecDeque<(Claimed, tokio::time::Instant)>,
    max: usize,
) -> bool {
    let now_ms = crate::time::unix_millis(engine.clock.now());
    // The lease starts before the claim's round trip, so that is where its age starts.
    let at = tokio::time::Instant::now();
    match part
        .outbox
        .claim(&part.owner, now_ms, part.settings.lease, max)
        .await
    {
        Ok(claimed) => {
            let full = claimed.len() == max;
            ready.extend(claimed.into_iter().map(|c| (c, at)));
            full
        }
        Err(e) => {
            part.error(engine, "claim", &e);
            false
        }
    }
}

/// Whether an entry claimed at `at` still has a whole attempt (and
/// [`LEASE_START_MARGIN`](crate::config::LEASE_START_MARGIN)) of lease. With the
/// shortest lease the configuration accepts, an entry may wait 5 s in the ready buffer.
pub(crate) fn fits_in_lease(engine: &Engine, part: &OutboxPart, at: tokio::time::Instant) -> bool {
    let needed = engine.requests.timeout() + crate::config::LEASE_START_MARGIN;
    at.elapsed() + needed <= part.settings.lease
}

/// Sleeps until the next entry falls due, an append commits (here, or elsewhere when
/// the outbox raises an append signal), or the slow poll: the longest an idle claimer
/// sleeps before it looks again, in case an append it was not told of made something
/// due.
async fn wait_until_due(engine: &Engine, part: &OutboxPart) {
    let appended = part.appended.notified();
    let signal = part.outbox.append_signal();
    let poll = if signal.is_some() {
        crate::outbox::WATCHED_POLL
    } else {
        crate::outbox::UNWATCHED_POLL
    };
    let now_ms = crate::time::unix_millis(engine.clock.now());
    let wait = match part.outbox.next_due().await {
        Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms)).min(poll),
        Ok(None) => poll,
        Err(e) => {
            part.error(engine, "next_due", &e);
            crate::outbox::UNWATCHED_POLL
        }
    };
    if wait.is_zero() {
        tokio::task::yield_now().await;
        return;
    }
    let elsewhere = async {
        match &signal {
            Some(signal) => signal.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = appended => {}
        () = elsewhere => {}
        () = tokio::time::sleep(wait) => {}
    }
}

/// The registered endpoint an entry is for, if it names one.
fn endpoint_of(engine: &Engine, claimed: &Claimed) -> Option<Arc<EndpointRuntime>> {
    let id = EndpointId::new(claimed.entry.endpoint.as_deref()?).ok()?;
    engine.endpoints.get(&id)
}

/// How long an entry whose endpoint is not registered (yet) waits before it is claimed
/// again; it spends no attempt.
const UNKNOWN_ENDPOINT_WAIT: Duration = Duration::from_secs(5);
/// How long an entry whose endpoint is at its in-flight cap, disabled, or waiting for a
/// probe waits before it is claimed again; it spends no attempt.
const GATE_RECHECK: Duration = Duration::from_millis(50);

/// Passes an endpoint's gate, or gives the entry back to the outbox (without spending
/// an attempt: a breaker that is open keeps its deliveries in the outbox). `false`: the
/// entry was settled here.
async fn pass_gate(
    engine: &Engine,
    event: &mut QueuedEvent,
    claim: ClaimRef,
    unknown: bool,
) -> bool {
    let attempts = event.prior_attempts;
    let wait = match event.endpoint.as_mut() {
        None if unknown => UNKNOWN_ENDPOINT_WAIT,
        None => return true,
        Some(part) => match part.runtime.gate(engine.endpoints.now()) {
            Gate::Go { probe } => {
                (part.probe, part.running) = (probe, true);
                return true;
            }
            Gate::Removed => {
                let failure =
                    Failure::without_status(FailureKind::Permanent, "endpoint removed", attempts);
                settle::failed(engine, event, failure).await;
                return false;
            }
            Gate::WaitUntil(at) => at.saturating_sub(engine.endpoints.now()),
            Gate::WaitForChange => GATE_RECHECK,
        },
    };
    let not_before_ms = crate::time::unix_millis(engine.clock.now() + wait);
    let how = Settlement::RetryAt {
        attempts,
        not_before_ms,
    };
    settle_outbox(engine, claim, how).await;
    engine.ledger.released(event.tally());
    false
}

/// One attempt of a claimed entry, then its settlement.
async fn deliver_claimed(
    engine: &Engine,
    claimed: Claimed,
    endpoint: Option<Arc<EndpointRuntime>>,
    abort: &AbortSlot,
) {
    let (claim, attempts) = (claim_ref(&claimed), claimed.entry.attempts);
    let unknown = claimed.entry.endpoint.is_some() && endpoint.is_none();
    let Some(mut event) = event_of(engine, claimed, endpoint).await else {
        return;
    };
    if !pass_gate(engine, &mut event, claim, unknown).await {
        return;
    }
    let made = attempts + 1;
    engine.ledger.note(Activity::Attempt);
    if attempts > 0 {
        engine.ledger.note(Activity::Retry);
    }
    let Some(destination) = super::attempt::destination_of(engine, &event) else {
        let failure =
            Failure::without_status(FailureKind::Permanent, "no destination configured", 0);
        settle::failed(engine, &event, failure).await;
        return;
    };
    let Some(verdict) = attempt(engine, &destination, &event, made, abort).await else {
        settle_outbox(engine, claim, Settlement::Release { attempts: made }).await;
        engine.ledger.released(event.tally());
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
                engine.ledger.released(event.tally());
                return;
            }
        },
    };
    tracing::warn!(webhook_id = %event.webhook_id(), attempts = made, outcome = kind.as_str(), error = %engine.scrub(&event, &verdict.error), "delivery failed");
    let failure = Failure {
        kind,
        error: verdict.error,
        last_status: verdict.status,
        attempts: made,
    };
    settle::failed(engine, &event, failure).await;
}

fn claim_ref(claimed: &Claimed) -> ClaimRef {
    ClaimRef {
        id: claimed.entry.id,
        token: claimed.token,
        created_ms: claimed.entry.created_ms,
    }
}

/// The event to deliver for a claimed entry; `None` (the entry removed, counted as a
/// permanent failure) if it cannot be made into a message.
async fn event_of(
    engine: &Engine,
    claimed: Claimed,
    endpoint: Option<Arc<EndpointRuntime>>,
) -> Option<QueuedEvent> {
    let claim = claim_ref(&claimed);
    let entry = claimed.entry;
    let message =
        WebhookMessage::from_stored(entry.webhook_id, &entry.event, entry.task_id, entry.body);
    let mut event = match (message, endpoint) {
        (Ok(message), Some(rt)) => QueuedEvent::for_endpoint(message, rt, None),
        (Ok(message), None) => QueuedEvent::new(message),
        (Err(e), rt) => {
            tracing::error!(entry = %entry.id, error = %e, "outbox entry cannot be sent: removing it");
            settle_outbox(engine, claim, Settlement::Failed).await;
            engine
                .ledger
                .failed(FailureKind::Permanent, rt.as_ref().map(|r| &r.counters));
            return None;
        }
    };
    event.replay_of = entry.replay_of;
    event.prior_attempts = entry.attempts;
    event.durable = Some(Box::new(Durable {
        confirm: None,
        claim: Some(claim),
    }));
    Some(event)
}

/// Tells the outbox what became of a claim: the settler applies it with others in one
/// batch. (The failure store already has the record of a failed entry by now.)
pub(crate) async fn settle_outbox(engine: &Engine, claim: ClaimRef, how: Settlement) {
    if let Some(part) = engine.outbox.as_ref() {
        send_settle(part, claim.id, claim.token, how);
    }
}

fn send_settle(part: &OutboxPart, id: EntryId, token: LeaseToken, how: Settlement) {
    let _ = part
        .settles
        .send(SettleMsg::Settle(Settle { id, token, how }));
}

/// Most settlements applied in one outbox call.
const SETTLE_BATCH: usize = 1024;

/// Applies settlements in batches until every sender is gone, retrying a failed call a
/// few times. A settlement that cannot be applied leaves its entry leased; the lease
/// runs out and the entry is claimed again (an attempt repeated, never an event lost).
pub(crate) async fn settle_loop(engine: Arc<Engine>, mut rx: mpsc::UnboundedReceiver<SettleMsg>) {
    let Some(part) = engine.outbox.as_ref() else {
        return;
    };
    while let Some(first) = rx.recv().await {
        let (mut batch, mut flushes) = (Vec::new(), Vec::new());
        take(first, &mut rx, &mut batch, &mut flushes);
        // Deliveries finish one by one: wait a moment for more, so one outbox call (one
        // hand-off to another thread) serves many of them.
        if flushes.is_empty() && batch.len() < SETTLE_BATCH / 16 {
            tokio::time::sleep(SETTLE_LINGER).await;
            if let Ok(more) = rx.try_recv() {
                take(more, &mut rx, &mut batch, &mut flushes);
            }
        }
        if !batch.is_empty() {
            apply(&engine, part, batch).await;
            part.pending_within(&engine, super::engine::PENDING_FRESH)
                .await;
            // A released entry may be due sooner than the claimer's sleep: let it look.
            part.appended.notify_one();
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// How long the settler waits for more settlements when it has few.
const SETTLE_LINGER: Duration = Duration::from_millis(1);

/// Adds `first` and whatever else is waiting (up to a batch) to `batch` and `flushes`.
fn take(
    first: SettleMsg,
    rx: &mut mpsc::UnboundedReceiver<SettleMsg>,
    batch: &mut Vec<Settle>,
    flushes: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) {
    let mut next = Some(first);
    while let Some(msg) = next.take() {
        match msg {
            SettleMsg::Settle(s) => batch.push(s),
            SettleMsg::Flush(done) => flushes.push(done),
        }
        if batch.len() < SETTLE_BATCH {
            next = rx.try_recv().ok();
        }
    }
}

async fn apply(engine: &Engine, part: &OutboxPart, batch: Vec<Settle>) {
    for attempt in 1..=3u32 {
        let call = part.outbox.settle(batch.clone());
        match tokio::time::timeout(engine.plugs.store_timeout, call).await {
            Ok(Ok(_)) => return,
            Ok(Err(e)) => part.error(engine, "settle", &e),
            Err(_) => engine.ledger.note(Activity::OutboxError),
        }
        tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
    }
}

/// Waits until every settlement sent so far is applied (at shutdown, before `sync`).
pub(crate) async fn settled(engine: &Engine) {
    if let Some(part) = engine.outbox.as_ref() {
        let (done, wait) = tokio::sync::oneshot::channel();
        if part.settles.send(SettleMsg::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(engine.plugs.store_timeout * 4, wait).await;
        }
    }
}
