//! [`ScriptedTransport`]: an in-memory [`Transport`] that answers from a script and
//! records every attempt.

mod attempt;

pub use attempt::RecordedAttempt;

use crate::journal::{Journal, WaitTimeout};
use crate::script::{Counting, ReplyKind, Script};
use async_trait::async_trait;
use std::fmt;
use std::time::Duration;
use webhook_core::config::BlockedReason;
use webhook_core::transport::{
    DeliveryRequest, DeliveryResponse, Transport, TransportError, TransportErrorKind,
};

/// A [`Transport`] that never touches the network: each attempt gets the next
/// [`Reply`](crate::Reply) of a [`Script`], and is recorded (headers, body, attempt number, time).
///
/// # Scripts
/// - [`ScriptedTransport::per_webhook`]: every webhook id follows the script from its
///   first step (so `Script::fail_then_succeed(2, 503)` makes *each* event fail twice).
/// - [`ScriptedTransport::in_call_order`]: one pass through the script for all attempts
///   in arrival order (the endpoint is down for the first N calls, whoever makes them).
/// - [`ScriptedTransport::script_for`]: one webhook id gets its own script, counted per id.
///
/// # Time
/// Attempts are stamped with [`tokio::time::Instant`] on the worker's runtime, so with
/// `NotifierBuilder::paused_clock` the gaps between attempts are exactly the backoff
/// delays. [`Reply::after`](crate::Reply::after) delays sleep on that clock too. A reply that takes longer
/// than the request's timeout (including [`Reply::no_answer`](crate::Reply::no_answer)) ends in
/// [`TransportError::Timeout`] when the timeout passes, as a real transport would.
///
/// # Waiting
/// [`wait_for_attempts`](Self::wait_for_attempts) and
/// [`wait_for_deliveries`](Self::wait_for_deliveries) return as soon as the count is
/// reached (no polling), or a [`WaitTimeout`] naming what was seen. Call them from a
/// runtime whose clock is not paused (a plain `#[tokio::test]`): on a paused clock the
/// timeout would fire as soon as that runtime is idle.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use webhook_core::{Notifier, WebhookEventType, WebhookPayload};
/// use webhook_testkit::{Script, ScriptedTransport, TestConfig};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = Arc::new(ScriptedTransport::per_webhook(Script::fail_then_succeed(2, 503)));
/// let notifier = Notifier::builder(TestConfig::default().resolve()?, transport.clone())
///     .paused_clock()
///     .start()?;
/// notifier.send(&WebhookPayload::new(WebhookEventType::TaskFailed).task_id("T-1"));
///
/// let delivered = transport.wait_for_deliveries(1, Duration::from_secs(5)).await?;
/// assert_eq!(delivered[0].attempt, 3);
/// let attempts = transport.attempts();
/// // 100 ms, then 200 ms of backoff (TestConfig turns jitter off).
/// assert_eq!(attempts[1].at - attempts[0].at, Duration::from_millis(100));
/// assert_eq!(attempts[2].at - attempts[1].at, Duration::from_millis(200));
/// # Ok(())
/// # }
/// ```
pub struct ScriptedTransport {
    journal: Journal<RecordedAttempt>,
}

impl fmt::Debug for ScriptedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedTransport")
            .field("attempts", &self.journal.arrived())
            .field("deliveries", &self.journal.succeeded_count())
            .field("paused", &self.journal.is_paused())
            .finish()
    }
}

impl Default for ScriptedTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl ScriptedTransport {
    /// Answers every attempt with `200 OK`.
    pub fn new() -> Self {
        Self::per_webhook(Script::default())
    }

    /// Every webhook id follows `script` from its first step.
    pub fn per_webhook(script: impl Into<Script>) -> Self {
        Self {
            journal: Journal::new(script.into(), Counting::PerWebhook),
        }
    }

    /// All attempts together follow `script`, in arrival order.
    pub fn in_call_order(script: impl Into<Script>) -> Self {
        Self {
            journal: Journal::new(script.into(), Counting::CallOrder),
        }
    }

    /// Gives one webhook id its own script (counted over that id's attempts, including
    /// any already made). Takes effect from the next attempt.
    pub fn script_for(&self, webhook_id: &str, script: impl Into<Script>) {
        self.journal.script_for(webhook_id, script.into());
    }

    /// Holds every answer (attempts are still recorded on arrival) until
    /// [`resume`](Self::resume). A held attempt still ends at its timeout.
    ///
    /// Use it on a real clock: on a paused clock the worker's runtime is idle while
    /// attempts are held, so time jumps to their timeouts at once.
    pub fn pause(&self) {
        self.journal.pause();
    }

    /// Lets held and later attempts be answered.
    pub fn resume(&self) {
        self.journal.resume();
    }

    /// Every attempt so far, in arrival order.
    pub fn attempts(&self) -> Vec<RecordedAttempt> {
        self.journal.entries()
    }

    /// The attempts of one webhook id, in arrival order.
    pub fn attempts_for(&self, webhook_id: &str) -> Vec<RecordedAttempt> {
        let mut attempts = self.attempts();
        attempts.retain(|a| a.webhook_id == webhook_id);
        attempts
    }

    /// How many attempts have arrived.
    pub fn attempt_count(&self) -> usize {
        self.journal.arrived()
    }

    /// The attempts answered with a 2xx, in the order they were answered.
    pub fn deliveries(&self) -> Vec<RecordedAttempt> {
        self.journal.successes()
    }

    /// How many attempts were answered with a 2xx.
    pub fn delivery_count(&self) -> usize {
        self.journal.succeeded_count()
    }

    /// Waits until at least `n` attempts have arrived; returns all attempts so far.
    pub async fn wait_for_attempts(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedAttempt>, WaitTimeout> {
        self.journal.wait_arrived(n, timeout, "attempts").await
    }

    /// Waits until at least `n` attempts have been answered with a 2xx; returns the
    /// deliveries so far. (The worker counts a delivery just after the transport returns:
    /// use `Notifier::wait_idle` before reading its counters.)
    pub async fn wait_for_deliveries(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedAttempt>, WaitTimeout> {
        self.journal.wait_succeeded(n, timeout, "deliveries").await
    }
}

fn error_of(kind: TransportErrorKind, request: &DeliveryRequest) -> TransportError {
    let destination = request.destination.redacted().to_owned();
    let detail = "scripted failure".to_owned();
    match kind {
        TransportErrorKind::Timeout => TransportError::Timeout {
            destination,
            after: request.timeout,
        },
        TransportErrorKind::Connect => TransportError::Connect {
            destination,
            detail,
        },
        TransportErrorKind::Tls => TransportError::Tls {
            destination,
            detail,
        },
        TransportErrorKind::Blocked => TransportError::Blocked {
            destination,
            reason: BlockedReason::Private,
        },
        TransportErrorKind::InvalidUrl => TransportError::InvalidUrl {
            destination,
            detail,
        },
        TransportErrorKind::Io => TransportError::Io {
            destination,
            detail,
        },
        _ => TransportError::Request {
            destination,
            detail,
        },
    }
}

#[async_trait]
impl Transport for ScriptedTransport {
    async fn send(&self, request: DeliveryRequest) -> Result<DeliveryResponse, TransportError> {
        let webhook_id = request.webhook_id().unwrap_or_default().to_owned();
        let (index, reply) = self.journal.arrive(&webhook_id, None, |index, reply| {
            RecordedAttempt::new(index, &request, reply.clone())
        });
        let answer = async {
            self.journal.gate().await;
            tokio::time::sleep(reply.delay()).await;
            if reply.kind() == ReplyKind::NoAnswer {
                std::future::pending::<()>().await;
            }
        };
        if tokio::time::timeout(request.timeout, answer).await.is_err() {
            return Err(error_of(TransportErrorKind::Timeout, &request));
        }
        match reply.kind() {
            ReplyKind::Status(status) => {
                let mut response = DeliveryResponse::new(status);
                if let Some(after) = reply.retry_after_delay() {
                    response = response.with_retry_after(after);
                }
                if status.is_success() {
                    self.journal.succeeded(index);
                }
                Ok(response)
            }
            ReplyKind::Error(kind) => Err(error_of(kind, &request)),
            ReplyKind::Close => Err(error_of(TransportErrorKind::Io, &request)),
            // Ended by the timeout above; kept for completeness of the match.
            _ => Err(error_of(TransportErrorKind::Timeout, &request)),
        }
    }
}
