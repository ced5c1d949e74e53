//! One delivery attempt: send it, bounded and shielded from a panicking transport, and
//! judge what came back.

use super::engine::Engine;
use super::lifecycle::AbortSlot;
use crate::config::Destination;
use crate::observe::AttemptResult;
use crate::queue::QueuedEvent;
use crate::retry::{StatusClass, classify_status};
use crate::transport::{AttemptTimers, DeliveryResponse, TransportError};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::Instrument;

/// How much longer than the configured timeout the worker waits for a transport that
/// does not return on its own.
pub(crate) const BACKSTOP_MARGIN: Duration = Duration::from_millis(250);

/// What one attempt came to.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) class: StatusClass,
    pub(crate) status: Option<u16>,
    pub(crate) retry_after: Option<Duration>,
    /// Not yet redacted; empty on success.
    pub(crate) error: String,
    /// The status or error kind, for the observer and the metrics.
    pub(crate) result: AttemptResult,
}

/// Makes attempt number `attempt` of `event`; `None` if the shutdown cut it off.
pub(crate) async fn attempt(
    engine: &Engine,
    destination: &Arc<Destination>,
    event: &QueuedEvent,
    attempt: u32,
    abort: &AbortSlot,
) -> Option<Verdict> {
    let settings = event.endpoint_runtime().map(|rt| rt.settings());
    let requests = settings
        .as_deref()
        .map_or(&engine.requests, |s| &s.requests);
    let request = requests.build(destination, event, attempt, engine.clock.now());
    let timeout = requests.timeout();
    let probe = engine.observe.attempt_probe(event, attempt, destination);
    // A transport bounds the exchange itself if it can; the worker's backstop fires a
    // little later so that the two never race over an answer that arrived in time, and
    // is left out for transports that promise to return in time.
    let send = CatchPanic(engine.plugs.transport.send(request));
    let bounded = bounded(
        engine.plugs.backstop.as_ref(),
        timeout + BACKSTOP_MARGIN,
        send,
    );
    let result = tokio::select! {
        biased;
        () = abort.fired() => {
            endpoint_done(engine, event, None);
            return None;
        }
        r = bounded.instrument(probe.span.clone()) => r,
    };
    let redacted = || destination.redacted().to_owned();
    let result = match result {
        Ok(Ok(result)) => result,
        Ok(Err(Panicked)) => Err(TransportError::Request {
            destination: redacted(),
            detail: "the transport panicked (a bug in the transport)".to_owned(),
        }),
        Err(Late) => Err(TransportError::Timeout {
            destination: redacted(),
            after: timeout,
        }),
    };
    let verdict = judge(result);
    endpoint_done(engine, event, Some(&verdict));
    let observe = &engine.observe;
    observe.attempt_done(probe.started, &probe.span, event, attempt, &verdict);
    Some(verdict)
}

/// The destination of `event`: its endpoint's, or the configuration's URL.
pub(crate) fn destination_of(engine: &Engine, event: &QueuedEvent) -> Option<Arc<Destination>> {
    match event.endpoint_runtime() {
        Some(rt) => rt.settings().requests.destination().cloned(),
        None => engine.requests.destination().cloned(),
    }
}

/// Tells an endpoint's gate that an attempt ended: a success or an answer other than
/// 5xx/408/429 counts as healthy for its breaker, a transport error or 5xx/408 as a
/// failure; a 429 counts as neither and, with `Retry-After`, pauses the endpoint.
fn endpoint_done(engine: &Engine, event: &QueuedEvent, verdict: Option<&Verdict>) {
    let Some(part) = event.endpoint.as_ref() else {
        return;
    };
    let healthy = verdict.and_then(|v| match (v.class, v.status) {
        (_, Some(429)) => None,
        (StatusClass::Retryable, _) => Some(false),
        (StatusClass::Permanent, None) => Some(false),
        _ => Some(true),
    });
    let pause = verdict
        .filter(|v| v.status == Some(429))
        .and_then(|v| v.retry_after);
    engine
        .endpoints
        .attempt_done(&part.runtime, part.probe, healthy, pause, &engine.observe);
}

/// Classifies what the transport returned.
pub(crate) fn judge(result: Result<DeliveryResponse, TransportError>) -> Verdict {
    match result {
        Ok(response) => {
            let code = response.status.as_u16();
            let class = classify_status(code);
            let why = match code {
                300..=399 => " (redirects are not followed)",
                410 => " (the receiver wants no more deliveries)",
                _ => "",
            };
            Verdict {
                class,
                status: Some(code),
                retry_after: if matches!(code, 429 | 503) {
                    response.retry_after
                } else {
                    None
                },
                // Only failures need the text (this runs once per delivered event).
                error: if class == StatusClass::Success {
                    String::new()
                } else {
                    format!("server answered {}{why}", response.status)
                },
                result: AttemptResult::Status(code),
            }
        }
        Err(e) => Verdict {
            class: if e.is_retryable() {
                StatusClass::Retryable
            } else {
                StatusClass::Permanent
            },
            status: None,
            retry_after: None,
            result: AttemptResult::Error(e.kind()),
            error: e.to_string(),
        },
    }
}

/// A transport's future panicked.
struct Panicked;

/// Turns a panic inside a transport's future into an error, so the event is still
/// accounted for instead of vanishing with its task.
struct CatchPanic<F>(F);

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}

/// The worker's backstop cut an attempt off.
struct Late;

/// `attempt`, cut off after `backstop` on one of `timers` (`None` when the transport
/// bounds itself).
async fn bounded<F: Future>(
    timers: Option<&AttemptTimers>,
    backstop: Duration,
    attempt: F,
) -> Result<F::Output, Late> {
    match timers {
        None => Ok(attempt.await),
        Some(timers) => timers.timeout(backstop, attempt).await.ok_or(Late),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn answer(code: u16, retry_after: Option<u64>) -> Verdict {
        let mut response = DeliveryResponse::new(StatusCode::from_u16(code).expect("valid"));
        if let Some(secs) = retry_after {
            response = response.with_retry_after(Duration::from_secs(secs));
        }
        judge(Ok(response))
    }

    #[test]
    fn failed_answers_explain_themselves_with_their_hints() {
        let cases = [
            (
                301,
                "server answered 301 Moved Permanently (redirects are not followed)",
            ),
            (
                399,
                "server answered 399 <unknown status code> (redirects are not followed)",
            ),
            (
                410,
                "server answered 410 Gone (the receiver wants no more deliveries)",
            ),
            (404, "server answered 404 Not Found"),
            (500, "server answered 500 Internal Server Error"),
        ];
        for (code, text) in cases {
            let verdict = answer(code, None);
            assert_eq!(verdict.error, text);
            assert_eq!(verdict.status, Some(code));
        }
        let ok = answer(204, Some(5));
        assert_eq!((ok.class, ok.error.as_str()), (StatusClass::Success, ""));
    }

    #[test]
    fn retry_after_is_kept_only_on_429_and_503() {
        for (code, kept) in [
            (429, true),
            (503, true),
            (500, false),
            (502, false),
            (200, false),
        ] {
            let verdict = answer(code, Some(7));
            let expected = kept.then_some(Duration::from_secs(7));
            assert_eq!(verdict.retry_after, expected, "{code}");
        }
    }

    #[test]
    fn transport_errors_keep_their_text_and_retryability() {
        let timeout = judge(Err(TransportError::Timeout {
            destination: "https://h/…".to_owned(),
            after: Duration::from_millis(1500),
        }));
        assert_eq!(timeout.class, StatusClass::Retryable);
        assert_eq!((timeout.status, timeout.retry_after), (None, None));
        assert_eq!(timeout.error, "no response from https://h/… within 1500ms");
        let blocked = judge(Err(TransportError::Blocked {
            destination: "https://h/…".to_owned(),
            reason: crate::config::BlockedReason::Loopback,
        }));
        assert_eq!(blocked.class, StatusClass::Permanent);
    }

    #[tokio::test(start_paused = true)]
    async fn the_backstop_fires_at_its_bound_and_not_before() {
        let backstop = Duration::from_secs(5) + BACKSTOP_MARGIN;
        assert_eq!(BACKSTOP_MARGIN, Duration::from_millis(250));
        let started = tokio::time::Instant::now();
        let late = async {
            tokio::time::sleep(backstop + Duration::from_millis(1)).await;
        };
        let timers = AttemptTimers::new();
        assert!(bounded(Some(&timers), backstop, late).await.is_err());
        assert_eq!(tokio::time::Instant::now() - started, backstop);
        let in_time = async {
            tokio::time::sleep(backstop - Duration::from_millis(1)).await;
            7
        };
        assert_eq!(
            bounded(Some(&timers), backstop, in_time).await.ok(),
            Some(7)
        );
        // A later attempt with a longer bound, on the timer the first two left behind
        // (armed for an earlier instant): cut off at its own bound, not that one.
        let longer = backstop * 2;
        let started = tokio::time::Instant::now();
        let hangs = std::future::pending::<()>();
        assert!(bounded(Some(&timers), longer, hangs).await.is_err());
        assert_eq!(tokio::time::Instant::now() - started, longer);
        let trusted = async {
            tokio::time::sleep(backstop * 3).await;
            8
        };
        assert_eq!(bounded(None, backstop, trusted).await.ok(), Some(8));
    }
}
