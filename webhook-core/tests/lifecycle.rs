//! Shutdown and drop from every kind of caller: plain threads, current-thread and
//! multi-thread runtimes. None may hang or panic, and nothing accepted is lost.

mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Hangs, Scripted, config};
use webhook_core::store::{FailureKind, RecordFilter};
use webhook_core::{FailureStore, MemoryFailureStore, Notifier, WebhookMessage};

fn message(i: usize) -> WebhookMessage {
    WebhookMessage::custom("numbered", &json!({ "n": i })).expect("valid")
}

#[test]
fn shutdown_records_every_undelivered_event_within_its_bound() {
    let cfg = config(json!({"queue_capacity": 1000, "queue_policy": "drop_new"}));
    let store = Arc::new(MemoryFailureStore::with_capacity(10_000));
    let notifier = Notifier::start(cfg, Arc::new(Hangs), store.clone()).expect("starts");
    for i in 0..1000 {
        assert!(notifier.enqueue(message(i)).is_accepted());
    }
    let started = Instant::now();
    let report = notifier.shutdown(Duration::from_secs(1));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(4),
        "took {took:?}"
    );
    assert!(report.deadline_reached);
    assert_eq!(report.delivered, 0);
    assert_eq!(report.recorded, 1000, "{report:?}");
    assert_eq!((report.abandoned, report.unfinished), (0, 0));
    assert!(report.stats.balances());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        assert_eq!(store.count().await.expect("count"), 1000);
        let records = store.list(&RecordFilter::newest(1000)).await.expect("list");
        assert!(records.iter().all(|r| r.outcome == FailureKind::Shutdown));
    });
    // Intake is closed and a second shutdown returns the first report.
    assert!(!notifier.enqueue(message(0)).is_accepted());
    assert_eq!(notifier.shutdown(Duration::from_secs(1)), report);
}

#[test]
fn shutdown_delivers_what_is_queued_when_the_endpoint_answers() {
    let cfg = config(json!({"queue_capacity": 500}));
    let notifier = Notifier::builder(cfg, Scripted::status(204))
        .start()
        .expect("starts");
    for i in 0..500 {
        notifier.enqueue(message(i));
    }
    let report = notifier.shutdown(Duration::from_secs(30));
    assert!(!report.deadline_reached);
    assert_eq!(report.stats.delivered, 500);
    assert_eq!(report.recorded, 0);
}

fn hanging_notifier(store: Arc<MemoryFailureStore>) -> Notifier {
    let cfg = config(json!({"shutdown_grace_ms": 50}));
    let notifier = Notifier::start(cfg, Arc::new(Hangs), store).expect("starts");
    for i in 0..20 {
        notifier.enqueue(message(i));
    }
    notifier
}

async fn assert_recorded(store: &MemoryFailureStore, n: usize) {
    assert_eq!(store.count().await.expect("count"), n);
}

#[tokio::test(flavor = "current_thread")]
async fn drop_inside_a_current_thread_runtime_neither_panics_nor_hangs() {
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = hanging_notifier(store.clone());
    let clone = notifier.clone();
    drop(notifier);
    assert_recorded(&store, 0).await; // a clone still lives
    drop(clone);
    assert_recorded(&store, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_inside_a_multi_thread_runtime_neither_panics_nor_hangs() {
    let store = Arc::new(MemoryFailureStore::new());
    drop(hanging_notifier(store.clone()));
    assert_recorded(&store, 20).await;
}

#[test]
fn drop_on_a_plain_thread_neither_panics_nor_hangs() {
    let store = Arc::new(MemoryFailureStore::new());
    let s = store.clone();
    std::thread::spawn(move || drop(hanging_notifier(s)))
        .join()
        .expect("thread did not panic");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(assert_recorded(&store, 20));
}

#[tokio::test(flavor = "current_thread")]
async fn async_shutdown_inside_a_current_thread_runtime_does_not_deadlock() {
    let notifier = Notifier::builder(config(json!({})), Scripted::status(200))
        .start()
        .expect("starts");
    for i in 0..10 {
        notifier.enqueue(message(i));
    }
    let report = notifier.shutdown_async(Duration::from_secs(10)).await;
    assert_eq!(report.stats.delivered, 10);
    // The blocking form also works here: the worker never needs this runtime.
    assert_eq!(
        notifier.shutdown(Duration::from_secs(1)).stats.delivered,
        10
    );
}

#[test]
fn the_handle_works_from_plain_threads_without_a_runtime() {
    let notifier = Notifier::builder(config(json!({})), Scripted::status(200))
        .start()
        .expect("starts");
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let n = notifier.clone();
            std::thread::spawn(move || {
                (0..100)
                    .filter(|i| n.enqueue(message(t * 100 + i)).is_accepted())
                    .count()
            })
        })
        .collect();
    let accepted: usize = handles
        .into_iter()
        .map(|h| h.join().expect("no panic"))
        .sum();
    assert_eq!(accepted, 400);
    assert!(notifier.wait_idle(Duration::from_secs(10)));
    let diag = notifier.diagnostics(5);
    assert_eq!(diag.stats.delivered, 400);
    assert!(diag.stats.balances());
}
