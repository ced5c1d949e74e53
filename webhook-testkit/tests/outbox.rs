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

/// Answers 200 and notes where each delivered body's bytes were.
#[derive(Debug, Default)]
struct BodyAddresses(std::sync::Mutex<Vec<(usize, usize)>>);

#[async_trait::async_trait]
impl webhook_core::Transport for BodyAddresses {
    async fn send(
        &self,
        request: webhook_core::transport::DeliveryRequest,
    ) -> Result<webhook_core::transport::DeliveryResponse, webhook_core::transport::TransportError>
    {
        let at = (request.body.as_ptr() as usize, request.body.len());
        self.0.lock().expect("lock").push(at);
        Ok(webhook_core::transport::DeliveryResponse::new(
            http::StatusCode::OK,
        ))
    }
}

#[test]
fn bodies_handed_to_an_outbox_have_allocations_of_their_own() {
    // An outbox may keep the body it is given until the entry is delivered (this one
    // does, and hands the same bytes back), so the notifier does not cut such bodies
    // from the per-thread block its plain queue uses: two bodies sent one after the
    // other from a fresh thread are never back to back.
    let transport = Arc::new(BodyAddresses::default());
    let config = TestConfig::default()
        .edit(|c| c.commit_linger_ms = Some(0))
        .resolve()
        .expect("config");
    let notifier = Notifier::builder(config, transport.clone())
        .outbox(Arc::new(MemoryOutbox::new()))
        .start()
        .expect("starts");
    let sender = notifier.clone();
    std::thread::spawn(move || {
        for id in ["T-1", "T-2"] {
            let payload = WebhookPayload::new(WebhookEventType::TaskFailed).task_id(id);
            assert!(sender.send(&payload).is_accepted());
        }
    })
    .join()
    .expect("no panic");
    assert!(notifier.wait_idle(Duration::from_secs(10)));
    let seen = transport.0.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    let ((first, len), (second, _)) = (sorted[0], sorted[1]);
    assert_ne!(first + len, second, "the two bodies share a block");
    assert_eq!(notifier.stats().delivered, 2);
}
