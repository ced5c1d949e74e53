//! The worker loop: hands queued events to delivery tasks, then drains on shutdown.

use super::claim::{claim_loop, settle_loop, settled};
use super::commit::commit_loop;
use super::delivery::deliver;
use super::engine::Engine;
use super::report::ShutdownReport;
use super::settle::{self, Failure};
use crate::accounting::DeliveryStats;
use crate::queue::QueuedEvent;
use crate::store::FailureKind;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

/// Requests from handles to the worker.
#[derive(Debug)]
pub(crate) enum Command {
    Shutdown { timeout: Duration },
}

/// Runs until shut down (or until every handle is gone), then drains.
pub(crate) async fn run(
    engine: Arc<Engine>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> ShutdownReport {
    // Pin the wall-clock origin to this runtime's clock.
    let _ = engine.clock.now();
    tokio::spawn(record_unattempted(engine.clone()));
    if engine.outbox.is_some() {
        return run_durable(engine, commands).await;
    }
    let timeout = loop {
        match next_event(&engine, &mut commands).await {
            Ok((event, permit)) => {
                tokio::spawn(lane(engine.clone(), event, permit));
            }
            Err(timeout) => break timeout,
        }
    };
    drain(&engine, timeout).await
}

/// Outbox mode: the commit writer and the claimer run until shutdown is requested.
async fn run_durable(
    engine: Arc<Engine>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> ShutdownReport {
    let writer = tokio::spawn({
        let engine = engine.clone();
        async move {
            if let Some(part) = engine.outbox.as_ref() {
                commit_loop(&engine, part).await;
            }
        }
    });
    let claimer = tokio::spawn(claim_loop(engine.clone()));
    if let Some(rx) = engine.outbox.as_ref().and_then(|p| {
        p.settles_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }) {
        tokio::spawn(settle_loop(engine.clone(), rx));
    }
    let timeout = match commands.recv().await {
        Some(Command::Shutdown { timeout }) => timeout,
        None => engine.config.shutdown_grace,
    };
    let started = tokio::time::Instant::now();
    let before = engine.ledger.snapshot();
    let deadline = started + timeout;
    engine.queue.close();
    engine.lifecycle.begin_drain(deadline);
    // The writer appends what is queued; the claimer stops claiming; attempts in flight
    // go on until the deadline, then are cut off and released to the outbox.
    let _ = tokio::time::timeout_at(deadline, writer).await;
    let _ = tokio::time::timeout_at(deadline, claimer).await;
    let finished_in_time = engine.ledger.wait_idle_until(deadline).await;
    engine.lifecycle.abort();
    record_leftovers(&engine);
    let store_deadline = tokio::time::Instant::now() + engine.plugs.store_timeout;
    if engine.ledger.wait_idle_until(store_deadline).await {
        engine.ledger.assert_balanced();
    }
    let mut report = report(&before, engine.ledger.snapshot(), finished_in_time, started);
    report.left_in_outbox = left_in_outbox(&engine).await;
    tracing::info!(
        delivered = report.delivered,
        left_in_outbox = report.left_in_outbox,
        recorded = report.recorded,
        "webhook worker stopped"
    );
    report
}

/// Makes the outbox's settlements durable, then counts the entries it still holds (for
/// the shutdown report).
async fn left_in_outbox(engine: &Engine) -> u64 {
    let Some(part) = engine.outbox.as_ref() else {
        return 0;
    };
    settled(engine).await;
    match tokio::time::timeout(engine.plugs.store_timeout, part.outbox.sync()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => part.error(engine, "sync", &e),
        Err(_) => engine.ledger.note(crate::accounting::Activity::OutboxError),
    }
    let pending = tokio::time::timeout(engine.plugs.store_timeout, part.outbox.pending()).await;
    match pending {
        Ok(Ok(p)) => p.count,
        _ => 0,
    }
}

/// Delivers `event`, then keeps its delivery slot for the next queued events while the
/// worker runs and the queue is not empty.
///
/// Under load this saves, per event, a slot hand-off to this loop, waking it and
/// spawning a task (on two cores, about a third of the worker's CPU per event). The
/// slots are the same, so `max_concurrency` still bounds the deliveries in flight; when
/// the queue runs dry the slot goes back and the dispatch loop takes over.
async fn lane(engine: Arc<Engine>, mut event: QueuedEvent, mut permit: OwnedSemaphorePermit) {
    let abort = engine.lifecycle.abort_slot();
    loop {
        let Some(kept) = deliver(engine.clone(), event, permit, &abort).await else {
            return;
        };
        if !engine.lifecycle.is_running() {
            return;
        }
        match engine.endpoints.next_any(&engine.queue, &engine.ledger) {
            Ok(next) => (event, permit) = (next, kept),
            Err(_) => return,
        }
    }
}

/// Waits for a free slot and an event; `Err(timeout)` when shutdown is requested.
async fn next_event(
    engine: &Arc<Engine>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Result<(QueuedEvent, OwnedSemaphorePermit), Duration> {
    let grace = engine.config.shutdown_grace;
    let requested = |cmd: Option<Command>| match cmd {
        Some(Command::Shutdown { timeout }) => timeout,
        None => grace,
    };
    loop {
        let permit = tokio::select! {
            biased;
            cmd = commands.recv() => return Err(requested(cmd)),
            p = engine.permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return Err(grace),
            },
        };
        let wake = match engine.endpoints.next_any(&engine.queue, &engine.ledger) {
            Ok(event) => return Ok((event, permit)),
            Err(wake) => wake,
        };
        // Wait without the slot: a retry that falls due meanwhile may need it.
        drop(permit);
        tokio::select! {
            biased;
            cmd = commands.recv() => return Err(requested(cmd)),
            () = engine.queue.ready() => {}
            () = engine.endpoints.work.notified() => {}
            () = sleep_until(wake) => {}
        }
    }
}

/// Sleeps until `wake`, or for ever.
async fn sleep_until(wake: Option<tokio::time::Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Records the deliveries the endpoint set hands over without an attempt: overflow
/// while a breaker is open (`circuit_open`), queued for an endpoint that was removed.
async fn record_unattempted(engine: Arc<Engine>) {
    let rx = engine
        .endpoints
        .to_record_rx
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    let Some(mut rx) = rx else {
        return;
    };
    while let Some((event, kind, why)) = rx.recv().await {
        let engine = engine.clone();
        tokio::spawn(async move {
            settle::failed(&engine, &event, Failure::without_status(kind, why, 0)).await;
        });
    }
}

/// Stops intake, delivers until `timeout`, records what is left, and reports.
async fn drain(engine: &Arc<Engine>, timeout: Duration) -> ShutdownReport {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let before = engine.ledger.snapshot();
    engine.queue.close();
    engine.lifecycle.begin_drain(deadline);
    tracing::debug!(
        queued = before.queued,
        in_flight = before.in_flight,
        waiting = before.waiting_retries,
        timeout_ms = timeout.as_millis() as u64,
        "draining"
    );
    deliver_until(engine, deadline).await;
    let finished_in_time = engine.ledger.wait_idle_until(deadline).await;
    engine.lifecycle.abort();
    record_leftovers(engine);
    let store_deadline = tokio::time::Instant::now() + engine.plugs.store_timeout;
    if engine.ledger.wait_idle_until(store_deadline).await {
        engine.ledger.assert_balanced();
    }
    let report = report(&before, engine.ledger.snapshot(), finished_in_time, started);
    tracing::info!(
        delivered = report.delivered,
        recorded = report.recorded,
        abandoned = report.abandoned,
        unfinished = report.unfinished,
        "webhook worker stopped"
    );
    report
}

/// Keeps delivering what is queued until the queue is empty or `deadline` passes.
async fn deliver_until(engine: &Arc<Engine>, deadline: tokio::time::Instant) {
    loop {
        let permit = tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => return,
            p = engine.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let event = match engine.endpoints.next_any(&engine.queue, &engine.ledger) {
            Ok(event) => event,
            Err(None) => return,
            Err(Some(wake)) if wake >= deadline => return,
            Err(Some(wake)) => {
                drop(permit);
                tokio::time::sleep_until(wake).await;
                continue;
            }
        };
        let engine = engine.clone();
        tokio::spawn(async move {
            let abort = engine.lifecycle.abort_slot();
            deliver(engine, event, permit, &abort).await
        });
    }
}

/// Sends whatever is still queued to the store.
fn record_leftovers(engine: &Arc<Engine>) {
    let mut leftovers = engine.queue.drain();
    leftovers.extend(engine.endpoints.drain(&engine.ledger));
    if !leftovers.is_empty() {
        tracing::warn!(
            count = leftovers.len(),
            "shutdown deadline reached: recording queued events"
        );
    }
    for event in leftovers {
        let engine = engine.clone();
        tokio::spawn(async move {
            let error = "still queued at shutdown";
            let failure = Failure::without_status(FailureKind::Shutdown, error, 0);
            settle::failed(&engine, &event, failure).await;
        });
    }
}

fn report(
    before: &DeliveryStats,
    after: DeliveryStats,
    finished_in_time: bool,
    started: tokio::time::Instant,
) -> ShutdownReport {
    let other_failures = |s: &DeliveryStats| s.failed - s.failed_by_kind.shutdown;
    ShutdownReport {
        delivered: after.delivered - before.delivered,
        recorded: after.failed_by_kind.shutdown - before.failed_by_kind.shutdown,
        failed: other_failures(&after) - other_failures(before),
        abandoned: after.store_errors - before.store_errors,
        unfinished: after.in_flight + after.waiting_retries + after.queued,
        deadline_reached: !finished_in_time,
        elapsed: started.elapsed(),
        stats: after,
        left_in_outbox: 0,
    }
}
