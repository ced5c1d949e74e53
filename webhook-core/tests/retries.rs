//! Retry schedule, classification and signing per attempt, on a paused clock.

mod support;

use http::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::{Scripted, config, ok};
use webhook_core::config::BlockedReason;
use webhook_core::signing::{Secret, Verifier};
use webhook_core::store::{FailureKind, RecordFilter};
use webhook_core::transport::{DeliveryResponse, TransportError};
use webhook_core::{
    FailureStore, MemoryFailureStore, Notifier, ResolvedWebhookConfig, WebhookEventType,
    WebhookPayload,
};

fn start(
    cfg: ResolvedWebhookConfig,
    transport: Arc<dyn webhook_core::Transport>,
) -> (Notifier, Arc<MemoryFailureStore>) {
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(cfg, transport)
        .store(store.clone())
        .paused_clock()
        .start()
        .expect("starts");
    (notifier, store)
}

/// Sends one event and waits (on the paused clock) until it is delivered or failed.
async fn send_one(notifier: &Notifier) -> webhook_core::DeliveryStats {
    notifier.send(&payload());
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    notifier.stats()
}

fn no_jitter(mut cfg: ResolvedWebhookConfig) -> ResolvedWebhookConfig {
    cfg.retry = cfg.retry.without_jitter();
    cfg
}

fn gaps(fake: &Scripted) -> Vec<Duration> {
    let seen = fake.seen();
    seen.windows(2).map(|w| w[1].at - w[0].at).collect()
}

fn payload() -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskFailed).task_id("T-1")
}

#[tokio::test]
async fn delays_double_from_the_base_and_stop_at_the_30_second_cap() {
    let fake = Scripted::status(500);
    let cfg = no_jitter(config(json!({"retry_count": 7, "retry_backoff_ms": 1000})));
    let (notifier, store) = start(cfg, fake.clone());
    notifier.send(&payload());
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    let secs: Vec<u64> = gaps(&fake).iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
    let attempts: Vec<u32> = fake.seen().iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5, 6, 7, 8]);
    let records = store.list(&RecordFilter::newest(10)).await.expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, FailureKind::Exhausted);
    assert_eq!(
        (records[0].attempts, records[0].last_status),
        (8, Some(500))
    );
    let stats = notifier.stats();
    assert_eq!((stats.attempts, stats.retries, stats.failed), (8, 7, 1));
}

#[tokio::test]
async fn jittered_delays_stay_within_twenty_percent() {
    let fake = Scripted::status(503);
    let cfg = config(json!({"retry_count": 5, "retry_backoff_ms": 1000}));
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(cfg, fake.clone())
        .store(store)
        .paused_clock()
        .jitter_seed(7)
        .start()
        .expect("starts");
    for _ in 0..4 {
        notifier.send(&payload());
    }
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    let seen = fake.seen();
    let mut by_id: std::collections::BTreeMap<String, Vec<tokio::time::Instant>> =
        Default::default();
    for s in &seen {
        by_id.entry(s.webhook_id.clone()).or_default().push(s.at);
    }
    assert_eq!(by_id.len(), 4);
    let mut exact = 0;
    for times in by_id.values() {
        for (n, w) in times.windows(2).enumerate() {
            let nominal = 1000.0 * f64::from(1u32 << n);
            let got = (w[1] - w[0]).as_secs_f64() * 1000.0;
            assert!(
                got >= nominal * 0.8 - 1.0 && got <= nominal * 1.2 + 1.0,
                "retry {}: {got} ms vs {nominal}",
                n + 1
            );
            if (got - nominal).abs() < 1.0 {
                exact += 1;
            }
        }
    }
    assert!(
        exact < 20,
        "jitter should move most delays off the nominal value"
    );
}

#[tokio::test]
async fn retry_after_on_429_sets_the_wait() {
    let fake = Scripted::new(|_, n| {
        Ok(if n == 0 {
            DeliveryResponse::new(StatusCode::TOO_MANY_REQUESTS)
                .with_retry_after(Duration::from_secs(7))
        } else {
            ok(200)
        })
    });
    let (notifier, _store) = start(no_jitter(config(json!({}))), fake.clone());
    notifier.send(&payload());
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    assert_eq!(gaps(&fake), [Duration::from_secs(7)]);
    assert_eq!(notifier.stats().delivered, 1);
}

#[tokio::test]
async fn retry_after_is_capped_and_ignored_on_statuses_other_than_429_and_503() {
    let fake = Scripted::new(|_, n| {
        Ok(match n {
            0 => DeliveryResponse::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_retry_after(Duration::from_secs(3600)),
            1 => DeliveryResponse::new(StatusCode::INTERNAL_SERVER_ERROR)
                .with_retry_after(Duration::from_secs(600)),
            _ => ok(204),
        })
    });
    let (notifier, _store) = start(no_jitter(config(json!({}))), fake.clone());
    notifier.send(&payload());
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    assert_eq!(
        gaps(&fake),
        [Duration::from_secs(30), Duration::from_secs(2)]
    );
}

#[tokio::test]
async fn permanent_failures_are_not_retried_and_are_recorded_as_permanent() {
    let cases: Vec<(&str, Result<DeliveryResponse, TransportError>)> = vec![
        ("400", Ok(ok(400))),
        ("404", Ok(ok(404))),
        ("410", Ok(ok(410))),
        ("301", Ok(ok(301))),
        ("302", Ok(ok(302))),
        (
            "blocked",
            Err(TransportError::Blocked {
                destination: "https://hooks.example.com/…".into(),
                reason: BlockedReason::Loopback,
            }),
        ),
    ];
    for (name, answer) in cases {
        let fake = Scripted::new(move |_, _| answer.clone());
        let (notifier, store) = start(config(json!({})), fake.clone());
        notifier.send(&payload());
        assert!(
            notifier.wait_idle_async(Duration::from_secs(600)).await,
            "{name}"
        );
        assert_eq!(fake.seen().len(), 1, "{name}: attempted once");
        let records = store.list(&RecordFilter::newest(5)).await.expect("list");
        assert_eq!(records.len(), 1, "{name}");
        assert_eq!(records[0].outcome, FailureKind::Permanent, "{name}");
        assert_eq!(notifier.stats().failed_by_kind.permanent, 1, "{name}");
    }
}

#[tokio::test]
async fn retryable_transport_errors_and_statuses_are_retried() {
    let errors = [
        Err(TransportError::Timeout {
            destination: "d".into(),
            after: Duration::from_secs(1),
        }),
        Err(TransportError::Connect {
            destination: "d".into(),
            detail: "refused".into(),
        }),
        Err(TransportError::Io {
            destination: "d".into(),
            detail: "reset".into(),
        }),
        Ok(ok(408)),
        Ok(ok(425)),
        Ok(ok(502)),
    ];
    for answer in errors {
        let first = answer.clone();
        let fake = Scripted::new(move |_, n| if n == 0 { first.clone() } else { Ok(ok(200)) });
        let (notifier, _) = start(config(json!({})), fake.clone());
        notifier.send(&payload());
        assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
        assert_eq!(
            fake.seen().len(),
            2,
            "{answer:?} is retried once then delivered"
        );
        assert_eq!(notifier.stats().delivered, 1);
    }
}

#[tokio::test]
async fn a_hanging_transport_is_cut_off_by_the_timeout_and_retried() {
    #[derive(Debug)]
    struct HangOnce(std::sync::atomic::AtomicBool);
    #[async_trait::async_trait]
    impl webhook_core::Transport for HangOnce {
        async fn send(
            &self,
            _: webhook_core::DeliveryRequest,
        ) -> Result<DeliveryResponse, TransportError> {
            if !self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            Ok(ok(204))
        }
    }
    let cfg = config(json!({"timeout_secs": 5}));
    let (notifier, _) = start(cfg, Arc::new(HangOnce(Default::default())));
    let stats = send_one(&notifier).await;
    assert_eq!((stats.attempts, stats.delivered), (2, 1));
}

#[tokio::test]
async fn the_worker_sets_its_own_timer_only_for_transports_that_do_not_bound_themselves() {
    /// Answers 204 one second after the configured timeout, and says whether it
    /// promises to bound itself.
    #[derive(Debug)]
    struct Late(bool);
    #[async_trait::async_trait]
    impl webhook_core::Transport for Late {
        async fn send(
            &self,
            request: webhook_core::DeliveryRequest,
        ) -> Result<DeliveryResponse, TransportError> {
            tokio::time::sleep(request.timeout + Duration::from_secs(1)).await;
            Ok(ok(204))
        }
        fn enforces_timeout(&self) -> bool {
            self.0
        }
    }
    for (promises, delivered) in [(false, 0), (true, 1)] {
        let cfg = config(json!({"timeout_secs": 5, "retry_count": 0}));
        let (notifier, _) = start(cfg, Arc::new(Late(promises)));
        let stats = send_one(&notifier).await;
        assert_eq!(stats.delivered, delivered, "promises: {promises}");
        assert_eq!(stats.failed, 1 - delivered, "promises: {promises}");
    }
}

#[tokio::test]
async fn every_attempt_keeps_the_webhook_id_with_a_fresh_timestamp_and_signature() {
    let fake = Scripted::new(|_, n| Ok(if n < 3 { ok(500) } else { ok(200) }));
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let cfg = no_jitter(config(
        json!({"secret": secret, "signature_scheme": "both"}),
    ));
    let (notifier, _) = start(cfg, fake.clone());
    notifier.send(&payload());
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    let ids: std::collections::BTreeSet<&str> =
        seen.iter().map(|s| s.webhook_id.as_str()).collect();
    assert_eq!(ids.len(), 1, "one webhook id for every attempt");
    let stamps: std::collections::BTreeSet<&str> = seen
        .iter()
        .map(|s| s.headers["webhook-timestamp"].to_str().expect("ascii"))
        .collect();
    assert_eq!(stamps.len(), 4, "a fresh timestamp on each attempt");
    let sigs: std::collections::BTreeSet<&[u8]> = seen
        .iter()
        .map(|s| s.headers["webhook-signature"].as_bytes())
        .collect();
    assert_eq!(sigs.len(), 4, "a fresh signature on each attempt");
    let verifier = Verifier::new(vec![Secret::parse(secret).expect("valid")])
        .with_tolerance(Duration::from_secs(3600));
    for s in &seen {
        let ts: u64 = s.headers["webhook-timestamp"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("number");
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(ts);
        verifier
            .verify_standard(&s.headers, &s.body, at)
            .expect("each attempt verifies");
        let hex = s.headers["x-webhook-signature-256"]
            .to_str()
            .expect("ascii");
        verifier.verify_hex(hex, &s.body).expect("hex verifies");
        assert_eq!(s.headers["content-type"], "application/json");
        assert!(
            s.headers["user-agent"]
                .to_str()
                .expect("ascii")
                .starts_with("webhook-rs/")
        );
    }
}

#[tokio::test]
async fn each_scheme_sends_exactly_its_headers_in_order_and_none_empty() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    // Every attempt starts with these; each scheme adds its own, in this order.
    let common = ["content-type", "user-agent", "webhook-id"];
    let standard = ["webhook-timestamp", "webhook-signature"];
    let cases: [(serde_json::Value, Vec<&str>); 4] = [
        (json!({}), vec![]),
        (json!({"secret": secret}), standard.to_vec()),
        (
            json!({"secret": secret, "signature_scheme": "hex", "signature_header": "X-Ralph-Signature"}),
            vec!["x-ralph-signature"],
        ),
        (
            json!({"secret": secret, "signature_scheme": "both"}),
            [&standard[..], &["x-webhook-signature-256"]].concat(),
        ),
    ];
    for (settings, extra) in cases {
        let expected = [&common[..], &extra].concat();
        let fake = Scripted::new(|_, n| Ok(if n == 0 { ok(500) } else { ok(204) }));
        let (notifier, _) = start(no_jitter(config(settings.clone())), fake.clone());
        notifier.send(&payload());
        assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
        let seen = fake.seen();
        assert_eq!(seen.len(), 2, "{settings}");
        for attempt in &seen {
            let names: Vec<&str> = attempt.headers.keys().map(|k| k.as_str()).collect();
            assert_eq!(names, expected, "{settings}");
            for (name, value) in &attempt.headers {
                assert!(!value.is_empty(), "{name} is empty with {settings}");
            }
            assert_eq!(attempt.headers.len(), expected.len(), "one value each");
        }
    }
}

#[tokio::test]
async fn waiting_retries_are_bounded_and_overflow_goes_to_the_store() {
    let fake = Scripted::status(500);
    let cfg = no_jitter(config(
        json!({"max_pending_retries": 2, "max_concurrency": 8}),
    ));
    let (notifier, store) = start(cfg, fake);
    for _ in 0..5 {
        notifier.send(&payload());
    }
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    let stats = notifier.stats();
    assert_eq!(
        stats.failed_by_kind.overflow + stats.failed_by_kind.exhausted,
        5
    );
    assert!(stats.failed_by_kind.overflow >= 1, "{stats:?}");
    assert_eq!(store.count().await.expect("count"), 5);
    assert!(stats.balances());
}

#[tokio::test]
async fn a_panicking_transport_loses_nothing_the_event_is_recorded_as_permanent() {
    let fake = Scripted::new(|_, _| panic!("transport bug"));
    let (notifier, store) = start(config(json!({})), fake);
    notifier.send(&payload());
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    let records = store.list(&RecordFilter::newest(5)).await.expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, FailureKind::Permanent);
    assert!(
        records[0].error.contains("panicked"),
        "{}",
        records[0].error
    );
    let stats = notifier.stats();
    assert!(stats.balances() && stats.is_idle(), "{stats:?}");
}

#[tokio::test]
async fn failure_records_carry_the_answer_and_why_no_retry_followed() {
    /// Answers 500, holding each first attempt until all five have arrived, so that
    /// all five fail together.
    #[derive(Debug)]
    struct Together(tokio::sync::Barrier);
    #[async_trait::async_trait]
    impl webhook_core::Transport for Together {
        async fn send(
            &self,
            request: webhook_core::DeliveryRequest,
        ) -> Result<DeliveryResponse, TransportError> {
            if request.attempt == 1 {
                self.0.wait().await;
            }
            Ok(ok(500))
        }

        // No backstop timer: while the first attempts wait for each other, the paused
        // clock has no timer to jump to (it would time the first one out while the test
        // thread is still enqueueing the others).
        fn enforces_timeout(&self) -> bool {
            true
        }
    }
    let cfg = no_jitter(config(
        json!({"max_pending_retries": 2, "max_concurrency": 8, "retry_count": 1}),
    ));
    let (notifier, store) = start(cfg, Arc::new(Together(tokio::sync::Barrier::new(5))));
    for _ in 0..5 {
        notifier.send(&payload());
    }
    assert!(notifier.wait_idle_async(Duration::from_secs(600)).await);
    let stats = notifier.stats();
    // All five fail at once; two may wait, the other three overflow the bound.
    assert_eq!(
        (
            stats.failed_by_kind.overflow,
            stats.failed_by_kind.exhausted,
            stats.attempts,
            stats.retries
        ),
        (3, 2, 7, 2),
        "{stats:?}"
    );
    let records = store.list(&RecordFilter::newest(10)).await.expect("list");
    assert_eq!(records.len(), 5);
    for record in &records {
        assert_eq!(record.last_status, Some(500));
        match record.outcome {
            FailureKind::Overflow => {
                assert_eq!(
                    record.error,
                    "server answered 500 Internal Server Error (retry not scheduled: max_pending_retries reached)"
                );
                assert_eq!(record.attempts, 1);
            }
            FailureKind::Exhausted => {
                assert_eq!(record.error, "server answered 500 Internal Server Error");
                assert_eq!(record.attempts, 2);
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert!(stats.balances() && stats.is_idle(), "{stats:?}");
}

#[tokio::test]
async fn a_retry_due_after_the_shutdown_deadline_is_recorded_at_once_with_its_last_answer() {
    let fake = Scripted::status(503);
    let cfg = no_jitter(config(json!({"retry_backoff_ms": 30_000})));
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(cfg, fake.clone())
        .store(store.clone())
        .start()
        .expect("starts");
    notifier.send(&payload());
    let started = std::time::Instant::now();
    while notifier.stats().waiting_retries == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "no retry wait");
        tokio::task::yield_now().await;
    }
    let shutdown = std::time::Instant::now();
    let report = notifier.shutdown_async(Duration::from_secs(20)).await;
    assert!(
        shutdown.elapsed() < Duration::from_secs(10),
        "a wait past the deadline ends at once, not at the deadline: {:?}",
        shutdown.elapsed()
    );
    assert_eq!(report.stats.failed_by_kind.shutdown, 1, "{report:?}");
    assert_eq!(fake.seen().len(), 1, "no second attempt");
    let records = store.list(&RecordFilter::newest(5)).await.expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, FailureKind::Shutdown);
    assert_eq!(
        records[0].error,
        "server answered 503 Service Unavailable (retry pending at shutdown)"
    );
    assert_eq!(
        (records[0].attempts, records[0].last_status),
        (1, Some(503))
    );
}

#[tokio::test]
async fn a_retry_due_before_the_shutdown_deadline_is_still_made() {
    let fake = Scripted::new(|_, n| Ok(if n == 0 { ok(500) } else { ok(204) }));
    let cfg = no_jitter(config(json!({"retry_backoff_ms": 100})));
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(cfg, fake.clone())
        .store(store.clone())
        .start()
        .expect("starts");
    notifier.send(&payload());
    let started = std::time::Instant::now();
    while notifier.stats().waiting_retries == 0 && fake.seen().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "no retry wait");
        tokio::task::yield_now().await;
    }
    let report = notifier.shutdown_async(Duration::from_secs(30)).await;
    assert_eq!(report.stats.delivered, 1, "{report:?}");
    assert_eq!(fake.seen().len(), 2);
    assert_eq!(store.count().await.expect("count"), 0);
}

#[tokio::test]
async fn an_answer_within_the_backstop_margin_counts_and_one_after_it_does_not() {
    /// Answers 204 this long after the configured timeout.
    #[derive(Debug)]
    struct After(Duration);
    #[async_trait::async_trait]
    impl webhook_core::Transport for After {
        async fn send(
            &self,
            request: webhook_core::DeliveryRequest,
        ) -> Result<DeliveryResponse, TransportError> {
            tokio::time::sleep(request.timeout + self.0).await;
            Ok(ok(204))
        }
    }
    for (late_ms, delivered) in [(200, 1), (300, 0)] {
        let cfg = config(json!({"timeout_secs": 5, "retry_count": 0}));
        let (notifier, store) = start(cfg, Arc::new(After(Duration::from_millis(late_ms))));
        let stats = send_one(&notifier).await;
        assert_eq!(stats.delivered, delivered, "{late_ms} ms late");
        if delivered == 0 {
            let records = store.list(&RecordFilter::newest(5)).await.expect("list");
            assert_eq!(
                records[0].error,
                "no response from https://hooks.example.com/… within 5000ms"
            );
        }
    }
}
