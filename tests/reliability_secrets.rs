//! Secrets never leak: a fault matrix runs with every log line captured at TRACE (this
//! binary installs the global subscriber, so it holds this one test), and the captured
//! output, the sled store's files, the diagnostics JSON and every error text are
//! scanned for the signing secrets, `whsec_` material, the URL's credentials, path and
//! query, and a static header's value.

mod reliability_support;

use reliability_support::fault_matrix::{Fault, matrix_config, run_fault_matrix};
use reliability_support::{message, sled_store};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use webhook_core::store::FailureKind;
use webhook_core::{Notifier, ReplaySelector, WebhookConfig};
use webhook_http::HttpTransport;
use webhook_testkit::TestReceiver;

/// The HMAC key, and the `whsec_` form the configuration holds.
const KEY: &str = "reliability-hmac-key-9f3c71";
const KEY_BASE64: &str = "cmVsaWFiaWxpdHktaG1hYy1rZXktOWYzYzcx";
const SECRET: &str = "whsec_cmVsaWFiaWxpdHktaG1hYy1rZXktOWYzYzcx";
/// An older secret still signed with (a rotation), in raw form.
const PREVIOUS: &str = "raw-rotation-s3cret-77";
const USER: &str = "hookuser";
const PASSWORD: &str = "hookp4ss";
/// base64 of `hookuser:hookp4ss`, as in the `authorization` header.
const BASIC: &str = "aG9va3VzZXI6aG9va3A0c3M";
const PATH: &str = "/hooks/pr1vate-path";
const QUERY: &str = "token=qu3ry-t0ken";
const HEADER_VALUE: &str = "hdr-v4lue-s3cret";

/// What must never be found anywhere.
const NEEDLES: &[&str] = &[
    SECRET,
    KEY_BASE64,
    KEY,
    "whsec_",
    PREVIOUS,
    USER,
    PASSWORD,
    BASIC,
    "pr1vate-path",
    "/hooks/",
    "qu3ry-t0ken",
    "token=",
    HEADER_VALUE,
];

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Appends everything the subscriber writes to [`LOG`].
struct Capture;

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where each needle was found in `haystack`, labelled `what`.
fn hits(what: &str, haystack: &[u8]) -> Vec<String> {
    NEEDLES
        .iter()
        .filter(|needle| {
            haystack
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .map(|needle| format!("{needle:?} in {what}"))
        .collect()
}

/// Every regular file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).expect("read"),
            ));
        }
    }
    out
}

fn config_for(receiver: &TestReceiver, host: &str) -> WebhookConfig {
    WebhookConfig {
        enabled: Some(true),
        url: Some(format!(
            "http://{USER}:{PASSWORD}@{host}:{}{PATH}?{QUERY}",
            receiver.addr().port()
        )),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        secret: Some(SECRET.to_owned()),
        previous_secrets: Some(vec![PREVIOUS.to_owned()]),
        events: Some(vec!["*".to_owned()]),
        headers: Some(BTreeMap::from([(
            "x-api-key".to_owned(),
            HEADER_VALUE.to_owned(),
        )])),
        ..WebhookConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_store_files_diagnostics_or_errors_under_the_fault_matrix() {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(|| Capture)
        .try_init()
        .expect("the only subscriber in this binary");
    let dir = tempfile::tempdir().expect("temp dir");
    let store_dir = dir.path().join("failures");
    let store = sled_store(&store_dir);
    let receiver = TestReceiver::builder()
        .secret(SECRET)
        .secret(PREVIOUS)
        .require_signatures(true)
        .start()
        .expect("receiver");
    let config = matrix_config(config_for(&receiver, "127.0.0.1"));
    let resolved = config.resolve().expect("valid config");
    let mut texts: Vec<String> = vec![
        format!("{config:?}"),
        config.to_string(),
        format!("{resolved:?}"),
        resolved.to_string(),
    ];

    // A smaller fault matrix, signed with both secrets, to the secret URL.
    let run = run_fault_matrix(&receiver, resolved, store.clone(), 1_000).await;
    run.assert_nothing_lost();
    assert!(run.stats.failed > 0 && run.stats.retries > 0);
    let requests = receiver.requests();
    assert!(requests.iter().all(|r| r.signatures.standard.is_valid()));
    let sent = &requests[0];
    assert_eq!(
        sent.uri.to_string(),
        format!("{PATH}?{QUERY}"),
        "the secrets were in play"
    );
    assert_eq!(sent.header("x-api-key"), Some(HEADER_VALUE));
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Basic {BASIC}=").as_str())
    );

    // Replays that fail again, a dry run, and a refused selector.
    let always_500 = run
        .events
        .iter()
        .filter(|(_, fault)| *fault == Fault::ServerErrorAlways)
        .map(|(id, _)| id.clone())
        .take(5);
    let selector = ReplaySelector::ids(always_500);
    let dry = run
        .notifier
        .replay_async(&selector, true)
        .await
        .expect("dry run");
    let real = run
        .notifier
        .replay_async(&selector, false)
        .await
        .expect("replay");
    assert_eq!(real.replayed, 5, "{real:?}");
    assert!(run.notifier.wait_idle_async(Duration::from_secs(30)).await);
    texts.push(format!("{dry:?}{real:?}"));
    let refused = run
        .notifier
        .replay_async(&ReplaySelector::default(), false)
        .await
        .expect_err("empty selector");
    texts.push(refused.to_string());

    // A destination refused after resolution: a permanent failure, also stored.
    let blocked_config = WebhookConfig {
        allow_private_targets: Some(false),
        ..config_for(&receiver, "blocked.example")
    }
    .resolve()
    .expect("valid config");
    let blocked_transport = HttpTransport::builder()
        .destination_policy(blocked_config.destination_policy)
        .resolve_override("blocked.example", "10.0.0.1".parse().expect("ip"))
        .build()
        .expect("transport");
    texts.push(format!("{blocked_transport:?}"));
    let blocked = Notifier::builder(blocked_config, Arc::new(blocked_transport))
        .store(store.clone())
        .start()
        .expect("notifier starts");
    blocked.enqueue(message(0));
    assert!(blocked.wait_idle_async(Duration::from_secs(10)).await);
    texts.push(format!("{blocked:?}"));
    let report = blocked.shutdown(Duration::from_secs(2));
    assert_eq!(report.stats.failed_by_kind.permanent, 1);

    // Configurations refused while holding the secrets.
    let refusals = [
        WebhookConfig {
            allow_insecure_http: None,
            ..config_for(&receiver, "hooks.example.com")
        },
        WebhookConfig {
            allow_private_targets: None,
            ..config_for(&receiver, "127.0.0.1")
        },
        WebhookConfig {
            timeout_secs: Some(0),
            ..config_for(&receiver, "127.0.0.1")
        },
        WebhookConfig {
            headers: Some(BTreeMap::from([(
                "x-api-key".to_owned(),
                format!("{HEADER_VALUE}\n"),
            )])),
            ..config_for(&receiver, "127.0.0.1")
        },
        WebhookConfig {
            previous_secrets: Some(vec![PREVIOUS.to_owned(), String::new()]),
            ..config_for(&receiver, "127.0.0.1")
        },
    ];
    for config in refusals {
        let error = config.resolve().expect_err("refused");
        texts.push(format!("{error} {error:?} {config} {config:?}"));
    }

    // Diagnostics, records and reports.
    let diagnostics = run.notifier.diagnostics_async(10_000).await;
    assert!(!diagnostics.recent_failures.is_empty());
    let json = serde_json::to_string(&diagnostics).expect("JSON");
    let records = &diagnostics.recent_failures;
    assert!(records.iter().any(|r| r.outcome == FailureKind::Permanent));
    for record in records {
        texts.push(record.error.clone());
        texts.push(record.destination.clone());
    }
    texts.push(format!("{diagnostics:?}"));
    texts.push(format!("{:?}", run.notifier));
    let report = run.notifier.shutdown(Duration::from_secs(5));
    texts.push(format!("{report:?}"));
    texts.push(serde_json::to_string(&report).expect("JSON"));
    let store_debug = format!("{store:?}");
    drop(run);
    drop(store);

    let mut found = hits("diagnostics JSON", json.as_bytes());
    for text in &texts {
        found.extend(hits(&format!("text {text:.120}"), text.as_bytes()));
    }
    found.extend(hits("store Debug", store_debug.as_bytes()));
    let on_disk = files(&store_dir);
    let some_id = records[0].webhook_id.as_str();
    assert!(
        on_disk.iter().any(|(_, bytes)| bytes
            .windows(some_id.len())
            .any(|w| w == some_id.as_bytes())),
        "the raw scan sees record contents"
    );
    for (file, bytes) in &on_disk {
        found.extend(hits(file, bytes));
    }
    let log = LOG.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let log_text = String::from_utf8_lossy(&log);
    assert!(
        log_text.contains("webhook worker started"),
        "the capture works"
    );
    assert!(log_text.contains("TRACE") || log_text.contains("DEBUG"));
    found.extend(hits("the TRACE log", &log));
    if let Some(path) = std::env::var_os("RELIABILITY_SECRETS_LOG") {
        std::fs::write(path, &log).expect("write the captured log");
    }

    assert!(found.is_empty(), "secrets leaked: {found:#?}");
    println!(
        "secrets: {} events, {} log bytes ({} lines), {} store files ({} bytes), \
         {} diagnostics bytes, {} error and debug texts scanned: 0 hits",
        1_000,
        log.len(),
        log_text.lines().count(),
        on_disk.len(),
        on_disk.iter().map(|(_, b)| b.len()).sum::<usize>(),
        json.len(),
        texts.len()
    );
}
