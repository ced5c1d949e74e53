//! Why an attempt produced no HTTP status.

use crate::config::BlockedReason;
use std::time::Duration;

/// The kind of a [`TransportError`], which decides whether the worker retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// No response within the timeout. Retryable.
    Timeout,
    /// The connection could not be established (refused, unreachable, DNS failure). Retryable.
    Connect,
    /// The TLS handshake failed (bad certificate, protocol mismatch). Permanent.
    Tls,
    /// The destination resolved to an address that is not allowed. Permanent.
    Blocked,
    /// The URL cannot be requested. Permanent.
    InvalidUrl,
    /// The connection broke mid-exchange (reset, closed early). Retryable.
    Io,
    /// The request could not be built or was refused locally (e.g. bad header). Permanent.
    Request,
}

impl TransportErrorKind {
    /// Whether another attempt may succeed.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Timeout | Self::Connect | Self::Io)
    }

    /// A stable snake_case name for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Blocked => "blocked",
            Self::InvalidUrl => "invalid_url",
            Self::Io => "io",
            Self::Request => "request",
        }
    }
}

/// An attempt that produced no HTTP status.
///
/// Messages name the redacted destination (`scheme://host[:port]/…`) and a short cause;
/// implementations must keep paths, queries, credentials and header values out of `detail`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No response within the timeout.
    #[error("no response from {destination} within {}ms", after.as_millis())]
    Timeout {
        /// The redacted destination.
        destination: String,
        /// The timeout that elapsed.
        after: Duration,
    },
    /// The connection could not be established.
    #[error("could not connect to {destination}: {detail}")]
    Connect {
        /// The redacted destination.
        destination: String,
        /// A short cause.
        detail: String,
    },
    /// The TLS handshake failed.
    #[error("TLS with {destination} failed: {detail}")]
    Tls {
        /// The redacted destination.
        destination: String,
        /// A short cause.
        detail: String,
    },
    /// The destination (or an address it resolved to) is not allowed.
    #[error(
        "refused to deliver to {destination}: it resolves to a {reason} (allow_private_targets is off)"
    )]
    Blocked {
        /// The redacted destination.
        destination: String,
        /// What kind of address it is.
        reason: BlockedReason,
    },
    /// The URL cannot be requested.
    #[error("invalid destination {destination}: {detail}")]
    InvalidUrl {
        /// The redacted destination.
        destination: String,
        /// What is wrong.
        detail: String,
    },
    /// The connection broke mid-exchange.
    #[error("connection to {destination} failed mid-exchange: {detail}")]
    Io {
        /// The redacted destination.
        destination: String,
        /// A short cause.
        detail: String,
    },
    /// The request was refused before sending.
    #[error("request to {destination} not sent: {detail}")]
    Request {
        /// The redacted destination.
        destination: String,
        /// What is wrong.
        detail: String,
    },
}

impl TransportError {
    /// The error's kind.
    pub fn kind(&self) -> TransportErrorKind {
        match self {
            Self::Timeout { .. } => TransportErrorKind::Timeout,
            Self::Connect { .. } => TransportErrorKind::Connect,
            Self::Tls { .. } => TransportErrorKind::Tls,
            Self::Blocked { .. } => TransportErrorKind::Blocked,
            Self::InvalidUrl { .. } => TransportErrorKind::InvalidUrl,
            Self::Io { .. } => TransportErrorKind::Io,
            Self::Request { .. } => TransportErrorKind::Request,
        }
    }

    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }
}
