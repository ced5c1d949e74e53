//! Endpoints: fan-out, isolation, the breaker, rate limits, `Retry-After` pauses and
//! ordering keys, on a paused clock (or gated, where time plays no part), with the
//! accounting identity checked per endpoint and in total.

#[path = "endpoints_support.rs"]
mod support;

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::{Hosts, Reply, Reports, always};
use webhook_core::endpoint::{BreakerConfig, BreakerState, EndpointConfig, EndpointId, Route};
use webhook_core::observe::ObserverEvent;
use webhook_core::signing::{Secret, Verifier};
use webhook_core::store::{FailureKind, RecordFilter};
use webhook_core::{
    FailureStore, MemoryFailureStore, Notifier, ResolvedWebhookConfig, WebhookConfig,
    WebhookEventType, WebhookPayload,
};

const SECRET_A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_B: &str = "whsec_c2Vjb25kLXNlY3JldC1mb3ItYg==";
const IDLE: Duration = Duration::from_secs(3600);

/// Enabled, no single URL, fan-out on, every event, no retries unless patched.
fn cfg(patch: serde_json::Value) -> ResolvedWebhookConfig {
    let mut value = json!({"enabled": true, "endpoints": [], "events": ["*"], "retry_count": 0});
    for (k, v) in patch.as_object().expect("object") {
        value[k] = v.clone();
    }
    let config: WebhookConfig = serde_json::from_value(value).expect("parses");
    let mut resolved = config.resolve().expect("valid");
    resolved.retry = resolved.retry.without_jitter();
    resolved
}

fn ep(id: &str) -> EndpointConfig {
    EndpointConfig::new(id, format!("https://{id}.example.com/hook/TOKEN?sig=abc"))
}

struct Started {
    notifier: Notifier,
    store: Arc<MemoryFailureStore>,
    reports: Arc<Reports>,
}

fn start(cfg: ResolvedWebhookConfig, hosts: Arc<Hosts>, paused: bool) -> Started {
    let store = Arc::new(MemoryFailureStore::new());
    let reports = Arc::new(Reports::default());
    let mut builder = Notifier::builder(cfg, hosts)
        .store(store.clone())
        .observer(reports.clone());
    if paused {
        builder = builder.paused_clock();
    }
    Started {
        notifier: builder.start().expect("starts"),
        store,
        reports,
    }
}

fn payload(event: WebhookEventType, n: usize) -> WebhookPayload {
    WebhookPayload::new(event).task_id(format!("T-{n}"))
}

fn task(n: usize) -> WebhookPayload {
    payload(WebhookEventType::TaskCompleted, n)
}

/// The identity holds in total and for every endpoint.
fn assert_balanced(n: &Notifier) {
    let stats = n.stats();
    assert!(stats.balances(), "{stats:?}");
    let mut per_endpoint = 0;
    for health in n.endpoints() {
        assert!(
            health.counts.balances(),
            "{}: {:?}",
            health.id,
            health.counts
        );
        per_endpoint += health.counts.accepted;
    }
    assert!(per_endpoint <= stats.accepted);
}

fn task_ids(hits: &[support::Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            let v: serde_json::Value = serde_json::from_str(&h.body).expect("json");
            v["task_id"].as_str().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn an_event_goes_to_every_enabled_matching_endpoint_with_one_webhook_id() {
    let hosts = Arc::new(Hosts::new(vec![]));
    let s = start(cfg(json!({})), hosts.clone(), true);
    let n = &s.notifier;
    n.upsert_endpoint(&EndpointConfig {
        secret: Some(SECRET_A.into()),
        ..ep("a")
    })
    .expect("a");
    n.upsert_endpoint(&EndpointConfig {
        secret: Some(SECRET_B.into()),
        events: Some(vec!["task_failed".into()]),
        ..ep("b")
    })
    .expect("b");
    n.upsert_endpoint(&ep("c")).expect("c");
    n.disable_endpoint("c").expect("known");
    assert!(
        n.send(&payload(WebhookEventType::TaskCreated, 1))
            .is_accepted()
    );
    assert!(
        n.send(&payload(WebhookEventType::TaskFailed, 2))
            .is_accepted()
    );
    let named = Route::to(EndpointId::new("b").expect("id"));
    let out = n.send_routed(&payload(WebhookEventType::TaskStarted, 3), &named);
    assert!(
        out.expect("known").is_accepted(),
        "a named endpoint bypasses its filter"
    );
    let unknown = Route::to(EndpointId::new("zzz").expect("id"));
    let error = n.send_routed(&task(4), &unknown).expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "no endpoint `zzz`; expected the id of a registered endpoint"
    );
    assert!(n.wait_idle_async(IDLE).await);

    let (a, b) = (
        hosts.hits_to("a.example.com"),
        hosts.hits_to("b.example.com"),
    );
    assert_eq!(
        (a.len(), b.len(), hosts.hits_to("c.example.com").len()),
        (2, 2, 0)
    );
    assert_eq!(task_ids(&a), ["T-1", "T-2"]);
    assert_eq!(task_ids(&b), ["T-2", "T-3"]);
    assert_eq!(a[1].webhook_id, b[0].webhook_id, "one webhook id per event");
    let verify = |secret: &str, hit: &support::Hit| {
        let ts: u64 = hit.headers["webhook-timestamp"]
            .to_str()
            .expect("a")
            .parse()
            .expect("n");
        Verifier::new(vec![Secret::parse(secret).expect("secret")]).verify_standard(
            &hit.headers,
            hit.body.as_bytes(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(ts),
        )
    };
    assert!(verify(SECRET_A, &a[1]).is_ok() && verify(SECRET_B, &b[0]).is_ok());
    assert!(
        verify(SECRET_B, &a[1]).is_err(),
        "each endpoint signs with its own secret"
    );
    assert_eq!(n.endpoint_health("a").expect("a").counts.delivered, 2);
    assert_eq!(n.stats().delivered, 4);
    assert_balanced(n);
}

#[tokio::test]
async fn five_failures_open_the_breaker_one_probe_after_the_cool_down_closes_it() {
    // down.example.com fails its first 6 attempts: 5 open the breaker, the first probe
    // fails (cool-down doubles to 10 s), the second probe succeeds.
    let hosts = Arc::new(
        Hosts::new(vec![(
            "down.example.com",
            Box::new(|n, _| Reply::Status(if n < 6 { 503 } else { 200 })),
        )])
        .gated(),
    );
    let gate = hosts.gate.clone().expect("gated");
    let patch = json!({"retry_count": 3, "retry_backoff_ms": 100, "max_concurrency": 1});
    let s = start(cfg(patch), hosts.clone(), true);
    let n = &s.notifier;
    n.upsert_endpoint(&EndpointConfig {
        max_in_flight: Some(1),
        ..ep("down")
    })
    .expect("down");
    for i in 0..5 {
        assert!(n.send(&task(i)).is_accepted());
    }
    // All five are queued before the first attempt answers (the clock stands still
    // while the attempt is held).
    gate.add_permits(1000);
    assert!(n.wait_idle_async(IDLE).await);
    let hits = hosts.hits_to("down.example.com");
    let t0 = hits[4].at;
    assert_eq!(
        hits[5].at - t0,
        Duration::from_secs(5),
        "one probe after the cool-down"
    );
    assert_eq!(
        hits[6].at - hits[5].at,
        Duration::from_secs(10),
        "a failed probe doubles it"
    );
    // After the second probe closed it, the others go at once.
    assert!(hits[7..].iter().all(|h| h.at == hits[6].at));
    let stats = n.stats();
    assert_eq!(
        (stats.delivered, stats.failed),
        (5, 0),
        "waiting spent no retries: {stats:?}"
    );
    assert!(
        hits.iter().all(|h| h.attempt <= 3),
        "no event used more than 2 retries"
    );
    let health = n.endpoint_health("down").expect("known");
    assert_eq!(
        (health.breaker, health.breaker_opened),
        (Some(BreakerState::Closed), 2)
    );
    n.shutdown_async(Duration::from_secs(1)).await; // the observer catches up
    let changes: Vec<(BreakerState, BreakerState, u64)> = s
        .reports
        .0
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|e| match e {
            ObserverEvent::Breaker(b) => Some((b.from, b.to, b.attempts)),
            _ => None,
        })
        .collect();
    use BreakerState::{Closed, HalfOpen, Open};
    assert_eq!(
        changes,
        [
            (Closed, Open, 5),
            (Open, HalfOpen, 5),
            (HalfOpen, Open, 6),
            (Open, HalfOpen, 6),
            (HalfOpen, Closed, 7)
        ]
    );
    assert_balanced(n);
}

#[tokio::test]
async fn a_failure_rate_over_the_window_opens_the_breaker() {
    // Every other attempt fails: never 5 in a row, but 50 % of 20.
    let hosts = Arc::new(Hosts::new(vec![(
        "flaky.example.com",
        Box::new(|n, _| Reply::Status(if n % 2 == 0 { 500 } else { 200 })),
    )]));
    let s = start(cfg(json!({"max_concurrency": 1})), hosts.clone(), true);
    let n = &s.notifier;
    n.upsert_endpoint(&EndpointConfig {
        max_in_flight: Some(1),
        ..ep("flaky")
    })
    .expect("flaky");
    for i in 0..30 {
        n.send(&task(i));
    }
    assert!(n.wait_idle_async(IDLE).await);
    let hits = hosts.hits_to("flaky.example.com");
    // The 20th attempt succeeded (a success cannot raise the rate); the 21st failed
    // with 11 of 21 failed in the window: open.
    let gap = hits[21].at - hits[20].at;
    assert_eq!(gap, Duration::from_secs(5), "opened after the 21st attempt");
    assert!(hits[..21].iter().all(|h| h.at == hits[0].at));
    assert_balanced(n);
}

#[tokio::test]
async fn while_the_breaker_is_open_a_full_queue_records_overflow_as_circuit_open() {
    let hosts = Arc::new(Hosts::new(vec![("dead.example.com", always(500))]));
    // Real clock, long cool-down: the breaker stays open for the whole test.
    let s = start(cfg(json!({})), hosts.clone(), false);
    let n = &s.notifier;
    let breaker = BreakerConfig {
        cool_down_ms: Some(3_600_000),
        ..BreakerConfig::default()
    };
    let dead = EndpointConfig {
        max_in_flight: Some(1),
        breaker: Some(breaker),
        ..ep("dead")
    };
    n.upsert_endpoint(&dead).expect("dead");
    for i in 0..5 {
        n.send(&task(i));
    }
    assert!(n.wait_idle(Duration::from_secs(30)));
    assert_eq!(
        n.endpoint_health("dead").expect("dead").breaker,
        Some(BreakerState::Open)
    );
    // A smaller queue; the breaker (same settings) stays open.
    let small = EndpointConfig {
        queue_capacity: Some(2),
        ..dead
    };
    n.upsert_endpoint(&small).expect("update");
    for i in 5..10 {
        assert!(n.send(&task(i)).is_accepted());
    }
    let report = n.shutdown_async(Duration::from_millis(200)).await;
    let by_kind = report.stats.failed_by_kind;
    assert_eq!(
        (by_kind.exhausted, by_kind.circuit_open, by_kind.shutdown),
        (5, 3, 2)
    );
    assert_eq!(hosts.hits().len(), 5, "nothing was attempted while open");
    let records = s
        .store
        .list(&RecordFilter::newest(100))
        .await
        .expect("list");
    let open: Vec<_> = records
        .iter()
        .filter(|r| r.outcome == FailureKind::CircuitOpen)
        .collect();
    assert_eq!(open.len(), 3);
    assert!(
        open.iter()
            .all(|r| r.endpoint.as_deref() == Some("dead") && r.attempts == 0)
    );
    assert!(
        records
            .iter()
            .all(|r| r.destination == "https://dead.example.com/…")
    );
    let counts = n.endpoint_health("dead").expect("dead").counts;
    assert_eq!(
        (counts.accepted, counts.failed, counts.circuit_open),
        (10, 10, 3)
    );
    assert_balanced(n);
}

#[tokio::test]
async fn a_burst_to_one_endpoint_does_not_starve_the_others() {
    let hosts = Arc::new(Hosts::new(vec![]).gated());
    let gate = hosts.gate.clone().expect("gated");
    let s = start(cfg(json!({"max_concurrency": 1})), hosts.clone(), false);
    let n = &s.notifier;
    for id in ["burst", "q1", "q2", "q3"] {
        n.upsert_endpoint(&EndpointConfig {
            queue_capacity: Some(1000),
            ..ep(id)
        })
        .expect("ep");
    }
    let burst = Route::to(EndpointId::new("burst").expect("id"));
    for i in 0..500 {
        n.send_routed(&task(i), &burst).expect("known");
    }
    for q in ["q1", "q2", "q3"] {
        let route = Route::to(EndpointId::new(q).expect("id"));
        for i in 0..10 {
            n.send_routed(&task(1000 + i), &route).expect("known");
        }
    }
    gate.add_permits(10_000);
    assert!(n.wait_idle_async(Duration::from_secs(60)).await);
    let hosts_in_order: Vec<String> = hosts.hits().into_iter().map(|h| h.host).collect();
    assert_eq!(hosts_in_order.len(), 530);
    // Round robin: within the first 2 + 4 × 10 attempts every quiet endpoint is done.
    let first = &hosts_in_order[..42];
    for q in ["q1", "q2", "q3"] {
        let host = format!("{q}.example.com");
        assert_eq!(
            first.iter().filter(|h| **h == host).count(),
            10,
            "{first:?}"
        );
    }
    assert_balanced(n);
}

#[tokio::test]
async fn a_hanging_endpoint_holds_at_most_its_cap_of_delivery_slots() {
    let hosts = Arc::new(Hosts::new(vec![(
        "hang.example.com",
        Box::new(|_, _| Reply::Hang),
    )]));
    let s = start(cfg(json!({"max_concurrency": 4})), hosts.clone(), false);
    let n = &s.notifier;
    n.upsert_endpoint(&ep("hang")).expect("hang");
    n.upsert_endpoint(&ep("ok")).expect("ok");
    for i in 0..50 {
        n.send(&task(i));
    }
    // Bounded wait for the healthy endpoint's 50 deliveries (the hanging one never ends).
    let mut delivered = 0;
    for _ in 0..2000 {
        delivered = n.endpoint_health("ok").expect("ok").counts.delivered;
        if delivered == 50 {
            break;
        }
        tokio::task::yield_now().await;
        std::thread::yield_now();
    }
    assert_eq!(delivered, 50);
    let hang = n.endpoint_health("hang").expect("hang");
    assert_eq!((hang.running, hang.max_in_flight), (2, 2));
    assert_eq!(hosts.hits_to("hang.example.com").len(), 2);
    assert_eq!(hang.counts.queued, 48);
    let report = n.shutdown_async(Duration::from_millis(100)).await;
    assert_eq!(report.stats.failed_by_kind.shutdown, 50);
    assert_balanced(n);
}

#[tokio::test]
async fn a_rate_limit_delays_deliveries_and_never_drops_them() {
    let hosts = Arc::new(Hosts::new(vec![]));
    let s = start(cfg(json!({})), hosts.clone(), true);
    let n = &s.notifier;
    let limited = EndpointConfig {
        rate_limit_per_sec: Some(5.0),
        rate_limit_burst: Some(1),
        ..ep("slow")
    };
    n.upsert_endpoint(&limited).expect("slow");
    for i in 0..10 {
        n.send(&task(i));
    }
    assert!(n.wait_idle_async(IDLE).await);
    let hits = hosts.hits_to("slow.example.com");
    assert_eq!(hits.len(), 10);
    for w in hits.windows(2) {
        assert!(
            w[1].at - w[0].at >= Duration::from_millis(199),
            "{:?}",
            w[1].at - w[0].at
        );
    }
    assert_eq!(n.stats().delivered, 10);
    assert_balanced(n);
}

#[tokio::test]
async fn a_429_with_retry_after_pauses_the_whole_endpoint_and_never_shortens_a_wait() {
    let hosts = Arc::new(Hosts::new(vec![
        (
            "busy.example.com",
            Box::new(|n, _| {
                if n == 0 {
                    Reply::RetryAfter(429, Duration::from_secs(10))
                } else {
                    Reply::Status(200)
                }
            }),
        ),
        (
            "short.example.com",
            Box::new(|n, _| {
                if n == 0 {
                    Reply::RetryAfter(429, Duration::from_secs(1))
                } else {
                    Reply::Status(200)
                }
            }),
        ),
    ]));
    let s = start(
        cfg(json!({"retry_schedule_ms": [20000]})),
        hosts.clone(),
        true,
    );
    let n = &s.notifier;
    n.upsert_endpoint(&EndpointConfig {
        max_in_flight: Some(1),
        ..ep("busy")
    })
    .expect("busy");
    let route = Route::to(EndpointId::new("busy").expect("id"));
    for i in 0..3 {
        n.send_routed(&task(i), &route).expect("known");
    }
    assert!(n.wait_idle_async(IDLE).await);
    let hits = hosts.hits_to("busy.example.com");
    assert_eq!(hits.len(), 4);
    // The other two waited for the pause, not only the message that got the 429.
    assert!(
        hits[1..]
            .iter()
            .all(|h| h.at - hits[0].at >= Duration::from_secs(10))
    );
    // The schedule said 20 s: a Retry-After of 1 s does not shorten it.
    n.upsert_endpoint(&ep("short")).expect("short");
    let route = Route::to(EndpointId::new("short").expect("id"));
    n.send_routed(&task(9), &route).expect("known");
    assert!(n.wait_idle_async(IDLE).await);
    let short = hosts.hits_to("short.example.com");
    assert_eq!(short[1].at - short[0].at, Duration::from_secs(20));
    assert_balanced(n);
}

#[tokio::test]
async fn deliveries_sharing_an_ordering_key_go_strictly_in_order_under_retries() {
    // The first attempt of each keyed delivery fails; retries wait 1 s.
    let hosts = Arc::new(
        Hosts::new(vec![(
            "ord.example.com",
            // The first attempts of T-0 and T-1 fail.
            Box::new(|_, r| {
                let body = String::from_utf8_lossy(&r.body);
                let first =
                    r.attempt == 1 && (body.contains("\"T-0\"") || body.contains("\"T-1\""));
                Reply::Status(if first { 500 } else { 200 })
            }),
        )])
        .gated(),
    );
    let gate = hosts.gate.clone().expect("gated");
    let s = start(
        cfg(json!({"retry_count": 3, "retry_backoff_ms": 1000, "max_concurrency": 8})),
        hosts.clone(),
        true,
    );
    let n = &s.notifier;
    n.upsert_endpoint(&EndpointConfig {
        max_in_flight: Some(8),
        ..ep("ord")
    })
    .expect("ord");
    let keyed = Route::all().ordering_key("order-1");
    for i in 0..4 {
        n.send_routed(&task(i), &keyed).expect("routed");
    }
    n.send(&task(99)); // no key: not held back
    gate.add_permits(1000);
    assert!(n.wait_idle_async(IDLE).await);
    let hits = hosts.hits_to("ord.example.com");
    let ids = task_ids(&hits);
    let keyed_order: Vec<&String> = ids.iter().filter(|t| *t != "T-99").collect();
    assert_eq!(keyed_order, ["T-0", "T-0", "T-1", "T-1", "T-2", "T-3"]);
    let unkeyed = ids.iter().position(|t| t == "T-99").expect("sent");
    let t0_retry = hits
        .iter()
        .filter(|h| h.body.contains("\"T-0\""))
        .nth(1)
        .expect("retried");
    assert!(
        hits[unkeyed].at < t0_retry.at,
        "the unkeyed delivery went while T-0 waited: {ids:?}"
    );
    let t1 = hits
        .iter()
        .position(|h| task_ids(std::slice::from_ref(h))[0] == "T-1")
        .expect("T-1");
    assert!(
        hits[t1].at - hits[0].at >= Duration::from_millis(800),
        "T-1 waited for T-0's retry"
    );
    assert_eq!(n.stats().delivered, 5);
    assert_balanced(n);
}

#[tokio::test]
async fn endpoints_change_at_run_time_and_removal_records_what_was_queued() {
    let hosts = Arc::new(Hosts::new(vec![]).gated());
    let gate = hosts.gate.clone().expect("gated");
    let s = start(cfg(json!({"max_concurrency": 1})), hosts.clone(), false);
    let n = &s.notifier;
    let bad = EndpointConfig {
        max_in_flight: Some(0),
        ..ep("x")
    };
    let error = n.upsert_endpoint(&bad).expect_err("refused").to_string();
    assert_eq!(
        error,
        "endpoint `x`: `max_in_flight` = 0 is out of range; expected 1..=256"
    );
    n.upsert_endpoint(&ep("a")).expect("a");
    n.upsert_endpoint(&ep("gone")).expect("gone");
    for i in 0..3 {
        n.send(&task(i));
    }
    // Update keeps the queue and counters.
    n.upsert_endpoint(&EndpointConfig {
        max_in_flight: Some(3),
        ..ep("a")
    })
    .expect("update");
    n.remove_endpoint("gone").expect("known");
    assert!(n.remove_endpoint("gone").is_err());
    assert_eq!(
        n.endpoints()
            .iter()
            .map(|h| h.id.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    gate.add_permits(100);
    assert!(n.wait_idle_async(Duration::from_secs(60)).await);
    let a = n.endpoint_health("a").expect("a");
    assert_eq!((a.max_in_flight, a.counts.delivered), (3, 3));
    let records = s.store.list(&RecordFilter::newest(10)).await.expect("list");
    assert!(
        records
            .iter()
            .all(|r| r.endpoint.as_deref() == Some("gone") && r.error.contains("endpoint removed"))
    );
    assert!(!records.is_empty() && records.len() <= 3);
    assert_balanced(n);
}

#[tokio::test]
async fn the_single_url_is_one_more_destination_beside_the_endpoints() {
    let hosts = Arc::new(Hosts::new(vec![]));
    let s = start(
        cfg(json!({"url": "https://single.example.com/in", "events": ["task_failed"]})),
        hosts.clone(),
        true,
    );
    let n = &s.notifier;
    n.upsert_endpoint(&ep("a")).expect("a");
    n.send(&payload(WebhookEventType::TaskFailed, 1));
    n.send(&payload(WebhookEventType::TaskCreated, 2));
    assert!(n.wait_idle_async(IDLE).await);
    assert_eq!(task_ids(&hosts.hits_to("single.example.com")), ["T-1"]);
    assert_eq!(task_ids(&hosts.hits_to("a.example.com")), ["T-1", "T-2"]);
    assert_eq!(n.stats().accepted, 3);
    let diagnostics = n.diagnostics_async(5).await;
    assert_eq!(diagnostics.endpoints.len(), 1);
    assert_balanced(n);
}

#[tokio::test]
async fn an_endpoint_open_for_longer_than_auto_disable_after_is_disabled_and_keeps_its_queue() {
    let hosts = Arc::new(Hosts::new(vec![("dead.example.com", always(500))]).gated());
    let gate = hosts.gate.clone().expect("gated");
    let s = start(cfg(json!({"max_concurrency": 1})), hosts.clone(), true);
    let n = &s.notifier;
    let breaker = BreakerConfig {
        cool_down_ms: Some(1_000),
        max_cool_down_ms: Some(1_000),
        auto_disable_after_ms: Some(10_000),
        ..BreakerConfig::default()
    };
    let dead = EndpointConfig {
        max_in_flight: Some(1),
        breaker: Some(breaker),
        ..ep("dead")
    };
    n.upsert_endpoint(&dead).expect("dead");
    for i in 0..30 {
        n.send(&task(i));
    }
    // Exactly the attempts it takes: 5 to open it, then a probe a second for 10 s.
    gate.add_permits(15);
    // Bounded: every probe fails once a second; after 10 s open it is disabled.
    let mut health = n.endpoint_health("dead").expect("dead");
    for _ in 0..10_000 {
        if health.disabled_by_breaker {
            break;
        }
        tokio::task::yield_now().await;
        std::thread::yield_now();
        health = n.endpoint_health("dead").expect("dead");
    }
    assert!(health.disabled_by_breaker && !health.enabled, "{health:?}");
    let attempts = hosts.hits().len();
    assert_eq!(
        attempts,
        5 + 10,
        "5 to open it, then one probe a second for 10 s"
    );
    assert_eq!(
        health.counts.queued,
        30 - attempts as u64,
        "the rest wait, not dropped"
    );
    let hits = hosts.hits();
    assert_eq!(hits[attempts - 1].at - hits[4].at, Duration::from_secs(10));
    n.enable_endpoint("dead").expect("known");
    // Its next probe waits in the (closed) gate: enabled, with a fresh outage clock.
    let health = n.endpoint_health("dead").expect("dead");
    assert!(health.enabled && !health.disabled_by_breaker);
    let report = n.shutdown_async(Duration::from_millis(10)).await;
    assert!(report.stats.balances());
    assert_balanced(n);
}

#[tokio::test]
async fn events_for_endpoints_have_bodies_of_their_own() {
    // An endpoint's queue may hold an event for long (an open breaker, a rate limit): its
    // body must not keep a block of other events' bodies alive. Sent from a fresh
    // thread, whose block would hold both bodies back to back if they were carved.
    let hosts = Arc::new(Hosts::new(vec![]));
    let s = start(cfg(json!({})), hosts.clone(), true);
    s.notifier.upsert_endpoint(&ep("a")).expect("a");
    let notifier = s.notifier.clone();
    std::thread::spawn(move || {
        assert!(notifier.send(&task(1)).is_accepted());
        let route = Route::to(EndpointId::new("a").expect("id"));
        let routed = notifier.send_routed(&task(2), &route);
        assert!(routed.expect("known").is_accepted());
    })
    .join()
    .expect("no panic");
    assert!(s.notifier.wait_idle_async(IDLE).await);
    let hits = hosts.hits.lock().expect("lock").clone();
    let mut ids = task_ids(&hits);
    ids.sort();
    assert_eq!(ids, ["T-1", "T-2"]);
    let ((a, a_len), (b, b_len)) = (hits[0].body_at, hits[1].body_at);
    assert!(
        a + a_len != b && b + b_len != a,
        "the two bodies share a block"
    );
    assert_balanced(&s.notifier);
}
