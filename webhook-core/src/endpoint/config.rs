//! An endpoint as a user writes it, and its checked form.

use super::breaker::BreakerSettings;
use super::id::EndpointId;
use crate::config::{ConfigError, DestinationPolicy, ResolvedWebhookConfig, WebhookConfig};
use crate::signing::SignatureScheme;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// One receiver: where to send, how to sign, which events, and its own limits.
///
/// Every field but `id` and `url` is optional; [`EndpointConfig::resolve`] applies the
/// defaults and checks every value, naming the endpoint and the field of a bad one.
/// `Debug` never shows a secret, a header value, or the URL's credentials, path or query.
///
/// # Default
/// - `enabled`: true
/// - `events`: every event (`["*"]`)
/// - `max_in_flight`: 2 attempts at once
/// - `queue_capacity`: 1,000 deliveries waiting for this endpoint
/// - `rate_limit_per_sec`: none; `rate_limit_burst`: the rate rounded up (at least 1)
/// - `breaker`: [`BreakerSettings::default`] (5 in a row, or ≥ 50 % of ≥ 20 in 60 s;
///   cool-down 5 s doubling to 5 min; no auto-disable)
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The endpoint's id (1 to 64 ASCII letters, digits, `_`, `-`, `.`).
    pub id: String,
    /// Where to POST (`https://…`; `http://` with the notifier's `allow_insecure_http`).
    pub url: String,
    /// Deliver to it at all (default true).
    pub enabled: Option<bool>,
    /// Its signing secret.
    pub secret: Option<String>,
    /// Older secrets still signed with during a rotation.
    pub previous_secrets: Option<Vec<String>>,
    /// Signature headers (default `standard`).
    pub signature_scheme: Option<SignatureScheme>,
    /// Header of the hex scheme.
    pub signature_header: Option<String>,
    /// Events it subscribes to (default `["*"]`).
    pub events: Option<Vec<String>>,
    /// Static headers sent with each of its requests (values never logged).
    pub headers: Option<BTreeMap<String, String>>,
    /// Attempts in flight to it at once (default 2, 1..=256).
    pub max_in_flight: Option<u32>,
    /// Deliveries that may wait for it (default 1000, 1..=100000).
    pub queue_capacity: Option<u32>,
    /// Attempts a second, at most (0.001..=100000; none: no limit).
    pub rate_limit_per_sec: Option<f64>,
    /// Attempts that may go at once after a quiet period (1..=100000).
    pub rate_limit_burst: Option<u32>,
    /// The circuit breaker (absent: the defaults).
    pub breaker: Option<BreakerConfig>,
}

/// Breaker settings as written (milliseconds); absent fields take the defaults of
/// [`BreakerSettings`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// `false` turns the breaker off (default true).
    pub enabled: Option<bool>,
    /// Failures in a row that open it (default 5, 0..=10000; 0 turns the rule off).
    pub consecutive_failures: Option<u32>,
    /// Failure share that opens it (default 0.5, 0.01..=1.0).
    pub failure_rate: Option<f64>,
    /// Fewest attempts in the window for the rate to apply (default 20, 1..=100000).
    pub min_attempts: Option<u32>,
    /// The rate's window in ms (default 60000, 1000..=3600000).
    pub window_ms: Option<u64>,
    /// First cool-down in ms (default 5000, 10..=3600000).
    pub cool_down_ms: Option<u64>,
    /// Longest cool-down in ms (default 300000, at least `cool_down_ms`, ≤ 86400000).
    pub max_cool_down_ms: Option<u64>,
    /// Disable the endpoint after it was open this long, in ms (default: never).
    pub auto_disable_after_ms: Option<u64>,
}

/// An endpoint value that was refused: names the endpoint, the field, the value and
/// what was expected. Never shows a secret.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The id is not valid.
    #[error(transparent)]
    Id(#[from] super::id::InvalidEndpointId),
    /// A field shared with `WebhookConfig` (url, secret, events, headers, …) was refused.
    #[error("endpoint `{id}`: {source}")]
    Config {
        /// The endpoint.
        id: String,
        /// Why.
        source: ConfigError,
    },
    /// A number outside its range.
    #[error("endpoint `{id}`: `{field}` = {value} is out of range; expected {expected}")]
    OutOfRange {
        /// The endpoint.
        id: String,
        /// The field.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        expected: &'static str,
    },
    /// Two endpoints in one list share an id.
    #[error("endpoint id `{id}` appears twice; expected each id once")]
    Duplicate {
        /// The id.
        id: String,
    },
    /// No endpoint has this id.
    #[error("no endpoint `{id}`; expected the id of a registered endpoint")]
    Unknown {
        /// The id asked for.
        id: String,
    },
    /// The endpoint set has no endpoints (a notifier started without endpoints and without a URL).
    #[error(
        "this notifier has no endpoint set; start it with `endpoints` in its configuration or with `NotifierBuilder::endpoint`"
    )]
    NotEnabled,
}

/// A checked endpoint, ready to deliver to.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Its id.
    pub id: EndpointId,
    /// Whether it receives deliveries.
    pub enabled: bool,
    /// Attempts in flight at once.
    pub max_in_flight: usize,
    /// Deliveries that may wait for it.
    pub queue_capacity: usize,
    /// `(rate a second, burst)`, if limited.
    pub rate_limit: Option<(f64, u32)>,
    /// Its breaker, if on.
    pub breaker: Option<BreakerSettings>,
    /// Destination, secrets, scheme, events and headers, checked as a `WebhookConfig`'s.
    pub(crate) delivery: ResolvedWebhookConfig,
}

impl Endpoint {
    /// The destination, redacted to `scheme://host[:port]/…`.
    pub fn redacted_url(&self) -> &str {
        self.delivery
            .destination
            .as_ref()
            .map_or("none", |d| d.redacted())
    }

    /// Whether it subscribes to events called `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.delivery.events.allows(event)
    }
}

fn out_of_range(
    id: &str,
    field: &'static str,
    value: impl fmt::Display,
    expected: &'static str,
) -> EndpointError {
    EndpointError::OutOfRange {
        id: id.to_owned(),
        field,
        value: value.to_string(),
        expected,
    }
}

fn ranged<T: PartialOrd + fmt::Display + Copy>(
    id: &str,
    field: &'static str,
    value: Option<T>,
    default: T,
    range: std::ops::RangeInclusive<T>,
    expected: &'static str,
) -> Result<T, EndpointError> {
    let v = value.unwrap_or(default);
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range(id, field, v, expected))
    }
}

impl EndpointConfig {
    /// An enabled endpoint `id` at `url` with the defaults.
    pub fn new(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// Checks every value. `policy` and `timeout` are the notifier's (an endpoint may
    /// not loosen the destination rules the application chose).
    pub fn resolve(
        &self,
        policy: DestinationPolicy,
        timeout: Duration,
    ) -> Result<Endpoint, EndpointError> {
        let id = EndpointId::new(&self.id)?;
        let raw = &self.id;
        let delivery = WebhookConfig {
            enabled: Some(true),
            url: Some(self.url.clone()),
            allow_insecure_http: Some(policy.allow_insecure_http),
            allow_private_targets: Some(policy.allow_private_targets),
            secret: self.secret.clone(),
            previous_secrets: self.previous_secrets.clone(),
            events: Some(self.events.clone().unwrap_or_else(|| vec!["*".into()])),
            timeout_secs: Some(u32::try_from(timeout.as_secs().clamp(1, 300)).unwrap_or(30)),
            signature_scheme: self.signature_scheme,
            signature_header: self.signature_header.clone(),
            headers: self.headers.clone(),
            ..WebhookConfig::default()
        }
        .resolve()
        .map_err(|source| EndpointError::Config {
            id: raw.clone(),
            source,
        })?;
        let in_flight = ranged(
            raw,
            "max_in_flight",
            self.max_in_flight,
            2,
            1..=256,
            "1..=256",
        )?;
        let capacity = ranged(
            raw,
            "queue_capacity",
            self.queue_capacity,
            1000,
            1..=100_000,
            "1..=100000",
        )?;
        Ok(Endpoint {
            id,
            enabled: self.enabled.unwrap_or(true),
            max_in_flight: in_flight as usize,
            queue_capacity: capacity as usize,
            rate_limit: self.rate_limit()?,
            breaker: self.breaker_settings()?,
            delivery,
        })
    }

    fn rate_limit(&self) -> Result<Option<(f64, u32)>, EndpointError> {
        let id = &self.id;
        let Some(rate) = self.rate_limit_per_sec else {
            if let Some(burst) = self.rate_limit_burst {
                return Err(out_of_range(
                    id,
                    "rate_limit_burst",
                    burst,
                    "no value without `rate_limit_per_sec`",
                ));
            }
            return Ok(None);
        };
        if !(0.001..=100_000.0).contains(&rate) {
            return Err(out_of_range(
                id,
                "rate_limit_per_sec",
                rate,
                "0.001..=100000",
            ));
        }
        let default = (rate.ceil() as u32).max(1);
        let burst = ranged(
            id,
            "rate_limit_burst",
            self.rate_limit_burst,
            default,
            1..=100_000,
            "1..=100000",
        )?;
        Ok(Some((rate, burst)))
    }

    fn breaker_settings(&self) -> Result<Option<BreakerSettings>, EndpointError> {
        let b = self.breaker.clone().unwrap_or_default();
        if b.enabled == Some(false) {
            return Ok(None);
        }
        let d = BreakerSettings::default();
        let id = &self.id;
        let (cool_down, max_cool_down) = self.cool_downs(&b)?;
        Ok(Some(BreakerSettings {
            consecutive_failures: ranged(
                id,
                "breaker.consecutive_failures",
                b.consecutive_failures,
                d.consecutive_failures,
                0..=10_000,
                "0..=10000",
            )?,
            failure_rate: ranged(
                id,
                "breaker.failure_rate",
                b.failure_rate,
                d.failure_rate,
                0.01..=1.0,
                "0.01..=1.0",
            )?,
            min_attempts: ranged(
                id,
                "breaker.min_attempts",
                b.min_attempts,
                d.min_attempts,
                1..=100_000,
                "1..=100000",
            )?,
            window: Duration::from_millis(ranged(
                id,
                "breaker.window_ms",
                b.window_ms,
                60_000,
                1_000..=3_600_000,
                "1000..=3600000",
            )?),
            cool_down,
            max_cool_down,
            auto_disable_after: self.auto_disable(&b)?,
        }))
    }

    /// The first and the longest cool-down.
    fn cool_downs(&self, b: &BreakerConfig) -> Result<(Duration, Duration), EndpointError> {
        let id = &self.id;
        let cool = ranged(
            id,
            "breaker.cool_down_ms",
            b.cool_down_ms,
            5_000,
            10..=3_600_000,
            "10..=3600000",
        )?;
        let max_cool = ranged(
            id,
            "breaker.max_cool_down_ms",
            b.max_cool_down_ms,
            300_000u64.max(cool),
            cool..=86_400_000,
            "cool_down_ms..=86400000",
        )?;
        Ok((Duration::from_millis(cool), Duration::from_millis(max_cool)))
    }

    fn auto_disable(&self, b: &BreakerConfig) -> Result<Option<Duration>, EndpointError> {
        match b.auto_disable_after_ms {
            Some(v) if !(1_000..=30 * 86_400_000).contains(&v) => Err(out_of_range(
                &self.id,
                "breaker.auto_disable_after_ms",
                v,
                "1000..=2592000000 (30 days)",
            )),
            v => Ok(v.map(Duration::from_millis)),
        }
    }
}

impl fmt::Debug for EndpointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |s: &Option<String>| if s.is_some() { "***" } else { "none" };
        f.debug_struct("EndpointConfig")
            .field("id", &self.id)
            .field("url", &crate::redact::url(&self.url))
            .field("enabled", &self.enabled)
            .field("secret", &set(&self.secret))
            .field(
                "previous_secrets",
                &self.previous_secrets.as_ref().map(Vec::len),
            )
            .field("signature_scheme", &self.signature_scheme)
            .field("events", &self.events)
            .field(
                "headers",
                &self.headers.as_ref().map(|h| h.keys().collect::<Vec<_>>()),
            )
            .field("max_in_flight", &self.max_in_flight)
            .field("queue_capacity", &self.queue_capacity)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("breaker", &self.breaker)
            .finish()
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
