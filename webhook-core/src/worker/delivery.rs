//! One event's life after it leaves the queue: attempts, retry waits, the final outcome.

use super::shared::{AbortSlot, Phase, Shared};
use super::stats::bump;
use crate::queue::QueuedEvent;
use crate::retry::{StatusClass, classify_status};
use crate::store::{FailureKind, FailureRecord, RecordId, RecordStatus, RecordUpdate};
use crate::transport::{DeliveryResponse, TransportError};
use serde_json::value::RawValue;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, watch};

/// What one attempt came to.
struct Verdict {
    class: StatusClass,
    status: Option<u16>,
    retry_after: Option<Duration>,
    error: String,
}

impl Verdict {
    fn into_failure(self, kind: FailureKind, attempts: u32) -> Failure {
        Failure {
            kind,
            error: self.error,
            last_status: self.status,
            attempts,
        }
    }
}

fn judge(result: Result<DeliveryResponse, TransportError>) -> Verdict {
    match result {
        Ok(response) => {
            let code = response.status.as_u16();
            let class = classify_status(code);
            let why = match code {
                300..=399 => " (redirects are not followed)",
                410 => " (the receiver wants no more deliveries)",
                _ => "",
            };
            Verdict {
                class,
                status: Some(code),
                retry_after: if matches!(code, 429 | 503) {
                    response.retry_after
                } else {
                    None
                },
                // Only failures need the text (this runs once per delivered event).
                error: if class == StatusClass::Success {
                    String::new()
                } else {
                    format!("server answered {}{why}", response.status)
                },
            }
        }
        Err(e) => Verdict {
            class: if e.is_retryable() {
                StatusClass::Retryable
            } else {
                StatusClass::Permanent
            },
            status: None,
            retry_after: None,
            error: e.to_string(),
        },
    }
}

/// How much longer than the configured timeout the worker waits for a transport that
/// does not return on its own.
const BACKSTOP_MARGIN: Duration = Duration::from_millis(250);

/// A transport's future panicked.
struct Panicked;

/// Turns a panic inside a transport's future into an error, so the event is still
/// accounted for (recorded as a permanent failure) instead of vanishing with its task.
struct CatchPanic<F>(F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}

/// `attempt`, cut off after `backstop` unless the transport bounds itself.
async fn bounded<F: Future>(
    bounds_itself: bool,
    backstop: Duration,
    attempt: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    if bounds_itself {
        Ok(attempt.await)
    } else {
        tokio::time::timeout(backstop, attempt).await
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

/// Delivers `event`, holding `permit` while an attempt runs. The event is counted in
/// `in_flight` on entry and leaves the counters exactly once, as delivered or failed.
///
/// Returns the delivery slot it holds at the end (none if the event was still waiting
/// for a retry at shutdown), so the caller may go on with the next queued event.
pub(crate) async fn deliver(
    shared: Arc<Shared>,
    event: QueuedEvent,
    permit: OwnedSemaphorePermit,
    abort: &AbortSlot,
) -> Option<OwnedSemaphorePermit> {
    let Some(destination) = shared.config.destination.clone() else {
        let failure =
            Failure::without_status(FailureKind::Permanent, "no destination configured", 0);
        finish_failed(&shared, &event, failure).await;
        return Some(permit);
    };
    let mut permit = Some(permit);
    let mut made = 0u32;
    let mut retry = 0u32;
    loop {
        made += 1;
        let attempt = event.prior_attempts + made;
        bump(&shared.counters.attempts);
        if retry > 0 {
            bump(&shared.counters.retries);
        }
        let request = shared.request(&destination, &event, attempt);
        let timeout = shared.config.timeout;
        // A transport bounds the exchange itself if it can; the worker's backstop fires a
        // little later so that the two never race over an answer that arrived in time,
        // and is left out for transports that promise to return in time.
        let backstop = timeout + BACKSTOP_MARGIN;
        let result = tokio::select! {
            biased;
            () = abort.fired() => {
                let error = "shut down before the attempt finished";
                let failure = Failure::without_status(FailureKind::Shutdown, error, made);
                finish_failed(&shared, &event, failure).await;
                return permit;
            }
            r = bounded(shared.transport_bounds_itself, backstop, CatchPanic(shared.transport.send(request))) => {
                match r {
                    Ok(Ok(result)) => result,
                    Ok(Err(Panicked)) => Err(TransportError::Request {
                        destination: destination.redacted().to_owned(),
                        detail: "the transport panicked (a bug in the transport)".to_owned(),
                    }),
                    Err(_) => Err(TransportError::Timeout {
                        destination: destination.redacted().to_owned(),
                        after: timeout,
                    }),
                }
            }
        };
        let verdict = judge(result);
        match verdict.class {
            StatusClass::Success => {
                tracing::debug!(webhook_id = %event.webhook_id(), event = event.event(), attempt, destination = %destination, "delivered");
                finish_delivered(&shared, &event).await;
                return permit;
            }
            StatusClass::Permanent => {
                tracing::warn!(webhook_id = %event.webhook_id(), event = event.event(), attempt, error = %shared.sanitize(&verdict.error), "delivery failed permanently");
                finish_failed(
                    &shared,
                    &event,
                    verdict.into_failure(FailureKind::Permanent, made),
                )
                .await;
                return permit;
            }
            StatusClass::Retryable => {}
        }
        retry += 1;
        let unit = if shared.config.retry.has_jitter() {
            shared.jitter_sample()
        } else {
            0.0
        };
        let Some(delay) = shared.config.retry.delay(retry, verdict.retry_after, unit) else {
            tracing::warn!(webhook_id = %event.webhook_id(), event = event.event(), attempts = made, error = %shared.sanitize(&verdict.error), "delivery failed after every retry");
            finish_failed(
                &shared,
                &event,
                verdict.into_failure(FailureKind::Exhausted, made),
            )
            .await;
            return permit;
        };
        if !reserve_waiting_slot(&shared) {
            tracing::warn!(webhook_id = %event.webhook_id(), event = event.event(), "too many retries waiting: recording instead of retrying");
            let error = format!(
                "{} (retry not scheduled: max_pending_retries reached)",
                verdict.error
            );
            finish_failed(
                &shared,
                &event,
                Failure {
                    kind: FailureKind::Overflow,
                    error,
                    last_status: verdict.status,
                    attempts: made,
                },
            )
            .await;
            return permit;
        }
        tracing::debug!(webhook_id = %event.webhook_id(), retry, delay_ms = delay.as_millis() as u64, error = %shared.sanitize(&verdict.error), "retry scheduled");
        // Waiting holds no worker slot.
        drop(permit.take());
        shared.leave_in_flight();
        let wake = tokio::time::Instant::now() + delay;
        let mut phase = shared.phase.subscribe();
        let resumed = match wait_for_retry(&mut phase, wake).await {
            Wait::Shutdown => None,
            Wait::Elapsed => tokio::select! {
                biased;
                () = abort.fired() => None,
                p = shared.permits.clone().acquire_owned() => p.ok(),
            },
        };
        shared.counters.in_flight.fetch_add(1, Ordering::SeqCst);
        shared
            .counters
            .waiting_retries
            .fetch_sub(1, Ordering::SeqCst);
        shared.activity.notify_waiters();
        match resumed {
            Some(p) => permit = Some(p),
            None => {
                let error = format!("{} (retry pending at shutdown)", verdict.error);
                finish_failed(
                    &shared,
                    &event,
                    Failure {
                        kind: FailureKind::Shutdown,
                        error,
                        last_status: verdict.status,
                        attempts: made,
                    },
                )
                .await;
                return permit;
            }
        }
    }
}

/// Counts the event as waiting for a retry if fewer than `max_pending_retries` wait.
fn reserve_waiting_slot(shared: &Shared) -> bool {
    let max = shared.config.max_pending_retries as u64;
    shared
        .counters
        .waiting_retries
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// A store write, boxed. Every delivery task is as large as its largest await point,
/// and a store write (a whole record, a timer, the store's future) is by far the
/// largest; boxing it keeps the common path (one attempt, delivered) small: the task
/// went from 1,096 to under 1 KiB, which is also where glibc's malloc leaves its fast path.
type StoreWrite<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

async fn finish_delivered(shared: &Shared, event: &QueuedEvent) {
    if let Some(record) = &event.replay_of {
        let resolve: StoreWrite<'_> = Box::pin(resolve_replayed(shared, record));
        resolve.await;
    }
    bump(&shared.counters.delivered);
    shared.leave_in_flight();
}

async fn resolve_replayed(shared: &Shared, record: &RecordId) {
    let update = RecordUpdate::Resolved {
        at: crate::time::rfc3339(shared.wall_clock()),
    };
    match tokio::time::timeout(shared.store_timeout, shared.store.update(record, &update)).await {
        Ok(Ok(_)) => bump(&shared.counters.replays_resolved),
        Ok(Err(e)) => store_error(shared, record, &e.to_string()),
        Err(_) => store_error(shared, record, "timed out"),
    }
}

fn store_error(shared: &Shared, id: &RecordId, detail: &str) {
    bump(&shared.counters.store_errors);
    tracing::error!(record = %id, error = %shared.sanitize(detail), "failure store write failed");
}

/// How an event finally failed: what its record says.
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    /// Not yet sanitized.
    pub(crate) error: String,
    pub(crate) last_status: Option<u16>,
    /// Attempts made in this delivery (replays keep their own count).
    pub(crate) attempts: u32,
}

impl Failure {
    /// A failure before any answer arrived.
    pub(crate) fn without_status(kind: FailureKind, error: &str, attempts: u32) -> Self {
        Self {
            kind,
            error: error.to_owned(),
            last_status: None,
            attempts,
        }
    }
}

/// Records a final failure (or updates the replayed record), then leaves the counters.
pub(crate) fn finish_failed<'a>(
    shared: &'a Shared,
    event: &'a QueuedEvent,
    failure: Failure,
) -> StoreWrite<'a> {
    Box::pin(record_failure(shared, event, failure))
}

async fn record_failure(shared: &Shared, event: &QueuedEvent, failure: Failure) {
    let now = shared.wall_clock();
    let kind = failure.kind;
    let failure = Failure {
        error: shared.sanitize(&failure.error),
        ..failure
    };
    let write = async {
        match &event.replay_of {
            Some(id) => {
                let update = RecordUpdate::ReplayFailed {
                    failed_at: crate::time::rfc3339(now),
                    failed_at_ms: crate::time::unix_millis(now),
                    error: failure.error,
                    last_status: failure.last_status,
                    attempts: failure.attempts,
                    outcome: kind,
                };
                (
                    id.clone(),
                    shared.store.update(id, &update).await.map(|_| ()),
                )
            }
            None => {
                let record = new_record(shared, event, failure, now);
                (record.id.clone(), shared.store.record(record).await)
            }
        }
    };
    match tokio::time::timeout(shared.store_timeout, write).await {
        Ok((_, Ok(()))) => {}
        Ok((id, Err(e))) => store_error(shared, &id, &e.to_string()),
        Err(_) => store_error(shared, &RecordId::unchecked("(pending)"), "timed out"),
    }
    bump(shared.counters.failed(kind));
    shared.leave_in_flight();
}

/// `failure.error` is already sanitized here.
fn new_record(
    shared: &Shared,
    event: &QueuedEvent,
    failure: Failure,
    now: SystemTime,
) -> FailureRecord {
    let Failure {
        kind,
        error,
        last_status,
        attempts,
    } = failure;
    let body = String::from_utf8_lossy(event.message.body()).into_owned();
    let payload = RawValue::from_string(body).unwrap_or_else(|_| {
        RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
    });
    FailureRecord {
        id: RecordId::new(now),
        webhook_id: event.webhook_id().clone(),
        failed_at: crate::time::rfc3339(now),
        failed_at_ms: crate::time::unix_millis(now),
        event: event.event().to_owned(),
        task_id: event.task_id().map(str::to_owned),
        destination: shared
            .config
            .destination
            .as_ref()
            .map_or_else(|| "none".to_owned(), |d| d.redacted().to_owned()),
        error,
        last_status,
        attempts,
        replay_count: 0,
        outcome: kind,
        status: RecordStatus::Failed,
        resolved_at: None,
        payload,
    }
}
