//! Endpoints against real loopback receivers (the hyper transport, signatures checked by
//! the receivers), with the in-memory outbox, and replays of an endpoint's record.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::endpoint::{BreakerConfig, BreakerState, EndpointConfig};
use webhook_core::store::{FailureKind, FailureStore, RecordFilter};
use webhook_core::{
    MemoryFailureStore, Notifier, ReplaySelector, WebhookConfig, WebhookEventType, WebhookPayload,
};
use webhook_http::HttpTransport;
use webhook_testkit::{MemoryOutbox, Reply, Script, TestReceiver};

const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3ItYg==";
const SECRET_C: &str = "whsec_dGhpcmQtc2VjcmV0LWZvci1j";

fn payload(n: usize) -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCompleted).task_id(format!("T-{n}"))
}

fn config(retry_count: u32) -> WebhookConfig {
    WebhookConfig {
        enabled: Some(true),
        endpoints: Some(Vec::new()),
        events: Some(vec!["*".into()]),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        timeout_secs: Some(5),
        retry_count: Some(retry_count),
        // A flat 100 ms between attempts (the exponential formula would take seconds).
        retry_schedule_ms: (retry_count > 0).then(|| vec![100; retry_count as usize]),
        ..WebhookConfig::default()
    }
}

fn transport() -> Arc<HttpTransport> {
    Arc::new(
        HttpTransport::builder()
            .allow_insecure_http(true)
            .allow_private_targets(true)
            .build()
            .expect("transport"),
    )
}

fn receiver(secret: &str, script: Script) -> TestReceiver {
    TestReceiver::builder()
        .secret(secret)
        .require_signatures(true)
        .in_call_order(script)
        .start()
        .expect("receiver")
}

fn endpoint(id: &str, r: &TestReceiver, secret: &str) -> EndpointConfig {
    EndpointConfig {
        secret: Some(secret.into()),
        ..EndpointConfig::new(id, r.url())
    }
}

#[test]
fn receivers_get_their_own_signatures_and_a_failing_one_trips_only_its_breaker() {
    let a = receiver(SECRET_A, Script::always(Reply::ok()));
    let b = receiver(SECRET_B, Script::always(Reply::ok()));
    let down = receiver(SECRET_C, Script::always(Reply::status(500)));
    let store = Arc::new(MemoryFailureStore::new());
    let n = Notifier::builder(config(0).resolve().expect("valid"), transport())
        .store(store.clone())
        .start()
        .expect("starts");
    n.upsert_endpoint(&endpoint("a", &a, SECRET_A)).expect("a");
    n.upsert_endpoint(&endpoint("b", &b, SECRET_B)).expect("b");
    let long_cool_down = BreakerConfig {
        cool_down_ms: Some(3_600_000),
        ..BreakerConfig::default()
    };
    let failing = EndpointConfig {
        max_in_flight: Some(1),
        breaker: Some(long_cool_down),
        ..endpoint("down", &down, SECRET_C)
    };
    n.upsert_endpoint(&failing).expect("down");
    for i in 0..20 {
        assert!(n.send(&payload(i)).is_accepted());
    }
    // a and b get all 20; down gets 5 attempts, then its breaker holds the rest.
    for (name, count) in [("a", 20), ("b", 20)] {
        let health = wait_for(&n, name, |h| h.counts.delivered == count);
        assert_eq!(health.counts.delivered, count, "{name}");
    }
    let down_health = wait_for(&n, "down", |h| h.breaker == Some(BreakerState::Open));
    assert_eq!(down_health.breaker, Some(BreakerState::Open));
    assert_eq!(
        down.request_count(),
        5,
        "attempts stop when the breaker opens"
    );
    assert!(
        a.requests()
            .iter()
            .chain(b.requests().iter())
            .all(|r| r.signatures.standard.is_valid())
    );
    let ids_a: Vec<_> = a
        .requests()
        .iter()
        .filter_map(|r| r.webhook_id().map(str::to_owned))
        .collect();
    let ids_b: Vec<_> = b
        .requests()
        .iter()
        .filter_map(|r| r.webhook_id().map(str::to_owned))
        .collect();
    assert_eq!(ids_a, ids_b, "the same webhook ids, in the same order");
    let report = n.shutdown(Duration::from_millis(200));
    assert!(report.stats.balances(), "{:?}", report.stats);
    assert_eq!(report.stats.failed_by_kind.shutdown, 15);
    assert!(n.endpoints().iter().all(|h| h.counts.balances()));
}

/// Waits (bounded) until `id`'s health satisfies `done`.
fn wait_for(
    n: &Notifier,
    id: &str,
    done: impl Fn(&webhook_core::endpoint::EndpointHealth) -> bool,
) -> webhook_core::endpoint::EndpointHealth {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health = n.endpoint_health(id).expect("registered");
        if done(&health) || std::time::Instant::now() > deadline {
            return health;
        }
        n.wait_idle(Duration::from_millis(20));
    }
}

#[test]
fn with_an_outbox_entries_carry_their_endpoint_and_wait_there_while_its_breaker_is_open() {
    let ok = receiver(SECRET_A, Script::always(Reply::ok()));
    // Six failures, then success: the breaker opens after five; entries wait in the
    // outbox (no attempt spent) until the probe after the cool-down.
    let flaky = receiver(SECRET_B, Script::fail_then_succeed(6, 503));
    let outbox = Arc::new(MemoryOutbox::new());
    let n = Notifier::builder(config(10).resolve().expect("valid"), transport())
        .store(Arc::new(MemoryFailureStore::new()))
        .outbox(outbox.clone())
        .start()
        .expect("starts");
    n.upsert_endpoint(&endpoint("ok", &ok, SECRET_A))
        .expect("ok");
    let short = BreakerConfig {
        cool_down_ms: Some(300),
        ..BreakerConfig::default()
    };
    let flaky_ep = EndpointConfig {
        max_in_flight: Some(1),
        breaker: Some(short),
        ..endpoint("flaky", &flaky, SECRET_B)
    };
    n.upsert_endpoint(&flaky_ep).expect("flaky");
    for i in 0..6 {
        assert!(n.send(&payload(i)).is_accepted());
    }
    assert!(n.wait_idle(Duration::from_secs(60)));
    assert_eq!(ok.delivery_count(), 6);
    assert_eq!(flaky.delivery_count(), 6);
    let flaky_health = n.endpoint_health("flaky").expect("flaky");
    assert!(flaky_health.breaker_opened >= 1);
    // 6 deliveries + 6 failures (5 opened it, the 6th was a probe that reopened it).
    assert_eq!(flaky.request_count(), 12);
    assert!(outbox.entries().is_empty());
    let stats = n.shutdown(Duration::from_secs(1)).stats;
    assert!(stats.balances(), "{stats:?}");
    assert_eq!((stats.delivered, stats.failed), (12, 0));
    assert!(n.endpoints().iter().all(|h| h.counts.balances()));
}

#[test]
fn a_failed_delivery_to_an_endpoint_is_replayed_to_that_endpoint() {
    let a = receiver(SECRET_A, Script::always(Reply::ok()));
    let b = receiver(SECRET_B, Script::fail_then_succeed(1, 410));
    let store = Arc::new(MemoryFailureStore::new());
    let n = Notifier::builder(config(0).resolve().expect("valid"), transport())
        .store(store.clone())
        .start()
        .expect("starts");
    n.upsert_endpoint(&endpoint("a", &a, SECRET_A)).expect("a");
    n.upsert_endpoint(&endpoint("b", &b, SECRET_B)).expect("b");
    n.send(&payload(1));
    assert!(n.wait_idle(Duration::from_secs(30)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let records = rt
        .block_on(store.list(&RecordFilter::newest(10)))
        .expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].endpoint.as_deref(), records[0].outcome),
        (Some("b"), FailureKind::Permanent)
    );
    let report = n
        .replay(&ReplaySelector::endpoint("b"), false)
        .expect("replay");
    assert_eq!((report.matched, report.replayed), (1, 1));
    assert!(ReplaySelector::endpoint("a").validate().is_ok());
    assert!(n.wait_idle(Duration::from_secs(30)));
    assert_eq!(
        (a.delivery_count(), b.delivery_count()),
        (1, 1),
        "the replay went to b only"
    );
    let ids: Vec<_> = b
        .requests()
        .iter()
        .filter_map(|r| r.webhook_id().map(str::to_owned))
        .collect();
    assert_eq!(ids[0], ids[1], "the replay keeps the webhook id");
    n.shutdown(Duration::from_secs(1));
}

#[test]
fn with_an_outbox_deliveries_sharing_an_ordering_key_go_strictly_in_order() {
    // Calls in arrival order: the 1st and 3rd fail (503), every other succeeds. In
    // order, that is T-0 failing, T-0 again, T-1 failing, T-1 again, T-2, T-3.
    let r = receiver(
        SECRET_A,
        Script::sequence([Reply::status(503), Reply::ok(), Reply::status(503)]),
    );
    let outbox = Arc::new(MemoryOutbox::new());
    let n = Notifier::builder(config(3).resolve().expect("valid"), transport())
        .store(Arc::new(MemoryFailureStore::new()))
        .outbox(outbox.clone())
        .start()
        .expect("starts");
    n.upsert_endpoint(&EndpointConfig {
        max_in_flight: Some(8),
        ..endpoint("ord", &r, SECRET_A)
    })
    .expect("ord");
    let keyed = webhook_core::endpoint::Route::all().ordering_key("order-1");
    for i in 0..4 {
        n.send_routed(&payload(i), &keyed).expect("routed");
    }
    assert!(n.wait_idle(Duration::from_secs(60)), "{:?}", n.stats());
    let order: Vec<String> = r
        .requests()
        .iter()
        .map(|q| {
            q.json().expect("json")["task_id"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    assert_eq!(
        order,
        ["T-0", "T-0", "T-1", "T-1", "T-2", "T-3"],
        "strictly in order, retries included"
    );
    assert!(outbox.entries().is_empty());
    let stats = n.shutdown(Duration::from_secs(1)).stats;
    assert_eq!((stats.delivered, stats.failed), (4, 0), "{stats:?}");
    assert!(stats.balances(), "{stats:?}");
}
