//! The behaviour every [`FailureStore`] must show, runnable against any implementation.
//!
//! `webhook-testkit` re-exports this suite; call [`run_all`] with a fresh, empty store.
//! A store with a retention bound (a capacity) is checked with [`run_all_bounded`], or
//! [`retention_keeps_the_newest`] alone when its bound is below [`MIN_BOUND_FOR_RUN_ALL`].

use super::{
    FailureKind, FailureRecord, FailureStore, RecordFilter, RecordId, RecordStatus, RecordUpdate,
    StoreError, UpdateRejected,
};
use crate::event::WebhookId;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A record as the worker would write it, failing at `at_ms` (unix milliseconds).
pub fn sample_record(event: &str, task_id: Option<&str>, at_ms: u64) -> FailureRecord {
    let at = UNIX_EPOCH + Duration::from_millis(at_ms);
    let body = format!(
        r#"{{"event":"{event}","timestamp":"{}"}}"#,
        crate::time::rfc3339(at)
    );
    FailureRecord {
        id: RecordId::new(at),
        webhook_id: WebhookId::generate(),
        failed_at: crate::time::rfc3339(at),
        failed_at_ms: at_ms,
        event: event.to_owned(),
        task_id: task_id.map(str::to_owned),
        endpoint: None,
        destination: "https://hooks.example.com/…".to_owned(),
        error: "server answered 500".to_owned(),
        last_status: Some(500),
        attempts: 4,
        replay_count: 0,
        outcome: FailureKind::Exhausted,
        status: RecordStatus::Failed,
        resolved_at: None,
        payload: RawValue::from_string(body).unwrap_or_else(|_| unreachable!("valid JSON")),
    }
}

fn base_ms() -> u64 {
    crate::time::unix_millis(SystemTime::now())
}

/// The most records the checks of [`run_all`] keep at once: a bounded store must keep at
/// least this many to run them.
pub const MIN_BOUND_FOR_RUN_ALL: usize = 20;

/// Runs every check in this module but the retention bound against `store`, which must
/// start empty and keep at least [`MIN_BOUND_FOR_RUN_ALL`] records.
/// Panics with a message naming the broken rule.
pub async fn run_all(store: Arc<dyn FailureStore>) {
    record_then_read_back(&*store).await;
    newest_first_with_limit(&*store).await;
    filters(&*store).await;
    replay_bookkeeping(&*store).await;
    concurrent_replays_are_counted_exactly(store.clone()).await;
    prune_keeps_the_newest(&*store).await;
}

/// [`run_all`], then [`retention_keeps_the_newest`] with `bound`, the number of records
/// `store` was built to keep (at least [`MIN_BOUND_FOR_RUN_ALL`]).
pub async fn run_all_bounded(store: Arc<dyn FailureStore>, bound: usize) {
    assert!(
        bound >= MIN_BOUND_FOR_RUN_ALL,
        "run_all_bounded needs a store keeping at least {MIN_BOUND_FOR_RUN_ALL} records, got bound = {bound}; check a smaller bound with retention_keeps_the_newest alone"
    );
    run_all(store.clone()).await;
    retention_keeps_the_newest(&*store, bound).await;
}

async fn clear(store: &dyn FailureStore) {
    store.prune(0).await.expect("prune(0) succeeds");
    assert_eq!(
        store.count().await.expect("count"),
        0,
        "prune(0) must empty the store"
    );
}

/// A recorded record can be read back by id, listed and counted, payload intact.
pub async fn record_then_read_back(store: &dyn FailureStore) {
    clear(store).await;
    let rec = sample_record("task_failed", Some("T-1"), base_ms());
    store.record(rec.clone()).await.expect("record succeeds");
    let got = store
        .get(&rec.id)
        .await
        .expect("get")
        .expect("record is found by id");
    assert_eq!(got.webhook_id, rec.webhook_id, "webhook id kept");
    assert_eq!(
        got.payload.get(),
        rec.payload.get(),
        "payload kept byte for byte"
    );
    assert_eq!(got.task_id.as_deref(), Some("T-1"));
    assert_eq!(got.outcome, FailureKind::Exhausted);
    assert_eq!(store.count().await.expect("count"), 1);
    assert!(
        store
            .get(&RecordId::from_string("rec_missing").expect("a valid id"))
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        !store.location().is_empty(),
        "location names where records live"
    );
}

/// `list` returns the newest first and stops at the limit.
pub async fn newest_first_with_limit(store: &dyn FailureStore) {
    clear(store).await;
    let base = base_ms();
    let mut ids = Vec::new();
    for i in 0..5 {
        let rec = sample_record("task_failed", None, base + i);
        ids.push(rec.id.clone());
        store.record(rec).await.expect("record");
    }
    let listed: Vec<RecordId> = store
        .list(&RecordFilter::newest(3))
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let expected: Vec<RecordId> = ids.iter().rev().take(3).cloned().collect();
    assert_eq!(listed, expected, "newest first, limited to 3");
}

/// Every filter field narrows the listing.
pub async fn filters(store: &dyn FailureStore) {
    clear(store).await;
    let base = base_ms();
    let a = sample_record("task_failed", Some("A"), base);
    let b = sample_record("task_completed", Some("B"), base + 1);
    let c = sample_record("task_failed", Some("B"), base + 2);
    for r in [&a, &b, &c] {
        store.record(r.clone()).await.expect("record");
    }
    let ids = |v: Vec<FailureRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let by_event = store
        .list(&RecordFilter::newest(10).event("task_failed"))
        .await
        .expect("list");
    assert_eq!(ids(by_event), [c.id.clone(), a.id.clone()], "event filter");
    let by_task = store
        .list(&RecordFilter::newest(10).task_id("B"))
        .await
        .expect("list");
    assert_eq!(ids(by_task), [c.id.clone(), b.id.clone()], "task filter");
    let by_both = store
        .list(&RecordFilter::newest(10).task_id("B").event("task_failed"))
        .await
        .expect("list");
    assert_eq!(ids(by_both), vec![c.id.clone()], "filters combine");
    let by_record_id = store
        .list(&RecordFilter::newest(10).ids([a.id.as_str()]))
        .await
        .expect("list");
    assert_eq!(ids(by_record_id), vec![a.id.clone()], "record id filter");
    let by_webhook_id = store
        .list(&RecordFilter::newest(10).ids([b.webhook_id.as_str()]))
        .await
        .expect("list");
    assert_eq!(ids(by_webhook_id), vec![b.id.clone()], "webhook id filter");
    store
        .update(&a.id, &RecordUpdate::Resolved { at: "now".into() })
        .await
        .expect("update");
    let open = store
        .list(&RecordFilter::newest(10).status(RecordStatus::Failed))
        .await
        .expect("list");
    assert_eq!(ids(open), [c.id.clone(), b.id.clone()], "status filter");
}

/// Replay updates follow [`FailureRecord::apply`] and never duplicate records.
pub async fn replay_bookkeeping(store: &dyn FailureStore) {
    clear(store).await;
    let rec = sample_record("task_failed", None, base_ms());
    store.record(rec.clone()).await.expect("record");
    let begin = RecordUpdate::BeginReplay {
        max_replay_attempts: 2,
    };
    let after = store
        .update(&rec.id, &begin)
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(after.replay_count, 1);
    store
        .update(
            &rec.id,
            &RecordUpdate::ReplayFailed {
                failed_at: "later".into(),
                failed_at_ms: rec.failed_at_ms + 1,
                error: "server answered 503".into(),
                last_status: Some(503),
                attempts: 2,
                outcome: FailureKind::Exhausted,
            },
        )
        .await
        .expect("update");
    let got = store.get(&rec.id).await.expect("get").expect("exists");
    assert_eq!(
        (got.attempts, got.last_status, got.replay_count),
        (6, Some(503), 1)
    );
    assert_eq!(
        store.count().await.expect("count"),
        1,
        "a failed replay updates, never duplicates"
    );
    replay_limit_cancel_and_resolution(store, &rec.id, &begin).await;
}

/// The second half of [`replay_bookkeeping`]: the replay limit, a cancelled replay, and
/// a resolved record that refuses further replays.
async fn replay_limit_cancel_and_resolution(
    store: &dyn FailureStore,
    id: &RecordId,
    begin: &RecordUpdate,
) {
    store
        .update(id, begin)
        .await
        .expect("second replay allowed");
    match store.update(id, begin).await {
        Err(StoreError::Rejected {
            reason:
                UpdateRejected::ReplayLimit {
                    replay_count: 2,
                    max_replay_attempts: 2,
                },
            ..
        }) => {}
        other => panic!("third replay over a limit of 2 must be rejected, got {other:?}"),
    }
    store
        .update(id, &RecordUpdate::CancelReplay)
        .await
        .expect("cancel");
    assert_eq!(
        store
            .get(id)
            .await
            .expect("get")
            .expect("exists")
            .replay_count,
        1
    );
    let resolved = store
        .update(id, &RecordUpdate::Resolved { at: "now".into() })
        .await
        .expect("update")
        .expect("exists");
    assert_eq!(resolved.status, RecordStatus::Resolved);
    assert!(matches!(
        store.update(id, begin).await,
        Err(StoreError::Rejected {
            reason: UpdateRejected::AlreadyResolved,
            ..
        })
    ));
    assert!(
        store
            .update(
                &RecordId::from_string("rec_missing").expect("a valid id"),
                begin
            )
            .await
            .expect("update of a missing id is not an error")
            .is_none()
    );
}

/// Eight concurrent replayers on the same records lose no increment.
pub async fn concurrent_replays_are_counted_exactly(store: Arc<dyn FailureStore>) {
    clear(&*store).await;
    let base = base_ms();
    let mut ids = Vec::new();
    for i in 0..20 {
        let rec = sample_record("task_failed", None, base + i);
        ids.push(rec.id.clone());
        store.record(rec).await.expect("record");
    }
    let ids = Arc::new(ids);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, ids) = (store.clone(), ids.clone());
        tasks.push(tokio::spawn(async move {
            for id in ids.iter() {
                store
                    .update(
                        id,
                        &RecordUpdate::BeginReplay {
                            max_replay_attempts: 1000,
                        },
                    )
                    .await
                    .expect("update");
            }
        }));
    }
    for t in tasks {
        t.await.expect("replayer task finished");
    }
    for id in ids.iter() {
        let rec = store.get(id).await.expect("get").expect("exists");
        assert_eq!(rec.replay_count, 8, "lost update on {id}");
    }
}

/// `prune(keep)` removes the oldest and keeps exactly the newest `keep`.
pub async fn prune_keeps_the_newest(store: &dyn FailureStore) {
    clear(store).await;
    let base = base_ms();
    let mut ids = Vec::new();
    for i in 0..10 {
        let rec = sample_record("task_failed", None, base + i);
        ids.push(rec.id.clone());
        store.record(rec).await.expect("record");
    }
    assert_eq!(
        store.prune(4).await.expect("prune"),
        6,
        "prune(4) of 10 records returns how many it removed"
    );
    assert_eq!(store.count().await.expect("count"), 4);
    assert_eq!(
        store.prune(4).await.expect("prune"),
        0,
        "prune(keep) removes nothing when at most `keep` records are stored"
    );
    assert_eq!(store.prune(100).await.expect("prune"), 0);
    let left: Vec<RecordId> = store
        .list(&RecordFilter::newest(100))
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let expected: Vec<RecordId> = ids.iter().rev().take(4).cloned().collect();
    assert_eq!(left, expected);
}

/// A store built to keep at most `bound` records (at least 1) keeps only the newest
/// `bound` once more are recorded, and `prune` below the bound removes the oldest of
/// those and says how many.
pub async fn retention_keeps_the_newest(store: &dyn FailureStore, bound: usize) {
    assert!(bound >= 1, "a retention bound keeps at least one record");
    clear(store).await;
    let base = base_ms();
    let extra = 3;
    let mut ids = Vec::new();
    for i in 0..bound + extra {
        let rec = sample_record("task_failed", None, base + i as u64);
        ids.push(rec.id.clone());
        store.record(rec).await.expect("record");
        assert!(
            store.count().await.expect("count") <= bound,
            "a store bounded to {bound} records holds more after {} records",
            i + 1
        );
    }
    assert_eq!(
        store.count().await.expect("count"),
        bound,
        "a store bounded to {bound} records, after {} records, holds exactly {bound}",
        bound + extra
    );
    let kept: Vec<RecordId> = store
        .list(&RecordFilter::newest(bound + extra))
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    let newest: Vec<RecordId> = ids.iter().rev().take(bound).cloned().collect();
    assert_eq!(kept, newest, "the bound keeps the newest {bound} records");
    for pruned in &ids[..extra] {
        assert!(
            store.get(pruned).await.expect("get").is_none(),
            "the oldest record {pruned} is gone once the bound is passed"
        );
    }
    let keep = bound / 2;
    assert_eq!(
        store.prune(keep).await.expect("prune"),
        bound - keep,
        "prune({keep}) of {bound} records returns how many it removed"
    );
    let left: Vec<RecordId> = store
        .list(&RecordFilter::newest(bound))
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, newest[..keep], "prune keeps the newest {keep}");
}
