//! A custom `QueuePolicy`: when the queue is full, never evict `task_failed`.
//!
//! Failures matter more than progress updates: this policy evicts the oldest queued
//! event that is not a failure, and refuses the new event only when the queue holds
//! nothing but failures.
//!
//! Run: `cargo run --example custom_policy`

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use webhook_core::queue::{FullQueue, FullQueueAction, QueuePolicy};
use webhook_core::transport::{
    DeliveryRequest, DeliveryResponse, StatusCode, Transport, TransportError,
};
use webhook_core::{Notifier, WebhookConfig, WebhookEventType, WebhookPayload, async_trait};

#[derive(Debug)]
struct KeepFailures;

impl QueuePolicy for KeepFailures {
    fn on_full(&self, queue: &FullQueue<'_>) -> FullQueueAction {
        match queue.queued().position(|e| e.event() != "task_failed") {
            Some(position) => FullQueueAction::Evict(position),
            None => FullQueueAction::DropIncoming,
        }
    }
}

/// A slow endpoint: each delivery waits for a permit the example hands out at the end.
#[derive(Debug)]
struct Slow(Arc<Semaphore>);

#[async_trait]
impl Transport for Slow {
    async fn send(&self, _: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        let _permit = self.0.acquire().await;
        Ok(DeliveryResponse::new(StatusCode::OK))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gate = Arc::new(Semaphore::new(0));
    let config = WebhookConfig {
        queue_capacity: Some(10),
        max_concurrency: Some(1),
        ..WebhookConfig::for_url("https://hooks.example.com/in")
    }
    .resolve()?;
    let notifier = Notifier::builder(config, Arc::new(Slow(gate.clone())))
        .policy(Arc::new(KeepFailures))
        .start()?;
    for i in 0..30 {
        let event = if i % 3 == 0 {
            WebhookEventType::TaskFailed
        } else {
            WebhookEventType::TaskStarted
        };
        let outcome = notifier.send(&WebhookPayload::new(event).task_id(format!("T-{i}")));
        println!("{:>15} T-{i:<2} -> {outcome}", event.as_str());
    }
    gate.add_permits(1_000);
    let report = notifier.shutdown(Duration::from_secs(5));
    let s = report.stats;
    println!(
        "accepted {}, delivered {}, evicted {}, refused {}",
        s.accepted, s.delivered, s.evicted, s.dropped_total
    );
    Ok(())
}
