//! The worker's thread: the async forms join it and need nothing of the caller's runtime.

mod support;

use serde_json::json;
use std::sync::Mutex;
use std::time::Duration;
use support::{Scripted, config};
use webhook_core::{Notifier, ReplaySelector, WebhookMessage};

/// The tests here count the process's worker threads, so they run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Threads of this process named `webhook-worker` (Linux: from /proc).
fn worker_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.trim() == "webhook-worker")
        .count()
}

/// [`worker_threads`] once it is down to `expected`, or after a bound if it never is.
///
/// `pthread_join` returns when the kernel wakes the joiner as the thread exits, a few
/// steps before it removes the thread's `/proc` entry; a joined thread can be listed for
/// a few microseconds more (seen in about one run in eight here), so the count is read
/// again until it drops. A thread still running would stay listed for the whole bound.
fn threads_once_reaped(expected: usize) -> usize {
    let bound = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let now = worker_threads();
        if now <= expected || std::time::Instant::now() >= bound {
            return now;
        }
        std::thread::yield_now();
    }
}

/// A current-thread runtime with no time driver: nothing may need the caller's timers.
fn bare_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

#[cfg(target_os = "linux")]
#[test]
fn shutdown_async_returns_only_after_the_worker_thread_has_ended() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let before = worker_threads();
    let notifier = Notifier::builder(config(json!({})), Scripted::status(204))
        .start()
        .expect("starts");
    assert_eq!(worker_threads(), before + 1);
    let message = WebhookMessage::custom("joined", &json!({})).expect("valid");
    assert!(notifier.enqueue(message).is_accepted());
    let report = bare_runtime().block_on(notifier.shutdown_async(Duration::from_secs(5)));
    assert_eq!(report.stats.delivered, 1);
    assert_eq!(
        threads_once_reaped(before),
        before,
        "the worker thread is joined"
    );
    // A later call returns the same report at once.
    let again = bare_runtime().block_on(notifier.shutdown_async(Duration::from_secs(5)));
    assert_eq!(again, report);
}

#[test]
fn the_async_forms_need_no_time_driver_on_the_callers_runtime() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let notifier = Notifier::builder(config(json!({})), Scripted::status(204))
        .start()
        .expect("starts");
    let message = WebhookMessage::custom("bare", &json!({})).expect("valid");
    assert!(notifier.enqueue(message).is_accepted());
    bare_runtime().block_on(async {
        assert!(notifier.wait_idle_async(Duration::from_secs(5)).await);
        let diagnostics = notifier.diagnostics_async(5).await;
        assert_eq!(diagnostics.stats.delivered, 1);
        assert_eq!(diagnostics.store_records, Some(0));
        let replay = notifier
            .replay_async(&ReplaySelector::all(), true)
            .await
            .expect("replay runs");
        assert_eq!(replay.matched, 0);
    });
    let report = notifier.shutdown(Duration::from_secs(5));
    assert!(report.stats.balances() && report.stats.delivered == 1);
}
