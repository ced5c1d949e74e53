//! [`TestReceiver`]: a real HTTP server on `127.0.0.1` that records deliveries, checks
//! their signatures and answers from a script.

mod request;
mod server;

pub use request::{ReceivedRequest, SignatureCheck, Signatures};

use crate::config::TestConfig;
use crate::journal::{Journal, WaitTimeout};
use crate::script::{Counting, Script};
use http::HeaderName;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::watch;
use webhook_core::WebhookConfig;
use webhook_core::signing::{DEFAULT_HEX_HEADER, Secret, SecretError, Verifier};

/// The receiver could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverError {
    /// Binding `127.0.0.1:0` failed.
    #[error("could not listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    /// The server thread or its runtime could not be started.
    #[error("could not start the receiver's thread or runtime: {0}")]
    Start(std::io::Error),
    /// A secret given to [`TestReceiverBuilder::secret`] cannot be used.
    #[error("receiver secret #{index} is unusable: {source}")]
    Secret {
        /// Which secret (0 for the first given).
        index: usize,
        /// Why.
        source: SecretError,
    },
    /// [`TestReceiverBuilder::require_signatures`] was set without a secret to check with.
    #[error("require_signatures needs at least one secret (TestReceiverBuilder::secret)")]
    RequireWithoutSecret,
    /// The name given to [`TestReceiverBuilder::hex_header`] is not a header name.
    #[error("`{0}` is not a valid HTTP header name for the hex signature")]
    HexHeader(String),
}

/// State shared by the handle and the serving tasks.
#[derive(Debug)]
struct Shared {
    journal: Journal<ReceivedRequest>,
    verifier: Option<Verifier>,
    hex_header: HeaderName,
    require_signatures: bool,
}

/// Configures a [`TestReceiver`]. Start from [`TestReceiver::builder`].
///
/// # Default
/// - answers `200 OK` to everything ([`Script::default`], counted per webhook id)
/// - no secret: signatures are not checked ([`SignatureCheck::NotChecked`])
/// - hex signature header: `x-webhook-signature-256` (the core's default)
/// - requests are answered whether or not they are signed
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct TestReceiverBuilder {
    script: Script,
    counting: Counting,
    per_id: Vec<(String, Script)>,
    secrets: Vec<String>,
    hex_header: String,
    require_signatures: bool,
}

impl TestReceiverBuilder {
    /// Every webhook id (the `webhook-id` header) follows `script` from its first step.
    pub fn per_webhook(mut self, script: impl Into<Script>) -> Self {
        self.script = script.into();
        self.counting = Counting::PerWebhook;
        self
    }

    /// All requests together follow `script`, in arrival order.
    pub fn in_call_order(mut self, script: impl Into<Script>) -> Self {
        self.script = script.into();
        self.counting = Counting::CallOrder;
        self
    }

    /// Gives one webhook id its own script.
    pub fn script_for(mut self, webhook_id: &str, script: impl Into<Script>) -> Self {
        self.per_id.push((webhook_id.to_owned(), script.into()));
        self
    }

    /// Checks signatures with `secret` (`whsec_<base64>` or raw text, as in the
    /// configuration). Call again to accept several (a rotation). The first is also put
    /// into [`TestReceiver::config`], later ones as `previous_secrets`.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The header that carries the hex signature (default `x-webhook-signature-256`);
    /// also set as `signature_header` in [`TestReceiver::config`] when changed.
    pub fn hex_header(mut self, name: impl Into<String>) -> Self {
        self.hex_header = name.into();
        self
    }

    /// Answers `401 Unauthorized` (without advancing the script) to requests on which no
    /// signature verifies. Needs a secret.
    pub fn require_signatures(mut self, require: bool) -> Self {
        self.require_signatures = require;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on a thread of its own (with its own
    /// runtime), so it answers whatever the test thread does, and needs no runtime from
    /// the caller.
    pub fn start(self) -> Result<TestReceiver, ReceiverError> {
        if self.require_signatures && self.secrets.is_empty() {
            return Err(ReceiverError::RequireWithoutSecret);
        }
        let mut secrets = Vec::with_capacity(self.secrets.len());
        for (index, text) in self.secrets.iter().enumerate() {
            secrets.push(
                Secret::parse(text).map_err(|source| ReceiverError::Secret { index, source })?,
            );
        }
        let hex_header = HeaderName::try_from(self.hex_header.as_str())
            .map_err(|_| ReceiverError::HexHeader(self.hex_header.clone()))?;
        let journal = Journal::new(self.script.clone(), self.counting);
        for (id, script) in &self.per_id {
            journal.script_for(id, script.clone());
        }
        let shared = Arc::new(Shared {
            journal,
            verifier: (!secrets.is_empty()).then(|| Verifier::new(secrets)),
            hex_header,
            require_signatures: self.require_signatures,
        });

        let listener =
            std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(ReceiverError::Bind)?;
        listener
            .set_nonblocking(true)
            .map_err(ReceiverError::Bind)?;
        let addr = listener.local_addr().map_err(ReceiverError::Bind)?;
        // Built here (building is allowed anywhere) and dropped on the server thread,
        // never inside the caller's async context.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ReceiverError::Start)?;
        let (stop, stop_rx) = watch::channel(false);
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("test-receiver-{}", addr.port()))
            .spawn(move || runtime.block_on(server::serve(listener, serving, stop_rx)))
            .map_err(ReceiverError::Start)?;
        Ok(TestReceiver {
            addr,
            shared,
            stop,
            thread: Some(thread),
            secrets: self.secrets,
            hex_header: (self.hex_header != DEFAULT_HEX_HEADER).then_some(self.hex_header),
        })
    }
}

/// A real HTTP/1.1 server on `127.0.0.1` for end-to-end tests.
///
/// It records every request (method, target, headers, body, arrival time), checks both
/// signature schemes with the secrets it was given, and answers from a [`Script`]:
/// status sequences, delays, `Retry-After`, closing the connection without an answer,
/// or no answer at all. [`pause`](Self::pause) holds every answer until
/// [`resume`](Self::resume), to keep deliveries in flight for as long as a test needs.
///
/// It serves on a thread of its own, so it keeps answering while the test thread blocks
/// (in `Notifier::shutdown`, say). Dropping it stops the server and closes every
/// connection; the drop returns once the thread has finished.
///
/// ```
/// use std::time::Duration;
/// use webhook_testkit::{Reply, Script, TestReceiver};
///
/// let receiver = TestReceiver::builder()
///     .secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
///     .per_webhook(Script::sequence([Reply::close(), Reply::status(503)]))
///     .start()
///     .expect("receiver starts");
/// assert!(receiver.url().starts_with("http://127.0.0.1:"));
/// let config = receiver.config();
/// assert_eq!(config.allow_private_targets, Some(true));
/// assert!(config.secret.is_some());
/// ```
pub struct TestReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    secrets: Vec<String>,
    hex_header: Option<String>,
}

impl fmt::Debug for TestReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestReceiver")
            .field("addr", &self.addr)
            .field("requests", &self.shared.journal.arrived())
            .field("secrets", &self.secrets.len())
            .field("paused", &self.shared.journal.is_paused())
            .finish()
    }
}

impl TestReceiver {
    /// A builder with the defaults listed on [`TestReceiverBuilder`].
    pub fn builder() -> TestReceiverBuilder {
        TestReceiverBuilder {
            script: Script::default(),
            counting: Counting::PerWebhook,
            per_id: Vec::new(),
            secrets: Vec::new(),
            hex_header: DEFAULT_HEX_HEADER.to_owned(),
            require_signatures: false,
        }
    }

    /// A receiver that answers `200 OK` to everything and checks no signature.
    pub fn start() -> Result<Self, ReceiverError> {
        Self::builder().start()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to deliver to: `http://127.0.0.1:<port>/webhook`.
    pub fn url(&self) -> String {
        format!("http://{}/webhook", self.addr)
    }

    /// A configuration that delivers here: enabled, this URL, `allow_insecure_http` and
    /// `allow_private_targets` on, every event subscribed (`["*"]`, so
    /// [`sample_payloads`](crate::sample_payloads) all go through), and the receiver's
    /// secrets and hex header, if any. Everything else is the core's default.
    pub fn config(&self) -> WebhookConfig {
        let mut secrets = self.secrets.iter().cloned();
        let secret = secrets.next();
        let previous: Vec<String> = secrets.collect();
        WebhookConfig {
            enabled: Some(true),
            url: Some(self.url()),
            allow_insecure_http: Some(true),
            allow_private_targets: Some(true),
            events: Some(vec!["*".to_owned()]),
            secret,
            previous_secrets: (!previous.is_empty()).then_some(previous),
            signature_header: self.hex_header.clone(),
            ..WebhookConfig::default()
        }
    }

    /// [`TestReceiver::config`] in a [`TestConfig`], with its fast-retry test defaults
    /// (100 ms backoff, no jitter).
    pub fn test_config(&self) -> TestConfig {
        TestConfig::from_config(self.config())
    }

    /// Gives one webhook id its own script, from its next request on (counted over that
    /// id's requests, including any already received).
    pub fn script_for(&self, webhook_id: &str, script: impl Into<Script>) {
        self.shared.journal.script_for(webhook_id, script.into());
    }

    /// Holds every answer (requests are still recorded on arrival) until
    /// [`resume`](Self::resume).
    pub fn pause(&self) {
        self.shared.journal.pause();
    }

    /// Answers held and later requests.
    pub fn resume(&self) {
        self.shared.journal.resume();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared.journal.entries()
    }

    /// The requests carrying `webhook-id: <webhook_id>`, in arrival order.
    pub fn requests_for(&self, webhook_id: &str) -> Vec<ReceivedRequest> {
        let mut requests = self.requests();
        requests.retain(|r| r.webhook_id() == Some(webhook_id));
        requests
    }

    /// How many requests have arrived.
    pub fn request_count(&self) -> usize {
        self.shared.journal.arrived()
    }

    /// The requests answered with a 2xx, in the order they were answered.
    pub fn deliveries(&self) -> Vec<ReceivedRequest> {
        self.shared.journal.successes()
    }

    /// How many requests were answered with a 2xx.
    pub fn delivery_count(&self) -> usize {
        self.shared.journal.succeeded_count()
    }

    /// Waits until at least `n` requests have arrived (whatever they were answered);
    /// returns every request so far. Call it on a runtime whose clock is not paused.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.shared
            .journal
            .wait_arrived(n, timeout, "requests")
            .await
    }

    /// Waits until at least `n` requests have been answered with a 2xx; returns the
    /// deliveries so far. Call it on a runtime whose clock is not paused.
    pub async fn wait_for_deliveries(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedRequest>, WaitTimeout> {
        self.shared
            .journal
            .wait_succeeded(n, timeout, "deliveries")
            .await
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(thread) = self.thread.take() {
            // The loop stops at once and aborts its connections; joining is quick.
            let _ = thread.join();
        }
    }
}
