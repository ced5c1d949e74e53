//! Destination checks at send time: the scheme, IP literals, and every address DNS
//! returns (a name resolving to 127.0.0.1 is loopback too).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{TestServer, no_content};
use http::StatusCode;
use webhook_core::config::BlockedReason;
use webhook_core::transport::{Transport, TransportError, TransportErrorKind};
use webhook_http::HttpTransport;

const TIMEOUT: Duration = Duration::from_secs(10);

fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_without_the_private_opt_in() {
    let server = TestServer::plain(no_content()).await;
    let transport = HttpTransport::builder()
        .allow_insecure_http(true)
        .resolve_override("innocent.example", loopback())
        .build()
        .expect("transport");
    let url = format!("http://innocent.example:{}/hook", server.addr.port());

    let err = transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect_err("loopback behind a public-looking name");

    assert!(
        matches!(
            err,
            TransportError::Blocked {
                reason: BlockedReason::Loopback,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(server.connections(), 0, "refused before connecting");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_delivered_with_the_private_opt_in() {
    let server = TestServer::plain(no_content()).await;
    let transport = HttpTransport::builder()
        .allow_insecure_http(true)
        .allow_private_targets(true)
        .resolve_override("Innocent.Example", loopback())
        .build()
        .expect("transport");
    let url = format!("http://innocent.example:{}/hook", server.addr.port());

    let response = transport
        .send(common::request(&url, TIMEOUT))
        .await
        .expect("allowed");

    assert_eq!(response.status, StatusCode::NO_CONTENT);
    let host = server.requests()[0].headers.get("host").cloned();
    assert_eq!(
        host.as_ref().map(|h| h.as_bytes()),
        Some(format!("innocent.example:{}", server.addr.port()).as_bytes())
    );
}

#[tokio::test]
async fn every_blocked_range_behind_a_name_is_refused() {
    let cases: [(&str, BlockedReason); 6] = [
        ("10.1.2.3", BlockedReason::Private),
        ("169.254.169.254", BlockedReason::CloudMetadata),
        ("100.64.0.1", BlockedReason::SharedAddressSpace),
        ("fe80::1", BlockedReason::LinkLocal),
        ("fd00::1", BlockedReason::UniqueLocal),
        ("::ffff:127.0.0.1", BlockedReason::Loopback),
    ];
    for (addr, want) in cases {
        let transport = HttpTransport::builder()
            .resolve_override("hooks.example", addr.parse().expect("ip"))
            .build()
            .expect("transport");

        let err = transport
            .send(common::request("https://hooks.example/hook", TIMEOUT))
            .await
            .expect_err("blocked");

        assert!(
            matches!(err, TransportError::Blocked { reason, .. } if reason == want),
            "{addr}: {err:?}"
        );
    }
}

#[tokio::test]
async fn ip_literals_are_checked_although_they_skip_the_resolver() {
    let server = TestServer::plain(no_content()).await;
    let port = server.addr.port();
    let transport = HttpTransport::builder()
        .allow_insecure_http(true)
        .build()
        .expect("transport");

    for (url, want) in [
        (
            format!("http://127.0.0.1:{port}/hook"),
            BlockedReason::Loopback,
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/hook"),
            BlockedReason::Loopback,
        ),
        (format!("http://[::1]:{port}/hook"), BlockedReason::Loopback),
        (
            format!("http://localhost:{port}/hook"),
            BlockedReason::Loopback,
        ),
        (
            format!("http://169.254.169.254:{port}/latest"),
            BlockedReason::CloudMetadata,
        ),
    ] {
        let err = transport
            .send(common::request(&url, TIMEOUT))
            .await
            .expect_err("blocked literal");
        assert!(
            matches!(err, TransportError::Blocked { reason, .. } if reason == want),
            "{url}: {err:?}"
        );
    }
    assert_eq!(server.connections(), 0);
}

#[tokio::test]
async fn plain_http_is_refused_without_the_insecure_opt_in() {
    let server = TestServer::plain(no_content()).await;
    let transport = HttpTransport::builder()
        .allow_private_targets(true)
        .build()
        .expect("transport");

    let err = transport
        .send(common::request(&server.http_url("/hook"), TIMEOUT))
        .await
        .expect_err("http is not allowed");

    assert_eq!(err.kind(), TransportErrorKind::InvalidUrl, "{err}");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("allow_insecure_http"), "{err}");
    assert_eq!(server.connections(), 0);
}
