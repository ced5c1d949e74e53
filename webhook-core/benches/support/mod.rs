//! Fixtures shared by the webhook-core benches: a typical seed payload, a transport
//! that answers at once, and a notifier configured for measuring.

use std::sync::Arc;
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{
    Notifier, WebhookConfig, WebhookContext, WebhookEventType, WebhookPayload, WebhookQueuePolicy,
};

/// A `task_completed` event as the seed's `notify_task_completed_with_context` builds it:
/// every string field set, about 400 bytes of JSON.
pub(crate) fn seed_payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id("RQ-0142")
        .task_title("Add a retry budget to the delivery worker")
        .statuses("doing", "done")
        .note("all checks passed")
        .context(WebhookContext {
            runner: Some("codex".to_owned()),
            model: Some("gpt-5.1-codex".to_owned()),
            phase: Some(3),
            phase_count: Some(3),
            duration_ms: Some(184_203),
            repo_root: Some("/home/dev/src/ralph".to_owned()),
            branch: Some("ralph/RQ-0142".to_owned()),
            commit: Some("9f3c2a1e5b7d4c6a8e0f1b2c3d4e5f6a7b8c9d0e".to_owned()),
            ci_gate: Some("make ci".to_owned()),
        })
}

/// Answers `204 No Content` to every attempt without any I/O: the worker spends its
/// time signing and dispatching, competing with producers for the CPU.
#[derive(Debug)]
pub(crate) struct Instant204;

#[async_trait::async_trait]
impl Transport for Instant204 {
    async fn send(&self, _: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        Ok(DeliveryResponse::new(http::StatusCode::NO_CONTENT))
    }
}

/// Holds every attempt until the gate opens, then answers `204 No Content`: like a slow
/// endpoint, it keeps the worker waiting (all delivery slots busy) while producers run.
#[derive(Debug)]
pub(crate) struct Gate {
    open: tokio::sync::watch::Sender<bool>,
}

impl Gate {
    /// A closed gate.
    pub(crate) fn closed() -> Arc<Self> {
        Arc::new(Self {
            open: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Lets attempts through (`true`) or holds them (`false`).
    pub(crate) fn set_open(&self, open: bool) {
        self.open.send_replace(open);
    }
}

#[async_trait::async_trait]
impl Transport for Gate {
    async fn send(&self, _: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        // The sender lives as long as the transport, so this cannot fail.
        let _ = self.open.subscribe().wait_for(|open| *open).await;
        Ok(DeliveryResponse::new(http::StatusCode::NO_CONTENT))
    }
}

/// The largest queue the configuration allows.
pub(crate) const CAPACITY: usize = 10_000;

/// A notifier with signing on, a 10,000-slot `drop_new` queue (a full queue shows up as
/// a dropped event instead of a wait), 8 delivery slots and `transport`.
pub(crate) fn notifier(transport: Arc<dyn Transport>) -> Notifier {
    let config = WebhookConfig {
        secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        queue_capacity: Some(CAPACITY as u32),
        queue_policy: Some(WebhookQueuePolicy::DropNew),
        max_concurrency: Some(8),
        ..WebhookConfig::for_url("http://127.0.0.1:9/hook")
    }
    .resolve()
    .expect("bench config is valid");
    Notifier::builder(config, transport)
        .start()
        .expect("worker starts")
}
