//! Deliveries that succeed: plain HTTP (opt-in), HTTPS with a test CA over HTTP/2 and
//! HTTP/1.1, byte-for-byte headers and bodies, connection reuse.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{TestPki, TestServer, destination, local_builder, local_transport, no_content};
use http::{HeaderMap, HeaderValue, StatusCode, Version};
use webhook_core::WebhookConfig;
use webhook_core::transport::{DeliveryRequest, Transport, TransportErrorKind};
use webhook_http::{BuildError, HttpTransport};

const TIMEOUT: Duration = Duration::from_secs(10);

/// Every byte value, several times over, so nothing may be re-encoded on the way.
fn binary_body() -> Bytes {
    (0..40_000u32).map(|i| (i % 256) as u8).collect()
}

fn exotic_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("webhook-id", HeaderValue::from_static("msg_2b7f"));
    headers.insert(
        "webhook-signature",
        HeaderValue::from_static("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1,abc+/="),
    );
    headers.append("x-multi", HeaderValue::from_static("first"));
    headers.append("x-multi", HeaderValue::from_static("second,  spaced"));
    headers.insert(
        "x-opaque",
        HeaderValue::from_bytes(b"caf\xc3\xa9 \t tab").expect("opaque bytes are a valid value"),
    );
    headers
}

fn assert_arrived_intact(sent: &HeaderMap, body: &Bytes, server: &TestServer) {
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let seen = &requests[0];
    assert_eq!(seen.method, http::Method::POST);
    assert_eq!(seen.uri.path(), "/hooks/in");
    assert_eq!(seen.uri.query(), Some("a=1&b=%20"));
    assert_eq!(&seen.body, body);
    for name in sent.keys() {
        let want: Vec<&[u8]> = sent.get_all(name).iter().map(|v| v.as_bytes()).collect();
        let got: Vec<&[u8]> = seen
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(got, want, "header {name}");
    }
    assert_eq!(
        seen.headers.get("content-length").map(|v| v.as_bytes()),
        Some(body.len().to_string().as_bytes())
    );
}

#[tokio::test]
async fn plain_http_delivers_headers_and_body_byte_for_byte_when_opted_in() {
    let server = TestServer::plain(no_content()).await;
    let transport = local_transport();
    let headers = exotic_headers();
    let body = binary_body();
    let request = DeliveryRequest::new(
        destination(&server.http_url("/hooks/in?a=1&b=%20")),
        headers.clone(),
        body.clone(),
        TIMEOUT,
        1,
    );

    let response = transport.send(request).await.expect("delivered");

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(response.retry_after, None);
    assert_arrived_intact(&headers, &body, &server);
    let seen = &server.requests()[0];
    assert_eq!(seen.version, Version::HTTP_11);
    assert_eq!(
        seen.headers.get("host").map(|v| v.as_bytes()),
        Some(server.addr.to_string().as_bytes())
    );
}

#[tokio::test]
async fn https_with_a_test_ca_negotiates_http2_through_alpn() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .http2(true)
        .add_root_certificate_der(pki.ca_der.clone())
        .resolve_override("localhost", "127.0.0.1".parse().expect("ip"))
        .build()
        .expect("transport");
    let headers = exotic_headers();
    let body = binary_body();
    let url = format!(
        "https://localhost:{}/hooks/in?a=1&b=%20",
        server.addr.port()
    );
    let request =
        DeliveryRequest::new(destination(&url), headers.clone(), body.clone(), TIMEOUT, 1);

    let response = transport.send(request).await.expect("delivered");

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_arrived_intact(&headers, &body, &server);
    let seen = &server.requests()[0];
    assert_eq!(seen.version, Version::HTTP_2);
    assert_eq!(
        seen.uri.authority().map(|a| a.as_str().to_owned()),
        Some(format!("localhost:{}", server.addr.port()))
    );
}

#[tokio::test]
async fn https_to_an_ip_literal_verifies_the_ip_in_the_certificate() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .http2(true)
        .add_root_certificate_pem(pki.ca_pem.clone())
        .build()
        .expect("transport");
    let url = format!("https://127.0.0.1:{}/hooks/in", server.addr.port());

    let response = transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect("delivered");

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert_eq!(server.requests()[0].version, Version::HTTP_2);
}

#[tokio::test]
async fn https_falls_back_to_http1_when_the_server_offers_only_http1() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.http1_only_server_config(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .add_root_certificate_der(pki.ca_der.clone())
        .build()
        .expect("transport");
    let url = format!(
        "https://127.0.0.1:{}/hooks/in?a=1&b=%20",
        server.addr.port()
    );
    let headers = exotic_headers();
    let body = binary_body();
    let request =
        DeliveryRequest::new(destination(&url), headers.clone(), body.clone(), TIMEOUT, 1);

    transport.send(request).await.expect("delivered");

    assert_arrived_intact(&headers, &body, &server);
    assert_eq!(server.requests()[0].version, Version::HTTP_11);
}

/// The protocol a transport built from a config with `max_concurrency` speaks to a
/// server that offers both.
async fn protocol_for_concurrency(max_concurrency: u32) -> Version {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let config = WebhookConfig {
        allow_private_targets: Some(true),
        max_concurrency: Some(max_concurrency),
        ..WebhookConfig::for_url(url.clone())
    };
    let transport = HttpTransport::builder_for(&config.resolve().expect("valid config"))
        .add_root_certificate_der(pki.ca_der.clone())
        .build()
        .expect("transport");
    transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect("delivered");
    server.requests()[0].version
}

#[tokio::test]
async fn https_speaks_http1_by_default_at_every_concurrency() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .add_root_certificate_der(pki.ca_der.clone())
        .build()
        .expect("transport");
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect("delivered");
    assert_eq!(
        server.requests()[0].version,
        Version::HTTP_11,
        "builder default"
    );

    for concurrency in [1, 32, 33, 64, 256] {
        assert_eq!(
            protocol_for_concurrency(concurrency).await,
            Version::HTTP_11,
            "max_concurrency {concurrency}"
        );
    }
}

#[tokio::test]
async fn http2_can_be_turned_off() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .http2(false)
        .add_root_certificate_der(pki.ca_der.clone())
        .build()
        .expect("transport");
    let url = format!("https://127.0.0.1:{}/", server.addr.port());

    transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect("delivered");

    assert_eq!(server.requests()[0].version, Version::HTTP_11);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_a_permanent_tls_error() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .build()
        .expect("transport");
    let url = format!("https://127.0.0.1:{}/", server.addr.port());

    let err = transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect_err("untrusted certificate");

    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err}");
    assert!(!err.is_retryable());
    assert!(server.requests().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_sequential_http1_deliveries_share_one_connection() {
    assert_eq!(sequential_deliveries(100).await, 1);
}

/// Sends `n` deliveries one after the other to a plain HTTP/1 server answering 204;
/// returns how many connections it accepted.
async fn sequential_deliveries(n: usize) -> usize {
    let server = TestServer::plain(no_content()).await;
    let transport = local_transport();
    let url = server.http_url("/hooks/in");
    for _ in 0..n {
        let response = transport
            .send(common::request(&url, TIMEOUT))
            .await
            .expect("delivered");
        assert_eq!(response.status, StatusCode::NO_CONTENT);
    }
    assert_eq!(server.requests().len(), n);
    server.connections()
}

/// On a multi-thread runtime the pool's hand-back task may run on the other thread
/// after the next attempt has asked for a connection; a few attempts in a hundred then
/// open another (2 to 5 connections were seen). Pooling still carries almost all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_http1_deliveries_mostly_share_connections_on_a_multi_thread_runtime() {
    let connections = sequential_deliveries(100).await;
    assert!(
        (1..=20).contains(&connections),
        "{connections} connections for 100 sequential deliveries"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn connections_are_reused_when_the_response_has_a_small_body() {
    let server = TestServer::plain(std::sync::Arc::new(|_: &common::Recorded| {
        let mut response = http::Response::new(http_body_util::Full::new(Bytes::from_static(
            b"{\"ok\":true}",
        )));
        *response.status_mut() = StatusCode::OK;
        response
    }))
    .await;
    let transport = local_transport();
    let url = server.http_url("/hooks/in");

    for _ in 0..20 {
        transport
            .send(common::request(&url, TIMEOUT))
            .await
            .expect("delivered");
    }

    assert_eq!(server.connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sequential_http2_deliveries_share_one_connection() {
    let pki = TestPki::generate();
    let server = TestServer::tls(pki.server_config.clone(), no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .http2(true)
        .add_root_certificate_der(pki.ca_der.clone())
        .build()
        .expect("transport");
    let url = format!("https://127.0.0.1:{}/hooks/in", server.addr.port());

    for _ in 0..100 {
        transport
            .send(common::request(&url, TIMEOUT))
            .await
            .expect("delivered");
    }

    assert_eq!(server.requests().len(), 100);
    assert_eq!(server.connections(), 1);
}

/// `http://` and `https://` go through different clients of one transport (the plain
/// one without the TLS layer): each reaches its own server, and each keeps its pooled
/// connection while the other is used in between.
#[tokio::test(flavor = "current_thread")]
async fn one_transport_serves_both_schemes_each_on_its_own_pooled_connection() {
    let pki = TestPki::generate();
    let tls_server = TestServer::tls(pki.http1_only_server_config(), no_content()).await;
    let plain_server = TestServer::plain(no_content()).await;
    let transport = local_builder()
        .add_root_certificate_der(pki.ca_der.clone())
        .build()
        .expect("transport");
    let https_url = format!("https://127.0.0.1:{}/hooks/in", tls_server.addr.port());
    let http_url = plain_server.http_url("/hooks/in");

    for _ in 0..10 {
        for url in [&https_url, &http_url] {
            let response = transport
                .send(common::request(url, TIMEOUT))
                .await
                .expect("delivered");
            assert_eq!(response.status, StatusCode::NO_CONTENT, "{url}");
        }
    }

    assert_eq!(tls_server.requests().len(), 10);
    assert_eq!(plain_server.requests().len(), 10);
    assert_eq!(tls_server.connections(), 1);
    assert_eq!(plain_server.connections(), 1);
}

#[tokio::test]
async fn from_config_applies_the_configured_destination_policy() {
    let server = TestServer::plain(no_content()).await;
    let mut config = WebhookConfig::for_url(server.http_url("/hooks/in"));
    config.allow_insecure_http = Some(true);
    config.allow_private_targets = Some(true);
    let resolved = config.resolve().expect("valid config");

    let transport = HttpTransport::from_config(&resolved).expect("transport");
    assert_eq!(transport.destination_policy(), resolved.destination_policy);
    let destination = resolved
        .destination
        .clone()
        .expect("enabled config has a URL");
    let request = DeliveryRequest::new(
        destination,
        HeaderMap::new(),
        Bytes::from_static(b"{}"),
        resolved.timeout,
        1,
    );

    let response = transport.send(request).await.expect("delivered");

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let strict = HttpTransport::from_config(&WebhookConfig::default().resolve().expect("default"))
        .expect("transport");
    assert!(!strict.destination_policy().allow_insecure_http);
    assert!(!strict.destination_policy().allow_private_targets);
}

#[test]
fn bad_extra_certificates_are_refused_when_building() {
    let err = local_builder()
        .add_root_certificate_pem("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n")
        .build()
        .expect_err("no certificate in the PEM");
    assert_eq!(err, BuildError::EmptyPem { index: 0 });
    assert!(err.to_string().contains("#0"), "{err}");

    let err = local_builder()
        .webpki_roots(false)
        .build()
        .expect_err("nothing trusted");
    assert_eq!(err, BuildError::NoRootCertificates);
}
