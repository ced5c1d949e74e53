//! The mockall mocks work as the notifier's plug points.

use mockall::Sequence;
use std::sync::Arc;
use std::time::Duration;
use webhook_core::queue::FullQueueAction;
use webhook_core::store::FailureKind;
use webhook_core::transport::{DeliveryResponse, StatusCode};
use webhook_core::{EnqueueOutcome, Notifier, Transport, WebhookEventType, WebhookPayload};
use webhook_testkit::{
    MockFailureStore, MockQueuePolicy, MockTransport, ScriptedTransport, TestConfig,
    assert_accounting,
};

const PROMPTLY: Duration = Duration::from_secs(10);

fn status(code: StatusCode) -> DeliveryResponse {
    DeliveryResponse::new(code)
}

#[tokio::test]
async fn a_mock_transport_sees_each_attempt_in_order() {
    let mut transport = MockTransport::with_enforces_timeout(false);
    let mut seq = Sequence::new();
    transport
        .expect_send()
        .withf(|r| r.attempt == 1)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(status(StatusCode::SERVICE_UNAVAILABLE)));
    transport
        .expect_send()
        .withf(|r| r.attempt == 2)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(status(StatusCode::OK)));
    let notifier = Notifier::builder(
        TestConfig::default().resolve().expect("valid"),
        Arc::new(transport),
    )
    .paused_clock()
    .start()
    .expect("starts");
    notifier.send(&WebhookPayload::new(WebhookEventType::TaskStarted));
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let stats = notifier.stats();
    assert_eq!((stats.delivered, stats.attempts), (1, 2));
}

#[tokio::test]
async fn a_mock_store_receives_the_final_failure() {
    let mut transport = MockTransport::with_enforces_timeout(false);
    transport
        .expect_send()
        .times(1)
        .returning(|_| Ok(status(StatusCode::NOT_FOUND)));
    let mut store = MockFailureStore::new();
    store
        .expect_record()
        .withf(|r| r.outcome == FailureKind::Permanent && r.last_status == Some(404))
        .times(1)
        .returning(|_| Ok(()));
    store.expect_location().return_const("mock".to_owned());
    let notifier = Notifier::builder(
        TestConfig::default().resolve().expect("valid"),
        Arc::new(transport),
    )
    .store(Arc::new(store))
    .paused_clock()
    .start()
    .expect("starts");
    notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated).task_id("T-1"));
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let stats = notifier.stats();
    assert_eq!(stats.failed_by_kind.permanent, 1);
    assert_accounting(&stats);
}

#[tokio::test]
async fn a_mock_policy_decides_what_a_full_queue_does() {
    let mut policy = MockQueuePolicy::new();
    policy.expect_on_full().times(2).returning(|queue| {
        if queue.incoming().event() == "task_failed" {
            FullQueueAction::EvictOldest
        } else {
            FullQueueAction::DropIncoming
        }
    });
    let transport = Arc::new(ScriptedTransport::new());
    transport.pause();
    let config = TestConfig::default()
        .queue_capacity(10)
        .max_concurrency(1)
        .resolve()
        .expect("valid");
    let notifier = Notifier::builder(config, transport.clone())
        .policy(Arc::new(policy))
        .start()
        .expect("starts");
    let created = WebhookPayload::new(WebhookEventType::TaskCreated);
    notifier.send(&created);
    transport
        .wait_for_attempts(1, PROMPTLY)
        .await
        .expect("first event in flight");
    for _ in 0..10 {
        assert_eq!(notifier.send(&created), EnqueueOutcome::Accepted);
    }
    assert!(
        !notifier.send(&created).is_accepted(),
        "the policy drops task_created"
    );
    let failed = WebhookPayload::new(WebhookEventType::TaskFailed);
    assert_eq!(
        notifier.send(&failed),
        EnqueueOutcome::AcceptedAfterEviction
    );
    transport.resume();
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    let stats = notifier.stats();
    assert_eq!(
        (stats.delivered, stats.evicted, stats.dropped.queue_full),
        (11, 1, 1)
    );
    assert_accounting(&stats);
}

#[test]
fn a_mock_transport_answers_enforces_timeout_as_configured() {
    assert!(!MockTransport::with_enforces_timeout(false).enforces_timeout());
    let bounded = MockTransport::with_enforces_timeout(true);
    assert!(bounded.enforces_timeout());
    assert!(bounded.enforces_timeout(), "answered however often asked");
}

#[tokio::test]
async fn the_worker_asks_a_mock_transport_enforces_timeout_once_per_start() {
    let mut transport = MockTransport::new();
    transport
        .expect_enforces_timeout()
        .times(1)
        .return_const(true);
    transport
        .expect_send()
        .times(1)
        .returning(|_| Ok(status(StatusCode::OK)));
    let transport = Arc::new(transport);
    let notifier = Notifier::builder(
        TestConfig::default().resolve().expect("valid"),
        transport.clone(),
    )
    .start()
    .expect("starts");
    notifier.send(&WebhookPayload::new(WebhookEventType::TaskStarted));
    assert!(notifier.wait_idle_async(PROMPTLY).await);
    assert_eq!(notifier.stats().delivered, 1);
    notifier.shutdown(PROMPTLY);
    drop(notifier);
    let mut transport = Arc::into_inner(transport).expect("the stopped notifier let go of it");
    // Panics if `enforces_timeout` was asked other than exactly once.
    transport.checkpoint();
}

#[test]
#[should_panic(expected = "enforces_timeout")]
fn a_mock_transport_without_an_enforces_timeout_answer_fails_at_start_naming_it() {
    let transport = MockTransport::new();
    let _ = Notifier::builder(
        TestConfig::default().resolve().expect("valid"),
        Arc::new(transport),
    )
    .start();
}
