//! Building one attempt's request: the fixed headers once, the per-attempt ones fresh.

use crate::config::{Destination, ResolvedWebhookConfig};
use crate::queue::QueuedEvent;
use crate::signing::{Signer, WEBHOOK_ID_NAME};
use crate::transport::DeliveryRequest;
use base64::Engine as _;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The `user-agent` sent with every request.
pub const USER_AGENT_VALUE: &str = concat!("webhook-rs/", env!("CARGO_PKG_VERSION"));

/// Makes the request of every attempt: same webhook id, fresh timestamp and signatures.
#[derive(Debug)]
pub(crate) struct RequestFactory {
    destination: Option<Arc<Destination>>,
    signer: Signer,
    base_headers: HeaderMap,
    timeout: Duration,
}

impl RequestFactory {
    pub(crate) fn new(config: &ResolvedWebhookConfig, user_agent: &str) -> Self {
        let signer = config.signer();
        Self {
            destination: config.destination.clone(),
            base_headers: base_headers(config, user_agent, &signer),
            signer,
            timeout: config.timeout,
        }
    }

    pub(crate) fn destination(&self) -> Option<&Arc<Destination>> {
        self.destination.as_ref()
    }

    /// The per-attempt timeout.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Builds one attempt to `destination`, signed at `now`.
    pub(crate) fn build(
        &self,
        destination: &Arc<Destination>,
        event: &QueuedEvent,
        attempt: u32,
        now: SystemTime,
    ) -> DeliveryRequest {
        let mut headers = self.base_headers.clone();
        let id = event.message.id().as_str();
        // Ids are checked when made, so the value cannot be refused; if it were, the
        // placeholder goes rather than an empty header.
        match HeaderValue::try_from(id) {
            Ok(value) => headers.insert(WEBHOOK_ID_NAME.clone(), value),
            Err(_) => headers.remove(&WEBHOOK_ID_NAME),
        };
        let now = crate::time::unix_seconds(now);
        self.signer
            .sign_into(&mut headers, id, now, event.message.body());
        DeliveryRequest::new(
            destination.clone(),
            headers,
            event.message.body().clone(),
            self.timeout,
            attempt,
        )
    }
}

/// The headers every attempt starts from, with placeholders for the per-attempt ones
/// (webhook id, signature headers) at the end: a clone of it then has room for them
/// and keeps its order, and `build` only replaces values.
fn base_headers(config: &ResolvedWebhookConfig, user_agent: &str, signer: &Signer) -> HeaderMap {
    let mut headers = config.headers.0.clone();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let agent = HeaderValue::try_from(user_agent)
        .unwrap_or_else(|_| HeaderValue::from_static(USER_AGENT_VALUE));
    headers.insert(USER_AGENT, agent);
    if let Some((user, password)) = config.destination.as_ref().and_then(|d| d.basic_auth()) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        if let Ok(mut value) = HeaderValue::try_from(format!("Basic {token}")) {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
    }
    headers.insert(WEBHOOK_ID_NAME.clone(), HeaderValue::from_static(""));
    for name in signer.header_names() {
        headers.insert(name, HeaderValue::from_static(""));
    }
    headers
}
