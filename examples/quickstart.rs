//! The demo behind the README's first command: `cargo run --example quickstart`.
//!
//! 1. Starts a local receiver (127.0.0.1, a free port) that verifies signatures and, like
//!    a flaky endpoint, answers each event's first attempt with 503.
//! 2. Sends the seed's lifecycle events through a `Notifier` with the HTTP transport and
//!    the sled failure store in a temporary folder. One `task_failed` event meets an
//!    endpoint that keeps answering 500, so it exhausts its retries and is recorded.
//! 3. Prints the diagnostics, "fixes" the endpoint, replays the failure, and prints the
//!    outcome. Finishes in a few seconds.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::store::{RecordFilter, RecordStatus};
use webhook_core::{
    FailureStore, Notifier, ReplaySelector, WebhookContext, WebhookEventType, WebhookMessage,
    WebhookPayload,
};
use webhook_http::HttpTransport;
use webhook_sled::SledFailureStore;
use webhook_testkit::{Reply, Script, TestReceiver};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let receiver = TestReceiver::builder()
        .per_webhook(Script::fail_then_succeed(1, 503))
        .secret(SECRET)
        .require_signatures(true)
        .start()?;
    println!("receiver listening on {}", receiver.url());

    let folder = tempfile::tempdir()?;
    let store = Arc::new(SledFailureStore::open(folder.path().join("failures"))?);
    let mut config = webhook_core::WebhookConfig {
        events: Some(vec!["*".into()]),
        retry_count: Some(2),
        retry_backoff_ms: Some(100),
        timeout_secs: Some(5),
        ..receiver.config()
    }
    .resolve()?;
    config.retry = config.retry.without_jitter();
    println!("{config}");
    let transport = HttpTransport::from_config(&config)?;
    let notifier = Notifier::builder(config, Arc::new(transport))
        .store(store.clone())
        .start()?;

    let context = WebhookContext {
        runner: Some("demo".into()),
        branch: Some("main".into()),
        phase_count: Some(2),
        ..WebhookContext::default()
    };
    let task = |event| {
        WebhookPayload::new(event)
            .task_id("T-1")
            .task_title("Write the docs")
            .context(context.clone())
    };
    let mut events = vec![
        WebhookPayload::new(WebhookEventType::LoopStarted),
        task(WebhookEventType::TaskCreated),
        task(WebhookEventType::TaskStarted),
        task(WebhookEventType::PhaseStarted),
        task(WebhookEventType::PhaseCompleted),
        task(WebhookEventType::TaskStatusChanged).statuses("doing", "review"),
        task(WebhookEventType::TaskCompleted),
        WebhookPayload::new(WebhookEventType::QueueUnblocked),
    ];
    for payload in events.drain(..) {
        notifier.send(&payload);
    }
    // This one meets an endpoint that keeps failing.
    let doomed = WebhookMessage::from_payload(
        &WebhookPayload::new(WebhookEventType::TaskFailed)
            .task_id("T-2")
            .note("tests failed"),
    )?;
    receiver.script_for(doomed.id().as_str(), Script::always(Reply::status(500)));
    let doomed_id = doomed.id().clone();
    notifier.enqueue(doomed);
    notifier.send(&WebhookPayload::new(WebhookEventType::LoopStopped));

    notifier.wait_idle(Duration::from_secs(30));
    let diagnostics = notifier.diagnostics(5);
    let s = diagnostics.stats;
    println!(
        "\nafter sending: accepted {}, delivered {}, retried {} time(s), failed {} (store: {} record(s) at {})",
        s.accepted,
        s.delivered,
        s.retries,
        s.failed,
        diagnostics.store_records.unwrap_or(0),
        diagnostics.store_location
    );
    for record in &diagnostics.recent_failures {
        println!(
            "  failed: {} {} after {} attempts: {} [{}]",
            record.event,
            record.webhook_id,
            record.attempts,
            record.error,
            record.outcome.as_str()
        );
    }

    // The endpoint recovers; replay what failed (bounded: by webhook id).
    receiver.script_for(doomed_id.as_str(), Script::always(Reply::ok()));
    let report = notifier.replay(&ReplaySelector::ids([doomed_id.as_str()]), false)?;
    notifier.wait_idle(Duration::from_secs(30));
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let record = runtime
        .block_on(store.list(&RecordFilter::newest(1).ids([doomed_id.as_str()])))?
        .pop()
        .ok_or("the failure record is missing")?;
    let resolved = record.status == RecordStatus::Resolved;
    println!(
        "replay: matched {}, replayed {}; the record is now {}",
        report.matched,
        report.replayed,
        if resolved {
            "resolved"
        } else {
            "still failing"
        }
    );

    let stats = notifier.shutdown(Duration::from_secs(5)).stats;
    let verified = receiver
        .requests()
        .iter()
        .filter(|r| r.signatures.any_valid())
        .count();
    println!(
        "\nsummary: delivered={} retried={} failed={} replayed={} resolved={} (receiver saw {} requests, {} with valid signatures)",
        stats.delivered,
        stats.retries,
        stats.failed,
        stats.replays_enqueued,
        stats.replays_resolved,
        receiver.request_count(),
        verified
    );
    if !resolved || stats.delivered != 10 || stats.failed != 1 {
        return Err("the demo did not go as expected".into());
    }
    Ok(())
}
