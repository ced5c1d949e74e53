//! Bounded replay: refusal of empty selectors, dry runs, resolution, limits.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{Scripted, config, ok};
use webhook_core::store::{RecordFilter, RecordStatus};
use webhook_core::{
    FailureStore, MemoryFailureStore, Notifier, ReplayError, ReplaySelector, WebhookEventType,
    WebhookPayload,
};

struct Fixture {
    notifier: Notifier,
    store: Arc<MemoryFailureStore>,
    healthy: Arc<AtomicBool>,
    fake: Arc<Scripted>,
}

/// Three task_failed events fail permanently (the receiver answers 400 until healed).
async fn three_failures() -> Fixture {
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let fake = Scripted::new(move |_, _| {
        Ok(if h.load(Ordering::SeqCst) {
            ok(200)
        } else {
            ok(400)
        })
    });
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(config(json!({})), fake.clone())
        .store(store.clone())
        .start()
        .expect("starts");
    for t in ["A", "B", "C"] {
        notifier.send(&WebhookPayload::new(WebhookEventType::TaskFailed).task_id(t));
    }
    notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated).task_id("D"));
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    assert_eq!(store.count().await.expect("count"), 4);
    Fixture {
        notifier,
        store,
        healthy,
        fake,
    }
}

#[tokio::test]
async fn an_empty_selector_is_refused_with_a_message_that_shows_how_to_select() {
    let f = three_failures().await;
    let err = f
        .notifier
        .replay_async(&ReplaySelector::default(), false)
        .await
        .unwrap_err();
    assert!(matches!(err, ReplayError::EmptySelector));
    let msg = err.to_string();
    for hint in ["`ids`", "`event`", "`task_id`", "`all`"] {
        assert!(msg.contains(hint), "{msg}");
    }
    assert!(
        !msg.contains("--"),
        "core names its API, not CLI flags: {msg}"
    );
    let zero = ReplaySelector::all().limit(0);
    assert!(matches!(
        f.notifier.replay_async(&zero, true).await,
        Err(ReplayError::BadLimit { limit: 0 })
    ));
}

#[tokio::test]
async fn a_dry_run_lists_candidates_and_changes_nothing() {
    let f = three_failures().await;
    let before = f.store.list(&RecordFilter::newest(10)).await.expect("list");
    let report = f
        .notifier
        .replay_async(&ReplaySelector::event("task_failed"), true)
        .await
        .expect("dry run");
    assert!(report.dry_run);
    assert_eq!(
        (report.matched, report.eligible, report.replayed),
        (3, 3, 0)
    );
    assert!(report.candidates.iter().all(|c| c.eligible && !c.replayed));
    let after = f.store.list(&RecordFilter::newest(10)).await.expect("list");
    let counts = |v: &[webhook_core::FailureRecord]| {
        v.iter()
            .map(|r| (r.id.clone(), r.replay_count, r.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&before), counts(&after));
    assert_eq!(f.fake.seen().len(), 4, "nothing was sent");
}

#[tokio::test]
async fn a_replay_resolves_records_keeping_their_webhook_ids_and_a_second_finds_nothing() {
    let f = three_failures().await;
    f.healthy.store(true, Ordering::SeqCst);
    let original: Vec<String> = f
        .store
        .list(&RecordFilter::newest(10).event("task_failed"))
        .await
        .expect("list")
        .iter()
        .map(|r| r.webhook_id.to_string())
        .collect();
    let report = f
        .notifier
        .replay_async(&ReplaySelector::event("task_failed"), false)
        .await
        .expect("replay");
    assert_eq!(
        (report.matched, report.eligible, report.replayed),
        (3, 3, 3)
    );
    assert!(f.notifier.wait_idle_async(Duration::from_secs(10)).await);
    let records = f
        .store
        .list(&RecordFilter::newest(10).event("task_failed"))
        .await
        .expect("list");
    assert!(
        records
            .iter()
            .all(|r| r.status == RecordStatus::Resolved && r.replay_count == 1)
    );
    assert_eq!(f.store.count().await.expect("count"), 4, "no duplicates");
    let resent: Vec<String> = f.fake.seen()[4..]
        .iter()
        .map(|s| s.webhook_id.clone())
        .collect();
    let (mut a, mut b) = (original.clone(), resent);
    a.sort();
    b.sort();
    assert_eq!(a, b, "replays keep the original webhook ids");
    assert!(
        f.fake.seen()[4..].iter().all(|s| s.attempt == 2),
        "attempt numbering continues"
    );
    let again = f
        .notifier
        .replay_async(&ReplaySelector::event("task_failed"), false)
        .await
        .expect("replay");
    assert_eq!(
        (
            again.matched,
            again.eligible,
            again.replayed,
            again.skipped_resolved
        ),
        (3, 0, 0, 3)
    );
    let stats = f.notifier.stats();
    assert_eq!((stats.replays_enqueued, stats.replays_resolved), (3, 3));
    // The task_created record was not selected and is untouched; the filter is bypassed for replays.
    let by_task = f
        .notifier
        .replay_async(&ReplaySelector::task_id("D"), false)
        .await
        .expect("replay");
    assert_eq!(by_task.replayed, 1);
    assert!(f.notifier.wait_idle_async(Duration::from_secs(10)).await);
}

#[tokio::test]
async fn a_failed_replay_updates_the_record_and_max_replay_attempts_is_respected() {
    let f = three_failures().await;
    let target = f
        .store
        .list(&RecordFilter::newest(1).task_id("A"))
        .await
        .expect("list")[0]
        .clone();
    let selector = ReplaySelector::ids([target.id.as_str()]).max_replay_attempts(2);
    for round in 1..=2 {
        let r = f
            .notifier
            .replay_async(&selector, false)
            .await
            .expect("replay");
        assert_eq!(r.replayed, 1, "round {round}");
        assert!(f.notifier.wait_idle_async(Duration::from_secs(10)).await);
        let rec = f.store.get(&target.id).await.expect("get").expect("exists");
        assert_eq!(rec.replay_count, round);
        assert_eq!(rec.attempts, 1 + round, "attempts accumulate");
        assert_eq!(rec.status, RecordStatus::Failed);
    }
    let third = f
        .notifier
        .replay_async(&selector, false)
        .await
        .expect("replay");
    assert_eq!(
        (third.eligible, third.replayed, third.skipped_max_attempts),
        (0, 0, 1)
    );
    assert!(
        third.candidates[0]
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("limit is 2")
    );
    assert_eq!(
        f.store.count().await.expect("count"),
        4,
        "updated, never duplicated"
    );
    // Selecting by webhook id works too.
    let by_webhook = ReplaySelector::ids([target.webhook_id.as_str()]).max_replay_attempts(5);
    assert_eq!(
        f.notifier
            .replay_async(&by_webhook, true)
            .await
            .expect("dry")
            .matched,
        1
    );
}

#[tokio::test]
async fn a_replay_still_queued_at_shutdown_gives_its_replay_count_back() {
    let f = three_failures().await;
    f.notifier.shutdown_async(Duration::from_secs(5)).await;
    let (gated, mut arrived) = support::Gated::new();
    let notifier = Notifier::builder(config(json!({"max_concurrency": 1})), gated.clone())
        .store(f.store.clone())
        .start()
        .expect("starts");
    let report = notifier
        .replay_async(&ReplaySelector::event("task_failed"), false)
        .await
        .expect("replays");
    assert_eq!(report.replayed, 3);
    // One attempt is in flight (held by the gate); the other two are still queued.
    arrived.recv().await.expect("one attempt arrives");
    notifier.shutdown_async(Duration::ZERO).await;
    let records = f
        .store
        .list(&RecordFilter::newest(10).event("task_failed"))
        .await
        .expect("list");
    let mut counts: Vec<u32> = records.iter().map(|r| r.replay_count).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        vec![0, 0, 1],
        "only the replay that was attempted keeps its count: {records:?}"
    );
    assert!(
        records.iter().all(|r| r.status == RecordStatus::Failed),
        "{records:?}"
    );
}
