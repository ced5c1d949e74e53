//! The observer plug point, end to end through the worker, with the recording observer.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::observe::{AttemptResult, DroppedWhy, Observer, ObserverEvent};
use webhook_core::store::FailureKind;
use webhook_core::{Notifier, WebhookEventType, WebhookPayload, WebhookQueuePolicy};
use webhook_testkit::{RecordingObserver, Reply, Script, ScriptedTransport, TestConfig};

const BOUND: Duration = Duration::from_secs(10);

fn payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCreated).task_id("T-1")
}

fn start(
    config: TestConfig,
    script: Script,
    observer: Arc<dyn Observer>,
) -> (Notifier, Arc<ScriptedTransport>) {
    let transport = Arc::new(ScriptedTransport::per_webhook(script));
    let notifier = Notifier::builder(config.resolve().expect("config"), transport.clone())
        .observer(observer)
        .paused_clock()
        .start()
        .expect("start");
    (notifier, transport)
}

#[test]
fn the_observer_is_told_each_attempt_then_the_delivery_in_order() {
    let observer = Arc::new(RecordingObserver::new());
    let (notifier, _) = start(
        TestConfig::default(),
        Script::fail_then_succeed(2, 503),
        observer.clone(),
    );
    assert!(notifier.send(&payload()).is_accepted());
    notifier.shutdown(BOUND);

    let attempts = observer.attempts();
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let results: Vec<AttemptResult> = attempts.iter().map(|a| a.result).collect();
    assert_eq!(
        results,
        [
            AttemptResult::Status(503),
            AttemptResult::Status(503),
            AttemptResult::Status(200)
        ]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.webhook_id == attempts[0].webhook_id)
    );
    assert!(attempts.iter().all(|a| a.event == "task_created"));
    assert!(attempts.iter().all(|a| a.endpoint.is_none()));
    let delivered = observer.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].webhook_id, attempts[0].webhook_id);
    assert!(delivered[0].replay_of.is_none());
    assert!(matches!(
        observer.events().last(),
        Some(ObserverEvent::Delivered(_))
    ));
    let stats = notifier.stats();
    assert_eq!((stats.observer_missed, stats.observer_panics), (0, 0));
}

#[test]
fn a_final_failure_is_reported_with_the_id_of_the_record_written() {
    let observer = Arc::new(RecordingObserver::new());
    let (notifier, _) = start(
        TestConfig::default(),
        Script::always(Reply::status(400)),
        observer.clone(),
    );
    notifier.send(&payload());
    notifier.shutdown(BOUND);

    let failed = observer.failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, FailureKind::Permanent);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let records = runtime
        .block_on(
            notifier
                .store()
                .list(&webhook_core::store::RecordFilter::newest(10)),
        )
        .expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(failed[0].record.as_ref(), Some(&records[0].id));
    assert_eq!(failed[0].webhook_id, records[0].webhook_id);
    assert_eq!(observer.attempts()[0].result, AttemptResult::Status(400));
}

#[test]
fn refusals_and_evictions_are_reported_with_their_reason() {
    let observer = Arc::new(RecordingObserver::new());
    let config = TestConfig::default()
        .queue_capacity(10)
        .max_concurrency(1)
        .queue_policy(WebhookQueuePolicy::DropOldest)
        .edit(|c| c.max_payload_bytes = Some(2_000));
    // The first delivery holds the only slot: the endpoint never answers (real clock,
    // a 30 s timeout; the shutdown below cuts it off).
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(
        Reply::no_answer(),
    )));
    let notifier = Notifier::builder(
        config.timeout_secs(30).resolve().expect("config"),
        transport.clone(),
    )
    .observer(observer.clone())
    .start()
    .expect("start");
    notifier.send(&payload());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime
        .block_on(transport.wait_for_attempts(1, BOUND))
        .expect("first attempt under way");
    // Ten fill the queue; two more evict the oldest queued ones.
    for _ in 0..12 {
        notifier.send(&payload());
    }
    let big = payload().note("x".repeat(4_000));
    assert!(!notifier.send(&big).is_accepted());
    let report = notifier.shutdown(Duration::from_millis(100));

    let reasons: Vec<DroppedWhy> = observer.dropped().iter().map(|d| d.reason).collect();
    assert_eq!(
        reasons,
        [
            DroppedWhy::Evicted,
            DroppedWhy::Evicted,
            DroppedWhy::PayloadTooLarge
        ]
    );
    assert_eq!(report.stats.evicted, 2);
    assert_eq!(report.stats.dropped.payload_too_large, 1);
}

#[test]
fn a_held_observer_misses_reports_but_delivery_does_not_wait_for_it() {
    let observer = Arc::new(RecordingObserver::new());
    observer.hold();
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    let notifier = Notifier::builder(TestConfig::default().resolve().expect("config"), transport)
        .observer(observer.clone())
        .observer_buffer(4)
        .start()
        .expect("start");
    for _ in 0..50 {
        notifier.send(&payload());
    }
    // Every event is delivered while the observer has not been let through once.
    assert!(notifier.wait_idle(BOUND));
    assert_eq!(notifier.stats().delivered, 50);
    assert!(observer.is_empty(), "the observer was held throughout");

    observer.release();
    notifier.shutdown(BOUND);
    let stats = notifier.stats();
    assert!(stats.observer_missed > 0, "{stats:?}");
    // 50 attempts + 50 deliveries: each either told or counted missed.
    assert_eq!(observer.len() as u64 + stats.observer_missed, 100);
}

#[test]
fn a_replayed_failure_that_is_delivered_is_reported_recovered_with_its_record() {
    let observer = Arc::new(RecordingObserver::new());
    // Per webhook: 400 (a permanent failure, recorded), then 200 (the replay).
    let script = Script::sequence([Reply::status(400), Reply::ok()]);
    let (notifier, _) = start(TestConfig::default(), script, observer.clone());
    notifier.send(&payload());
    assert!(notifier.wait_idle(BOUND));
    let report = notifier
        .replay(&webhook_core::ReplaySelector::all(), false)
        .expect("replay");
    assert_eq!(report.replayed, 1);
    assert!(notifier.wait_idle(BOUND));
    notifier.shutdown(BOUND);

    let record = observer.failed()[0].record.clone().expect("recorded");
    let recovered: Vec<_> = observer
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ObserverEvent::Recovered(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].record, record);
    let delivered = observer.delivered();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].replay_of.as_ref(), Some(&record));
    assert_eq!(delivered[0].webhook_id, recovered[0].webhook_id);
}

/// Panics on every report.
#[derive(Debug)]
struct Panicky;

impl Observer for Panicky {
    fn on_event(&self, _: &ObserverEvent) {
        panic!("observer bug");
    }
}

#[test]
fn a_panicking_observer_is_counted_and_delivery_goes_on() {
    let (notifier, _) = start(
        TestConfig::default(),
        Script::always(Reply::ok()),
        Arc::new(Panicky),
    );
    for _ in 0..5 {
        notifier.send(&payload());
    }
    let report = notifier.shutdown(BOUND);
    assert_eq!(report.stats.delivered, 5);
    // The observer's counters are final once the shutdown returns (it waits for the
    // observer to catch up after taking its report).
    let stats = notifier.stats();
    assert_eq!(stats.observer_panics, 10, "5 attempts + 5 deliveries");
    assert_eq!(stats.observer_missed, 0);
}
