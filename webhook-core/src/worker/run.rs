//! The worker loop: hands queued events to delivery tasks, then drains on shutdown.

use super::delivery::{Failure, deliver, finish_failed};
use super::report::ShutdownReport;
use super::shared::{Phase, Shared};
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
    shared: Arc<Shared>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> ShutdownReport {
    // Pin the wall-clock origin to this runtime's clock.
    let _ = shared.wall_clock();
    let timeout = loop {
        match next_event(&shared, &mut commands).await {
            Ok((event, permit)) => {
                tokio::spawn(lane(shared.clone(), event, permit));
            }
            Err(timeout) => break timeout,
        }
    };
    drain(&shared, timeout).await
}

/// Delivers `event`, then keeps its delivery slot for the next queued events while the
/// worker runs and the queue is not empty.
///
/// Under load this saves, per event, a slot hand-off to this loop, waking it and
/// spawning a task (on two cores, about a third of the worker's CPU per event). The
/// slots are the same, so `max_concurrency` still bounds the deliveries in flight; when
/// the queue runs dry the slot goes back and the dispatch loop takes over.
async fn lane(shared: Arc<Shared>, mut event: QueuedEvent, mut permit: OwnedSemaphorePermit) {
    let abort = shared.aborts.slot();
    loop {
        let Some(kept) = deliver(shared.clone(), event, permit, &abort).await else {
            return;
        };
        if *shared.phase.borrow() != Phase::Running {
            return;
        }
        match shared.queue.pop() {
            Some(next) => (event, permit) = (next, kept),
            None => return,
        }
    }
}

/// Waits for a free slot and an event; `Err(timeout)` when shutdown is requested.
async fn next_event(
    shared: &Arc<Shared>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Result<(QueuedEvent, OwnedSemaphorePermit), Duration> {
    let grace = shared.config.shutdown_grace;
    let requested = |cmd: Option<Command>| match cmd {
        Some(Command::Shutdown { timeout }) => timeout,
        None => grace,
    };
    let permit = tokio::select! {
        biased;
        cmd = commands.recv() => return Err(requested(cmd)),
        p = shared.permits.clone().acquire_owned() => match p {
            Ok(p) => p,
            Err(_) => return Err(grace),
        },
    };
    loop {
        if let Some(event) = shared.queue.pop() {
            return Ok((event, permit));
        }
        tokio::select! {
            biased;
            cmd = commands.recv() => return Err(requested(cmd)),
            () = shared.queue.ready() => {}
        }
    }
}

async fn drain(shared: &Arc<Shared>, timeout: Duration) -> ShutdownReport {
    let started = tokio::time::Instant::now();
    let deadline = started + timeout;
    let before = shared.counters.snapshot(shared.queue.len());
    shared.queue.close();
    shared.phase.send_replace(Phase::Draining { deadline });
    tracing::debug!(
        queued = before.queued,
        in_flight = before.in_flight,
        waiting = before.waiting_retries,
        timeout_ms = timeout.as_millis() as u64,
        "draining"
    );

    // Keep delivering what is queued until the deadline.
    loop {
        let permit = tokio::select! {
            biased;
            () = tokio::time::sleep_until(deadline) => break,
            p = shared.permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        match shared.queue.pop() {
            Some(event) => {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let abort = shared.aborts.slot();
                    deliver(shared, event, permit, &abort).await
                });
            }
            None => break,
        }
    }
    let finished_in_time = shared.wait_idle_until(deadline).await;

    // Whatever is left goes to the store.
    shared.phase.send_replace(Phase::Aborted);
    shared.aborts.fire_all();
    let leftovers = shared.queue.drain();
    if !leftovers.is_empty() {
        tracing::warn!(
            count = leftovers.len(),
            "shutdown deadline reached: recording queued events"
        );
    }
    for event in leftovers {
        let shared = shared.clone();
        tokio::spawn(async move {
            let error = "still queued at shutdown";
            let failure = Failure::without_status(FailureKind::Shutdown, error, 0);
            finish_failed(&shared, &event, failure).await;
        });
    }
    let store_deadline = tokio::time::Instant::now() + shared.store_timeout;
    shared.wait_idle_until(store_deadline).await;

    let after = shared.counters.snapshot(shared.queue.len());
    let unfinished = after.in_flight + after.waiting_retries + after.queued;
    let report = ShutdownReport {
        delivered: after.delivered - before.delivered,
        recorded: after.failed_by_kind.shutdown - before.failed_by_kind.shutdown,
        failed: (after.failed - after.failed_by_kind.shutdown)
            - (before.failed - before.failed_by_kind.shutdown),
        abandoned: after.store_errors - before.store_errors,
        unfinished,
        deadline_reached: !finished_in_time,
        elapsed: started.elapsed(),
        stats: after,
    };
    tracing::info!(
        delivered = report.delivered,
        recorded = report.recorded,
        abandoned = report.abandoned,
        unfinished,
        "webhook worker stopped"
    );
    report
}
