//! The testkit's outboxes: the in-memory one passes the suite, the faulty one injects
//! what it is told, and a notifier reports failed appends to confirmed senders.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::outbox::{Outbox, OwnerId};
use webhook_core::{NotStored, Notifier, WebhookEventType, WebhookPayload};
use webhook_testkit::{
    Faults, FaultyOutbox, MemoryOutbox, MockOutbox, Reply, Script, ScriptedTransport, TestConfig,
    outbox_suite,
};

#[tokio::test]
async fn the_memory_outbox_passes_the_outbox_suite() {
    outbox_suite::run_all(&MemoryOutbox::new()).await;
}

#[tokio::test]
async fn a_faulty_outbox_without_faults_passes_the_suite_and_injects_only_what_it_is_told() {
    let faulty = FaultyOutbox::new(MemoryOutbox::new(), Faults::none());
    outbox_suite::run_all(&faulty).await;
    assert_eq!(faulty.injected(), 0);
    faulty.set(
        Faults::none()
            .with_failing_appends(1)
            .with_failing_claims(1),
    );
    let owner = OwnerId::generate();
    let err = faulty
        .append(&owner, Vec::new())
        .await
        .expect_err("injected");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    faulty
        .append(&owner, Vec::new())
        .await
        .expect("only one append fails");
    assert!(
        faulty
            .claim(&owner, 0, Duration::from_secs(1), 1)
            .await
            .is_err()
    );
    assert!(
        faulty
            .claim(&owner, 0, Duration::from_secs(1), 1)
            .await
            .is_ok()
    );
    assert_eq!(faulty.injected(), 2);
}

#[test]
fn a_failed_append_is_reported_to_the_confirmed_sender_and_counted_never_lost_silently() {
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    let outbox = Arc::new(FaultyOutbox::new(
        MemoryOutbox::new(),
        Faults::none().with_failing_appends(3),
    ));
    let config = TestConfig::default()
        .edit(|c| c.commit_linger_ms = Some(0))
        .resolve()
        .expect("config");
    let notifier = Notifier::builder(config, transport.clone())
        .outbox(outbox.clone())
        .start()
        .expect("starts");
    let payload = WebhookPayload::new(WebhookEventType::TaskFailed).task_id("T-1");
    match notifier.send_confirmed(&payload) {
        Err(NotStored::AppendFailed { detail }) => {
            assert!(detail.contains("No space left on device"), "{detail}");
        }
        other => panic!("expected AppendFailed, got {other:?}"),
    }
    let stats = notifier.stats();
    assert_eq!((stats.not_stored, stats.outbox_errors), (1, 3), "{stats:?}");
    assert!(stats.balances());
    // The fault is gone: the next one is durable and delivered.
    notifier.send_confirmed(&payload).expect("durable now");
    assert!(notifier.wait_idle(Duration::from_secs(10)));
    assert_eq!(transport.delivery_count(), 1);
    assert_eq!(notifier.stats().delivered, 1);
}

#[test]
fn a_mock_outbox_works_as_a_trait_object() {
    let mut mock = MockOutbox::new();
    mock.expect_location().return_const("mock".to_owned());
    let outbox: Arc<dyn Outbox> = Arc::new(mock);
    assert_eq!(outbox.location(), "mock");
}
