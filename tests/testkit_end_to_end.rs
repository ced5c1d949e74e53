//! End to end through the real stack: `Notifier` → `webhook_http::HttpTransport` → the
//! testkit's loopback `TestReceiver`. Retries, full-queue policies and signatures, with
//! only the public APIs of the testkit, webhook-core and webhook-http.
//!
//! Synchronisation is by awaiting the receiver's counts and `Notifier::wait_idle`, and by
//! holding the receiver's answers (`pause`/`resume`); retries use the smallest backoff
//! (100 ms) without jitter, so the whole file runs in a few seconds.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::signing::SignatureScheme;
use webhook_core::store::{FailureKind, RecordFilter};
use webhook_core::{
    DropReason, EnqueueOutcome, FailureStore, MemoryFailureStore, Notifier, WebhookEventType,
    WebhookPayload, WebhookQueuePolicy,
};
use webhook_http::HttpTransport;
use webhook_testkit::{
    ReceivedRequest, Reply, Script, SignatureCheck, TestConfig, TestReceiver, assert_accounting,
    sample_payloads,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PROMPTLY: Duration = Duration::from_secs(15);

/// A notifier delivering through the production HTTP transport, with a store to inspect.
fn start(config: TestConfig) -> (Notifier, Arc<MemoryFailureStore>) {
    let config = config.resolve().expect("valid config");
    let transport = HttpTransport::from_config(&config).expect("transport builds");
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(config, Arc::new(transport))
        .store(store.clone())
        .start()
        .expect("worker starts");
    (notifier, store)
}

fn task(n: usize) -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCreated).task_id(format!("T-{n}"))
}

fn task_ids(requests: &[ReceivedRequest]) -> Vec<String> {
    let mut ids: Vec<String> = requests
        .iter()
        .map(|r| {
            r.json().expect("JSON body")["task_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

fn expected_ids(range: impl IntoIterator<Item = usize>) -> Vec<String> {
    let mut ids: Vec<String> = range.into_iter().map(|n| format!("T-{n}")).collect();
    ids.sort();
    ids
}

fn gaps(requests: &[ReceivedRequest]) -> Vec<Duration> {
    requests.windows(2).map(|w| w[1].at - w[0].at).collect()
}

// --- retries ---------------------------------------------------------------------------

#[tokio::test]
async fn a_receiver_failing_the_first_three_attempts_gets_the_event_on_the_fourth_with_one_id() {
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .per_webhook(Script::fail_then_succeed(3, 500))
        .start()
        .expect("receiver starts");
    let (notifier, store) = start(receiver.test_config().retry_count(3));
    notifier.send(&task(1));

    receiver
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 4, "three 500s, then the 200");
    let id = requests[0].webhook_id().expect("webhook-id sent");
    assert!(
        requests.iter().all(|r| r.webhook_id() == Some(id)),
        "same id on every retry"
    );
    assert!(
        requests.iter().all(|r| r.signatures.standard.is_valid()),
        "every attempt is signed afresh and verifies"
    );
    for (gap, backoff) in gaps(&requests).into_iter().zip([100, 200, 400]) {
        assert!(
            gap >= Duration::from_millis(backoff),
            "{gap:?} < {backoff} ms"
        );
    }
    let stats = notifier.stats();
    assert_eq!(
        (stats.delivered, stats.attempts, stats.retries, stats.failed),
        (1, 4, 3, 0)
    );
    assert_eq!(store.count().await.expect("count"), 0);
    assert_accounting(&stats);
}

#[tokio::test]
async fn retries_used_up_end_in_the_store_under_the_webhook_id_the_receiver_saw() {
    let receiver = TestReceiver::builder()
        .per_webhook(Reply::status(503))
        .start()
        .expect("receiver starts");
    let (notifier, store) = start(receiver.test_config().retry_count(2));
    notifier.send(&task(1));

    receiver
        .wait_for_requests(3, PROMPTLY)
        .await
        .expect("three attempts");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let requests = receiver.requests();
    let records = store.list(&RecordFilter::newest(5)).await.expect("list");
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(Some(record.webhook_id.as_str()), requests[0].webhook_id());
    assert_eq!(
        (record.outcome, record.attempts, record.last_status),
        (FailureKind::Exhausted, 3, Some(503))
    );
    assert_eq!(
        record.payload.get().as_bytes(),
        requests[2].body.as_ref(),
        "the stored payload is what was sent"
    );
    assert_eq!(receiver.request_count(), 3, "no attempt beyond retry_count");
    assert_accounting(&notifier.stats());
}

#[tokio::test]
async fn a_closed_connection_and_a_retry_after_are_retried_until_delivered() {
    let throttled = Reply::status(429).retry_after(Duration::from_secs(1));
    let receiver = TestReceiver::builder()
        .per_webhook(Script::sequence([Reply::close(), throttled]))
        .start()
        .expect("receiver starts");
    let (notifier, _store) = start(receiver.test_config());
    notifier.send(&task(1));

    receiver
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 3);
    let waited = gaps(&requests);
    assert!(
        waited[1] >= Duration::from_secs(1),
        "Retry-After honoured: {:?}",
        waited[1]
    );
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.retries), (1, 2));
    assert_accounting(&stats);
}

// --- full-queue policies -----------------------------------------------------------------

/// Holds the receiver's answers, starts a notifier with a queue of 10 and one delivery at
/// a time, and waits until event 0 is at the receiver; then offers events 1..=25.
async fn offer_25_to_a_full_queue(
    policy: WebhookQueuePolicy,
) -> (TestReceiver, Notifier, Vec<EnqueueOutcome>) {
    let receiver = TestReceiver::start().expect("receiver starts");
    receiver.pause();
    let config = receiver
        .test_config()
        .queue_capacity(10)
        .max_concurrency(1)
        .queue_policy(policy)
        .block_timeout_ms(5);
    let (notifier, _store) = start(config);
    assert!(notifier.send(&task(0)).is_accepted());
    receiver
        .wait_for_requests(1, PROMPTLY)
        .await
        .expect("event 0 in flight");
    let outcomes = (1..=25).map(|n| notifier.send(&task(n))).collect();
    (receiver, notifier, outcomes)
}

fn count(outcomes: &[EnqueueOutcome], wanted: EnqueueOutcome) -> usize {
    outcomes.iter().filter(|o| **o == wanted).count()
}

async fn release_and_settle(receiver: &TestReceiver, notifier: &Notifier, deliveries: usize) {
    receiver.resume();
    receiver
        .wait_for_deliveries(deliveries, PROMPTLY)
        .await
        .expect("all delivered");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_eq!(receiver.request_count(), deliveries, "nothing else arrives");
    assert_accounting(&notifier.stats());
}

#[tokio::test]
async fn drop_new_with_a_held_receiver_keeps_exactly_the_first_ten() {
    let (receiver, notifier, outcomes) =
        offer_25_to_a_full_queue(WebhookQueuePolicy::DropNew).await;
    assert_eq!(count(&outcomes, EnqueueOutcome::Accepted), 10);
    assert_eq!(
        count(&outcomes, EnqueueOutcome::Dropped(DropReason::QueueFull)),
        15
    );
    let stats = notifier.stats();
    assert_eq!(
        (stats.accepted, stats.queued, stats.dropped.queue_full),
        (11, 10, 15)
    );

    release_and_settle(&receiver, &notifier, 11).await;
    assert_eq!(task_ids(&receiver.deliveries()), expected_ids(0..=10));
    assert_eq!(notifier.stats().delivered, 11);
}

#[tokio::test]
async fn drop_oldest_with_a_held_receiver_delivers_the_ten_newest() {
    let (receiver, notifier, outcomes) =
        offer_25_to_a_full_queue(WebhookQueuePolicy::DropOldest).await;
    assert_eq!(count(&outcomes, EnqueueOutcome::Accepted), 10);
    assert_eq!(count(&outcomes, EnqueueOutcome::AcceptedAfterEviction), 15);
    let stats = notifier.stats();
    assert_eq!(
        (stats.accepted, stats.evicted, stats.dropped_total),
        (26, 15, 0)
    );

    release_and_settle(&receiver, &notifier, 11).await;
    let delivered = expected_ids(std::iter::once(0).chain(16..=25));
    assert_eq!(task_ids(&receiver.deliveries()), delivered);
    let diagnostics = notifier.diagnostics_async(5).await;
    assert_eq!(
        (diagnostics.stats.delivered, diagnostics.stats.evicted),
        (11, 15)
    );
    assert_accounting(&diagnostics);
}

#[tokio::test]
async fn block_with_timeout_refuses_what_finds_no_room_within_the_bound() {
    let (receiver, notifier, outcomes) =
        offer_25_to_a_full_queue(WebhookQueuePolicy::BlockWithTimeout).await;
    assert_eq!(count(&outcomes, EnqueueOutcome::Accepted), 10);
    assert_eq!(
        count(&outcomes, EnqueueOutcome::Dropped(DropReason::BlockTimeout)),
        15
    );
    assert_eq!(notifier.stats().dropped.block_timeout, 15);

    release_and_settle(&receiver, &notifier, 11).await;
    assert_eq!(task_ids(&receiver.deliveries()), expected_ids(0..=10));
}

// --- signatures ---------------------------------------------------------------------------

#[tokio::test]
async fn both_schemes_verify_at_the_receiver_for_every_seed_event() {
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .hex_header("X-Ralph-Signature")
        .require_signatures(true)
        .start()
        .expect("receiver starts");
    let (notifier, _store) = start(
        receiver
            .test_config()
            .signature_scheme(SignatureScheme::Both),
    );
    let samples = sample_payloads();
    for sample in &samples {
        assert!(notifier.send(sample).is_accepted());
    }

    let delivered = receiver
        .wait_for_deliveries(samples.len(), PROMPTLY)
        .await
        .expect("all delivered");
    for request in &delivered {
        assert_eq!(
            request.signatures.standard,
            SignatureCheck::Valid,
            "{:?}",
            request.event()
        );
        assert_eq!(
            request.signatures.hex,
            SignatureCheck::Valid,
            "{:?}",
            request.event()
        );
        assert!(
            request
                .header("x-ralph-signature")
                .is_some_and(|s| s.starts_with("sha256="))
        );
    }
    let mut bodies: Vec<serde_json::Value> =
        delivered.iter().map(|r| r.json().expect("JSON")).collect();
    let mut sent: Vec<serde_json::Value> = samples
        .iter()
        .map(|s| serde_json::to_value(s).expect("serializes"))
        .collect();
    let by_event = |v: &serde_json::Value| v["event"].as_str().unwrap_or_default().to_owned();
    bodies.sort_by_key(by_event);
    sent.sort_by_key(by_event);
    assert_eq!(bodies, sent, "the receiver got exactly the payloads sent");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_accounting(&notifier.stats());
}

#[tokio::test]
async fn a_raw_text_secret_signs_the_hex_scheme_the_way_the_seed_did() {
    let receiver = TestReceiver::builder()
        .secret("seed-style raw secret")
        .start()
        .expect("starts");
    let (notifier, _store) = start(
        receiver
            .test_config()
            .signature_scheme(SignatureScheme::Hex),
    );
    notifier.send(&task(1));

    let delivered = receiver
        .wait_for_deliveries(1, PROMPTLY)
        .await
        .expect("delivered");
    assert_eq!(delivered[0].signatures.hex, SignatureCheck::Valid);
    assert_eq!(delivered[0].signatures.standard, SignatureCheck::Missing);
}

#[tokio::test]
async fn a_receiver_holding_another_secret_refuses_and_the_event_is_stored_as_permanent() {
    let receiver = TestReceiver::builder()
        .secret("whsec_c2Vjb25kLXNlY3JldC1mb3ItdGVzdHM=")
        .require_signatures(true)
        .start()
        .expect("receiver starts");
    let (notifier, store) = start(receiver.test_config().secret(SECRET));
    notifier.send(&task(1));

    receiver
        .wait_for_requests(1, PROMPTLY)
        .await
        .expect("arrives");
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let request = &receiver.requests()[0];
    assert!(matches!(
        request.signatures.standard,
        SignatureCheck::Invalid(_)
    ));
    let records = store.list(&RecordFilter::newest(5)).await.expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].outcome, records[0].last_status),
        (FailureKind::Permanent, Some(401))
    );
    assert_eq!(receiver.request_count(), 1, "a 401 is not retried");
    let report = notifier.shutdown_async(Duration::from_secs(5)).await;
    assert_eq!(report.stats.failed_by_kind.permanent, 1);
    assert_accounting(&report);
}
