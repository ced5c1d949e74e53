//! Several instances (real processes) share one PostgreSQL outbox: every event is
//! delivered, none twice when nothing fails; a SIGKILLed instance loses nothing and
//! causes at most as many repeats as it held leases; an application's transaction sends
//! its webhook if and only if it commits.
//!
//! Needs the server of `WEBHOOK_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); without one the tests skip with a reason,
//! or fail under `CI=true`.

#[path = "pg_support/mod.rs"]
mod pg_support;

use pg_support::Plan;
use std::sync::Mutex;
use std::time::Duration;
use webhook_core::outbox::Outbox;
use webhook_postgres::testing::{TestSchema, test_url};

/// The experiments load both cores: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The instance's entry point when this binary is started again by an experiment.
#[test]
fn pg_instance_child() {
    pg_support::child_main_if_asked();
}

fn is_child() -> bool {
    std::env::var("WEBHOOK_PG_CHILD").is_ok()
}

/// The URL of the test's schema, for another process.
fn url_of(t: &TestSchema) -> String {
    t.options.url_with_schema()
}

fn run(t: &TestSchema, plan: &Plan) -> pg_support::Tally {
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let exe = std::env::current_exe().expect("test binary");
    let args = [
        "--exact",
        "pg_instance_child",
        "--nocapture",
        "--test-threads=1",
    ];
    let tally = pg_support::run(&exe, &args, &url_of(t), plan);
    println!(
        "{} held_at_kill={:?} per_instance={:?} elapsed={:?}",
        tally.line(),
        tally.held_at_kill,
        tally.per_instance,
        tally.elapsed
    );
    tally
}

#[test]
fn three_instances_share_20000_events_and_deliver_each_once() {
    if is_child() {
        return;
    }
    let Some(t) = TestSchema::create("three_share") else {
        return;
    };
    let plan = Plan {
        instances: 3,
        events: 20_000,
        kill: false,
        restart: None,
        flush_every_commit: false,
    };
    let tally = run(&t, &plan);
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert_eq!(tally.delivered_unique, 20_000, "{tally:?}");
    assert_eq!(
        tally.repeats, 0,
        "nothing failed, so nothing is delivered twice: {tally:?}"
    );
    assert_eq!(tally.pending, 0, "the outbox is empty: {tally:?}");
    assert_eq!(
        tally.per_instance.iter().sum::<u64>(),
        20_000,
        "the instances' own counts add up: {tally:?}"
    );
    assert!(
        tally.per_instance.iter().all(|&n| n > 0),
        "every instance took a share: {tally:?}"
    );
}

#[test]
fn a_sigkilled_instance_loses_nothing_and_repeats_at_most_what_it_held() {
    if is_child() {
        return;
    }
    let Some(t) = TestSchema::create("sigkill") else {
        return;
    };
    let plan = Plan {
        instances: 3,
        events: 20_000,
        kill: true,
        restart: None,
        flush_every_commit: false,
    };
    let tally = run(&t, &plan);
    let held = tally.held_at_kill.expect("an instance was killed");
    assert!(
        held > 0,
        "the killed instance held leases mid-run: {tally:?}"
    );
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert_eq!(tally.delivered_unique, 20_000, "{tally:?}");
    assert!(
        tally.repeats <= held,
        "repeats bounded by the killed instance's leases: {tally:?}"
    );
    assert_eq!(
        tally.pending, 0,
        "the survivors took the killed one's entries over: {tally:?}"
    );
    assert_eq!(tally.per_instance.len(), 2, "{tally:?}");
}

#[test]
fn a_transaction_sends_its_webhook_if_and_only_if_it_commits() {
    if is_child() {
        return;
    }
    let Some(t) = TestSchema::create("txn_processes") else {
        return;
    };
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let receiver = webhook_testkit::TestReceiver::start().expect("receiver");
    let exe = std::env::current_exe().expect("test binary");
    let mut instance = std::process::Command::new(exe)
        .args([
            "--exact",
            "pg_instance_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WEBHOOK_PG_CHILD", url_of(&t))
        .env("WEBHOOK_PG_RECEIVER", receiver.url())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(pg_support::child_stderr())
        .spawn()
        .expect("instance starts");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let outbox = t.db.outbox();
    let ids = rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&test_url())
            .await
            .expect("the application's connection");
        let orders = format!("\"{}\".orders", t.db.schema());
        sqlx::query(&format!("CREATE TABLE {orders} (id TEXT PRIMARY KEY)"))
            .execute(&mut conn)
            .await
            .expect("table");
        let mut ids = Vec::new();
        for (order, commit) in [
            ("ord_rolled_back", false),
            ("ord_committed", true),
            ("ord_rolled_back_2", false),
        ] {
            let mut tx = conn.begin().await.expect("begin");
            sqlx::query(&format!("INSERT INTO {orders} (id) VALUES ($1)"))
                .bind(order)
                .execute(&mut *tx)
                .await
                .expect("insert");
            let message = webhook_core::WebhookMessage::custom(
                "order.created",
                &serde_json::json!({ "order": order }),
            )
            .expect("message");
            ids.push((message.id().to_string(), commit));
            outbox.enqueue_in(&mut tx, &message).await.expect("enqueue");
            if commit {
                tx.commit().await.expect("commit")
            } else {
                tx.rollback().await.expect("rollback")
            }
        }
        ids
    });
    let committed = ids
        .iter()
        .find(|(_, c)| *c)
        .map(|(id, _)| id.clone())
        .expect("one committed");
    rt.block_on(receiver.wait_for_deliveries(1, Duration::from_secs(60)))
        .expect("the committed webhook arrives");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rt.block_on(outbox.pending()).expect("pending").count > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(instance.stdin.take());
    instance.wait().expect("instance exits");
    let deliveries = receiver.deliveries();
    assert_eq!(
        deliveries.len(),
        1,
        "exactly one delivery in all: {deliveries:?}"
    );
    assert_eq!(deliveries[0].webhook_id(), Some(committed.as_str()));
    for (id, _) in ids.iter().filter(|(_, c)| !c) {
        assert!(
            receiver.requests_for(id).is_empty(),
            "a rolled-back webhook was sent: {id}"
        );
    }
    assert_eq!(rt.block_on(outbox.pending()).expect("pending").count, 0);
}
