//! Configuration errors: each names the field, the value and what was expected.

use super::DestinationError;
use crate::signing::SecretError;

/// A configuration value that was refused. Messages never contain a secret, nor the
/// URL's credentials, path or query.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The lease is shorter than the attempt timeout plus its margin (or over a day): a
    /// shorter lease lets a second claim deliver the same event while the first attempt
    /// still runs.
    #[error(
        "`lease_ms` = {lease_ms} is out of range; expected {min_ms}..=86400000 (the attempt timeout plus at least 10 s, so an attempt always ends inside its lease)"
    )]
    LeaseTooShort {
        /// The lease given.
        lease_ms: u64,
        /// The shortest allowed.
        min_ms: u64,
    },
    /// Two fields that exclude each other were both set.
    #[error("{fields} are both set; expected {expected}")]
    Conflict {
        /// The fields.
        fields: &'static str,
        /// What is allowed.
        expected: &'static str,
    },
    /// A retry schedule name that is not known.
    #[error("`retry_schedule` = `{value}` is not a known schedule; expected one of {valid}")]
    UnknownSchedule {
        /// The name given.
        value: String,
        /// The known names.
        valid: &'static str,
    },
    /// A number outside its allowed range.
    #[error("`{field}` = {value} is out of range; expected {expected}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range, e.g. `1..=300`.
        expected: &'static str,
    },
    /// `enabled = true` without a `url`.
    #[error("`url` is required when `enabled` is true; expected https://host[:port]/path")]
    MissingUrl,
    /// An entry of `endpoints` was refused (the error names the endpoint and field).
    #[error("`endpoints`: {0}")]
    Endpoint(Box<crate::endpoint::EndpointError>),
    /// The URL was refused.
    #[error(transparent)]
    Url(#[from] DestinationError),
    /// A secret cannot be used.
    #[error("`{field}`: {source}")]
    Secret {
        /// `secret` or `previous_secrets`.
        field: &'static str,
        /// Why.
        source: SecretError,
    },
    /// An entry of `events` is not an event name.
    #[error("`events` contains unknown event `{value}`; expected `*` or one of: {valid}")]
    UnknownEvent {
        /// The entry given.
        value: String,
        /// The valid names.
        valid: String,
    },
    /// A header name or value that cannot be sent, or that would override one the
    /// library sets.
    #[error("`{field}` entry `{name}` is invalid; expected {expected}")]
    InvalidHeader {
        /// `headers` or `signature_header`.
        field: &'static str,
        /// The header name given (values are never shown).
        name: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The text given to [`WebhookConfig::from_json_str`](super::WebhookConfig::from_json_str)
    /// could not be parsed as a configuration. (`WebhookConfig` is a serde type: an
    /// application that reads it from another format reports that parser's errors itself.)
    #[error("webhook configuration ({format}) is invalid: {message}")]
    Parse {
        /// The format this crate parsed: `JSON`.
        format: &'static str,
        /// The parser's message (it names unknown fields and the expected ones).
        message: String,
    },
}
