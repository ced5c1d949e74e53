//! Nothing secret reaches a log line, an error, diagnostics or the store.
//! (Its own test binary: it installs a global tracing subscriber at TRACE.)

mod support;

use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Scripted, config};
use webhook_core::store::RecordFilter;
use webhook_core::transport::TransportError;
use webhook_core::{
    FailureStore, MemoryFailureStore, Notifier, ReplaySelector, WebhookEventType, WebhookPayload,
};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SECRET: &str = "S3cr3t-token-value";
const FORBIDDEN: [&str; 6] = [
    SECRET,
    "pw-h1dden",
    "TOKEN",
    "sig=abc",
    "/hook/",
    "apikey-v4lue",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_deliveries_leak_no_secret_or_url_detail_anywhere() {
    let capture = Capture::default();
    let sink = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .init();

    // A careless transport that puts the full URL (with credentials, path and query) into its errors.
    let fake = Scripted::new(|req, n| {
        let url = format!(
            "https://user:pw-h1dden@hooks.example.com{}",
            req.destination
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("")
        );
        if n % 2 == 0 {
            Err(TransportError::Connect {
                destination: url.clone(),
                detail: format!("refused connecting to {url} with key {SECRET}"),
            })
        } else {
            Ok(support::ok(500))
        }
    });
    let mut cfg = config(json!({
        "url": "https://user:pw-h1dden@hooks.example.com/hook/TOKEN?sig=abc",
        "secret": SECRET, "signature_scheme": "both", "retry_count": 2, "retry_backoff_ms": 100,
        "headers": {"x-api-key": "apikey-v4lue"},
    }));
    cfg.retry = cfg.retry.without_jitter();
    let debug_config = format!("{cfg:?} {cfg}");
    let store = Arc::new(MemoryFailureStore::new());
    let notifier = Notifier::builder(cfg, fake.clone())
        .store(store.clone())
        .start()
        .expect("starts");
    for _ in 0..4 {
        notifier.send(&WebhookPayload::new(WebhookEventType::TaskFailed).task_id("T"));
    }
    assert!(notifier.wait_idle_async(Duration::from_secs(30)).await);
    let replay = notifier
        .replay_async(&ReplaySelector::all(), false)
        .await
        .expect("replay");
    assert_eq!(replay.replayed, 4);
    assert!(notifier.wait_idle_async(Duration::from_secs(30)).await);
    let diagnostics = serde_json::to_string(&notifier.diagnostics_async(50).await).expect("json");
    let records =
        serde_json::to_string(&store.list(&RecordFilter::newest(50)).await.expect("list"))
            .expect("json");
    let report = format!("{:?}", notifier.shutdown(Duration::from_secs(5)));
    let debug_notifier = format!("{notifier:?}");
    drop(notifier);

    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf8");
    assert!(
        logs.contains("delivery failed"),
        "logs were captured: {logs}"
    );
    assert!(
        records.contains("hooks.example.com/…"),
        "records name the redacted destination"
    );
    for (name, text) in [
        ("logs", &logs),
        ("diagnostics", &diagnostics),
        ("store", &records),
        ("report", &report),
        ("config debug", &debug_config),
        ("notifier debug", &debug_notifier),
    ] {
        for needle in FORBIDDEN {
            assert!(
                !text.contains(needle),
                "{name} contains `{needle}`:\n{text}"
            );
        }
    }
    // The requests themselves did carry the credentials and static header.
    let seen = fake.seen();
    assert!(seen.iter().all(
        |s| s.headers.contains_key("authorization") && s.headers["x-api-key"] == "apikey-v4lue"
    ));
}
