//! Statuses are reported as they come: `Retry-After` is surfaced, redirects are not
//! followed.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{TestServer, local_transport, status_response};
use http::StatusCode;
use webhook_core::time::parse_retry_after;
use webhook_core::transport::Transport;

const TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP-date well in the future.
const FUTURE_DATE: &str = "Fri, 01 Jan 2100 00:00:00 GMT";

/// A server answering every request with `status` and `headers`.
async fn answer(status: StatusCode, headers: &[(&str, &str)]) -> TestServer {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    TestServer::plain(Arc::new(move |_: &common::Recorded| {
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        status_response(status, &borrowed)
    }))
    .await
}

#[tokio::test]
async fn too_many_requests_with_retry_after_seconds_is_surfaced() {
    let server = answer(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "7")]).await;

    let response = local_transport()
        .send(common::request(&server.http_url("/hook"), TIMEOUT))
        .await
        .expect("a status");

    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn service_unavailable_with_retry_after_date_is_surfaced() {
    let server = answer(
        StatusCode::SERVICE_UNAVAILABLE,
        &[("retry-after", FUTURE_DATE)],
    )
    .await;

    let before = SystemTime::now();
    let response = local_transport()
        .send(common::request(&server.http_url("/hook"), TIMEOUT))
        .await
        .expect("a status");
    let after = SystemTime::now();

    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    let delay = response.retry_after.expect("Retry-After parsed");
    let longest = parse_retry_after(FUTURE_DATE, before).expect("valid date");
    let shortest = parse_retry_after(FUTURE_DATE, after).expect("valid date");
    assert!(
        (shortest..=longest).contains(&delay),
        "{delay:?} not in {shortest:?}..={longest:?}"
    );
}

#[tokio::test]
async fn service_unavailable_with_a_past_date_means_retry_now() {
    let server = answer(
        StatusCode::SERVICE_UNAVAILABLE,
        &[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")],
    )
    .await;

    let response = local_transport()
        .send(common::request(&server.http_url("/hook"), TIMEOUT))
        .await
        .expect("a status");

    assert_eq!(response.retry_after, Some(Duration::ZERO));
}

#[tokio::test]
async fn an_unparsable_retry_after_is_ignored() {
    let server = answer(StatusCode::TOO_MANY_REQUESTS, &[("retry-after", "soon")]).await;

    let response = local_transport()
        .send(common::request(&server.http_url("/hook"), TIMEOUT))
        .await
        .expect("a status");

    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.retry_after, None);
}

#[tokio::test]
async fn redirects_are_reported_and_not_followed() {
    for status in [
        StatusCode::MOVED_PERMANENTLY,
        StatusCode::FOUND,
        StatusCode::TEMPORARY_REDIRECT,
        StatusCode::PERMANENT_REDIRECT,
    ] {
        let target = TestServer::plain(common::no_content()).await;
        let location = target.http_url("/elsewhere");
        let server = answer(status, &[("location", &location)]).await;

        let response = local_transport()
            .send(common::request(&server.http_url("/hook"), TIMEOUT))
            .await
            .expect("a status");

        assert_eq!(response.status, status);
        assert_eq!(server.requests().len(), 1);
        assert_eq!(target.connections(), 0, "{status} was followed");
    }
}
