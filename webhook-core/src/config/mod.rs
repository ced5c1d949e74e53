//! Configuration: the seed's `WebhookConfig` (as written by users) and its validated form.

mod destination;
mod error;
mod filter;
mod outbox;

use crate::outbox::NamedSchedule;
pub use destination::{
    BlockedReason, Destination, DestinationError, DestinationPolicy, classify_host, classify_ip,
    redact_url,
};
pub use error::ConfigError;
pub use filter::EventFilter;
pub use outbox::{Durability, LEASE_START_MARGIN, MIN_LEASE_MARGIN, OutboxSettings};

use crate::event::{WebhookEventType, valid_event_names};
use crate::queue::WebhookQueuePolicy;
use crate::retry::RetrySchedule;
use crate::signing::{DEFAULT_HEX_HEADER, Secret, SignatureScheme, Signer};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The most events a queue may hold, whatever the scaling.
pub const MAX_QUEUE_CAPACITY: usize = 10_000;

/// Webhook settings as a user writes them (JSON, TOML, or code). Every field is optional;
/// [`WebhookConfig::resolve`] applies the defaults and checks every value.
///
/// Unknown fields are rejected. `Debug` and `Display` never show the secret or the
/// URL's credentials, path or query.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Deliver at all (default `false`).
    pub enabled: Option<bool>,
    /// The endpoint (required when enabled).
    pub url: Option<String>,
    /// Allow `http://` URLs (default `false`).
    pub allow_insecure_http: Option<bool>,
    /// Allow loopback, private, link-local and metadata targets (default `false`).
    pub allow_private_targets: Option<bool>,
    /// The signing secret (`whsec_<base64>` or any string). No signatures without one.
    pub secret: Option<String>,
    /// Older secrets still signed with during a rotation (Standard scheme).
    pub previous_secrets: Option<Vec<String>>,
    /// Events to deliver: absent = the five `task_*` events, `["*"]` = all.
    pub events: Option<Vec<String>>,
    /// Per-attempt timeout in seconds (default 30, 1..=300).
    pub timeout_secs: Option<u32>,
    /// Retries after the first attempt (default 3, 0..=10).
    pub retry_count: Option<u32>,
    /// Base delay of the exponential backoff in ms (default 1000, 100..=30000).
    pub retry_backoff_ms: Option<u32>,
    /// An explicit retry schedule in ms (1..=20 entries, each up to 7 days); replaces
    /// `retry_count` and `retry_backoff_ms`.
    pub retry_schedule_ms: Option<Vec<u64>>,
    /// Queue capacity (default 500, 10..=10000).
    pub queue_capacity: Option<u32>,
    /// Capacity multiplier per worker in parallel mode (default 2.0, 1.0..=10.0).
    pub parallel_queue_multiplier: Option<f32>,
    /// What to do when the queue is full (default `drop_oldest`).
    pub queue_policy: Option<WebhookQueuePolicy>,
    /// How long `block_with_timeout` waits for room, in ms (default 100, 1..=60000).
    pub block_timeout_ms: Option<u64>,
    /// Signature headers to send (default `standard`).
    pub signature_scheme: Option<SignatureScheme>,
    /// Header of the hex scheme (default `x-webhook-signature-256`).
    pub signature_header: Option<String>,
    /// Deliveries in flight at once (default 4, 1..=256).
    pub max_concurrency: Option<u32>,
    /// Retries that may wait at once before further ones go to the store (default 1000, 0..=100000).
    pub max_pending_retries: Option<u32>,
    /// How long dropping the last handle keeps delivering, in ms (default 5000, 0..=600000).
    pub shutdown_grace_ms: Option<u64>,
    /// Largest body accepted, in bytes (default 1 MiB, 1024..=16 MiB).
    pub max_payload_bytes: Option<u64>,
    /// Where a durable failure store keeps its records (used by the facade and CLI).
    pub store_path: Option<PathBuf>,
    /// Extra static headers sent with every request (values may be secret: never logged).
    pub headers: Option<BTreeMap<String, String>>,
    /// A named retry schedule (`exponential`, the default; `svix`; `day`): see
    /// [`NamedSchedule`]. Not with `retry_schedule_ms`.
    pub retry_schedule: Option<String>,
    /// Keep every accepted event in a durable outbox until its final outcome (facade and
    /// CLI: the sled outbox beside the store; default `false`).
    pub durable: Option<bool>,
    /// With an outbox: `batched` (default; `send` returns at once) or `sync` (every
    /// `send` waits until its event is durable).
    pub durability: Option<Durability>,
    /// With an outbox: most events per commit (default 512, 1..=10000).
    pub commit_batch_max: Option<u32>,
    /// With an outbox: how long a commit waits for more events, in ms (default 2, 0..=1000).
    pub commit_linger_ms: Option<u64>,
    /// With an outbox: most entries it holds before new events wait in the queue
    /// (default 1,000,000, 100..=100000000).
    pub outbox_max_pending: Option<u64>,
    /// With an outbox: how long a claim holds an entry, in ms (default twice the timeout
    /// plus 30 s; at least the timeout plus 10 s, at most a day).
    pub lease_ms: Option<u64>,
    /// Endpoints to fan out to (see [`crate::endpoint`]); with them, `url` is optional
    /// (when set it is one more destination with the settings above). More can be added
    /// at run time.
    pub endpoints: Option<Vec<crate::endpoint::EndpointConfig>>,
}

/// Static headers with a `Debug` that shows names only.
#[derive(Clone, Default, PartialEq)]
pub struct StaticHeaders(pub HeaderMap);

impl fmt::Debug for StaticHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// Resolved webhook configuration with defaults applied.
///
/// Built by [`WebhookConfig::resolve`], which has checked every value. `Debug` redacts
/// the destination, the secrets, static header values and a store URL's credentials.
#[derive(Clone)]
#[non_exhaustive]
pub struct ResolvedWebhookConfig {
    /// Whether delivery is on.
    pub enabled: bool,
    /// The endpoint; `None` only when disabled.
    pub destination: Option<Arc<Destination>>,
    /// The URL-text rules the destination passed (the http transport re-checks after DNS).
    pub destination_policy: DestinationPolicy,
    /// Signing secrets, current first.
    pub secrets: Vec<Secret>,
    /// Signature headers to send.
    pub signature_scheme: SignatureScheme,
    /// Header of the hex scheme.
    pub signature_header: HeaderName,
    /// Events delivered.
    pub events: EventFilter,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Delays between attempts.
    pub retry: RetrySchedule,
    /// Queue capacity.
    pub queue_capacity: usize,
    /// Capacity multiplier per worker in parallel mode.
    pub parallel_queue_multiplier: f32,
    /// Full-queue policy.
    pub queue_policy: WebhookQueuePolicy,
    /// Wait bound of `block_with_timeout`.
    pub block_timeout: Duration,
    /// Deliveries in flight at once.
    pub max_concurrency: usize,
    /// Retries that may wait at once.
    pub max_pending_retries: usize,
    /// Delivery time granted when the last handle is dropped.
    pub shutdown_grace: Duration,
    /// Largest body accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Where a durable store keeps its records, if configured.
    pub store_path: Option<PathBuf>,
    /// Extra static headers.
    pub headers: StaticHeaders,
    /// Outbox settings (used when a notifier has an outbox).
    pub outbox: OutboxSettings,
    /// The endpoints listed in the configuration, checked; `None` if none were listed
    /// (the single-URL case).
    pub endpoints: Option<Vec<crate::endpoint::Endpoint>>,
}

fn check<T: PartialOrd + fmt::Display + Copy>(
    field: &'static str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
    expected: &'static str,
) -> Result<T, ConfigError> {
    let v = value.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value: v.to_string(),
            expected,
        })
    }
}

/// Headers the library writes itself; static headers may not replace them.
const RESERVED_HEADERS: [&str; 9] = [
    "content-type",
    "content-length",
    "user-agent",
    "host",
    "transfer-encoding",
    "connection",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

fn header_name(field: &'static str, name: &str) -> Result<HeaderName, ConfigError> {
    let parsed = HeaderName::try_from(name).map_err(|_| ConfigError::InvalidHeader {
        field,
        name: name.to_owned(),
        expected: "a valid HTTP header name",
    })?;
    if RESERVED_HEADERS.contains(&parsed.as_str()) {
        return Err(ConfigError::InvalidHeader {
            field,
            name: name.to_owned(),
            expected: "a header the library does not set itself (not content-type, user-agent, host, webhook-*)",
        });
    }
    Ok(parsed)
}

impl WebhookConfig {
    /// Parses JSON, rejecting unknown fields.
    pub fn from_json_str(text: &str) -> Result<Self, ConfigError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let parsed: Self = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = if path.is_empty() || path == "." {
                inner.to_string()
            } else {
                format!("`{path}`: {inner}")
            };
            ConfigError::Parse {
                format: "JSON",
                message,
            }
        })?;
        deserializer.end().map_err(|e| ConfigError::Parse {
            format: "JSON",
            message: e.to_string(),
        })?;
        Ok(parsed)
    }

    /// A config that is enabled and sends to `url`.
    pub fn for_url(url: impl Into<String>) -> Self {
        Self {
            enabled: Some(true),
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// Applies defaults and checks every value.
    pub fn resolve(&self) -> Result<ResolvedWebhookConfig, ConfigError> {
        let enabled = self.enabled.unwrap_or(false);
        let policy = DestinationPolicy {
            allow_insecure_http: self.allow_insecure_http.unwrap_or(false),
            allow_private_targets: self.allow_private_targets.unwrap_or(false),
        };
        let destination = match (&self.url, enabled) {
            (Some(url), _) => Some(Arc::new(Destination::parse(url, policy)?)),
            (None, true) if self.endpoints.is_none() => return Err(ConfigError::MissingUrl),
            (None, _) => None,
        };
        let events = match &self.events {
            None => EventFilter::default_subscription(),
            Some(list) => parse_events(list)?,
        };
        let timeout = check("timeout_secs", self.timeout_secs, 30, 1..=300, "1..=300")?;
        let signature_header = match &self.signature_header {
            Some(name) => header_name("signature_header", name)?,
            None => HeaderName::from_static(DEFAULT_HEX_HEADER),
        };
        let limits = self.limits()?;
        Ok(ResolvedWebhookConfig {
            enabled,
            destination,
            destination_policy: policy,
            secrets: self.secrets()?,
            signature_scheme: self.signature_scheme.unwrap_or_default(),
            headers: StaticHeaders(self.static_headers(&signature_header)?),
            signature_header,
            events,
            timeout: Duration::from_secs(u64::from(timeout)),
            retry: self.retry_schedule()?,
            queue_capacity: limits.queue_capacity,
            parallel_queue_multiplier: limits.multiplier,
            queue_policy: self.queue_policy.unwrap_or_default(),
            block_timeout: limits.block_timeout,
            max_concurrency: limits.max_concurrency,
            max_pending_retries: limits.max_pending_retries,
            shutdown_grace: limits.shutdown_grace,
            max_payload_bytes: limits.max_payload_bytes,
            store_path: self.store_path.clone(),
            outbox: self.outbox_settings(Duration::from_secs(u64::from(timeout)))?,
            endpoints: self.endpoints(policy, Duration::from_secs(u64::from(timeout)))?,
        })
    }

    /// The listed endpoints, each checked, ids unique.
    fn endpoints(
        &self,
        policy: DestinationPolicy,
        timeout: Duration,
    ) -> Result<Option<Vec<crate::endpoint::Endpoint>>, ConfigError> {
        let Some(list) = &self.endpoints else {
            return Ok(None);
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(list.len());
        for e in list {
            let endpoint = e
                .resolve(policy, timeout)
                .map_err(|e| ConfigError::Endpoint(Box::new(e)))?;
            if !seen.insert(endpoint.id.clone()) {
                return Err(ConfigError::Endpoint(Box::new(
                    crate::endpoint::EndpointError::Duplicate { id: e.id.clone() },
                )));
            }
            out.push(endpoint);
        }
        Ok(Some(out))
    }

    /// `secret`, then `previous_secrets`, each parsed.
    fn secrets(&self) -> Result<Vec<Secret>, ConfigError> {
        let parse = |field: &'static str, text: &String| {
            Secret::parse(text).map_err(|source| ConfigError::Secret { field, source })
        };
        let current = self.secret.iter().map(|s| parse("secret", s));
        let previous = self
            .previous_secrets
            .iter()
            .flatten()
            .map(|s| parse("previous_secrets", s));
        current.chain(previous).collect()
    }

    /// The explicit schedule if given, else the exponential one.
    fn retry_schedule(&self) -> Result<RetrySchedule, ConfigError> {
        if let Some(name) = &self.retry_schedule {
            if self.retry_schedule_ms.is_some() {
                return Err(ConfigError::Conflict {
                    fields: "`retry_schedule` and `retry_schedule_ms`",
                    expected: "at most one of them",
                });
            }
            let named = NamedSchedule::parse(name).ok_or_else(|| ConfigError::UnknownSchedule {
                value: name.clone(),
                valid: NamedSchedule::NAMES,
            })?;
            if let Some(delays) = named.delays() {
                return Ok(RetrySchedule::explicit(delays));
            }
        }
        if let Some(schedule) = &self.retry_schedule_ms {
            return parse_schedule(schedule);
        }
        let count = check("retry_count", self.retry_count, 3, 0..=10, "0..=10")?;
        let backoff = check(
            "retry_backoff_ms",
            self.retry_backoff_ms,
            1000,
            100..=30_000,
            "100..=30000",
        )?;
        Ok(RetrySchedule::exponential(
            count,
            Duration::from_millis(u64::from(backoff)),
        ))
    }

    /// The queue, concurrency and size limits, each checked against its range.
    fn limits(&self) -> Result<Limits, ConfigError> {
        let capacity = check(
            "queue_capacity",
            self.queue_capacity,
            500,
            10..=10_000,
            "10..=10000",
        )?;
        let multiplier = check(
            "parallel_queue_multiplier",
            self.parallel_queue_multiplier,
            2.0,
            1.0..=10.0,
            "1.0..=10.0",
        )?;
        let block = check(
            "block_timeout_ms",
            self.block_timeout_ms,
            100,
            1..=60_000,
            "1..=60000",
        )?;
        let concurrency = check(
            "max_concurrency",
            self.max_concurrency,
            4,
            1..=256,
            "1..=256",
        )?;
        let pending = check(
            "max_pending_retries",
            self.max_pending_retries,
            1000,
            0..=100_000,
            "0..=100000",
        )?;
        let grace = check(
            "shutdown_grace_ms",
            self.shutdown_grace_ms,
            5000,
            0..=600_000,
            "0..=600000",
        )?;
        let max_payload = check(
            "max_payload_bytes",
            self.max_payload_bytes,
            1024 * 1024,
            1024..=16 * 1024 * 1024,
            "1024..=16777216",
        )?;
        Ok(Limits {
            queue_capacity: capacity as usize,
            multiplier,
            block_timeout: Duration::from_millis(block),
            max_concurrency: concurrency as usize,
            max_pending_retries: pending as usize,
            shutdown_grace: Duration::from_millis(grace),
            max_payload_bytes: usize::try_from(max_payload).unwrap_or(usize::MAX),
        })
    }

    /// The extra static headers: valid, not reserved, not the signature header.
    fn static_headers(&self, signature_header: &HeaderName) -> Result<HeaderMap, ConfigError> {
        let mut headers = HeaderMap::new();
        for (name, value) in self.headers.iter().flatten() {
            let header = header_name("headers", name)?;
            if header == *signature_header {
                return Err(ConfigError::InvalidHeader {
                    field: "headers",
                    name: name.clone(),
                    expected: "a header other than the signature header",
                });
            }
            let mut value =
                HeaderValue::try_from(value.as_str()).map_err(|_| ConfigError::InvalidHeader {
                    field: "headers",
                    name: name.clone(),
                    expected: "a value of visible ASCII characters",
                })?;
            value.set_sensitive(true);
            headers.insert(header, value);
        }
        Ok(headers)
    }
}

/// The checked numeric limits of a configuration.
struct Limits {
    queue_capacity: usize,
    multiplier: f32,
    block_timeout: Duration,
    max_concurrency: usize,
    max_pending_retries: usize,
    shutdown_grace: Duration,
    max_payload_bytes: usize,
}

fn parse_events(list: &[String]) -> Result<EventFilter, ConfigError> {
    let mut events = Vec::new();
    for name in list {
        if name == "*" {
            return Ok(EventFilter::ALL);
        }
        let event = name
            .parse::<WebhookEventType>()
            .map_err(|_| ConfigError::UnknownEvent {
                value: name.clone(),
                valid: valid_event_names(),
            })?;
        events.push(event);
    }
    Ok(EventFilter::from_events(events))
}

fn parse_schedule(schedule: &[u64]) -> Result<RetrySchedule, ConfigError> {
    const WEEK_MS: u64 = 7 * 24 * 3600 * 1000;
    if schedule.is_empty() || schedule.len() > 20 {
        return Err(ConfigError::OutOfRange {
            field: "retry_schedule_ms",
            value: format!("{} entries", schedule.len()),
            expected: "1..=20 entries",
        });
    }
    let mut delays = Vec::with_capacity(schedule.len());
    for &ms in schedule {
        if ms > WEEK_MS {
            return Err(ConfigError::OutOfRange {
                field: "retry_schedule_ms",
                value: ms.to_string(),
                expected: "each entry 0..=604800000 (7 days)",
            });
        }
        delays.push(Duration::from_millis(ms));
    }
    Ok(RetrySchedule::explicit(delays))
}

impl ResolvedWebhookConfig {
    /// The resolved defaults (disabled, no URL).
    pub fn disabled() -> Self {
        WebhookConfig::default()
            .resolve()
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }

    /// Scales for `workers` parallel workers: capacity =
    /// `queue_capacity × max(1, workers × multiplier)` capped at 10,000, and concurrency
    /// = `max(max_concurrency, workers)` (capped at 256).
    pub fn for_parallel(mut self, workers: usize) -> Self {
        let scale = (workers as f64 * f64::from(self.parallel_queue_multiplier)).max(1.0);
        let scaled = (self.queue_capacity as f64 * scale).min(MAX_QUEUE_CAPACITY as f64);
        self.queue_capacity = (scaled as usize).max(self.queue_capacity.min(MAX_QUEUE_CAPACITY));
        self.max_concurrency = self.max_concurrency.max(workers).min(256);
        self
    }

    /// A signer for the configured secrets and scheme.
    pub fn signer(&self) -> Signer {
        Signer::new(
            &self.secrets,
            self.signature_scheme,
            self.signature_header.clone(),
        )
    }
}

fn redacted_url(url: &Option<String>) -> String {
    url.as_deref().map_or_else(|| "none".to_owned(), redact_url)
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "***" } else { "none" };
        f.debug_struct("WebhookConfig")
            .field("enabled", &self.enabled)
            .field("url", &redacted_url(&self.url))
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("allow_private_targets", &self.allow_private_targets)
            .field("secret", &set(&self.secret))
            .field(
                "previous_secrets",
                &self.previous_secrets.as_ref().map(Vec::len),
            )
            .field("events", &self.events)
            .field("timeout_secs", &self.timeout_secs)
            .field("retry_count", &self.retry_count)
            .field("retry_backoff_ms", &self.retry_backoff_ms)
            .field("retry_schedule_ms", &self.retry_schedule_ms)
            .field("queue_capacity", &self.queue_capacity)
            .field("parallel_queue_multiplier", &self.parallel_queue_multiplier)
            .field("queue_policy", &self.queue_policy)
            .field("block_timeout_ms", &self.block_timeout_ms)
            .field("signature_scheme", &self.signature_scheme)
            .field("signature_header", &self.signature_header)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_pending_retries", &self.max_pending_retries)
            .field("shutdown_grace_ms", &self.shutdown_grace_ms)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field(
                "store_path",
                &self.store_path.as_deref().map(shown_store_path),
            )
            .field(
                "headers",
                &self.headers.as_ref().map(|h| h.keys().collect::<Vec<_>>()),
            )
            .finish()
    }
}

/// A store path as logs and `Debug` show it: a folder as it is, a URL (a database)
/// with [`redact::url`](crate::redact::url), so its password never shows.
pub fn shown_store_path(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    if text.contains("://") {
        crate::redact::url(&text)
    } else {
        text.into_owned()
    }
}

impl fmt::Debug for ResolvedWebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedWebhookConfig")
            .field("enabled", &self.enabled)
            .field("destination", &self.destination)
            .field("destination_policy", &self.destination_policy)
            .field("secrets", &self.secrets)
            .field("signature_scheme", &self.signature_scheme)
            .field("signature_header", &self.signature_header)
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("queue_capacity", &self.queue_capacity)
            .field("parallel_queue_multiplier", &self.parallel_queue_multiplier)
            .field("queue_policy", &self.queue_policy)
            .field("block_timeout", &self.block_timeout)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_pending_retries", &self.max_pending_retries)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field(
                "store_path",
                &self.store_path.as_deref().map(shown_store_path),
            )
            .field("headers", &self.headers)
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "webhooks {} → {} (secret {})",
            if self.enabled.unwrap_or(false) {
                "enabled"
            } else {
                "disabled"
            },
            redacted_url(&self.url),
            if self.secret.is_some() {
                "set"
            } else {
                "not set"
            },
        )
    }
}

impl fmt::Display for ResolvedWebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dest = self
            .destination
            .as_ref()
            .map_or_else(|| "none".to_owned(), |d| d.redacted().to_owned());
        write!(
            f,
            "webhooks {} → {dest}; events {}; {} signing secret(s) ({:?}); timeout {}s; {} retries; queue {} ({}); concurrency {}",
            if self.enabled { "enabled" } else { "disabled" },
            self.events,
            self.secrets.len(),
            self.signature_scheme,
            self.timeout.as_secs(),
            self.retry.max_retries(),
            self.queue_capacity,
            self.queue_policy,
            self.max_concurrency,
        )
    }
}

#[cfg(test)]
mod tests;
