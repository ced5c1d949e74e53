//! No error shows the URL's credentials, path or query, or any header value.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{RawServer, TestPki, TestServer, destination, no_content, read_request};
use http::{HeaderMap, HeaderValue};
use webhook_core::transport::{DeliveryRequest, Transport, TransportError, TransportErrorKind};
use webhook_http::HttpTransport;

const USER: &str = "alice-user";
const PASSWORD: &str = "hunter2-pw";
const PATH_TOKEN: &str = "TOKEN-7f3a9c";
const QUERY_SECRET: &str = "sig-abc-def";
const HEADER_SECRET: &str = "s3cr3t-header-value";
const SIGNATURE: &str = "v1,c2lnbmF0dXJlLXNlY3JldA==";

fn secret_url(scheme: &str, authority: &str) -> String {
    format!("{scheme}://{USER}:{PASSWORD}@{authority}/p/{PATH_TOKEN}?sig={QUERY_SECRET}")
}

fn secret_request(url: &str, timeout: Duration) -> DeliveryRequest {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {HEADER_SECRET}")).expect("value"),
    );
    headers.insert("webhook-signature", HeaderValue::from_static(SIGNATURE));
    headers.insert("x-api-key", HeaderValue::from_static(HEADER_SECRET));
    DeliveryRequest::new(
        destination(url),
        headers,
        Bytes::from_static(b"{\"secret\":\"in the body\"}"),
        timeout,
        1,
    )
}

fn assert_clean(case: &str, err: &TransportError, addr: SocketAddr) {
    let shown = format!("{err} | {err:?}");
    for secret in [
        USER,
        PASSWORD,
        PATH_TOKEN,
        QUERY_SECRET,
        HEADER_SECRET,
        SIGNATURE,
        "/p/",
        "?sig",
        "in the body",
    ] {
        assert!(
            !shown.contains(secret),
            "{case}: `{secret}` leaked in {shown}"
        );
    }
    assert!(
        shown.contains(&format!("{addr}/…")) || shown.contains(&format!(":{}/…", addr.port())),
        "{case}: the redacted destination is missing from {shown}"
    );
}

async fn send(transport: &HttpTransport, url: &str, timeout: Duration) -> TransportError {
    transport
        .send(secret_request(url, timeout))
        .await
        .expect_err("this case fails")
}

#[tokio::test]
async fn error_messages_carry_only_the_redacted_destination() {
    let permissive = common::local_transport();
    let mut seen = Vec::new();

    // Connect: nothing listens.
    let refused = common::refused_addr().await;
    let err = send(
        &permissive,
        &secret_url("http", &refused.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::Connect);
    assert_clean("connect", &err, refused);
    seen.push(err.kind());

    // Timeout: the server never answers.
    let silent = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    let err = send(
        &permissive,
        &secret_url("http", &silent.addr.to_string()),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::Timeout);
    assert_clean("timeout", &err, silent.addr);
    seen.push(err.kind());

    // I/O: the server resets mid-response.
    let resetting = RawServer::start(|mut stream| async move {
        read_request(&mut stream).await;
        common::write_all(&mut stream, b"HTTP/1.1 200 OK\r\nConte").await;
        stream.set_zero_linger().expect("SO_LINGER 0");
        drop(stream);
    })
    .await;
    let err = send(
        &permissive,
        &secret_url("http", &resetting.addr.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::Io);
    assert_clean("io", &err, resetting.addr);
    seen.push(err.kind());

    // TLS: https to a server that speaks plain HTTP, and to an untrusted certificate.
    let plain = TestServer::plain(no_content()).await;
    let err = send(
        &permissive,
        &secret_url("https", &plain.addr.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
    assert_clean("tls to plain", &err, plain.addr);
    let pki = TestPki::generate();
    let untrusted = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let err = send(
        &permissive,
        &secret_url("https", &untrusted.addr.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
    assert_clean("untrusted certificate", &err, untrusted.addr);
    seen.push(err.kind());

    // Blocked: literal and behind a name.
    let strict = HttpTransport::builder()
        .allow_insecure_http(true)
        .resolve_override("innocent.example", [127, 0, 0, 1].into())
        .build()
        .expect("transport");
    let err = send(
        &strict,
        &secret_url("http", &plain.addr.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::Blocked);
    assert_clean("blocked literal", &err, plain.addr);
    let named = format!("innocent.example:{}", plain.addr.port());
    let err = send(&strict, &secret_url("http", &named), Duration::from_secs(5)).await;
    assert_eq!(err.kind(), TransportErrorKind::Blocked);
    assert_clean("blocked name", &err, plain.addr);
    seen.push(err.kind());

    // Invalid URL: plain http without the opt-in.
    let https_only = HttpTransport::builder()
        .allow_private_targets(true)
        .build()
        .expect("transport");
    let err = send(
        &https_only,
        &secret_url("http", &plain.addr.to_string()),
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(err.kind(), TransportErrorKind::InvalidUrl);
    assert_clean("insecure http", &err, plain.addr);
    seen.push(err.kind());

    assert_eq!(seen.len(), 6);
    assert!(plain.requests().is_empty(), "no case may reach the handler");
}
