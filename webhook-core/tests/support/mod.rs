//! Fakes shared by the worker tests: scripted and gated transports.
#![allow(dead_code, unreachable_pub, missing_docs)]

use async_trait::async_trait;
use http::StatusCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};
use webhook_core::transport::{DeliveryRequest, DeliveryResponse, Transport, TransportError};
use webhook_core::{ResolvedWebhookConfig, WebhookConfig};

/// One attempt as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub webhook_id: String,
    pub attempt: u32,
    pub at: tokio::time::Instant,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

type Script =
    dyn Fn(&DeliveryRequest, usize) -> Result<DeliveryResponse, TransportError> + Send + Sync;

/// Answers each attempt with `script(request, index_of_call)`, and records it.
pub struct Scripted {
    script: Box<Script>,
    calls: AtomicUsize,
    pub seen: Mutex<Vec<Seen>>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scripted")
    }
}

impl Scripted {
    pub fn new(
        script: impl Fn(&DeliveryRequest, usize) -> Result<DeliveryResponse, TransportError>
        + Send
        + Sync
        + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            script: Box::new(script),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    pub fn status(code: u16) -> Arc<Self> {
        Self::new(move |_, _| Ok(ok(code)))
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

pub fn ok(code: u16) -> DeliveryResponse {
    DeliveryResponse::new(StatusCode::from_u16(code).expect("valid status"))
}

#[async_trait]
impl Transport for Scripted {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().expect("lock").push(Seen {
            webhook_id: request.webhook_id().unwrap_or_default().to_owned(),
            attempt: request.attempt,
            at: tokio::time::Instant::now(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        });
        (self.script)(&request, n)
    }
}

/// Holds every attempt until the test releases it; reports arrivals on a channel.
#[derive(Debug)]
pub struct Gated {
    pub gate: Arc<Semaphore>,
    arrived: mpsc::UnboundedSender<String>,
    pub delivered: Mutex<Vec<String>>,
}

impl Gated {
    pub fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let gated = Arc::new(Self {
            gate: Arc::new(Semaphore::new(0)),
            arrived: tx,
            delivered: Mutex::new(Vec::new()),
        });
        (gated, rx)
    }

    pub fn release_all(&self) {
        self.gate.add_permits(Semaphore::MAX_PERMITS / 2);
    }

    pub fn delivered(&self) -> Vec<String> {
        self.delivered.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Transport for Gated {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let _ = self.arrived.send(body.clone());
        let permit = self.gate.acquire().await.expect("gate open");
        permit.forget();
        self.delivered.lock().expect("lock").push(body);
        Ok(ok(204))
    }
}

/// Never answers.
#[derive(Debug)]
pub struct Hangs;

#[async_trait]
impl Transport for Hangs {
    async fn send(&self, _request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        std::future::pending().await
    }
}

/// A valid enabled config for `https://hooks.example.com/hook/TOKEN?sig=abc`.
pub fn config(patch: serde_json::Value) -> ResolvedWebhookConfig {
    let mut value = serde_json::json!({
        "enabled": true,
        "url": "https://hooks.example.com/hook/TOKEN?sig=abc",
        "events": ["*"],
    });
    for (k, v) in patch.as_object().expect("object") {
        value[k] = v.clone();
    }
    WebhookConfig::from_json_str(&value.to_string())
        .expect("parses")
        .resolve()
        .expect("valid")
}
