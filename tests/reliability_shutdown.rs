//! Shutdown under load, and the caller's protection from a receiver that never answers.

mod reliability_support;

use reliability_support::{all_records, message, sled_store, transport};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use webhook_core::store::FailureKind;
use webhook_core::{
    EnqueueOutcome, MemoryFailureStore, Notifier, WebhookConfig, WebhookQueuePolicy,
};
use webhook_testkit::{Reply, Script, TestReceiver};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn shutdown_with_five_thousand_events_in_flight_returns_in_time_and_loses_none() {
    const EVENTS: usize = 5_000;
    const TIMEOUT: Duration = Duration::from_secs(2);
    const STORE_TIMEOUT: Duration = Duration::from_secs(5);
    let rt = runtime();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sled_store(&dir.path().join("failures"));
    // A slow receiver: every answer takes 300 ms.
    let receiver = TestReceiver::builder()
        .per_webhook(Script::always(
            Reply::ok().after(Duration::from_millis(300)),
        ))
        .start()
        .expect("receiver");
    let config = WebhookConfig {
        timeout_secs: Some(5),
        retry_count: Some(1),
        retry_backoff_ms: Some(100),
        queue_capacity: Some(10_000),
        max_concurrency: Some(64),
        ..receiver.config()
    }
    .resolve()
    .expect("valid config");
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .store(store.clone())
        .store_timeout(STORE_TIMEOUT)
        .start()
        .expect("notifier starts");

    let mut ids = HashSet::new();
    for i in 0..EVENTS {
        let message = message(i);
        ids.insert(message.id().as_str().to_owned());
        assert_eq!(notifier.enqueue(message), EnqueueOutcome::Accepted);
    }
    rt.block_on(receiver.wait_for_requests(64, Duration::from_secs(10)))
        .expect("deliveries in flight");

    let started = Instant::now();
    let report = notifier.shutdown(TIMEOUT);
    let elapsed = started.elapsed();

    let ceiling = TIMEOUT + STORE_TIMEOUT + Duration::from_secs(2);
    assert!(elapsed < ceiling, "shutdown took {elapsed:?}");
    let s = report.stats;
    assert!(s.balances() && s.is_idle(), "{s:?}");
    assert_eq!(s.accepted, EVENTS as u64);
    assert_eq!(
        s.delivered + s.failed,
        s.accepted,
        "delivered + recorded = accepted"
    );
    assert!(report.deadline_reached);
    assert_eq!((report.abandoned, report.unfinished), (0, 0), "{report:?}");
    assert_eq!(report.recorded, s.failed_by_kind.shutdown);
    assert_eq!(
        s.failed, s.failed_by_kind.shutdown,
        "only shutdown failures"
    );
    assert!(report.recorded > 0 && s.delivered > 0, "{report:?}");
    assert_eq!(s.store_errors, 0);

    let records = rt.block_on(all_records(store.as_ref()));
    assert_eq!(
        records.len() as u64,
        s.failed,
        "every recorded event is in the store"
    );
    let stored: HashSet<String> = records.iter().map(|r| r.webhook_id.to_string()).collect();
    assert!(records.iter().all(|r| r.outcome == FailureKind::Shutdown));
    let answered: HashSet<String> = receiver
        .deliveries()
        .iter()
        .filter_map(|r| r.webhook_id().map(str::to_owned))
        .collect();
    for id in &ids {
        assert!(
            stored.contains(id) || answered.contains(id),
            "{id} neither delivered nor stored"
        );
    }
    println!(
        "shutdown under load: {EVENTS} accepted; shutdown(2 s) returned in {} ms \
         (ceiling {} ms): {} delivered, {} recorded in sled",
        elapsed.as_millis(),
        ceiling.as_millis(),
        s.delivered,
        report.recorded
    );
}

#[test]
fn dropping_the_last_handle_under_load_inside_a_runtime_records_the_rest() {
    const EVENTS: usize = 2_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = sled_store(&dir.path().join("failures"));
    let receiver = TestReceiver::builder()
        .per_webhook(Script::always(Reply::no_answer()))
        .start()
        .expect("receiver");
    let config = WebhookConfig {
        timeout_secs: Some(30),
        shutdown_grace_ms: Some(200),
        max_concurrency: Some(16),
        queue_capacity: Some(10_000),
        ..receiver.config()
    }
    .resolve()
    .expect("valid config");
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .store(store.clone())
        .store_timeout(Duration::from_secs(5))
        .start()
        .expect("notifier starts");
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let elapsed = current.block_on(async move {
        for i in 0..EVENTS {
            assert!(notifier.enqueue_async(message(i)).await.is_accepted());
        }
        receiver
            .wait_for_requests(16, Duration::from_secs(10))
            .await
            .expect("deliveries in flight");
        let started = Instant::now();
        drop(notifier);
        started.elapsed()
    });
    assert!(elapsed < Duration::from_secs(8), "drop took {elapsed:?}");
    let count = current.block_on(all_records(store.as_ref())).len();
    assert_eq!(count, EVENTS, "every event recorded at shutdown");
    println!(
        "drop under load: {EVENTS} events recorded in {} ms (grace 200 ms)",
        elapsed.as_millis()
    );
}

/// What one producer thread saw.
#[derive(Debug, Default)]
struct Produced {
    accepted: u64,
    dropped: u64,
    slowest: Duration,
}

/// 4 threads × `per_thread` enqueues against a receiver that never answers.
fn produce(
    policy: WebhookQueuePolicy,
    per_thread: usize,
) -> (Vec<Produced>, Notifier, Duration, TestReceiver) {
    let receiver = TestReceiver::builder()
        .per_webhook(Script::always(Reply::no_answer()))
        .start()
        .expect("receiver");
    let config = WebhookConfig {
        timeout_secs: Some(30),
        retry_count: Some(0),
        queue_capacity: Some(1_000),
        queue_policy: Some(policy),
        block_timeout_ms: Some(5),
        max_concurrency: Some(4),
        ..receiver.config()
    }
    .resolve()
    .expect("valid config");
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .store(Arc::new(MemoryFailureStore::new()))
        .store_timeout(Duration::from_secs(5))
        .start()
        .expect("notifier starts");
    let started = Instant::now();
    let produced = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                let notifier = notifier.clone();
                scope.spawn(move || {
                    let mut seen = Produced::default();
                    for i in 0..per_thread {
                        let message = message(t * per_thread + i);
                        let before = Instant::now();
                        let outcome = notifier.enqueue(message);
                        seen.slowest = seen.slowest.max(before.elapsed());
                        if outcome.is_accepted() {
                            seen.accepted += 1;
                        } else {
                            seen.dropped += 1;
                        }
                    }
                    seen
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("producer"))
            .collect::<Vec<_>>()
    });
    (produced, notifier, started.elapsed(), receiver)
}

fn check_counts(produced: &[Produced], notifier: &Notifier, total: u64) -> (u64, u64, Duration) {
    let accepted: u64 = produced.iter().map(|p| p.accepted).sum();
    let dropped: u64 = produced.iter().map(|p| p.dropped).sum();
    let slowest = produced.iter().map(|p| p.slowest).max().unwrap_or_default();
    assert_eq!(accepted + dropped, total, "every enqueue returned");
    let report = notifier.shutdown(Duration::from_millis(100));
    let s = report.stats;
    assert_eq!(s.accepted, accepted, "{s:?}");
    assert_eq!(s.dropped_total, dropped, "{s:?}");
    assert!(s.balances() && s.is_idle(), "{s:?}");
    assert_eq!(s.delivered, 0);
    assert_eq!(s.accepted, s.failed + s.evicted, "{s:?}");
    (accepted, dropped, slowest)
}

#[test]
fn a_hundred_thousand_enqueues_from_four_threads_never_wait_for_a_silent_receiver() {
    const PER_THREAD: usize = 25_000;
    for policy in [WebhookQueuePolicy::DropOldest, WebhookQueuePolicy::DropNew] {
        let (produced, notifier, elapsed, _receiver) = produce(policy, PER_THREAD);
        assert!(
            elapsed < Duration::from_secs(20),
            "{policy:?}: 100,000 enqueues took {elapsed:?}"
        );
        let (accepted, dropped, slowest) =
            check_counts(&produced, &notifier, 4 * PER_THREAD as u64);
        match policy {
            WebhookQueuePolicy::DropOldest => assert_eq!(dropped, 0),
            // Room for 1,000 queued and 4 in flight; the rest refused.
            _ => assert!(dropped >= 4 * PER_THREAD as u64 - 1_004),
        }
        println!(
            "caller protection ({policy:?}): 100,000 enqueues from 4 threads in {} ms \
             (slowest single enqueue {} µs): {accepted} accepted, {dropped} dropped",
            elapsed.as_millis(),
            slowest.as_micros()
        );
    }
}

#[test]
fn block_with_timeout_waits_no_longer_than_its_bound_for_a_silent_receiver() {
    const PER_THREAD: usize = 300;
    const BOUND: Duration = Duration::from_millis(5);
    let (produced, notifier, elapsed, _receiver) =
        produce(WebhookQueuePolicy::BlockWithTimeout, PER_THREAD);
    let (accepted, dropped, slowest) = check_counts(&produced, &notifier, 4 * PER_THREAD as u64);
    assert!(dropped > 0, "the queue filled up");
    // Generous: a debug build on a loaded 2-core machine.
    assert!(
        slowest < BOUND + Duration::from_millis(250),
        "an enqueue waited {slowest:?}"
    );
    println!(
        "caller protection (block_with_timeout 5 ms): 1,200 enqueues from 4 threads in {} ms \
         (slowest {} µs): {accepted} accepted, {dropped} dropped",
        elapsed.as_millis(),
        slowest.as_micros()
    );
}
