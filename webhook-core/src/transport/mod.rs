//! The `Transport` plug point: one delivery attempt.
//!
//! Everything an implementation names is reachable from `webhook_core`: the
//! [`async_trait`](macro@crate::async_trait) attribute, [`Bytes`], [`HeaderMap`] and
//! [`StatusCode`] (re-exported here), and the rest of [`http`]. A transport
//! crate needs no dependency on `async-trait`, `http` or `bytes` of its own.

mod deadline;
mod error;

pub use bytes::Bytes;
pub use deadline::{AttemptDeadline, AttemptTimers};
pub use error::{TransportError, TransportErrorKind};
pub use http::{HeaderMap, StatusCode};

use crate::config::Destination;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Delivers one attempt of one webhook.
///
/// # What the worker promises
/// - `request` is complete: destination (already checked against the URL-text rules),
///   headers (content type, user agent, `webhook-id`, fresh signatures, static headers,
///   basic auth from URL credentials), the JSON body and the attempt's timeout.
/// - The worker retries, signs, logs and records failures; the transport does none of that.
/// - Calls may run concurrently (up to the configured concurrency).
///
/// # What the worker expects back
/// - `Ok(response)` whenever the server answered with a status, whatever it was (3xx
///   included: redirects must not be followed).
/// - `Err` only when no status was obtained, with the [`TransportErrorKind`] that says
///   why, and a message that carries the redacted destination only (never the path,
///   query, credentials or any header value).
/// - The whole exchange is bounded by `request.timeout`: a transport must return
///   [`TransportError::Timeout`] rather than hang. (The worker also enforces it, as a
///   backstop.) [`AttemptTimers`] bounds attempts on timers reused from one attempt to
///   the next, cheaper than a fresh `tokio::time::timeout` each.
///
/// # Example
/// Only `webhook_core` paths are needed (this example shadows the names `async_trait`,
/// `http` and `bytes` with empty modules, so it would not compile if it reached for
/// those crates directly):
/// ```
/// # mod async_trait {}
/// # mod http {}
/// # mod bytes {}
/// use webhook_core::async_trait;
/// use webhook_core::transport::{
///     Bytes, DeliveryRequest, DeliveryResponse, HeaderMap, StatusCode, Transport, TransportError,
/// };
///
/// /// Accepts everything without sending it anywhere, and keeps the last body.
/// #[derive(Debug, Default)]
/// struct Sink {
///     last: std::sync::Mutex<Option<(HeaderMap, Bytes)>>,
/// }
///
/// #[async_trait]
/// impl Transport for Sink {
///     async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
///         if let Ok(mut last) = self.last.lock() {
///             *last = Some((request.headers, request.body));
///         }
///         Ok(DeliveryResponse::new(StatusCode::NO_CONTENT))
///     }
///
///     fn enforces_timeout(&self) -> bool {
///         true // `send` never waits
///     }
/// }
/// let _shared: std::sync::Arc<dyn Transport> = std::sync::Arc::new(Sink::default());
/// ```
#[async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Performs one attempt.
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError>;

    /// Whether every [`send`](Transport::send) returns by itself within
    /// [`DeliveryRequest::timeout`] (answering [`TransportError::Timeout`] when it runs
    /// out). `false` by default: the worker then bounds each attempt with a timer of its
    /// own, a little longer than the timeout. A transport that returns `true` saves
    /// that timer on every attempt; one that says so and then hangs keeps its delivery
    /// slot until shutdown.
    fn enforces_timeout(&self) -> bool {
        false
    }
}

/// One attempt, ready to send.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DeliveryRequest {
    /// Where to send it (`Debug`/`Display` are redacted).
    pub destination: Arc<Destination>,
    /// Every header to send. May hold secrets (signatures, basic auth): never log values.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Bytes,
    /// The bound on the whole exchange.
    pub timeout: Duration,
    /// Which attempt this is for this webhook id (1 for the first; counting continues on replay).
    pub attempt: u32,
}

impl DeliveryRequest {
    /// A request with the given parts.
    pub fn new(
        destination: Arc<Destination>,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
        attempt: u32,
    ) -> Self {
        Self {
            destination,
            headers,
            body,
            timeout,
            attempt,
        }
    }

    /// The `webhook-id` header's value.
    pub fn webhook_id(&self) -> Option<&str> {
        self.headers
            .get(crate::signing::WEBHOOK_ID)
            .and_then(|v| v.to_str().ok())
    }
}

/// What the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryResponse {
    /// The response status.
    pub status: StatusCode,
    /// The server's `Retry-After`, already converted to a delay (from seconds or an HTTP-date).
    pub retry_after: Option<Duration>,
}

impl DeliveryResponse {
    /// A response with `status` and no `Retry-After`.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            retry_after: None,
        }
    }

    /// Sets the `Retry-After` delay.
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
}
