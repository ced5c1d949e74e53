//! Bounded, filtered replay of stored failures.
//!
//! A replay re-enqueues stored failures with their original webhook id (so receivers
//! can deduplicate), bypassing the event filter. The record learns the outcome: it is
//! marked resolved when delivered, or updated (never duplicated) when it fails again.

use crate::event::WebhookMessage;
use crate::queue::QueuedEvent;
use crate::store::{
    FailureKind, FailureRecord, FailureStore, RecordFilter, RecordId, RecordStatus, RecordUpdate,
    StoreError, UpdateRejected,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Default number of records a replay considers.
pub const DEFAULT_LIMIT: usize = 20;
/// Default number of times one record may be replayed.
pub const DEFAULT_MAX_REPLAY_ATTEMPTS: u32 = 3;

/// Which stored failures to replay. At least one of `ids`, `event`, `task_id` or `all`
/// must be set: an empty selector is refused, so no replay is unbounded by accident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReplaySelector {
    /// Record ids or webhook ids.
    pub ids: Vec<String>,
    /// Only this event.
    pub event: Option<String>,
    /// Only this task.
    pub task_id: Option<String>,
    /// Only deliveries to this endpoint.
    pub endpoint: Option<String>,
    /// Select every record (still bounded by `limit`).
    pub all: bool,
    /// Consider at most this many records, newest first (default 20).
    pub limit: usize,
    /// Skip records already replayed this many times (default 3).
    pub max_replay_attempts: u32,
}

impl Default for ReplaySelector {
    fn default() -> Self {
        Self {
            ids: Vec::new(),
            event: None,
            task_id: None,
            endpoint: None,
            all: false,
            limit: DEFAULT_LIMIT,
            max_replay_attempts: DEFAULT_MAX_REPLAY_ATTEMPTS,
        }
    }
}

impl ReplaySelector {
    /// Selects these record or webhook ids.
    pub fn ids(ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            ids: ids.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Selects one event name.
    pub fn event(event: impl Into<String>) -> Self {
        Self {
            event: Some(event.into()),
            ..Self::default()
        }
    }

    /// Selects one task id.
    pub fn task_id(task_id: impl Into<String>) -> Self {
        Self {
            task_id: Some(task_id.into()),
            ..Self::default()
        }
    }

    /// Selects the deliveries to one endpoint.
    pub fn endpoint(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: Some(endpoint.into()),
            ..Self::default()
        }
    }

    /// Selects every record, newest first, up to the limit.
    pub fn all() -> Self {
        Self {
            all: true,
            ..Self::default()
        }
    }

    /// Sets the limit.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the per-record replay limit.
    pub fn max_replay_attempts(mut self, max: u32) -> Self {
        self.max_replay_attempts = max;
        self
    }

    /// Refuses an empty selector or a zero limit.
    pub fn validate(&self) -> Result<(), ReplayError> {
        let narrowed = self.event.is_some() || self.task_id.is_some() || self.endpoint.is_some();
        if self.ids.is_empty() && !narrowed && !self.all {
            return Err(ReplayError::EmptySelector);
        }
        if self.limit == 0 || self.limit > 10_000 {
            return Err(ReplayError::BadLimit { limit: self.limit });
        }
        Ok(())
    }

    fn filter(&self) -> RecordFilter {
        let mut filter = RecordFilter::newest(self.limit);
        filter.ids.clone_from(&self.ids);
        filter.event.clone_from(&self.event);
        filter.task_id.clone_from(&self.task_id);
        filter.endpoint.clone_from(&self.endpoint);
        filter
    }
}

/// Why a replay did not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No ids, event, task id or `all` given.
    #[error(
        "refusing an unbounded replay: the ReplaySelector sets none of `ids`, `event`, `task_id`, `endpoint` or `all`; expected at least one of them (`limit` then bounds it)"
    )]
    EmptySelector,
    /// The limit is 0 or over 10,000.
    #[error("replay limit {limit} is out of range; expected 1..=10000")]
    BadLimit {
        /// The limit given.
        limit: usize,
    },
    /// The store could not be read.
    #[error("replay could not read the failure store: {0}")]
    Store(#[from] StoreError),
    /// A store call took longer than the store timeout.
    #[error("replay stopped: the failure store did not answer within {after:?}")]
    StoreTimeout {
        /// The store timeout.
        after: Duration,
    },
    /// The notifier has stopped.
    #[error("the notifier has stopped; replay needs a running notifier")]
    Stopped,
}

/// One record a replay considered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCandidate {
    /// The record's id.
    pub id: RecordId,
    /// The webhook id it will be sent with.
    pub webhook_id: String,
    /// The event name.
    pub event: String,
    /// The task id, if any.
    pub task_id: Option<String>,
    /// When it last failed.
    pub failed_at: String,
    /// Why it last failed.
    pub outcome: FailureKind,
    /// The record's status.
    pub status: RecordStatus,
    /// Replays so far (before this one).
    pub replay_count: u32,
    /// Whether it may be replayed now.
    pub eligible: bool,
    /// Why not, when it may not.
    pub reason: Option<String>,
    /// Whether this replay enqueued it.
    pub replayed: bool,
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Whether this was a dry run (nothing changed).
    pub dry_run: bool,
    /// Records matching the selector (up to the limit).
    pub matched: usize,
    /// Matching records that may be replayed.
    pub eligible: usize,
    /// Records enqueued again.
    pub replayed: usize,
    /// Skipped: replayed `max_replay_attempts` times already.
    pub skipped_max_attempts: usize,
    /// Skipped: already resolved.
    pub skipped_resolved: usize,
    /// Skipped: the queue had no room.
    pub skipped_enqueue_failed: usize,
    /// Every matching record, newest first.
    pub candidates: Vec<ReplayCandidate>,
}

fn candidate(record: &FailureRecord, max: u32) -> ReplayCandidate {
    let check = record.check_replayable(max);
    ReplayCandidate {
        id: record.id.clone(),
        webhook_id: record.webhook_id.to_string(),
        event: record.event.clone(),
        task_id: record.task_id.clone(),
        failed_at: record.failed_at.clone(),
        outcome: record.outcome,
        status: record.status,
        replay_count: record.replay_count,
        eligible: check.is_ok(),
        reason: check.err().map(|r| r.to_string()),
        replayed: false,
    }
}

fn count_skip(report: &mut ReplayReport, reason: UpdateRejected) {
    match reason {
        UpdateRejected::AlreadyResolved => report.skipped_resolved += 1,
        UpdateRejected::ReplayLimit { .. } => report.skipped_max_attempts += 1,
    }
}

/// Lists the records `selector` matches and, unless `dry_run`, replays the eligible
/// ones through `enqueue` (which answers whether the event was queued). Each store call
/// is bounded by `store_timeout`.
pub(crate) async fn run(
    store: &dyn FailureStore,
    store_timeout: Duration,
    selector: &ReplaySelector,
    dry_run: bool,
    enqueue: &(dyn Fn(QueuedEvent, Option<&str>) -> bool + Sync),
) -> Result<ReplayReport, ReplayError> {
    selector.validate()?;
    let store = Bounded {
        store,
        timeout: store_timeout,
    };
    let records = store.call(store.store.list(&selector.filter())).await?;
    let max = selector.max_replay_attempts;
    let mut report = ReplayReport {
        dry_run,
        matched: records.len(),
        ..ReplayReport::default()
    };
    for record in &records {
        let mut cand = candidate(record, max);
        match record.check_replayable(max) {
            Ok(()) => report.eligible += 1,
            Err(reason) => count_skip(&mut report, reason),
        }
        if cand.eligible && !dry_run {
            cand.replayed = replay_one(&store, record, max, &mut report, enqueue).await?;
        }
        report.candidates.push(cand);
    }
    tracing::info!(
        matched = report.matched,
        eligible = report.eligible,
        replayed = report.replayed,
        dry_run,
        "replay finished"
    );
    Ok(report)
}

/// A store whose every call is bounded.
struct Bounded<'a> {
    store: &'a dyn FailureStore,
    timeout: Duration,
}

impl Bounded<'_> {
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, ReplayError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(ReplayError::from),
            Err(_) => Err(ReplayError::StoreTimeout {
                after: self.timeout,
            }),
        }
    }
}

/// Counts the replay in the store, then enqueues it; takes the count back if the queue
/// has no room.
async fn replay_one(
    store: &Bounded<'_>,
    record: &FailureRecord,
    max: u32,
    report: &mut ReplayReport,
    enqueue: &(dyn Fn(QueuedEvent, Option<&str>) -> bool + Sync),
) -> Result<bool, ReplayError> {
    let begin = RecordUpdate::BeginReplay {
        max_replay_attempts: max,
    };
    let updated = match store.call(store.store.update(&record.id, &begin)).await {
        Ok(Some(updated)) => updated,
        Ok(None) => return Ok(false),
        Err(ReplayError::Store(StoreError::Rejected { reason, .. })) => {
            // Another replay got there first.
            report.eligible -= 1;
            count_skip(report, reason);
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let message = WebhookMessage::from_json_bytes(
        &updated.event,
        updated.task_id.clone(),
        updated.payload.get().as_bytes().to_vec(),
    )
    .map(|m| m.with_id(updated.webhook_id.clone()));
    let queued = match message {
        Ok(message) => enqueue(
            QueuedEvent::replay(message, updated.id.clone(), updated.attempts),
            updated.endpoint.as_deref(),
        ),
        Err(_) => false,
    };
    if queued {
        report.replayed += 1;
    } else {
        report.skipped_enqueue_failed += 1;
        let cancel = store.store.update(&record.id, &RecordUpdate::CancelReplay);
        store.call(cancel).await?;
    }
    Ok(queued)
}
