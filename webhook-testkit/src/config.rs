//! [`TestConfig`]: configurations for tests, fast and deterministic by default.

use webhook_core::config::ConfigError;
use webhook_core::signing::SignatureScheme;
use webhook_core::{ResolvedWebhookConfig, WebhookConfig, WebhookQueuePolicy};

/// A [`WebhookConfig`] builder with test-friendly defaults; [`resolve`](Self::resolve)
/// checks it like any configuration.
///
/// # Default
/// - enabled, delivering to `https://hooks.example.com/webhook` (a scripted transport
///   never connects; use [`TestReceiver::test_config`](crate::TestReceiver::test_config)
///   for a real receiver)
/// - `allow_insecure_http` and `allow_private_targets` on
/// - every event subscribed (`["*"]`)
/// - `retry_backoff_ms` 100 (the smallest allowed), `retry_count` 3
/// - jitter off, so retry delays are exactly 100, 200, 400 ms
/// - everything else: the core's defaults
///
/// ```
/// use std::time::Duration;
/// use webhook_core::WebhookQueuePolicy;
/// use webhook_testkit::TestConfig;
///
/// let config = TestConfig::default()
///     .retry_count(2)
///     .queue_capacity(10)
///     .queue_policy(WebhookQueuePolicy::DropNew)
///     .resolve()
///     .expect("valid");
/// assert_eq!(config.queue_capacity, 10);
/// assert_eq!(config.retry.max_retries(), 2);
/// assert!(!config.retry.has_jitter());
/// assert_eq!(config.retry.base_delay(1), Some(Duration::from_millis(100)));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a TestConfig does nothing until resolved"]
pub struct TestConfig {
    config: WebhookConfig,
    jitter: bool,
}

impl Default for TestConfig {
    fn default() -> Self {
        Self::new("https://hooks.example.com/webhook")
    }
}

impl TestConfig {
    /// The defaults above, delivering to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self::from_config(WebhookConfig::for_url(url))
    }

    /// Starts from `config`, turning on what the defaults above turn on (enabled, both
    /// destination flags, every event, 100 ms backoff) wherever `config` left it unset.
    pub fn from_config(config: WebhookConfig) -> Self {
        let config = WebhookConfig {
            enabled: config.enabled.or(Some(true)),
            allow_insecure_http: config.allow_insecure_http.or(Some(true)),
            allow_private_targets: config.allow_private_targets.or(Some(true)),
            events: config.events.or_else(|| Some(vec!["*".to_owned()])),
            retry_backoff_ms: config.retry_backoff_ms.or(Some(100)),
            ..config
        };
        Self {
            config,
            jitter: false,
        }
    }

    /// Sets the destination URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.config.url = Some(url.into());
        self
    }

    /// Sets the signing secret.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.config.secret = Some(secret.into());
        self
    }

    /// Sets which signature headers are sent.
    pub fn signature_scheme(mut self, scheme: SignatureScheme) -> Self {
        self.config.signature_scheme = Some(scheme);
        self
    }

    /// Sets the hex scheme's header name.
    pub fn signature_header(mut self, name: impl Into<String>) -> Self {
        self.config.signature_header = Some(name.into());
        self
    }

    /// Subscribes to these event names only.
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Self {
        self.config.events = Some(events.into_iter().map(Into::into).collect());
        self
    }

    /// Sets `retry_count` (retries after the first attempt).
    pub fn retry_count(mut self, retries: u32) -> Self {
        self.config.retry_count = Some(retries);
        self
    }

    /// Sets `retry_backoff_ms` (100..=30000).
    pub fn retry_backoff_ms(mut self, ms: u32) -> Self {
        self.config.retry_backoff_ms = Some(ms);
        self
    }

    /// Sets `timeout_secs` (per attempt).
    pub fn timeout_secs(mut self, secs: u32) -> Self {
        self.config.timeout_secs = Some(secs);
        self
    }

    /// Sets `queue_capacity` (10..=10000).
    pub fn queue_capacity(mut self, capacity: u32) -> Self {
        self.config.queue_capacity = Some(capacity);
        self
    }

    /// Sets the full-queue policy.
    pub fn queue_policy(mut self, policy: WebhookQueuePolicy) -> Self {
        self.config.queue_policy = Some(policy);
        self
    }

    /// Sets `block_timeout_ms` (the wait of `block_with_timeout`).
    pub fn block_timeout_ms(mut self, ms: u64) -> Self {
        self.config.block_timeout_ms = Some(ms);
        self
    }

    /// Sets `max_concurrency` (deliveries in flight at once).
    pub fn max_concurrency(mut self, concurrency: u32) -> Self {
        self.config.max_concurrency = Some(concurrency);
        self
    }

    /// Sets `shutdown_grace_ms`.
    pub fn shutdown_grace_ms(mut self, ms: u64) -> Self {
        self.config.shutdown_grace_ms = Some(ms);
        self
    }

    /// Turns retry jitter on or off (default off).
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// Changes any other field.
    pub fn edit(mut self, change: impl FnOnce(&mut WebhookConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// The configuration as written (jitter is not a configuration field: it is applied
    /// by [`resolve`](Self::resolve)).
    pub fn config(&self) -> WebhookConfig {
        self.config.clone()
    }

    /// Checks and resolves the configuration, then applies the jitter setting.
    pub fn resolve(&self) -> Result<ResolvedWebhookConfig, ConfigError> {
        let mut resolved = self.config.resolve()?;
        if !self.jitter {
            resolved.retry = resolved.retry.without_jitter();
        }
        Ok(resolved)
    }
}
