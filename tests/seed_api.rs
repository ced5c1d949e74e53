//! Every function of the seed's API, called and observed at a real receiver.
//!
//! The free functions share one global worker, so these tests take turns (a lock)
//! and each ends by shutting the worker down.

use serde_json::Value;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use webhook::*;
use webhook_core::FailureStore;
use webhook_testkit::{Reply, Script, TestReceiver};

static TURN: Mutex<()> = Mutex::new(());

struct Fixture {
    _turn: MutexGuard<'static, ()>,
    receiver: TestReceiver,
    config: WebhookConfig,
    _store: tempfile::TempDir,
}

fn fixture(script: Script) -> Fixture {
    let turn = TURN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = TestReceiver::builder()
        .per_webhook(script)
        .secret("seed-secret")
        .start()
        .expect("receiver");
    let store = tempfile::tempdir().expect("tempdir");
    let config = WebhookConfig {
        store_path: Some(store.path().join("failures")),
        retry_count: Some(0),
        ..receiver.config()
    };
    Fixture {
        _turn: turn,
        receiver,
        config,
        _store: store,
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        shutdown_worker(Duration::from_secs(2));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Waits for `n` deliveries and returns their JSON bodies, in arrival order.
fn delivered(receiver: &TestReceiver, n: usize) -> Vec<Value> {
    let requests = runtime()
        .block_on(receiver.wait_for_deliveries(n, Duration::from_secs(20)))
        .expect("deliveries arrive");
    requests
        .iter()
        .map(|r| r.json().expect("JSON body"))
        .collect()
}

fn context() -> WebhookContext {
    WebhookContext {
        runner: Some("codex".into()),
        model: Some("m1".into()),
        ..WebhookContext::default()
    }
}

#[test]
fn every_notify_function_sends_its_event_with_its_fields() {
    let f = fixture(Script::always(Reply::ok()));
    let c = &f.config;
    let ctx = context();
    let outcomes = [
        notify_task_created("T1", "Title", c),
        notify_task_created_with_context("T1", "Title", c, &ctx),
        notify_task_started("T1", "Title", c),
        notify_task_started_with_context("T1", "Title", c, &ctx),
        notify_task_completed("T1", "Title", c),
        notify_task_completed_with_context("T1", "Title", c, &ctx),
        notify_task_failed("T1", "Title", Some("tests failed"), c),
        notify_task_failed_with_context("T1", "Title", Some("tests failed"), c, &ctx),
        notify_status_changed("T1", "Title", "todo", "doing", c),
        notify_loop_started(Some("starting"), c),
        notify_loop_stopped(Some("done"), c),
        notify_phase_started("T1", "Title", 1, 3, c, &ctx),
        notify_phase_completed("T1", "Title", 1, 3, c, &ctx),
        notify_queue_unblocked(None, c),
        send_webhook(
            WebhookEventType::TaskStatusChanged,
            "T2",
            "Other",
            Some("a"),
            Some("b"),
            Some("n"),
            c,
        ),
        send_webhook_payload(WebhookPayload::named("custom_event").note("custom"), c),
    ];
    assert!(
        outcomes.iter().all(NotifyOutcome::is_accepted),
        "{outcomes:?}"
    );
    let mut bodies = delivered(&f.receiver, outcomes.len());
    bodies.sort_by_key(|b| b.to_string());
    let find = |event: &str, pred: &dyn Fn(&Value) -> bool| {
        bodies
            .iter()
            .filter(|b| b["event"] == event && pred(b))
            .count()
    };
    let with_ctx = |b: &Value| b["runner"] == "codex" && b["model"] == "m1";
    let no_ctx = |b: &Value| b.get("runner").is_none();
    for event in [
        "task_created",
        "task_started",
        "task_completed",
        "task_failed",
    ] {
        assert_eq!(find(event, &with_ctx), 1, "{event} with context");
        assert_eq!(
            find(event, &|b| no_ctx(b)
                && b["task_id"] == "T1"
                && b["task_title"] == "Title"),
            1,
            "{event}"
        );
    }
    assert_eq!(find("task_failed", &|b| b["note"] == "tests failed"), 2);
    assert_eq!(
        find("task_status_changed", &|b| b["previous_status"] == "todo"
            && b["current_status"] == "doing"),
        1
    );
    assert_eq!(
        find("task_status_changed", &|b| b["task_id"] == "T2"
            && b["note"] == "n"),
        1
    );
    assert_eq!(
        find("loop_started", &|b| b["note"] == "starting"
            && b.get("task_id").is_none()),
        1
    );
    assert_eq!(
        find("loop_stopped", &|b| b["note"] == "done"
            && b.get("task_id").is_none()),
        1
    );
    assert_eq!(
        find("queue_unblocked", &|b| b.get("task_id").is_none()
            && b.get("note").is_none()),
        1
    );
    for event in ["phase_started", "phase_completed"] {
        assert_eq!(
            find(event, &|b| b["phase"] == 1
                && b["phase_count"] == 3
                && with_ctx(b)),
            1,
            "{event}"
        );
    }
    assert_eq!(find("custom_event", &|b| b["note"] == "custom"), 1);
    assert!(
        f.receiver
            .deliveries()
            .iter()
            .all(|r| r.signatures.any_valid()),
        "all signed"
    );
}

#[test]
fn the_event_filter_the_enabled_flag_and_a_bad_config_stop_events() {
    let f = fixture(Script::always(Reply::ok()));
    let only_failures = WebhookConfig {
        events: Some(vec!["task_failed".into()]),
        ..f.config.clone()
    };
    assert_eq!(
        notify_task_created("T1", "x", &only_failures),
        EnqueueOutcome::Dropped(DropReason::Filtered)
    );
    assert_eq!(
        notify_loop_started(None, &only_failures),
        EnqueueOutcome::Dropped(DropReason::Filtered)
    );
    assert!(notify_task_failed("T1", "x", None, &only_failures).is_accepted());
    let bodies = delivered(&f.receiver, 1);
    assert_eq!(bodies[0]["event"], "task_failed");
    let defaults = WebhookConfig {
        events: None,
        ..f.config.clone()
    };
    assert_eq!(
        notify_phase_started("T1", "x", 1, 2, &defaults, &context()),
        EnqueueOutcome::Dropped(DropReason::Filtered)
    );
    let off = WebhookConfig {
        enabled: Some(false),
        ..f.config.clone()
    };
    assert_eq!(
        notify_task_created("T1", "x", &off),
        EnqueueOutcome::Dropped(DropReason::Disabled)
    );
    let invalid = WebhookConfig {
        timeout_secs: Some(0),
        ..f.config.clone()
    };
    assert_eq!(
        notify_task_created("T1", "x", &invalid),
        NotifyOutcome::InvalidConfig
    );
    assert_eq!(f.receiver.request_count(), 1, "nothing else was sent");
}

#[test]
fn a_config_change_rebuilds_the_worker_and_parallel_init_scales_it() {
    let f = fixture(Script::always(Reply::ok()));
    notify_task_created("T1", "first", &f.config);
    delivered(&f.receiver, 1);
    let second = TestReceiver::builder()
        .secret("seed-secret")
        .start()
        .expect("receiver");
    let moved = WebhookConfig {
        url: Some(second.url()),
        ..f.config.clone()
    };
    notify_task_created("T1", "second", &moved);
    assert_eq!(delivered(&second, 1)[0]["task_title"], "second");
    assert_eq!(
        global_notifier(&moved).expect("running").stats().accepted,
        1,
        "a fresh worker"
    );
    assert_eq!(
        f.receiver.request_count(),
        1,
        "the old endpoint got nothing new"
    );

    init_worker_for_parallel(&moved, 3).expect("starts");
    let scaled = global_notifier(&moved).expect("running");
    assert_eq!(scaled.config().queue_capacity, 3000); // 500 × 3 × 2.0
    assert_eq!(scaled.config().max_concurrency, 4);
    init_worker_for_parallel(&moved, 8).expect("starts");
    let scaled = global_notifier(&moved).expect("running");
    assert_eq!(
        (
            scaled.config().queue_capacity,
            scaled.config().max_concurrency
        ),
        (8000, 8)
    );
    assert!(notify_task_started("T1", "parallel", &moved).is_accepted());
    assert_eq!(delivered(&second, 2).len(), 2);
    let bad = WebhookConfig {
        queue_capacity: Some(5),
        ..moved
    };
    let err = init_worker_for_parallel(&bad, 2).expect_err("invalid config refused");
    assert!(err.to_string().contains("queue_capacity"), "{err}");
}

#[test]
fn notify_follows_every_rebuild_and_shutdown_of_the_global_worker() {
    let f = fixture(Script::always(Reply::ok()));
    // This thread now keeps the running notifier for `f.config`.
    assert!(notify_task_created("T1", "first", &f.config).is_accepted());
    // The same config, rebuilt for parallel mode: the next event goes to the new worker.
    init_worker_for_parallel(&f.config, 3).expect("starts");
    assert!(notify_task_created("T2", "second", &f.config).is_accepted());
    let scaled = global_notifier(&f.config).expect("running");
    assert_eq!(scaled.config().queue_capacity, 3000);
    assert_eq!(scaled.stats().accepted, 1, "the rebuilt worker took it");
    // After a shutdown, the next event starts a fresh worker instead of going to the
    // stopped one (which would refuse it).
    shutdown_worker(Duration::from_secs(5)).expect("a worker was running");
    assert!(notify_task_created("T3", "third", &f.config).is_accepted());
    let fresh = global_notifier(&f.config).expect("running");
    assert_eq!(fresh.stats().accepted, 1, "a fresh worker took it");
    // Another thread finds the same worker.
    let config = f.config.clone();
    let other = std::thread::spawn(move || notify_task_created("T4", "fourth", &config));
    assert!(other.join().expect("thread").is_accepted());
    assert_eq!(fresh.stats().accepted, 2);
    let titles: Vec<Value> = delivered(&f.receiver, 4)
        .iter()
        .map(|b| b["task_title"].clone())
        .collect();
    assert_eq!(titles.len(), 4, "{titles:?}");
}

#[test]
fn shutdown_worker_waits_until_a_worker_replaced_by_a_config_change_has_stopped() {
    let f = fixture(Script::always(Reply::ok()));
    // The first endpoint holds its answers: the old worker's event stays in flight.
    f.receiver.pause();
    let quick = WebhookConfig {
        shutdown_grace_ms: Some(200),
        ..f.config.clone()
    };
    let old = global_notifier(&quick).expect("running");
    assert!(notify_task_created("T1", "held", &quick).is_accepted());
    let second = TestReceiver::builder()
        .secret("seed-secret")
        .start()
        .expect("receiver");
    let moved = WebhookConfig {
        url: Some(second.url()),
        ..quick.clone()
    };
    assert!(notify_task_created("T2", "second", &moved).is_accepted());

    let report = shutdown_worker(Duration::from_secs(5)).expect("a worker was running");
    assert_eq!(
        report.stats.delivered, 1,
        "the new worker delivered its event"
    );
    // The old worker (still referenced here) was shut down, and shutdown_worker waited
    // for it: its held event is accounted for and recorded.
    let stats = old.stats();
    assert_eq!(
        (stats.queued, stats.in_flight, stats.waiting_retries),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.failed_by_kind.shutdown, 1, "{stats:?}");
    let held = runtime()
        .block_on(
            old.store()
                .list(&webhook_core::store::RecordFilter::newest(10).task_id("T1")),
        )
        .expect("list");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].outcome, webhook_core::store::FailureKind::Shutdown);
    f.receiver.resume();
}

#[test]
fn diagnostics_show_a_failure_and_replay_delivers_it() {
    let f = fixture(Script::always(Reply::status(500)));
    assert!(notify_task_failed("T9", "Broken", Some("boom"), &f.config).is_accepted());
    assert!(wait_for_idle(&f.config, Duration::from_secs(20)));
    let diagnostics = diagnostics_snapshot(&f.config, 5);
    assert_eq!(diagnostics.stats.failed, 1);
    assert_eq!(diagnostics.store_records, Some(1));
    assert!(
        diagnostics.store_location.ends_with("failures"),
        "{}",
        diagnostics.store_location
    );
    let record = &diagnostics.recent_failures[0];
    assert_eq!(
        (
            record.event.as_str(),
            record.task_id.as_deref(),
            record.last_status
        ),
        ("task_failed", Some("T9"), Some(500))
    );
    assert!(record.destination.ends_with("/…"));
    let json = serde_json::to_string(&diagnostics).expect("json");
    assert!(!json.contains("seed-secret"));

    let refused = replay_failed_deliveries(&f.config, &ReplaySelector::default(), false);
    assert!(matches!(refused, Err(ReplayError::EmptySelector)));
    let dry =
        replay_failed_deliveries(&f.config, &ReplaySelector::task_id("T9"), true).expect("dry run");
    assert_eq!((dry.matched, dry.eligible, dry.replayed), (1, 1, 0));
    f.receiver
        .script_for(record.webhook_id.as_str(), Script::always(Reply::ok()));
    let report =
        replay_failed_deliveries(&f.config, &ReplaySelector::task_id("T9"), false).expect("replay");
    assert_eq!(report.replayed, 1);
    let bodies = delivered(&f.receiver, 1);
    assert_eq!(bodies[0]["task_id"], "T9");
    assert!(wait_for_idle(&f.config, Duration::from_secs(20)));
    let after = diagnostics_snapshot(&f.config, 5);
    assert_eq!(
        after.recent_failures[0].status,
        webhook_core::store::RecordStatus::Resolved
    );
}

#[test]
fn failure_store_path_is_under_the_application_root() {
    let root = std::path::Path::new("/srv/app");
    let path = failure_store_path(root);
    assert!(path.starts_with(root), "{}", path.display());
    assert_ne!(path, root);
    let configured = WebhookConfig {
        store_path: Some("/var/lib/hooks".into()),
        ..WebhookConfig::default()
    };
    assert_eq!(
        failure_store_path_for(&configured),
        std::path::PathBuf::from("/var/lib/hooks")
    );
}

#[test]
fn a_durable_config_keeps_events_in_the_outbox_beside_the_store_until_delivered() {
    let f = fixture(Script::sequence([Reply::status(503), Reply::ok()]));
    let config = WebhookConfig {
        durable: Some(true),
        retry_count: Some(1),
        retry_backoff_ms: Some(100),
        ..f.config.clone()
    };
    assert!(notify_task_created("T-D", "durable", &config).is_accepted());
    let requests = runtime()
        .block_on(f.receiver.wait_for_requests(1, Duration::from_secs(20)))
        .expect("first attempt");
    assert_eq!(requests.len(), 1);
    let during = diagnostics_snapshot(&config, 5);
    let outbox = during.outbox.expect("the snapshot shows the outbox");
    assert!(outbox.location.contains("outbox"), "{outbox:?}");
    let body = &delivered(&f.receiver, 1)[0];
    assert_eq!(body["task_id"], "T-D");
    assert!(wait_for_idle(&config, Duration::from_secs(20)));
    let after = diagnostics_snapshot(&config, 5);
    assert_eq!(
        after.outbox.and_then(|o| o.pending),
        Some(0),
        "delivered entries leave it"
    );
    assert_eq!((after.stats.stored, after.stats.delivered), (1, 1));
}

#[test]
fn a_postgres_store_path_keeps_the_outbox_and_the_failures_in_the_database() {
    let Some(t) = webhook_postgres::testing::TestSchema::create("seed_facade") else {
        return;
    };
    let f = fixture(Script::sequence([Reply::status(410), Reply::ok()]));
    let url = t
        .options
        .url_with_schema()
        .replacen("postgres@", "postgres:S3cretPw@", 1);
    let config = WebhookConfig {
        durable: Some(true),
        store_path: Some(url.into()),
        ..f.config.clone()
    };
    assert!(notify_task_failed("T-PG", "refused once", Some("why"), &config).is_accepted());
    assert!(wait_for_idle(&config, Duration::from_secs(20)));
    let snapshot = diagnostics_snapshot(&config, 5);
    let shown = format!(
        "{snapshot:?} {}",
        serde_json::to_string(&snapshot).expect("json")
    );
    assert!(!shown.contains("S3cretPw"), "{shown}");
    assert!(snapshot.store_location.contains(t.db.schema()), "{shown}");
    let outbox = snapshot.outbox.expect("the snapshot shows the outbox");
    assert!(outbox.location.starts_with("postgres://"), "{outbox:?}");
    assert_eq!(outbox.pending, Some(0));
    assert_eq!(snapshot.recent_failures.len(), 1, "{shown}");
    // Another handle on the same schema (another instance) sees the record.
    let other = t.db.failure_store();
    let rt = runtime();
    assert_eq!(rt.block_on(other.count()).expect("count"), 1);
    let report =
        replay_failed_deliveries(&config, &ReplaySelector::task_id("T-PG"), false).expect("replay");
    assert_eq!(report.replayed, 1, "{report:?}");
    assert!(wait_for_idle(&config, Duration::from_secs(20)));
    let records = rt
        .block_on(other.list(&webhook_core::store::RecordFilter::newest(5)))
        .expect("list");
    assert_eq!(
        records[0].status,
        webhook_core::store::RecordStatus::Resolved
    );
    assert_eq!(f.receiver.requests().len(), 2);
}
