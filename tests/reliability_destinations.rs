//! Destinations: names that resolve to loopback, link-local, private or metadata
//! addresses are refused without the opt-in, and redirects are never followed.

mod reliability_support;

use reliability_support::raw_server::{Answer, head, raw_server};
use reliability_support::{all_records, message};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use webhook_core::config::BlockedReason;
use webhook_core::store::{FailureKind, FailureRecord};
use webhook_core::{MemoryFailureStore, Notifier, WebhookConfig};
use webhook_http::HttpTransport;
use webhook_testkit::TestReceiver;

/// Sends one event to `http://<name>:<port>/hook`, with `name` resolving to `addrs`,
/// and returns what the store kept (if anything) and the counters.
async fn send_to_name(
    name: &str,
    addrs: &[IpAddr],
    port: u16,
    allow_private_targets: bool,
) -> (Option<FailureRecord>, webhook_core::DeliveryStats) {
    let config = WebhookConfig {
        enabled: Some(true),
        url: Some(format!("http://{name}:{port}/hook")),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(allow_private_targets),
        timeout_secs: Some(2),
        retry_count: Some(2),
        retry_backoff_ms: Some(100),
        ..WebhookConfig::default()
    }
    .resolve()
    .expect("the URL text looks public");
    let mut builder = HttpTransport::builder().destination_policy(config.destination_policy);
    for addr in addrs {
        builder = builder.resolve_override(name, *addr);
    }
    let transport = builder.build().expect("transport");
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(config, Arc::new(transport))
        .store(store.clone())
        .start()
        .expect("notifier starts");
    notifier.enqueue(message(0));
    assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
    let stats = notifier.shutdown(Duration::from_secs(1)).stats;
    let record = all_records(store.as_ref()).await.into_iter().next();
    (record, stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_to_internal_addresses_are_refused_without_the_opt_in() {
    // The receiver listens on 127.0.0.1: anything that connected there would be seen.
    let receiver = TestReceiver::start().expect("receiver");
    let port = receiver.addr().port();
    let ip = |text: &str| text.parse::<IpAddr>().expect("ip");
    let cases: &[(&str, Vec<IpAddr>, BlockedReason)] = &[
        (
            "loopback.example",
            vec![ip("127.0.0.1")],
            BlockedReason::Loopback,
        ),
        (
            "loopback-2.example",
            vec![ip("127.3.2.1")],
            BlockedReason::Loopback,
        ),
        (
            "v6-loopback.example",
            vec![ip("::1")],
            BlockedReason::Loopback,
        ),
        (
            "mapped.example",
            vec![ip("::ffff:127.0.0.1")],
            BlockedReason::Loopback,
        ),
        (
            "link-local.example",
            vec![ip("169.254.10.20")],
            BlockedReason::LinkLocal,
        ),
        (
            "v6-link-local.example",
            vec![ip("fe80::1")],
            BlockedReason::LinkLocal,
        ),
        (
            "metadata.example",
            vec![ip("169.254.169.254")],
            BlockedReason::CloudMetadata,
        ),
        (
            "alibaba.example",
            vec![ip("100.100.100.200")],
            BlockedReason::CloudMetadata,
        ),
        (
            "aws-v6.example",
            vec![ip("fd00:ec2::254")],
            BlockedReason::CloudMetadata,
        ),
        ("ten.example", vec![ip("10.0.0.7")], BlockedReason::Private),
        (
            "172.example",
            vec![ip("172.16.5.4")],
            BlockedReason::Private,
        ),
        (
            "192.example",
            vec![ip("192.168.1.1")],
            BlockedReason::Private,
        ),
        (
            "cgnat.example",
            vec![ip("100.64.0.9")],
            BlockedReason::SharedAddressSpace,
        ),
        (
            "ula.example",
            vec![ip("fd12::1")],
            BlockedReason::UniqueLocal,
        ),
        (
            "zero.example",
            vec![ip("0.0.0.0")],
            BlockedReason::Unspecified,
        ),
        (
            "multicast.example",
            vec![ip("224.0.0.1")],
            BlockedReason::Multicast,
        ),
        // Several answers, all internal: none is tried. (With a public answer among
        // them, the transport drops the internal ones and connects to the public one;
        // that cannot be shown on loopback alone.)
        (
            "several.example",
            vec![ip("10.0.0.1"), ip("127.0.0.1"), ip("169.254.169.254")],
            BlockedReason::Private,
        ),
    ];
    for (name, addrs, reason) in cases {
        let (record, stats) = send_to_name(name, addrs, port, false).await;
        let record = record.unwrap_or_else(|| panic!("{name}: nothing stored, {stats:?}"));
        assert_eq!(record.outcome, FailureKind::Permanent, "{name}: {record:?}");
        assert_eq!(
            (stats.attempts, stats.failed),
            (1, 1),
            "{name}: not retried"
        );
        assert!(
            record.error.contains(reason.describe()) && record.error.contains("allow_private"),
            "{name}: {}",
            record.error
        );
    }
    assert_eq!(receiver.request_count(), 0, "nothing reached the receiver");

    // With the opt-in, the same loopback name is delivered.
    let (record, stats) = send_to_name("loopback.example", &[ip("127.0.0.1")], port, true).await;
    assert!(record.is_none(), "{record:?}");
    assert_eq!(stats.delivered, 1);
    assert_eq!(receiver.request_count(), 1);
    println!(
        "destinations: {} names resolving to internal addresses refused (1 attempt each, \
         nothing connected); the opt-in delivers",
        cases.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_internal_addresses_are_never_followed() {
    // Where a followed redirect would land: a listener that counts connections.
    let target = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let target_addr = target.local_addr().expect("addr");
    let connected = Arc::new(AtomicUsize::new(0));
    let counter = connected.clone();
    tokio::spawn(async move {
        while target.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let locations = [
        (
            b"302 Found".as_slice(),
            "http://169.254.169.254/latest/meta-data/".to_owned(),
        ),
        (
            b"301 Moved Permanently".as_slice(),
            format!("http://{target_addr}/stolen"),
        ),
        (
            b"307 Temporary Redirect".as_slice(),
            format!("http://{target_addr}/stolen"),
        ),
        (
            b"308 Permanent Redirect".as_slice(),
            format!("http://{target_addr}/stolen"),
        ),
        (
            b"303 See Other".as_slice(),
            format!("http://{target_addr}/stolen"),
        ),
    ];
    for (status, location) in &locations {
        let answer = head(status, format!("location: {location}\r\n").as_bytes());
        let (addr, requests, _) = raw_server(vec![Answer::Bytes(answer)]).await;
        let config = WebhookConfig {
            enabled: Some(true),
            url: Some(format!("http://{addr}/hook")),
            allow_insecure_http: Some(true),
            // Even where internal targets are allowed, a redirect is not followed.
            allow_private_targets: Some(true),
            retry_count: Some(2),
            retry_backoff_ms: Some(100),
            timeout_secs: Some(2),
            ..WebhookConfig::default()
        }
        .resolve()
        .expect("valid config");
        let store = Arc::new(MemoryFailureStore::new());
        let transport = HttpTransport::from_config(&config).expect("transport");
        let notifier = Notifier::builder(config, Arc::new(transport))
            .store(store.clone())
            .start()
            .expect("notifier starts");
        notifier.enqueue(message(0));
        assert!(notifier.wait_idle_async(Duration::from_secs(10)).await);
        let stats = notifier.shutdown(Duration::from_secs(1)).stats;
        let records = all_records(store.as_ref()).await;
        let code: u16 = std::str::from_utf8(&status[..3])
            .expect("ascii")
            .parse()
            .expect("code");
        assert_eq!(records.len(), 1, "{location}");
        let record = &records[0];
        assert_eq!(record.outcome, FailureKind::Permanent, "{record:?}");
        assert_eq!(record.last_status, Some(code));
        assert!(
            record.error.contains("redirects are not followed"),
            "{}",
            record.error
        );
        assert!(!record.error.contains("meta") && !record.error.contains("stolen"));
        assert_eq!((stats.attempts, requests.load(Ordering::SeqCst)), (1, 1));
    }
    assert_eq!(
        connected.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
    println!(
        "redirects: {} redirect answers (301/302/303/307/308) recorded as permanent \
         failures; 0 connections to their targets",
        locations.len()
    );
}
