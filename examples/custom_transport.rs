//! A custom `Transport`: deliver webhooks somewhere other than HTTP.
//!
//! This one appends each signed request to a JSON-lines file, the way an application
//! might hand events to a message bus instead. The worker still queues, signs, retries
//! and records failures; the transport only performs one attempt.
//!
//! Run: `cargo run --example custom_transport`

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webhook_core::transport::{
    DeliveryRequest, DeliveryResponse, StatusCode, Transport, TransportError,
};
use webhook_core::{
    MemoryFailureStore, Notifier, WebhookConfig, WebhookEventType, WebhookPayload, async_trait,
};

/// Writes each attempt as one JSON line: the webhook id, the attempt and the body.
#[derive(Debug)]
struct JsonLinesTransport {
    file: Mutex<std::fs::File>,
}

#[async_trait]
impl Transport for JsonLinesTransport {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        let line = serde_json::json!({
            "webhook_id": request.webhook_id(),
            "attempt": request.attempt,
            "signature": request.headers.get("webhook-signature").and_then(|v| v.to_str().ok()),
            "body": serde_json::from_slice::<serde_json::Value>(&request.body).ok(),
        });
        let mut file = self.file.lock().map_err(|_| TransportError::Io {
            destination: request.destination.redacted().to_owned(),
            detail: "file lock poisoned".to_owned(),
        })?;
        writeln!(file, "{line}").map_err(|e| TransportError::Io {
            destination: request.destination.redacted().to_owned(),
            detail: e.kind().to_string(),
        })?;
        Ok(DeliveryResponse::new(StatusCode::ACCEPTED))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path: PathBuf = dir.path().join("events.jsonl");
    let transport = Arc::new(JsonLinesTransport {
        file: Mutex::new(std::fs::File::create(&path)?),
    });
    // The URL only names the destination in records and logs here.
    let config = WebhookConfig {
        secret: Some("example-secret".into()),
        events: Some(vec!["*".into()]),
        ..WebhookConfig::for_url("https://bus.example.com/events")
    }
    .resolve()?;
    let notifier = Notifier::start(config, transport, Arc::new(MemoryFailureStore::new()))?;
    for event in [
        WebhookEventType::LoopStarted,
        WebhookEventType::TaskCreated,
        WebhookEventType::LoopStopped,
    ] {
        notifier.send(&WebhookPayload::new(event).note("from the custom transport example"));
    }
    let report = notifier.shutdown(Duration::from_secs(5));
    let written = std::fs::read_to_string(&path)?;
    print!("{written}");
    println!(
        "delivered {} event(s) through the custom transport",
        report.stats.delivered
    );
    assert_eq!(written.lines().count(), 3);
    Ok(())
}
