//! The production [`Transport`](webhook_core::Transport) for `webhook-core`: hyper 1
//! through hyper-util's pooled client, TLS by rustls with the `ring` provider, HTTP/1.1
//! and HTTP/2 (ALPN).
//!
//! [`HttpTransport`] performs one delivery attempt: it `POST`s the body with the
//! headers the worker prepared and returns the status (and `Retry-After`) or a typed
//! [`TransportError`](webhook_core::TransportError). The worker in `webhook-core`
//! signs, retries, logs and records failures; this crate does none of that.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use webhook_core::config::{Destination, DestinationPolicy};
//! use webhook_core::transport::{DeliveryRequest, Transport};
//! use webhook_http::HttpTransport;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = HttpTransport::builder()
//!     .connect_timeout(Duration::from_secs(5))
//!     .build()?;
//!
//! let destination = Destination::parse("https://hooks.example.com/in", DestinationPolicy::default())?;
//! let mut headers = http::HeaderMap::new();
//! headers.insert("content-type", http::HeaderValue::from_static("application/json"));
//! let request = DeliveryRequest::new(
//!     Arc::new(destination),
//!     headers,
//!     bytes::Bytes::from_static(br#"{"event":"task_created"}"#),
//!     Duration::from_secs(30),
//!     1,
//! );
//! let response = transport.send(request).await?;
//! println!("{} (retry after {:?})", response.status, response.retry_after);
//! # Ok(())
//! # }
//! ```
//!
//! # Destination safety
//! Without `allow_private_targets`, every address a name resolves to is checked when
//! connecting, so a name that resolves to `127.0.0.1` is refused like the literal:
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use webhook_core::config::{BlockedReason, Destination, DestinationPolicy};
//! use webhook_core::transport::{DeliveryRequest, Transport, TransportError};
//! use webhook_http::HttpTransport;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = HttpTransport::builder()
//!     .resolve_override("innocent.example", "127.0.0.1".parse()?)
//!     .build()?;
//! // The URL text looks public, so the config's checks let it through...
//! let destination = Destination::parse("https://innocent.example/hook", DestinationPolicy::default())?;
//! let request = DeliveryRequest::new(
//!     Arc::new(destination),
//!     http::HeaderMap::new(),
//!     bytes::Bytes::new(),
//!     Duration::from_secs(5),
//!     1,
//! );
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! // ...but the transport refuses the address it resolves to, before connecting.
//! let err = runtime.block_on(transport.send(request)).expect_err("loopback is refused");
//! assert!(matches!(err, TransportError::Blocked { reason: BlockedReason::Loopback, .. }));
//! assert!(!err.is_retryable());
//! # Ok(())
//! # }
//! ```
//!
//! # Defaults
//! See [`HttpTransportBuilder`]: `https` only, public addresses only, 10 s connect
//! timeout, pooled connections idle for at most 90 s (32 per host), response bodies read
//! up to 64 KiB, HTTP/1.1 (HTTP/2 on request), the `webpki-roots` trust anchors.
//! [`HttpTransport::from_config`] takes the destination policy from a resolved config.

mod body;
mod builder;
mod classify;
mod error;
mod resolver;
mod tls;
mod transport;

pub use builder::HttpTransportBuilder;
pub use error::BuildError;
pub use transport::HttpTransport;
