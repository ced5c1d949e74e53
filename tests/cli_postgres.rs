//! The command line on a PostgreSQL store (`--store postgres://…`), each step its own
//! process: a failure recorded by one is listed by the next and replayed by a third;
//! `drain` delivers what another instance left in the shared outbox. No output ever
//! shows the URL's password.

use std::process::{Command, Output};
use std::time::SystemTime;
use webhook_core::outbox::{NewEntry, Outbox, OwnerId};
use webhook_postgres::testing::TestSchema;
use webhook_testkit::{Reply, Script, TestReceiver};

const BIN: &str = env!("CARGO_BIN_EXE_webhook");
/// Trust authentication ignores it; it must still never be shown.
const PASSWORD: &str = "hunter2-never-shown";

/// The schema's URL, with a password in it.
fn store_url(t: &TestSchema) -> String {
    // Keep whatever user the test URL names; put the password after it.
    let base = t.options.url_with_schema();
    match base
        .split_once("://")
        .and_then(|(scheme, rest)| Some((scheme, rest.split_once('@')?)))
    {
        Some((scheme, (user, host))) => {
            format!(
                "{scheme}://{}:{PASSWORD}@{host}",
                user.split(':').next().unwrap_or(user)
            )
        }
        None => base,
    }
}

fn webhook(args: &[&str], store: &str) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .args(["--store", store])
        .env_remove("WEBHOOK_SECRET")
        .output()
        .expect("runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "the password was shown: {all}");
    out
}

fn delivery(url: &str) -> Vec<&str> {
    vec![
        "--url",
        url,
        "--allow-insecure-http",
        "--allow-private-targets",
        "--retry-count",
        "0",
    ]
}

fn status_json(store: &str) -> serde_json::Value {
    let out = webhook(&["status", "--format", "json"], store);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("status prints JSON")
}

#[test]
fn a_failure_recorded_by_one_process_is_listed_and_replayed_by_others() {
    let Some(t) = TestSchema::create("cli_replay") else {
        return;
    };
    let store = store_url(&t);
    let receiver = TestReceiver::builder()
        .per_webhook(Script::sequence([Reply::status(410), Reply::ok()]))
        .start()
        .expect("receiver");
    let url = receiver.url();
    let mut send = vec![
        "send",
        "--durable",
        "--event",
        "task_failed",
        "--task-id",
        "T-9",
    ];
    send.extend(delivery(&url));
    let out = webhook(&send, &store);
    assert_eq!(
        out.status.code(),
        Some(1),
        "refused for good, recorded: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let status = status_json(&store);
    assert_eq!(status["records"], 1, "{status}");
    assert_eq!(status["failed"], 1, "{status}");
    assert_eq!(status["outbox"]["pending"], 0, "{status}");
    assert_eq!(
        status["outbox"]["leases"],
        serde_json::json!([]),
        "no instance holds leases: {status}"
    );
    assert_eq!(status["recent_failures"][0]["task_id"], "T-9", "{status}");
    let shown = status["store"].as_str().expect("store");
    assert!(
        shown.contains(t.db.schema()) && shown.starts_with("postgres://"),
        "{shown}"
    );

    let mut replay = vec!["replay", "--event", "task_failed"];
    replay.extend(delivery(&url));
    let out = webhook(&replay, &store);
    assert!(
        out.status.success(),
        "replayed and delivered: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = status_json(&store);
    assert_eq!(
        (status["failed"].as_u64(), status["resolved"].as_u64()),
        (Some(0), Some(1)),
        "{status}"
    );
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "one refused attempt, one replay");
    assert_eq!(
        requests[0].webhook_id(),
        requests[1].webhook_id(),
        "the replay keeps the webhook id"
    );
}

#[test]
fn drain_delivers_what_another_instance_left_in_the_shared_outbox() {
    let Some(t) = TestSchema::create("cli_drain") else {
        return;
    };
    let store = store_url(&t);
    let receiver = TestReceiver::start().expect("receiver");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let now = webhook_core::time::unix_millis(SystemTime::now());
    let in_an_hour = now + 3_600_000;
    let left: Vec<NewEntry> = (0..3)
        .map(|n| NewEntry {
            webhook_id: format!("msg_left_{n}").parse().expect("id"),
            event: "task_created".into(),
            task_id: None,
            body: bytes::Bytes::from_static(b"{\"event\":\"task_created\"}"),
            attempts: 1,
            not_before_ms: in_an_hour,
            created_ms: now,
            replay_of: None,
            endpoint: None,
            ordering_key: None,
        })
        .collect();
    rt.block_on(t.db.outbox().append(&OwnerId::from_text("gone"), left))
        .expect("append");
    let mut drain = vec!["drain", "--wait-secs", "60"];
    let url = receiver.url();
    drain.extend(delivery(&url));
    let out = webhook(&drain, &store);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("3 delivered"), "{text}");
    assert_eq!(receiver.delivery_count(), 3);
    assert_eq!(
        rt.block_on(t.db.outbox().pending()).expect("pending").count,
        0
    );
}
