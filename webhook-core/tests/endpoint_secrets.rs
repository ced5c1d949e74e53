//! An endpoint's secrets and URL path never reach logs, records, diagnostics or health,
//! even when a transport's error text carries them.

use async_trait::async_trait;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use webhook_core::endpoint::EndpointConfig;
use webhook_core::store::RecordFilter;
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{FailureStore, MemoryFailureStore, Notifier, WebhookConfig};

const SECRET: &str = "whsec_c2VjcmV0LWZvci10aGUtbGVha3ktZW5kcG9pbnQ=";
const URL: &str = "https://leaky.example.com/hook/TOKEN123?sig=abcdef";

/// Fails every attempt with an error text holding the full URL and the secret.
#[derive(Debug)]
struct Leaky;

#[async_trait]
impl Transport for Leaky {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        Err(TransportError::Request {
            destination: request.destination.redacted().to_owned(),
            detail: format!("POST {URL} failed; signing key {SECRET}"),
        })
    }

    fn enforces_timeout(&self) -> bool {
        true
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_endpoints_secret_and_url_path_stay_out_of_logs_records_and_diagnostics() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");

    let config = WebhookConfig {
        enabled: Some(true),
        endpoints: Some(vec![EndpointConfig {
            secret: Some(SECRET.into()),
            ..EndpointConfig::new("leaky", URL)
        }]),
        retry_schedule_ms: Some(vec![100]),
        ..WebhookConfig::default()
    }
    .resolve()
    .expect("valid");
    let store = Arc::new(MemoryFailureStore::new());
    let n = Notifier::builder(config, Arc::new(Leaky))
        .store(store.clone())
        .paused_clock()
        .start()
        .expect("starts");
    for i in 0..6 {
        n.send(
            &webhook_core::WebhookPayload::new(webhook_core::WebhookEventType::TaskFailed)
                .task_id(format!("T-{i}")),
        );
    }
    assert!(n.wait_idle_async(Duration::from_secs(3600)).await);
    let records = store.list(&RecordFilter::newest(100)).await.expect("list");
    assert!(!records.is_empty());
    let diagnostics = n.diagnostics_async(100).await;
    let shown = [
        String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned(),
        serde_json::to_string(&records).expect("json"),
        serde_json::to_string(&diagnostics).expect("json"),
        format!("{:?} {:?}", n.endpoints(), n),
    ]
    .join("\n");
    assert!(
        shown.contains("endpoint breaker opened"),
        "the breaker's change is logged"
    );
    assert!(shown.contains("leaky.example.com"));
    for secret in [
        "TOKEN123",
        "sig=abcdef",
        "abcdef",
        &SECRET[6..],
        "c2VjcmV0",
        "secret-for-the-leaky",
    ] {
        assert!(!shown.contains(secret), "{secret} shown");
    }
    n.shutdown_async(Duration::from_secs(1)).await;
}
