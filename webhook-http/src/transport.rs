//! [`HttpTransport`]: one delivery attempt over a pooled hyper client.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HOST, RETRY_AFTER};
use http::{Method, Request};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use webhook_core::ResolvedWebhookConfig;
use webhook_core::config::{Destination, DestinationPolicy};
use webhook_core::time::parse_retry_after;
use webhook_core::transport::{
    AttemptTimers, DeliveryRequest, DeliveryResponse, Transport, TransportError,
};

use crate::body::{Drained, drain};
use crate::builder::HttpTransportBuilder;
use crate::classify::transport_error;
use crate::error::BuildError;
use crate::resolver::GuardedResolver;

type Connector = HttpsConnector<HttpConnector<GuardedResolver>>;

/// The two pooled clients: `https://` through the TLS layer, `http://` over bare TCP.
///
/// One client wrapping both schemes would do, but hyper-util clones its connector into
/// every request's future and drops it again when a pooled connection wins, so each
/// plain request paid for cloning and dropping the TLS connector too: about 0.5 % of
/// the worker's CPU per event over plain HTTP (BENCHMARKS.md, "Round 4").
#[derive(Clone)]
pub(crate) struct Clients {
    pub(crate) tls: Client<Connector, Full<Bytes>>,
    pub(crate) plain: Client<HttpConnector<GuardedResolver>, Full<Bytes>>,
}

/// The production [`Transport`]: hyper 1 through hyper-util's pooled clients, rustls
/// (ring) for TLS, HTTP/1.1 and HTTP/2.
///
/// One attempt is one `POST` of the request's body with exactly the request's headers
/// (hyper adds `host` and `content-length`). What the caller may rely on:
/// - connections are pooled and reused; idle ones are closed after the pool idle timeout;
/// - the whole exchange (connect, TLS, request, response head and body) is bounded by
///   [`DeliveryRequest::timeout`]; past it the attempt fails with
///   [`TransportError::Timeout`];
/// - redirects are not followed: a 3xx is returned as a status like any other;
/// - once a status has arrived the attempt is `Ok`, even if the body then breaks off or
///   is cut at the limit (the receiver has answered);
/// - the response body is read up to a small limit and discarded, never buffered;
/// - `Retry-After` (seconds or an HTTP-date) becomes [`DeliveryResponse::retry_after`];
/// - destinations are checked when sending: `http://` only with `allow_insecure_http`,
///   and no blocked address (loopback, private, link-local, metadata, ...), whether
///   written as an IP literal or returned by DNS, without `allow_private_targets`;
/// - errors carry the redacted destination (`scheme://host[:port]/…`) and a short
///   cause, never the path, query, credentials or a header value.
///
/// Cloning is cheap and clones share the connection pool.
///
/// # Runtime
/// [`send`](Transport::send) must run inside a tokio runtime with both I/O and time
/// enabled (`enable_all()`); tokio panics on the first connection otherwise.
#[derive(Clone)]
pub struct HttpTransport {
    clients: Clients,
    policy: DestinationPolicy,
    max_response_body_bytes: usize,
    connect_timeout: Duration,
    http2: bool,
    /// Finished attempts' timers, reused by the next ones (`AttemptTimers`).
    timers: Arc<AttemptTimers>,
}

impl HttpTransport {
    /// A builder with the defaults listed on [`HttpTransportBuilder`].
    pub fn builder() -> HttpTransportBuilder {
        HttpTransportBuilder::default()
    }

    /// A transport with the default settings, the config's destination policy
    /// (`allow_insecure_http`, `allow_private_targets`), and room in the pool for an
    /// idle connection per delivery the config runs at once
    /// (see [`builder_for`](Self::builder_for)).
    ///
    /// # Errors
    /// Only if the default TLS settings cannot be built (see [`BuildError`]).
    pub fn from_config(config: &ResolvedWebhookConfig) -> Result<Self, BuildError> {
        Self::builder_for(config).build()
    }

    /// A builder with the defaults, the config's destination policy, and a pool that
    /// keeps at least `max_concurrency` idle connections per host: with fewer, every
    /// delivery beyond the pool's size would close its connection and the next would
    /// open (and over TLS, handshake) a new one (measured: at `max_concurrency` 64 over
    /// HTTPS/1.1 a pool of 32 cost a third of the throughput).
    ///
    /// It speaks HTTP/1.1 whatever the concurrency (HTTP/2 stays available through
    /// [`HttpTransportBuilder::http2`]): over loopback HTTPS, pooled HTTP/1.1
    /// connections delivered more per second than HTTP/2 at every concurrency measured,
    /// 1 to 128 (at 64: 51,705 against 34,274 events/s; BENCHMARKS.md, "Round 5").
    pub fn builder_for(config: &ResolvedWebhookConfig) -> HttpTransportBuilder {
        Self::builder()
            .destination_policy(config.destination_policy)
            .pool_max_idle_per_host(
                config
                    .max_concurrency
                    .max(HttpTransportBuilder::DEFAULT_POOL_MAX_IDLE_PER_HOST),
            )
    }

    pub(crate) fn from_parts(
        clients: Clients,
        policy: DestinationPolicy,
        max_response_body_bytes: usize,
        connect_timeout: Duration,
        http2: bool,
    ) -> Self {
        Self {
            clients,
            policy,
            max_response_body_bytes,
            connect_timeout,
            http2,
            timers: Arc::default(),
        }
    }

    /// The destination rules this transport enforces.
    pub fn destination_policy(&self) -> DestinationPolicy {
        self.policy
    }

    /// Refuses what can be judged before connecting: the scheme, and hosts that are
    /// blocked by their text (IP literals never reach the resolver).
    fn check(&self, destination: &Destination) -> Result<(), TransportError> {
        let redacted = || destination.redacted().to_owned();
        match destination.uri().scheme_str() {
            Some("https") => {}
            Some("http") if self.policy.allow_insecure_http => {}
            Some("http") => {
                return Err(TransportError::InvalidUrl {
                    destination: redacted(),
                    detail: "plain http is refused (allow_insecure_http is off)".to_owned(),
                });
            }
            _ => {
                return Err(TransportError::InvalidUrl {
                    destination: redacted(),
                    detail: "only https and http URLs can be requested".to_owned(),
                });
            }
        }
        if !self.policy.allow_private_targets {
            if let Some(reason) = destination.blocked_reason() {
                return Err(TransportError::Blocked {
                    destination: redacted(),
                    reason,
                });
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        // This future is boxed once per attempt, so what it holds across its awaits is
        // kept small (under 1 KiB, inside glibc's per-thread cache; a test pins it): the
        // request goes into hyper's own future before the first await, and one timer
        // bounds both the exchange and the body read (a timer kept from an earlier
        // attempt, see `AttemptTimers`).
        let DeliveryRequest {
            destination,
            headers,
            body,
            timeout,
            ..
        } = request;
        self.check(&destination)?;
        let timed_out = || TransportError::Timeout {
            destination: destination.redacted().to_owned(),
            after: timeout,
        };
        let https = destination.is_https();
        let exchange = {
            let mut outgoing = Request::new(Full::new(body));
            *outgoing.method_mut() = Method::POST;
            *outgoing.uri_mut() = destination.uri().clone();
            *outgoing.headers_mut() = headers;
            // hyper-util would format the same `host` header for every HTTP/1.1 request;
            // the destination made it once. Left out when HTTP/2 may be negotiated (over
            // TLS with HTTP/2 offered: hyper-util sends `:authority` there, and adds
            // `host` itself if HTTP/1.1 is chosen); plain `http://` is always HTTP/1.1.
            if !self.http2 || !https {
                if let Some(host) = destination.host_header() {
                    outgoing.headers_mut().insert(HOST, host.clone());
                }
            }
            if https {
                self.clients.tls.request(outgoing)
            } else {
                self.clients.plain.request(outgoing)
            }
        };
        let mut deadline = self.timers.start(timeout);

        let response = tokio::select! {
            biased;
            result = exchange => match result {
                Ok(response) => response,
                Err(err) => return Err(transport_error(&err, destination.redacted())),
            },
            () = deadline.passed() => return Err(timed_out()),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));

        let read = tokio::select! {
            biased;
            drained = drain(response.into_body(), self.max_response_body_bytes) => Some(drained),
            () = deadline.passed() => None,
        };
        match read {
            // hyper-util hands an HTTP/1 connection back to the pool from a task it
            // spawned. On a current-thread runtime (the worker's default) that task has
            // run by the time the next attempt asks for a connection (a test pins it); on
            // a multi-thread one a few attempts in a hundred open another.
            Some(Drained::Complete) => {}
            Some(Drained::LimitExceeded { bytes }) => tracing::debug!(
                destination = %destination,
                status = status.as_u16(),
                read = bytes,
                "response body over the limit; stopped reading and closed the connection"
            ),
            Some(Drained::Failed { bytes, error }) => tracing::debug!(
                destination = %destination,
                status = status.as_u16(),
                read = bytes,
                cause = %error,
                "response body broke off after the status arrived"
            ),
            None => tracing::debug!(
                destination = %destination,
                status = status.as_u16(),
                "response body still arriving at the timeout; stopped reading"
            ),
        }

        let response = DeliveryResponse::new(status);
        Ok(match retry_after {
            Some(delay) => response.with_retry_after(delay),
            None => response,
        })
    }

    /// Always: one timer bounds connecting, sending and reading (see above).
    fn enforces_timeout(&self) -> bool {
        true
    }
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("policy", &self.policy)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_response_body_bytes", &self.max_response_body_bytes)
            .field("http2", &self.http2)
            .finish_non_exhaustive()
    }
}
