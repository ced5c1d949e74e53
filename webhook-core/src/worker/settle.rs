//! An event's final outcome: the store learns it (a new record, or the replayed record
//! updated), then the ledger.

use super::engine::Engine;
use crate::accounting::Activity;
use crate::outbox::Settlement;
use crate::queue::QueuedEvent;
use crate::store::{FailureKind, FailureRecord, RecordId, RecordStatus, RecordUpdate};
use serde_json::value::RawValue;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

/// How an event finally failed: what its record says.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) kind: FailureKind,
    /// Not yet redacted.
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

/// A store write, boxed. Every delivery task is as large as its largest await point,
/// and a store write (a whole record, a timer, the store's future) is by far the
/// largest; boxing it keeps the common path (one attempt, delivered) small: the task
/// went from 1,096 to under 1 KiB, which is also where glibc's malloc leaves its fast path.
type StoreWrite<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Counts `event` delivered (marking its record resolved if it was a replay, and
/// removing its outbox entry if it has one).
pub(crate) async fn delivered(engine: &Engine, event: &QueuedEvent) {
    if let Some(record) = &event.replay_of {
        let resolve: StoreWrite<'_> = Box::pin(resolve_replayed(engine, event, record));
        resolve.await;
    }
    if let Some(claim) = event.claim() {
        let remove: StoreWrite<'_> = Box::pin(super::claim::settle_outbox(
            engine,
            *claim,
            Settlement::Delivered,
        ));
        remove.await;
    }
    engine.endpoints.finished(event);
    engine.ledger.delivered(event.tally());
    engine.observe.delivered(event);
}

/// Records a final failure (or updates the replayed record), then counts it.
pub(crate) fn failed<'a>(
    engine: &'a Engine,
    event: &'a QueuedEvent,
    failure: Failure,
) -> StoreWrite<'a> {
    Box::pin(record_failure(engine, event, failure))
}

async fn resolve_replayed(engine: &Engine, event: &QueuedEvent, record: &RecordId) {
    let update = RecordUpdate::Resolved {
        at: crate::time::rfc3339(engine.clock.now()),
    };
    let store = &engine.plugs.store;
    match tokio::time::timeout(engine.plugs.store_timeout, store.update(record, &update)).await {
        Ok(Ok(_)) => {
            engine.ledger.note(Activity::ReplayResolved);
            engine.observe.recovered(record, event);
        }
        Ok(Err(e)) => store_error(engine, Some(record), &e.to_string()),
        Err(_) => store_error(engine, Some(record), "timed out"),
    }
}

fn store_error(engine: &Engine, id: Option<&RecordId>, detail: &str) {
    engine.ledger.note(Activity::StoreError);
    let record = id.map_or("(not yet written)", RecordId::as_str);
    tracing::error!(record, error = %engine.redactor.scrub(detail), "failure store write failed");
}

async fn record_failure(engine: &Engine, event: &QueuedEvent, failure: Failure) {
    let now = engine.clock.now();
    let kind = failure.kind;
    let failure = Failure {
        error: engine.scrub(event, &failure.error),
        ..failure
    };
    let store = &engine.plugs.store;
    let write = async {
        match &event.replay_of {
            // A replay that never got an attempt (still queued at shutdown) gives its
            // count back: a record's replay count rises only for an attempt made.
            Some(id) if failure.attempts == 0 => (
                id.clone(),
                store
                    .update(id, &RecordUpdate::CancelReplay)
                    .await
                    .map(|_| ()),
            ),
            Some(id) => {
                let update = replay_failed(failure, now);
                (id.clone(), store.update(id, &update).await.map(|_| ()))
            }
            None => {
                let record = new_record(engine, event, failure, now);
                (record.id.clone(), store.record(record).await)
            }
        }
    };
    let recorded = match tokio::time::timeout(engine.plugs.store_timeout, write).await {
        Ok((id, Ok(()))) => Some(id),
        Ok((id, Err(e))) => {
            store_error(engine, Some(&id), &e.to_string());
            None
        }
        Err(_) => {
            store_error(engine, None, "timed out");
            None
        }
    };
    // The record first, then the removal: a crash in between repeats the attempt and
    // records the same id again (no duplicate), never loses the failure.
    if let Some(claim) = event.claim() {
        super::claim::settle_outbox(engine, *claim, Settlement::Failed).await;
    }
    engine.endpoints.finished(event);
    engine.ledger.failed(kind, event.tally());
    engine.observe.failed(event, kind, recorded);
}

/// The update of a replayed record that failed again (`failure.error` is redacted).
fn replay_failed(failure: Failure, now: SystemTime) -> RecordUpdate {
    RecordUpdate::ReplayFailed {
        failed_at: crate::time::rfc3339(now),
        failed_at_ms: crate::time::unix_millis(now),
        error: failure.error,
        last_status: failure.last_status,
        attempts: failure.attempts,
        outcome: failure.kind,
    }
}

/// A new record (`failure.error` is redacted).
fn new_record(
    engine: &Engine,
    event: &QueuedEvent,
    failure: Failure,
    now: SystemTime,
) -> FailureRecord {
    let body = String::from_utf8_lossy(event.message.body()).into_owned();
    let payload = RawValue::from_string(body).unwrap_or_else(|_| {
        RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!("null is JSON"))
    });
    let destination = super::attempt::destination_of(engine, event)
        .map_or_else(|| "none".to_owned(), |d| d.redacted().to_owned());
    // An outbox entry's record id is its own, so a repeated failure replaces it.
    let id = event.claim().map_or_else(
        || RecordId::new(now),
        |c| RecordId::for_outbox_entry(c.created_ms, c.id.0),
    );
    FailureRecord {
        id,
        webhook_id: event.webhook_id().clone(),
        failed_at: crate::time::rfc3339(now),
        failed_at_ms: crate::time::unix_millis(now),
        event: event.event().to_owned(),
        task_id: event.task_id().map(str::to_owned),
        destination,
        endpoint: event.endpoint_id().map(|id| id.to_string()),
        error: failure.error,
        last_status: failure.last_status,
        attempts: failure.attempts,
        replay_count: 0,
        outcome: failure.kind,
        status: RecordStatus::Failed,
        resolved_at: None,
        payload,
    }
}
