//! The behaviour suites every store and outbox must pass, against a real server, plus
//! what is particular to PostgreSQL: migrations by several instances at once, leases
//! across handles, the transactional enqueue, and the append signal.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::outbox::{NewEntry, Outbox, OwnerId, Settlement};
use webhook_core::store::conformance as store_suite;
use webhook_core::{WebhookId, WebhookMessage};
use webhook_postgres::testing::TestSchema;
use webhook_postgres::{Database, PostgresError, PostgresOptions};

fn entry(n: u64, now_ms: u64) -> NewEntry {
    NewEntry {
        webhook_id: format!("msg_pg_{n:06}")
            .parse::<WebhookId>()
            .expect("a valid id"),
        event: "task_created".into(),
        task_id: Some(format!("T-{n}")),
        body: bytes::Bytes::from(format!("{{\"n\":{n}}}")),
        attempts: 0,
        not_before_ms: now_ms,
        created_ms: now_ms,
        replay_of: None,
        endpoint: None,
        ordering_key: None,
    }
}

#[tokio::test]
async fn the_failure_store_passes_the_store_suite() {
    let Some(t) = TestSchema::create("store_suite") else {
        return;
    };
    store_suite::run_all(Arc::new(t.db.failure_store())).await;
}

#[tokio::test]
async fn the_failure_store_keeps_its_capacity() {
    let Some(t) = TestSchema::create("store_bounded") else {
        return;
    };
    let options = t
        .options
        .clone()
        .failure_capacity(store_suite::MIN_BOUND_FOR_RUN_ALL);
    let db = Database::connect_async(options)
        .await
        .expect("the same schema again");
    store_suite::run_all_bounded(
        Arc::new(db.failure_store()),
        store_suite::MIN_BOUND_FOR_RUN_ALL,
    )
    .await;
}

#[tokio::test]
async fn the_outbox_passes_the_outbox_suite() {
    let Some(t) = TestSchema::create("outbox_suite") else {
        return;
    };
    webhook_core::outbox::conformance::run_all(&t.db.outbox()).await;
}

/// A connection of the test's own, on the test's runtime, to look at the tables.
async fn look() -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(&webhook_postgres::testing::test_url())
        .await
        .expect("the server answered a moment ago")
}

#[tokio::test]
async fn instances_starting_at_once_migrate_the_schema_once() {
    let Some(t) = TestSchema::create("migrate_race") else {
        return;
    };
    let name = format!("{}_fresh", t.db.schema());
    let fresh = PostgresOptions::new(webhook_postgres::testing::test_url()).schema(name.clone());
    let connects: Vec<_> = (0..8)
        .map(|_| tokio::spawn(Database::connect_async(fresh.clone())))
        .collect();
    let mut opened = Vec::new();
    for c in connects {
        opened.push(
            c.await
                .expect("no panic")
                .expect("every instance connects and migrates"),
        );
    }
    let mut conn = look().await;
    let versions: Vec<i32> = sqlx::query_scalar(&format!(
        "SELECT version FROM \"{name}\".migrations ORDER BY version"
    ))
    .fetch_all(&mut conn)
    .await
    .expect("read versions");
    assert_eq!(
        versions,
        vec![1],
        "each version applied once, by one of the eight"
    );
    opened[0]
        .drop_schema_async()
        .await
        .expect("drop the extra schema");
}

#[tokio::test]
async fn a_schema_from_a_newer_version_is_refused_by_name() {
    let Some(t) = TestSchema::create("newer_schema") else {
        return;
    };
    let mut conn = look().await;
    sqlx::query(&format!(
        "INSERT INTO \"{}\".migrations (version, name) VALUES (99, 'from the future')",
        t.db.schema()
    ))
    .execute(&mut conn)
    .await
    .expect("insert");
    let e = Database::connect_async(t.options.clone())
        .await
        .expect_err("refused");
    assert!(
        matches!(
            e,
            PostgresError::NewerSchema {
                found: 99,
                known: 1,
                ..
            }
        ),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(t.db.schema()) && text.contains("upgrade"),
        "{text}"
    );
}

#[tokio::test]
async fn connect_errors_name_the_server_and_never_the_password() {
    // Port 1 on loopback: nothing listens there.
    let options = PostgresOptions::new("postgres://app:hunter2@127.0.0.1:1/app")
        .acquire_timeout(Duration::from_secs(5));
    let e = Database::connect_async(options.clone())
        .await
        .expect_err("nothing listens");
    let text = format!("{e} {e:?} {options:?}");
    assert!(matches!(e, PostgresError::Connect { .. }), "{e:?}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let bad = Database::connect_async(PostgresOptions::new("mysql://x@127.0.0.1/db")).await;
    assert!(
        matches!(bad, Err(PostgresError::InvalidUrl { .. })),
        "{bad:?}"
    );
    let bad = Database::connect_async(
        PostgresOptions::new(webhook_postgres::testing::test_url()).schema("Bad Name"),
    )
    .await;
    let text = bad.expect_err("refused").to_string();
    assert!(
        text.contains("\"Bad Name\"") && text.contains("expected"),
        "{text}"
    );
}

#[tokio::test]
async fn a_lease_taken_over_by_another_instance_fences_the_first() {
    let Some(t) = TestSchema::create("lease_takeover") else {
        return;
    };
    let a = t.db.outbox();
    let b = Database::connect_async(t.options.clone())
        .await
        .expect("second instance")
        .outbox();
    let (owner_a, owner_b) = (OwnerId::generate(), OwnerId::generate());
    let now = 1_000_000;
    a.append(&owner_a, vec![entry(1, now)])
        .await
        .expect("append");
    let lease = Duration::from_secs(30);
    let by_a = a.claim(&owner_a, now, lease, 10).await.expect("claim");
    assert_eq!(by_a.len(), 1);
    assert!(
        b.claim(&owner_b, now + 29_999, lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "a live lease excludes the other instance"
    );
    let by_b = b
        .claim(&owner_b, now + 30_000, lease, 10)
        .await
        .expect("claim");
    assert_eq!(by_b.len(), 1, "a lapsed lease is taken over");
    assert_ne!(by_a[0].token, by_b[0].token);
    let late = a
        .settle(vec![by_a[0].settle(Settlement::Delivered)])
        .await
        .expect("settle");
    assert_eq!(
        (late.applied, late.fenced),
        (0, 1),
        "the first owner's settle changes nothing"
    );
    assert_eq!(b.pending().await.expect("pending").count, 1);
    let done = b
        .settle(vec![by_b[0].settle(Settlement::Delivered)])
        .await
        .expect("settle");
    assert_eq!((done.applied, done.fenced), (1, 0));
    assert_eq!(a.pending().await.expect("pending").count, 0);
}

#[tokio::test]
async fn the_transactional_enqueue_commits_or_leaves_no_trace() {
    let Some(t) = TestSchema::create("transactional") else {
        return;
    };
    let outbox = t.db.outbox();
    let mut conn = look().await;
    let orders = format!("\"{}\".orders", t.db.schema());
    sqlx::query(&format!("CREATE TABLE {orders} (id TEXT PRIMARY KEY)"))
        .execute(&mut conn)
        .await
        .expect("business table");
    for (id, commit) in [("ord_rolled_back", false), ("ord_committed", true)] {
        use sqlx::Connection;
        let mut tx = conn.begin().await.expect("begin");
        sqlx::query(&format!("INSERT INTO {orders} (id) VALUES ($1)"))
            .bind(id)
            .execute(&mut *tx)
            .await
            .expect("business insert");
        let message = WebhookMessage::custom("order.created", &serde_json::json!({ "id": id }))
            .expect("message");
        outbox.enqueue_in(&mut tx, &message).await.expect("enqueue");
        if commit {
            tx.commit().await.expect("commit")
        } else {
            tx.rollback().await.expect("rollback")
        }
    }
    let claimed = outbox
        .claim(
            &OwnerId::generate(),
            u64::MAX / 2,
            Duration::from_secs(30),
            10,
        )
        .await
        .expect("claim");
    assert_eq!(
        claimed.len(),
        1,
        "only the committed transaction's webhook is there"
    );
    assert_eq!(claimed[0].entry.event, "order.created");
    assert!(
        std::str::from_utf8(&claimed[0].entry.body)
            .expect("utf-8")
            .contains("ord_committed")
    );
    assert_eq!(
        claimed[0].entry.origin.as_str(),
        webhook_postgres::TRANSACTION_ORIGIN
    );
    let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {orders}"))
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn an_append_elsewhere_raises_the_append_signal() {
    let Some(t) = TestSchema::create("append_signal") else {
        return;
    };
    let outbox = t.db.outbox();
    let signal = outbox
        .append_signal()
        .expect("the PostgreSQL outbox listens");
    // The listener raises the signal once it has subscribed (a catch-up wake-up).
    tokio::time::timeout(Duration::from_secs(30), signal.notified())
        .await
        .expect("subscribed");
    let other = Database::connect_async(t.options.clone())
        .await
        .expect("second instance")
        .outbox();
    other
        .append(&OwnerId::generate(), vec![entry(7, 1)])
        .await
        .expect("append");
    tokio::time::timeout(Duration::from_secs(30), signal.notified())
        .await
        .expect("the append's NOTIFY reaches the listening instance");
    let claimed = outbox
        .claim(&OwnerId::generate(), 2, Duration::from_secs(30), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
}

#[tokio::test]
async fn make_due_now_leaves_live_leases_alone() {
    let Some(t) = TestSchema::create("make_due") else {
        return;
    };
    let outbox = t.db.outbox();
    let owner = OwnerId::generate();
    let later = 5_000_000;
    outbox
        .append(&owner, vec![entry(1, later), entry(2, later), entry(3, 10)])
        .await
        .expect("append");
    let leased = outbox
        .claim(&owner, 10, Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert_eq!(leased.len(), 1, "only the entry due at 10");
    assert_eq!(outbox.make_due_now(20).await.expect("make due"), 2);
    let now = outbox
        .claim(&OwnerId::generate(), 20, Duration::from_secs(60), 10)
        .await
        .expect("claim");
    assert_eq!(
        now.len(),
        2,
        "the two waiting entries are due, the leased one is not taken"
    );
    let leases = outbox.leases().await.expect("leases");
    assert_eq!(leases.len(), 2, "two owners hold leases: {leases:?}");
    assert!(leases.contains(&(owner.clone(), 1)), "{leases:?}");
}

#[tokio::test]
async fn a_schema_of_the_longest_accepted_name_appends_and_notifies() {
    let Some(_server) = TestSchema::create("longest_name") else {
        return;
    };
    let stem = format!("long_{}_", std::process::id());
    let name = format!(
        "{stem}{}",
        "x".repeat(webhook_postgres::MAX_SCHEMA_LEN - stem.len())
    );
    let options = PostgresOptions::new(webhook_postgres::testing::test_url()).schema(name);
    let db = Database::connect_async(options)
        .await
        .expect("the longest name is accepted");
    let outbox = db.outbox();
    let signal = outbox.append_signal().expect("listens");
    tokio::time::timeout(Duration::from_secs(30), signal.notified())
        .await
        .expect("subscribed");
    let appended = outbox.append(&OwnerId::generate(), vec![entry(1, 1)]).await;
    let notified = tokio::time::timeout(Duration::from_secs(30), signal.notified()).await;
    db.drop_schema_async().await.expect("drop");
    appended.expect("the insert's trigger can notify on the channel");
    notified.expect("the channel's name was not cut");
}

#[tokio::test]
async fn the_endpoint_travels_with_entries_and_records_and_filters_them() {
    let Some(t) = TestSchema::create("endpoint_column") else {
        return;
    };
    let outbox = t.db.outbox();
    let owner = OwnerId::generate();
    let for_a = NewEntry {
        endpoint: Some("ep_a".into()),
        ..entry(1, 10)
    };
    outbox
        .append(&owner, vec![for_a, entry(2, 10)])
        .await
        .expect("append");
    let claimed = outbox
        .claim(&owner, 10, Duration::from_secs(30), 10)
        .await
        .expect("claim");
    let endpoints: Vec<_> = claimed.iter().map(|c| c.entry.endpoint.clone()).collect();
    assert_eq!(endpoints, vec![Some("ep_a".to_owned()), None]);
    let store = t.db.failure_store();
    use webhook_core::FailureStore;
    let mut rec = store_suite::sample_record("task_failed", None, 1_700_000_000_000);
    rec.endpoint = Some("ep_a".into());
    store.record(rec.clone()).await.expect("record");
    store
        .record(store_suite::sample_record(
            "task_failed",
            None,
            1_700_000_000_001,
        ))
        .await
        .expect("record");
    let only_a = store
        .list(&webhook_core::store::RecordFilter::newest(10).endpoint("ep_a"))
        .await
        .expect("list");
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].id, rec.id);
    assert_eq!(only_a[0].endpoint.as_deref(), Some("ep_a"));
}
