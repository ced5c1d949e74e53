//! A process that is sending under load and recording failures in sled is killed with
//! SIGKILL: the store opens cleanly afterwards and holds every acknowledged record.
//!
//! The process is this test binary itself, run again with [`CHILD_ENV`] set: then
//! [`crash_child_sends_until_killed`] is the child's body (without it, that test returns
//! at once). The sled store's own crash test (`webhook-sled/tests/crash.rs`) checks the
//! store alone; this one kills the whole sending stack mid-flight.

mod reliability_support;

use reliability_support::{all_records, message, sled_store, transport};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use webhook_core::store::FailureKind;
use webhook_core::{Notifier, ReplaySelector, WebhookConfig, WebhookQueuePolicy};
use webhook_sled::SledFailureStore;
use webhook_testkit::{Reply, Script, TestReceiver};

/// Set (to the store folder) in the child's environment.
const CHILD_ENV: &str = "WEBHOOK_RELIABILITY_CRASH_CHILD_STORE";
/// The most events a child sends before giving up on being killed.
const CHILD_MAX_EVENTS: usize = 200_000;
/// Records a child must have acknowledged before it is killed.
const KILL_AFTER: u64 = 300;

/// The child: failures (every answer a 503, no retries) recorded in sled as fast as the
/// store takes them, printing `acked <n>` (records the store has acknowledged) as it goes.
#[test]
fn crash_child_sends_until_killed() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let receiver = TestReceiver::builder()
        .per_webhook(Script::always(Reply::status(503)))
        .start()
        .expect("receiver");
    let config = WebhookConfig {
        retry_count: Some(0),
        timeout_secs: Some(5),
        queue_capacity: Some(200),
        queue_policy: Some(WebhookQueuePolicy::BlockWithTimeout),
        block_timeout_ms: Some(60_000),
        max_concurrency: Some(32),
        ..receiver.config()
    }
    .resolve()
    .expect("valid config");
    let store = sled_store(Path::new(&path));
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .store(store)
        .start()
        .expect("notifier starts");
    let mut out = std::io::stdout().lock();
    for i in 0..CHILD_MAX_EVENTS {
        notifier.enqueue(message(i));
        if i % 20 == 0 {
            let s = notifier.stats();
            // `failed` is bumped only after the store's `record` returned.
            writeln!(out, "acked {}", s.failed - s.store_errors).expect("stdout");
            out.flush().expect("stdout");
        }
    }
    panic!("the child was never killed");
}

/// Runs the child on the store at `path` until it has acknowledged at least
/// [`KILL_AFTER`] records, kills it with SIGKILL, and returns the last count it printed.
fn run_child_and_kill(path: &Path) -> u64 {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--exact", "crash_child_sends_until_killed", "--nocapture"])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("acked ") {
                if tx.send(n.parse::<u64>().expect("a count")).is_err() {
                    break;
                }
            }
        }
    });
    let mut acked = 0;
    while acked < KILL_AFTER {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(n) => acked = n,
            Err(e) => {
                let _ = child.kill();
                panic!("the child stopped reporting ({e}) at {acked} acknowledged records");
            }
        }
    }
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("child exits");
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    // Counts printed before the kill landed are acknowledged too.
    acked = rx.iter().fold(acked, u64::max);
    reader.join().expect("reader");
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_while_recording_failures_leaves_a_store_that_opens_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    let mut acknowledged = 0;
    for round in 1..=3 {
        acknowledged += run_child_and_kill(&path);

        let store = SledFailureStore::open(&path).expect("the store opens after SIGKILL");
        let records = all_records(&store).await;
        assert!(
            records.len() as u64 >= acknowledged,
            "round {round}: {} records, {acknowledged} acknowledged",
            records.len()
        );
        assert_eq!(store.corrupt_records_skipped(), 0);
        assert!(records.iter().all(|r| r.outcome == FailureKind::Exhausted
            && r.last_status == Some(503)
            && r.payload.get().contains("task_completed")));
        println!(
            "crash round {round}: killed with {acknowledged} acknowledged in total; \
             {} records after reopening",
            records.len()
        );
    }

    // The reopened store works for a notifier: a dry-run replay lists records.
    let store = sled_store(&path);
    let config = WebhookConfig::for_url("https://hooks.example.com/in")
        .resolve()
        .expect("valid config");
    let notifier = Notifier::builder(config.clone(), transport(&config))
        .store(store)
        .start()
        .expect("notifier starts");
    let report = notifier
        .replay_async(&ReplaySelector::all().limit(50), true)
        .await
        .expect("dry run");
    assert_eq!((report.matched, report.eligible), (50, 50));
    notifier.shutdown(Duration::from_secs(1));
}
