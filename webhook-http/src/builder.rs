//! [`HttpTransportBuilder`]: the transport's settings and their defaults.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use webhook_core::config::DestinationPolicy;

use crate::error::BuildError;
use crate::resolver::{GuardedResolver, override_key};
use crate::tls::{ExtraRoot, TrustSettings, client_config};
use crate::transport::{Clients, HttpTransport};

/// Settings for an [`HttpTransport`]. Start from [`HttpTransport::builder`].
///
/// # Default
/// - destinations: `https` only, public addresses only (both [`DestinationPolicy`] flags off)
/// - connect timeout: 10 s ([`Self::DEFAULT_CONNECT_TIMEOUT`])
/// - idle pooled connections closed after 90 s ([`Self::DEFAULT_POOL_IDLE_TIMEOUT`]),
///   at most 32 kept per host ([`Self::DEFAULT_POOL_MAX_IDLE_PER_HOST`])
/// - response bodies read up to 64 KiB, then dropped ([`Self::DEFAULT_MAX_RESPONSE_BODY_BYTES`])
/// - HTTP/1.1 only: HTTP/2 is not offered unless asked for with [`Self::http2`].
///   Measured over loopback HTTPS (BENCHMARKS.md, "Round 5"), HTTP/1.1 on pooled
///   connections delivered more per second than HTTP/2 at every concurrency from 1 to
///   128 (1.5 times at 64), with a receiver that cost the sender nothing to wake and
///   with one that did
/// - trusted roots: the Mozilla set bundled by `webpki-roots`; the system store off
/// - system DNS, no overrides
///
/// The whole exchange of an attempt is bounded by the request's own
/// [`DeliveryRequest::timeout`](webhook_core::transport::DeliveryRequest::timeout).
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HttpTransportBuilder {
    policy: DestinationPolicy,
    connect_timeout: Duration,
    pool_idle_timeout: Duration,
    pool_max_idle_per_host: usize,
    max_response_body_bytes: usize,
    http2: bool,
    trust: TrustSettings,
    overrides: HashMap<String, Vec<IpAddr>>,
}

impl Default for HttpTransportBuilder {
    fn default() -> Self {
        Self {
            policy: DestinationPolicy::default(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            pool_idle_timeout: Self::DEFAULT_POOL_IDLE_TIMEOUT,
            pool_max_idle_per_host: Self::DEFAULT_POOL_MAX_IDLE_PER_HOST,
            max_response_body_bytes: Self::DEFAULT_MAX_RESPONSE_BODY_BYTES,
            http2: false,
            trust: TrustSettings {
                webpki_roots: true,
                native_roots: false,
                extra_roots: Vec::new(),
            },
            overrides: HashMap::new(),
        }
    }
}

impl HttpTransportBuilder {
    /// Default bound on establishing a TCP connection (shared between the addresses a
    /// name resolves to): 10 s.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default time an unused pooled connection is kept open: 90 s.
    pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
    /// Default number of idle connections kept per host: 32.
    pub const DEFAULT_POOL_MAX_IDLE_PER_HOST: usize = 32;
    /// Default number of response body bytes read before the rest is discarded: 64 KiB.
    pub const DEFAULT_MAX_RESPONSE_BODY_BYTES: usize = 64 * 1024;

    /// Applies both destination flags at once (for example a resolved config's
    /// `destination_policy`).
    pub fn destination_policy(mut self, policy: DestinationPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Allows `http://` destinations (default `false`: they are refused with
    /// [`TransportError::InvalidUrl`](webhook_core::transport::TransportError::InvalidUrl)).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.policy.allow_insecure_http = allow;
        self
    }

    /// Allows loopback, private, link-local, unique-local, CGNAT, multicast and cloud
    /// metadata addresses (default `false`: they are refused with
    /// [`TransportError::Blocked`](webhook_core::transport::TransportError::Blocked),
    /// whether written as a literal or reached through DNS).
    pub fn allow_private_targets(mut self, allow: bool) -> Self {
        self.policy.allow_private_targets = allow;
        self
    }

    /// Bounds establishing the TCP connection (default 10 s). When a name resolves to
    /// several addresses the time is shared between them.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an unused pooled connection stays open (default 90 s). A timer evicts
    /// idle connections even when no further request is made.
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = timeout;
        self
    }

    /// How many idle connections are kept per host (default 32; 0 disables reuse).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// How many response body bytes are read (and discarded) before the transport stops
    /// reading and closes the connection (default 64 KiB). The body is never buffered.
    pub fn max_response_body_bytes(mut self, limit: usize) -> Self {
        self.max_response_body_bytes = limit;
        self
    }

    /// Offers HTTP/2 through ALPN on `https` connections (default `false`: only
    /// HTTP/1.1 is offered). With `true` a server that speaks HTTP/2 gets it; requests
    /// that start together before a connection is up may each open one.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Trusts the Mozilla root set bundled by `webpki-roots` (default `true`).
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.trust.webpki_roots = enabled;
        self
    }

    /// Trusts the operating system's root certificates, loaded once by
    /// [`build`](Self::build) (default `false`).
    pub fn native_roots(mut self, enabled: bool) -> Self {
        self.trust.native_roots = enabled;
        self
    }

    /// Also trusts one DER-encoded CA certificate (a private CA, or a test CA).
    /// [`build`](Self::build) fails if it is not a certificate.
    pub fn add_root_certificate_der(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.trust.extra_roots.push(ExtraRoot::Der(der.into()));
        self
    }

    /// Also trusts every `CERTIFICATE` block of PEM text.
    /// [`build`](Self::build) fails if there is none or one is not a certificate.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.trust.extra_roots.push(ExtraRoot::Pem(pem.into()));
        self
    }

    /// Resolves `name` to `addr` instead of asking DNS (call again to add more addresses
    /// for the same name). Names match without regard to case or a trailing dot.
    ///
    /// The addresses go through the same checks as DNS answers: an override to
    /// `127.0.0.1` is refused unless private targets are allowed. Meant for tests and for
    /// pinning a host.
    pub fn resolve_override(mut self, name: &str, addr: IpAddr) -> Self {
        self.overrides
            .entry(override_key(name))
            .or_default()
            .push(addr);
        self
    }

    /// Builds the transport. Needs no runtime; sending needs a tokio runtime with I/O
    /// and time enabled.
    ///
    /// # Errors
    /// [`BuildError`] when an extra root certificate cannot be used or no root
    /// certificate would be trusted.
    pub fn build(self) -> Result<HttpTransport, BuildError> {
        let tls = client_config(&self.trust)?;

        let resolver = GuardedResolver::new(self.overrides, self.policy.allow_private_targets);
        let mut http = HttpConnector::new_with_resolver(resolver);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(self.connect_timeout));
        // The TLS layer handles `https`; the connector under it must accept it too.
        let mut under_tls = http.clone();
        under_tls.enforce_http(false);

        let schemes = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only();
        let connector = if self.http2 {
            schemes.enable_all_versions().wrap_connector(under_tls)
        } else {
            schemes.enable_http1().wrap_connector(under_tls)
        };

        // One set of client settings, built twice.
        let mut settings = Client::builder(TokioExecutor::new());
        settings
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(self.pool_idle_timeout)
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            // Response bodies are discarded: keep the per-stream window small so an
            // HTTP/2 server cannot make us hold much of one.
            .http2_initial_stream_window_size(64 * 1024)
            .http2_initial_connection_window_size(1024 * 1024);
        // `http://` goes through the bare TCP connector, around the TLS layer.
        let clients = Clients {
            tls: settings.build(connector),
            plain: settings.build(http),
        };

        Ok(HttpTransport::from_parts(
            clients,
            self.policy,
            self.max_response_body_bytes,
            self.connect_timeout,
            self.http2,
        ))
    }
}
