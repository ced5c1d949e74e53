//! Building one attempt's request: the fixed headers once, the per-attempt ones fresh.

use crate::config::{Destination, ResolvedWebhookConfig};
use crate::queue::QueuedEvent;
use crate::signing::{Signer, Stamp, WEBHOOK_ID_NAME};
use crate::transport::DeliveryRequest;
use base64::Engine as _;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderValue};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// The last signing time and its header value: remade when the second changes, so
    /// that an attempt clones a value instead of formatting and allocating one.
    stamp: Mutex<Stamp>,
}

impl RequestFactory {
    pub(crate) fn new(config: &ResolvedWebhookConfig, user_agent: &str) -> Self {
        let signer = config.signer();
        Self {
            destination: config.destination.clone(),
            base_headers: base_headers(config, user_agent),
            signer,
            timeout: config.timeout,
            stamp: Mutex::new(Stamp::new(0)),
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
        // A fresh map with room for the per-attempt headers and for what a transport
        // adds (`host`, `content-length`): a clone of the base map has no spare room,
        // and each header added to it then reallocated (and at 7 entries rehashed) it.
        let mut headers = HeaderMap::with_capacity(self.base_headers.len() + PER_ATTEMPT);
        for (name, value) in &self.base_headers {
            headers.append(name.clone(), value.clone());
        }
        let id = event.message.id().as_str();
        // Ids are checked when made, so the value cannot be refused; if it were, the
        // header is left out rather than sent empty.
        if let Ok(value) = HeaderValue::try_from(id) {
            headers.insert(WEBHOOK_ID_NAME.clone(), value);
        }
        let stamp = self.stamp(crate::time::unix_seconds(now));
        self.signer
            .sign_at(&mut headers, id, &stamp, event.message.body());
        DeliveryRequest::new(
            destination.clone(),
            headers,
            event.message.body().clone(),
            self.timeout,
            attempt,
        )
    }

    /// The signing time for `secs`, remade only when the second changed.
    fn stamp(&self, secs: u64) -> Stamp {
        let mut last = self.stamp.lock().unwrap_or_else(PoisonError::into_inner);
        if last.secs != secs {
            *last = Stamp::new(secs);
        }
        last.clone()
    }
}

/// The headers every attempt starts from (the per-attempt ones follow them).
fn base_headers(config: &ResolvedWebhookConfig, user_agent: &str) -> HeaderMap {
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
    headers
}

/// Headers added to the base ones per attempt (id, timestamp, signatures) and by a
/// transport (`host`, `content-length`), with one to spare.
const PER_ATTEMPT: usize = 7;
