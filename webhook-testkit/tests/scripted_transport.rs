//! The scripted transport inside a real notifier: scripts, recorded attempts, timing on a
//! paused clock, error kinds, holding answers, and bounded waits.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::signing::{WEBHOOK_ID, WEBHOOK_SIGNATURE};
use webhook_core::store::{FailureKind, RecordFilter};
use webhook_core::transport::TransportErrorKind;
use webhook_core::{
    FailureStore, MemoryFailureStore, Notifier, WebhookEventType, WebhookMessage, WebhookPayload,
};
use webhook_testkit::{Reply, Script, ScriptedTransport, TestConfig, assert_accounting};

const PROMPTLY: Duration = Duration::from_secs(10);

fn on_paused_clock(config: TestConfig, transport: &Arc<ScriptedTransport>) -> Notifier {
    Notifier::builder(config.resolve().expect("valid config"), transport.clone())
        .paused_clock()
        .start()
        .expect("worker starts")
}

fn payload(task: &str) -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskFailed).task_id(task)
}

fn gaps_ms(transport: &ScriptedTransport, webhook_id: &str) -> Vec<u128> {
    let attempts = transport.attempts_for(webhook_id);
    attempts
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect()
}

#[tokio::test]
async fn each_webhook_follows_a_per_webhook_script_from_its_first_step() {
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::fail_then_succeed(
        1, 500,
    )));
    let notifier = on_paused_clock(TestConfig::default(), &transport);
    notifier.send(&payload("A"));
    notifier.send(&payload("B"));
    transport
        .wait_for_deliveries(2, PROMPTLY)
        .await
        .expect("both delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let attempts = transport.attempts();
    assert_eq!(attempts.len(), 4);
    for delivery in transport.deliveries() {
        let numbers: Vec<u32> = transport
            .attempts_for(&delivery.webhook_id)
            .iter()
            .map(|a| a.attempt)
            .collect();
        assert_eq!(
            numbers,
            [1, 2],
            "one 500, then 200, for {}",
            delivery.webhook_id
        );
    }
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.retries), (2, 2));
    assert_accounting(&stats);
}

#[tokio::test]
async fn a_call_order_script_is_shared_by_all_webhooks() {
    let transport = Arc::new(ScriptedTransport::in_call_order(Script::fail_then_succeed(
        2, 503,
    )));
    let notifier = on_paused_clock(TestConfig::default(), &transport);
    for task in ["A", "B", "C"] {
        notifier.send(&payload(task));
    }
    transport
        .wait_for_deliveries(3, PROMPTLY)
        .await
        .expect("all delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let failures = transport
        .attempts()
        .iter()
        .filter(|a| !a.reply.is_success())
        .count();
    assert_eq!(
        failures, 2,
        "only the first two calls fail, whoever makes them"
    );
    assert_eq!(transport.attempt_count(), 5);
    assert_eq!(notifier.stats().retries, 2);
}

#[tokio::test]
async fn recorded_times_on_a_paused_clock_show_the_backoff_exactly() {
    let transport = Arc::new(ScriptedTransport::per_webhook(Reply::status(500)));
    let store = Arc::new(MemoryFailureStore::new());
    let config = TestConfig::default()
        .retry_count(3)
        .resolve()
        .expect("valid");
    let notifier = Notifier::builder(config, transport.clone())
        .store(store.clone())
        .paused_clock()
        .start()
        .expect("starts");
    notifier.send(&payload("A"));
    let attempts = transport
        .wait_for_attempts(4, PROMPTLY)
        .await
        .expect("4 attempts");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_eq!(
        gaps_ms(&transport, &attempts[0].webhook_id),
        [100, 200, 400]
    );
    let records = store.list(&RecordFilter::newest(5)).await.expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].outcome, records[0].attempts),
        (FailureKind::Exhausted, 4)
    );
    assert_accounting(&notifier.stats());
}

#[tokio::test]
async fn a_scripted_retry_after_sets_the_wait() {
    let throttled = Reply::status(429).retry_after(Duration::from_secs(3));
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::sequence([
        throttled,
    ])));
    let notifier = on_paused_clock(TestConfig::default(), &transport);
    notifier.send(&payload("A"));
    let delivered = transport
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered");
    assert_eq!(gaps_ms(&transport, &delivered[0].webhook_id), [3000]);
}

#[tokio::test]
async fn replies_slower_than_the_timeout_end_in_timeouts_and_are_retried() {
    let slow = Reply::ok().after(Duration::from_secs(5));
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::sequence([
        slow,
        Reply::no_answer(),
    ])));
    let notifier = on_paused_clock(TestConfig::default().timeout_secs(1), &transport);
    notifier.send(&payload("A"));
    let delivered = transport
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_eq!(delivered[0].attempt, 3);
    // Each timed-out attempt takes the 1 s timeout, then the backoff (100, 200 ms).
    assert_eq!(gaps_ms(&transport, &delivered[0].webhook_id), [1100, 1200]);
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.retries, stats.failed), (1, 2, 0));
}

#[tokio::test]
async fn scripted_errors_are_classified_like_real_ones() {
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::sequence([
        Reply::error(TransportErrorKind::Connect),
        Reply::error(TransportErrorKind::Io),
        Reply::close(),
    ])));
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(
        TestConfig::default().resolve().expect("valid"),
        transport.clone(),
    )
    .store(store.clone())
    .paused_clock()
    .start()
    .expect("starts");
    let blocked = WebhookMessage::custom("custom_blocked", &serde_json::json!({"n": 1}))
        .expect("valid message");
    transport.script_for(
        blocked.id().as_str(),
        Reply::error(TransportErrorKind::Blocked),
    );
    notifier.enqueue(blocked.clone());
    notifier.send(&payload("A"));
    transport
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_eq!(
        transport.attempts_for(blocked.id().as_str()).len(),
        1,
        "blocked is permanent"
    );
    let records = store.list(&RecordFilter::newest(5)).await.expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].webhook_id, *blocked.id());
    assert_eq!(records[0].outcome, FailureKind::Permanent);
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.failed, stats.attempts), (1, 1, 5));
    assert_accounting(&stats);
}

#[tokio::test]
async fn a_script_for_one_webhook_overrides_the_default() {
    let transport = Arc::new(ScriptedTransport::new());
    let notifier = on_paused_clock(TestConfig::default(), &transport);
    let gone = WebhookMessage::from_payload(&payload("GONE")).expect("valid");
    transport.script_for(gone.id().as_str(), Reply::status(410));
    notifier.enqueue(gone);
    notifier.send(&payload("OK"));
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.failed_by_kind.permanent), (1, 1));
    assert_eq!(transport.attempt_count(), 2);
}

#[tokio::test]
async fn attempts_record_the_headers_and_body_that_were_sent() {
    let transport = Arc::new(ScriptedTransport::new());
    let config = TestConfig::default().secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let notifier = on_paused_clock(config, &transport);
    notifier.send(&payload("RQ-9"));
    let attempt = transport
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered")[0]
        .clone();
    assert_eq!(
        attempt.header(WEBHOOK_ID),
        Some(attempt.webhook_id.as_str())
    );
    assert!(
        attempt
            .header(WEBHOOK_SIGNATURE)
            .is_some_and(|s| s.starts_with("v1,"))
    );
    assert_eq!(attempt.header("content-type"), Some("application/json"));
    assert_eq!(attempt.event().as_deref(), Some("task_failed"));
    assert_eq!(attempt.json().expect("JSON body")["task_id"], "RQ-9");
    assert_eq!(attempt.destination, "https://hooks.example.com/…");
    assert_eq!(attempt.timeout, Duration::from_secs(30));
}

#[tokio::test]
async fn pause_holds_answers_until_resume() {
    let transport = Arc::new(ScriptedTransport::new());
    transport.pause();
    let config = TestConfig::default().resolve().expect("valid");
    let notifier = Notifier::builder(config, transport.clone())
        .start()
        .expect("starts");
    notifier.send(&payload("A"));
    transport
        .wait_for_attempts(1, PROMPTLY)
        .await
        .expect("arrives while paused");
    assert_eq!(transport.delivery_count(), 0);
    assert_eq!(notifier.stats().in_flight, 1);
    transport.resume();
    transport
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("answered after resume");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_eq!(notifier.stats().delivered, 1);
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_saw() {
    let transport = ScriptedTransport::new();
    let err = transport
        .wait_for_deliveries(1, Duration::from_millis(20))
        .await
        .expect_err("nothing was sent");
    assert_eq!((err.wanted, err.seen), (1, 0));
    assert_eq!(
        err.to_string(),
        "waited 20ms for 1 deliveries, but saw only 0"
    );
}
