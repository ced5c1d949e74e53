//! The durable outbox end to end: sled outbox and store in one folder, a scripted
//! transport, real restarts of the notifier.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::outbox::Outbox;
use webhook_core::store::{FailureKind, FailureStore, RecordFilter};
use webhook_core::{NotStored, Notifier, WebhookEventType, WebhookPayload};
use webhook_sled::SledFailureStore;
use webhook_testkit::{Reply, Script, ScriptedTransport, TestConfig};

const SETTLE: Duration = Duration::from_secs(20);

fn payload(n: usize) -> WebhookPayload {
    WebhookPayload::new(WebhookEventType::TaskCreated).task_id(format!("T-{n}"))
}

fn config(
    edit: impl FnOnce(&mut webhook_core::WebhookConfig),
) -> webhook_core::ResolvedWebhookConfig {
    TestConfig::default()
        .edit(|c| {
            c.commit_linger_ms = Some(1);
            edit(c);
        })
        .resolve()
        .expect("valid config")
}

fn durable(
    store: &SledFailureStore,
    transport: Arc<ScriptedTransport>,
    config: webhook_core::ResolvedWebhookConfig,
) -> Notifier {
    let outbox = store.outbox().expect("outbox opens");
    Notifier::builder(config, transport)
        .store(Arc::new(store.clone()))
        .outbox(Arc::new(outbox))
        .start()
        .expect("starts")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn confirmed_events_are_durable_then_delivered_once_and_leave_the_outbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    let notifier = durable(&store, transport.clone(), config(|_| {}));
    for n in 0..200 {
        notifier.send_confirmed(&payload(n)).expect("durable");
    }
    assert!(notifier.wait_idle(SETTLE));
    let stats = notifier.stats();
    assert_eq!(
        (stats.accepted, stats.stored, stats.claimed, stats.delivered),
        (200, 200, 200, 200)
    );
    assert!(stats.balances(), "{stats:?}");
    let mut ids: Vec<_> = transport
        .deliveries()
        .into_iter()
        .map(|a| a.webhook_id)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "each event delivered, none twice");
    let report = notifier.shutdown(Duration::from_secs(5));
    assert_eq!(report.left_in_outbox, 0);
    let outbox = store.outbox().expect("reopen");
    assert!(outbox.is_empty(), "delivered entries are removed");
}

#[test]
fn retries_wait_in_the_outbox_and_keep_their_attempt_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::fail_then_succeed(
        2, 503,
    )));
    let notifier = durable(
        &store,
        transport.clone(),
        config(|c| c.retry_schedule_ms = Some(vec![20, 20, 20])),
    );
    for n in 0..10 {
        notifier.send_confirmed(&payload(n)).expect("durable");
    }
    assert!(notifier.wait_idle(SETTLE));
    let stats = notifier.stats();
    assert_eq!(stats.delivered, 10);
    assert_eq!(stats.attempts, 30, "three attempts each");
    assert_eq!(
        stats.released, 20,
        "each failed attempt went back to the outbox"
    );
    assert_eq!(stats.claimed, 30);
    assert_eq!(stats.waiting_retries, 0, "nothing waits in memory");
    assert!(stats.balances(), "{stats:?}");
    let numbers: Vec<u32> = transport.attempts().iter().map(|a| a.attempt).collect();
    assert_eq!(
        numbers.iter().filter(|n| **n == 3).count(),
        10,
        "attempt numbers survive the outbox"
    );
}

#[test]
fn a_new_start_recovers_what_the_last_one_left_with_ids_and_attempts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let silent = Arc::new(ScriptedTransport::per_webhook(Script::always(
        Reply::status(503),
    )));
    let first = durable(
        &store,
        silent.clone(),
        config(|c| c.retry_schedule_ms = Some(vec![60_000])),
    );
    for n in 0..25 {
        first.send_confirmed(&payload(n)).expect("durable");
    }
    let rt = runtime();
    rt.block_on(silent.wait_for_attempts(25, SETTLE))
        .expect("one attempt each");
    assert!(
        !first.wait_idle(Duration::from_millis(200)),
        "retries wait in the outbox"
    );
    let report = first.shutdown(Duration::from_secs(2));
    assert_eq!(report.left_in_outbox, 25, "{report:?}");
    assert_eq!(
        report.recorded, 0,
        "nothing goes to the failure store at shutdown"
    );
    drop(first);
    let sent_before: Vec<_> = silent
        .attempts()
        .into_iter()
        .map(|a| a.webhook_id)
        .collect();

    let working = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    let second = durable(
        &store,
        working.clone(),
        config(|c| c.retry_schedule_ms = Some(vec![20])),
    );
    // The stored retry is not due for a minute: a restart does not make it due early.
    assert!(!second.wait_idle(Duration::from_millis(300)));
    assert_eq!(working.attempt_count(), 0, "not before not_before");
    let report = second.shutdown(Duration::from_secs(2));
    assert_eq!(report.left_in_outbox, 25);
    drop(second);

    // Make the entries due now (as if the minute had passed).
    let outbox = store.outbox().expect("outbox");
    rt.block_on(async {
        let owner = webhook_core::outbox::OwnerId::generate();
        let far = u64::MAX / 4;
        let claimed = outbox
            .claim(&owner, far, Duration::from_secs(60), 100)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 25);
        assert!(
            claimed.iter().all(|c| c.entry.attempts == 1),
            "attempt counts kept"
        );
        let settles = claimed
            .iter()
            .map(|c| webhook_core::outbox::Settle {
                id: c.entry.id,
                token: c.token,
                how: webhook_core::outbox::Settlement::RetryAt {
                    attempts: 1,
                    not_before_ms: 0,
                },
            })
            .collect();
        outbox.settle(settles).await.expect("settle");
    });
    drop(outbox);
    let third = durable(&store, working.clone(), config(|_| {}));
    assert!(third.wait_idle(SETTLE));
    let stats = third.stats();
    assert_eq!((stats.recovered, stats.delivered), (25, 25), "{stats:?}");
    let mut delivered: Vec<_> = working
        .deliveries()
        .into_iter()
        .map(|a| a.webhook_id)
        .collect();
    let mut before = sent_before.clone();
    delivered.sort();
    before.sort();
    assert_eq!(
        delivered, before,
        "the same webhook ids as the first attempts"
    );
    assert!(
        working.attempts().iter().all(|a| a.attempt == 2),
        "second attempt of each"
    );
}

#[test]
fn a_final_failure_is_recorded_then_removed_and_replay_appends_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let transport = Arc::new(ScriptedTransport::new());
    transport.script_for("msg_gone", Script::always(Reply::status(410)));
    let notifier = durable(&store, transport.clone(), config(|_| {}));
    let message = webhook_core::WebhookMessage::custom("gone", &serde_json::json!({"n": 1}))
        .expect("valid")
        .with_id("msg_gone".parse().expect("id"));
    notifier.enqueue_confirmed(message).expect("durable");
    assert!(notifier.wait_idle(SETTLE));
    let rt = runtime();
    let records = rt
        .block_on(store.list(&RecordFilter::newest(10)))
        .expect("list");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome, FailureKind::Permanent);
    assert_eq!(
        rt.block_on(store.outbox().expect("outbox").pending())
            .expect("pending")
            .count,
        0
    );

    transport.script_for("msg_gone", Script::always(Reply::ok()));
    let replay = notifier
        .replay(
            &webhook_core::ReplaySelector::ids([records[0].id.as_str()]),
            false,
        )
        .expect("replay");
    assert_eq!(replay.replayed, 1);
    assert!(notifier.wait_idle(SETTLE));
    let stats = notifier.stats();
    assert_eq!(
        (stats.stored, stats.replays_resolved, stats.delivered),
        (2, 1, 1),
        "{stats:?}"
    );
    let resolved = rt
        .block_on(store.get(&records[0].id))
        .expect("get")
        .expect("kept");
    assert_eq!(resolved.status, webhook_core::store::RecordStatus::Resolved);
    assert_eq!(
        rt.block_on(store.count()).expect("count"),
        1,
        "no duplicate record"
    );
}

#[test]
fn sync_durability_makes_send_wait_and_memory_mode_cannot_confirm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    let cfg = config(|c| c.durability = Some(webhook_core::config::Durability::Sync));
    let notifier = durable(&store, transport.clone(), cfg);
    for n in 0..20 {
        assert!(notifier.send(&payload(n)).is_accepted());
        assert!(
            notifier.stats().stored > n as u64,
            "durable when send returns"
        );
    }
    notifier.shutdown(Duration::from_secs(5));

    let memory = Notifier::builder(config(|_| {}), transport)
        .start()
        .expect("starts");
    assert_eq!(memory.send_confirmed(&payload(0)), Err(NotStored::NoOutbox));
}

#[test]
fn a_crash_between_the_record_and_the_removal_leaves_one_record_not_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(
        Reply::status(410),
    )));
    // First run: the record is written, but every try to remove the entry fails (as if
    // the process died right after the record).
    let faulty = Arc::new(webhook_testkit::FaultyOutbox::new(
        store.outbox().expect("outbox"),
        webhook_testkit::Faults::none().with_failing_settles(3),
    ));
    let first = Notifier::builder(config(|_| {}), transport.clone())
        .store(Arc::new(store.clone()))
        .outbox(faulty.clone())
        .start()
        .expect("starts");
    first.send_confirmed(&payload(1)).expect("durable");
    let rt = runtime();
    rt.block_on(transport.wait_for_attempts(1, SETTLE))
        .expect("attempted");
    let report = first.shutdown(Duration::from_secs(5));
    assert_eq!(report.left_in_outbox, 1, "the removal failed: {report:?}");
    assert_eq!(faulty.injected(), 3);
    assert_eq!(rt.block_on(store.count()).expect("count"), 1);
    drop(first);
    drop(faulty);

    // The next start takes the entry back, attempts it again and records it again.
    let second = durable(&store, transport.clone(), config(|_| {}));
    assert!(second.wait_idle(SETTLE));
    assert_eq!(transport.attempt_count(), 2, "the attempt was repeated");
    assert_eq!(
        rt.block_on(store.count()).expect("count"),
        1,
        "the same record, not a second"
    );
    assert_eq!(second.stats().recovered, 1);
}

#[test]
fn the_outbox_bound_holds_new_events_in_the_queue_and_counts_it() {
    let outbox = Arc::new(webhook_testkit::MemoryOutbox::new());
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    transport.pause();
    let cfg = config(|c| {
        c.outbox_max_pending = Some(100);
        c.commit_batch_max = Some(50);
        c.queue_capacity = Some(1000);
    });
    let notifier = Notifier::builder(cfg, transport.clone())
        .outbox(outbox.clone())
        .start()
        .expect("starts");
    for n in 0..300 {
        assert!(notifier.send(&payload(n)).is_accepted());
    }
    let rt = runtime();
    rt.block_on(async {
        for _ in 0..500 {
            if notifier.stats().outbox_full > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let stats = notifier.stats();
    assert!(stats.outbox_full > 0, "{stats:?}");
    assert!(
        outbox.entries().len() <= 100,
        "the bound holds: {}",
        outbox.entries().len()
    );
    assert!(
        stats.not_yet_durable() >= 200,
        "the rest waits in memory: {stats:?}"
    );
    transport.resume();
    assert!(notifier.wait_idle(SETTLE));
    let stats = notifier.stats();
    assert_eq!((stats.stored, stats.delivered), (300, 300), "{stats:?}");
    assert!(stats.balances());
}

#[test]
fn a_lease_shorter_than_the_timeout_and_its_margin_is_refused_naming_both() {
    let err = TestConfig::default()
        .edit(|c| {
            c.timeout_secs = Some(30);
            c.lease_ms = Some(20_000);
        })
        .resolve()
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("`lease_ms` = 20000") && text.contains("40000"),
        "{text}"
    );
    let named = TestConfig::default()
        .edit(|c| c.retry_schedule = Some("svix".into()))
        .resolve()
        .expect("svix is known");
    assert_eq!(named.retry.max_retries(), 7);
    let unknown = TestConfig::default()
        .edit(|c| c.retry_schedule = Some("hourly".into()))
        .resolve()
        .expect_err("unknown");
    assert!(unknown.to_string().contains("`svix`"), "{unknown}");
}

#[test]
fn the_shortest_lease_the_config_accepts_still_delivers() {
    // Regression: with `lease_ms` = timeout + 10 s (the least accepted), every claimed
    // entry used to be judged too old to start and was left to lapse, so nothing went out.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledFailureStore::open(dir.path()).expect("store");
    let transport = Arc::new(ScriptedTransport::per_webhook(Script::always(Reply::ok())));
    let shortest = config(|c| {
        c.timeout_secs = Some(1);
        c.lease_ms = Some(11_000);
    });
    let notifier = durable(&store, transport.clone(), shortest);
    for n in 0..20 {
        notifier.send_confirmed(&payload(n)).expect("durable");
    }
    assert!(notifier.wait_idle(SETTLE), "{:?}", notifier.stats());
    let stats = notifier.stats();
    assert_eq!((stats.claimed, stats.delivered), (20, 20), "{stats:?}");
    assert_eq!(transport.deliveries().len(), 20);
    assert_eq!(notifier.shutdown(Duration::from_secs(5)).left_in_outbox, 0);
}
