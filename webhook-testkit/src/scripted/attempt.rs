//! [`RecordedAttempt`]: one attempt as the scripted transport saw it.

use crate::script::Reply;
use bytes::Bytes;
use http::HeaderMap;
use std::time::Duration;
use tokio::time::Instant;
use webhook_core::transport::DeliveryRequest;

/// One attempt as the [`ScriptedTransport`](crate::ScriptedTransport) saw it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RecordedAttempt {
    /// Position in arrival order (0 for the first attempt this transport saw).
    pub index: usize,
    /// The `webhook-id` header (empty if absent).
    pub webhook_id: String,
    /// The worker's attempt number for this webhook id (1 for the first).
    pub attempt: u32,
    /// When it arrived, on the clock of the runtime that sent it (paused or not).
    pub at: Instant,
    /// Every header sent (signatures included).
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Bytes,
    /// The redacted destination (`scheme://host[:port]/…`).
    pub destination: String,
    /// The attempt's timeout.
    pub timeout: Duration,
    /// The scripted reply it got.
    pub reply: Reply,
}

impl RecordedAttempt {
    pub(crate) fn new(index: usize, request: &DeliveryRequest, reply: Reply) -> Self {
        Self {
            index,
            webhook_id: request.webhook_id().unwrap_or_default().to_owned(),
            attempt: request.attempt,
            at: Instant::now(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            destination: request.destination.redacted().to_owned(),
            timeout: request.timeout,
            reply,
        }
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The `event` field of the body, if the body is a JSON object with one.
    pub fn event(&self) -> Option<String> {
        self.json().ok()?.get("event")?.as_str().map(str::to_owned)
    }

    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
}
