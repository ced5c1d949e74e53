//! A receiver's `Retry-After` can never panic the client: values whose date arithmetic
//! would overflow are refused or saturated, and the event is retried or counted as
//! delivered as its status says.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use common::{TestServer, local_transport, status_response};
use http::StatusCode;
use webhook_core::config::WebhookConfig;
use webhook_core::retry::RetrySchedule;
use webhook_core::transport::Transport;
use webhook_core::{MemoryFailureStore, Notifier, WebhookEventType, WebhookPayload};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a test waits for its one event to be delivered or failed.
const SETTLE: Duration = Duration::from_secs(20);

/// Retry-After values a receiver may send that overflow naive date arithmetic, or sit
/// at the edges of what the parser accepts.
const HOSTILE: [&str; 9] = [
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "Sun, 06 Nov 300000000000 08:49:37 GMT",
    "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Friday, 31-Dec-99 23:59:59 GMT",
    "Fri Dec 31 23:59:59 9999",
    "Mon, 01 Jan 0001 00:00:00 GMT",
];

/// A server answering the first request with `first` and `Retry-After: retry_after`,
/// every later one with 204.
async fn first_then_204(first: StatusCode, retry_after: &'static str) -> TestServer {
    let seen = Arc::new(AtomicUsize::new(0));
    TestServer::plain(Arc::new(move |_: &common::Recorded| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            status_response(first, &[("retry-after", retry_after)])
        } else {
            status_response(StatusCode::NO_CONTENT, &[])
        }
    }))
    .await
}

/// A notifier delivering to `server` with two quick retries and no jitter.
fn notifier_for(server: &TestServer) -> Notifier {
    let mut config = WebhookConfig::for_url(server.http_url("/hook"));
    config.allow_insecure_http = Some(true);
    config.allow_private_targets = Some(true);
    let mut resolved = config.resolve().expect("valid config");
    resolved.retry = RetrySchedule::explicit(vec![Duration::from_millis(20); 2]).without_jitter();
    Notifier::builder(resolved, Arc::new(local_transport()))
        .store(Arc::new(MemoryFailureStore::new()))
        .start()
        .expect("starts")
}

#[tokio::test]
async fn a_delivered_event_stays_delivered_whatever_its_retry_after_says() {
    for value in HOSTILE {
        let server = first_then_204(StatusCode::OK, value).await;
        let notifier = notifier_for(&server);
        notifier.send(&WebhookPayload::new(WebhookEventType::TaskCreated));
        assert!(
            notifier.wait_idle_async(SETTLE).await,
            "{value}: not settled"
        );
        let stats = notifier.stats();
        assert_eq!(
            (stats.delivered, stats.failed, stats.attempts),
            (1, 0, 1),
            "Retry-After: {value}"
        );
        assert_eq!(server.requests().len(), 1, "Retry-After: {value}");
    }
}

/// Values that do not leave a retry waiting longer than the test: out-of-range dates
/// (refused, so the schedule's 20 ms applies) and past dates (retry now). Huge
/// delay-seconds saturate and are capped at the schedule's 30 s: the unit tests of
/// `RetrySchedule::delay` and the transport test below cover them.
#[tokio::test]
async fn a_retryable_status_with_an_overflowing_or_past_date_is_retried_and_delivered() {
    for value in [
        "Sun, 06 Nov 300000000000 08:49:37 GMT",
        "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
        "Mon, 01 Jan 0001 00:00:00 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
    ] {
        let server = first_then_204(StatusCode::SERVICE_UNAVAILABLE, value).await;
        let notifier = notifier_for(&server);
        notifier.send(&WebhookPayload::new(WebhookEventType::TaskFailed));
        assert!(
            notifier.wait_idle_async(SETTLE).await,
            "{value}: not settled"
        );
        let stats = notifier.stats();
        assert_eq!(
            (stats.delivered, stats.failed, stats.attempts, stats.retries),
            (1, 0, 2, 1),
            "Retry-After: {value}"
        );
    }
}

#[tokio::test]
async fn the_transport_reports_far_retry_afters_without_panicking() {
    for value in HOSTILE {
        let server = first_then_204(StatusCode::SERVICE_UNAVAILABLE, value).await;
        let response = local_transport()
            .send(common::request(&server.http_url("/hook"), TIMEOUT))
            .await
            .unwrap_or_else(|e| panic!("Retry-After {value}: {e}"));
        assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
        let expected = webhook_core::time::parse_retry_after(value, SystemTime::now());
        // The two reads of the clock differ by the exchange's duration at most.
        match (response.retry_after, expected) {
            (Some(got), Some(want)) => {
                let gap = got.abs_diff(want);
                assert!(gap < TIMEOUT, "Retry-After {value}: {got:?} vs {want:?}");
            }
            (got, want) => assert_eq!(got, want, "Retry-After {value}"),
        }
    }
}
