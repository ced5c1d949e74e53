//! [`Reply`]: what one attempt gets.

use http::StatusCode;
use std::time::Duration;
use webhook_core::transport::TransportErrorKind;

/// What a scripted attempt comes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyKind {
    /// An HTTP answer with this status.
    Status(StatusCode),
    /// No status: the attempt fails with this kind of transport error.
    ///
    /// The [`TestReceiver`](crate::TestReceiver) cannot make a client see connect, TLS or
    /// blocked errors: it plays [`TransportErrorKind::Timeout`] as [`ReplyKind::NoAnswer`]
    /// and every other kind as [`ReplyKind::Close`].
    Error(TransportErrorKind),
    /// The connection is closed without an answer (a
    /// [`ScriptedTransport`](crate::ScriptedTransport) returns an `Io` error).
    Close,
    /// No answer at all: the client's timeout decides (a
    /// [`ScriptedTransport`](crate::ScriptedTransport) returns a `Timeout` error once the
    /// request's timeout has passed).
    NoAnswer,
}

/// One scripted answer: a status, an error or silence, after an optional delay, with an
/// optional `Retry-After`.
///
/// ```
/// use std::time::Duration;
/// use webhook_core::transport::TransportErrorKind;
/// use webhook_testkit::{Reply, ReplyKind};
///
/// let slow_ok = Reply::ok().after(Duration::from_millis(50));
/// assert_eq!(slow_ok.delay(), Duration::from_millis(50));
///
/// let throttled = Reply::status(429).retry_after(Duration::from_secs(2));
/// assert_eq!(throttled.retry_after_delay(), Some(Duration::from_secs(2)));
///
/// let reset = Reply::error(TransportErrorKind::Io);
/// assert_eq!(reset.kind(), ReplyKind::Error(TransportErrorKind::Io));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    kind: ReplyKind,
    delay: Duration,
    retry_after: Option<Duration>,
}

impl Reply {
    fn of(kind: ReplyKind) -> Self {
        Self {
            kind,
            delay: Duration::ZERO,
            retry_after: None,
        }
    }

    /// An answer with `status`.
    ///
    /// # Panics
    /// If `status` is not an HTTP status code (100..=999): a mistake in the test itself.
    pub fn status(status: u16) -> Self {
        match StatusCode::from_u16(status) {
            Ok(code) => Self::of(ReplyKind::Status(code)),
            Err(_) => panic!("Reply::status({status}): not an HTTP status code (100..=999)"),
        }
    }

    /// `200 OK`.
    pub fn ok() -> Self {
        Self::of(ReplyKind::Status(StatusCode::OK))
    }

    /// No status: the attempt fails with a transport error of `kind`.
    pub fn error(kind: TransportErrorKind) -> Self {
        Self::of(ReplyKind::Error(kind))
    }

    /// The connection closes without an answer.
    pub fn close() -> Self {
        Self::of(ReplyKind::Close)
    }

    /// Never answers; the client's timeout ends the attempt.
    pub fn no_answer() -> Self {
        Self::of(ReplyKind::NoAnswer)
    }

    /// Waits `delay` before answering (or closing).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a `Retry-After` to the answer (sent in whole seconds, rounded up, by the
    /// receiver; passed through as it is by the scripted transport).
    pub fn retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    /// What the attempt comes to.
    pub fn kind(&self) -> ReplyKind {
        self.kind
    }

    /// The delay before answering.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The `Retry-After`, if any.
    pub fn retry_after_delay(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether this is an answer with a 2xx status.
    pub fn is_success(&self) -> bool {
        matches!(self.kind, ReplyKind::Status(code) if code.is_success())
    }
}
