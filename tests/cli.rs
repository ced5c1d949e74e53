//! Drives the built `webhook` binary: listen + send, failures, status, replay, bad flags.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_webhook");
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A `webhook listen` child; its JSON lines arrive on a channel.
struct Listener {
    child: Child,
    url: String,
    lines: mpsc::Receiver<Value>,
}

impl Listener {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(["listen", "--addr", "127.0.0.1:0"])
            .args(args)
            .env_remove("WEBHOOK_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("listen starts");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut first = String::new();
        stderr.read_line(&mut first).expect("address line");
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .expect("address announced")
            .to_owned();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx
                    .send(serde_json::from_str(&line).expect("JSON line"))
                    .is_err()
                {
                    break;
                }
            }
        });
        Self {
            child,
            url: format!("{addr}hook/p4th?q=s3cret-query"),
            lines,
        }
    }

    fn next(&self) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(20))
            .expect("a request line")
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn webhook(args: &[&str], store: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--store")
        .arg(store)
        .env_remove("WEBHOOK_SECRET")
        .output()
        .expect("runs")
}

fn delivery_flags(url: &str) -> Vec<String> {
    [
        "--url",
        url,
        "--allow-insecure-http",
        "--allow-private-targets",
        "--retry-backoff-ms",
        "100",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn listen_and_send_deliver_and_verify_with_the_standard_scheme() {
    let store = tempfile::tempdir().expect("tempdir");
    let listener = Listener::start(&["--secret", SECRET, "--fail-first", "1"]);
    let mut args = vec!["send".to_owned()];
    args.extend(delivery_flags(&listener.url));
    args.extend(
        [
            "--event",
            "task_created",
            "--task-id",
            "T-1",
            "--task-title",
            "Docs",
        ]
        .map(String::from),
    );
    let out = Command::new(BIN)
        .args(&args)
        .arg("--store")
        .arg(store.path())
        .env("WEBHOOK_SECRET", SECRET)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("after 2 attempt(s)"),
        "{}",
        text(&out.stdout)
    );
    let (first, second) = (listener.next(), listener.next());
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["status"], 500);
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["verified"], true, "{second}");
    assert_eq!(first["webhook_id"], second["webhook_id"]);
    assert_eq!(second["event"], "task_created");
    assert_eq!(second["payload"]["task_title"], "Docs");
}

#[test]
fn listen_and_send_deliver_and_verify_with_the_hex_scheme() {
    let store = tempfile::tempdir().expect("tempdir");
    let hex = [
        "--secret",
        "plain-secret",
        "--scheme",
        "hex",
        "--signature-header",
        "X-Ralph-Signature",
    ];
    let listener = Listener::start(&hex);
    let mut args: Vec<String> = vec!["send".into()];
    args.extend(delivery_flags(&listener.url));
    args.extend(["--event", "task_failed", "--note", "boom"].map(String::from));
    args.extend(hex.map(String::from));
    let out = webhook(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        store.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line = listener.next();
    assert_eq!(line["verified"], true, "{line}");
    assert_eq!(line["payload"]["note"], "boom");
}

#[test]
fn a_failing_endpoint_is_recorded_then_status_and_replay_resolve_it() {
    let store = tempfile::tempdir().expect("tempdir");
    let down = Listener::start(&["--status", "503"]);
    let mut args: Vec<String> = vec!["send".into()];
    args.extend(delivery_flags(&down.url));
    args.extend(
        [
            "--event",
            "task_failed",
            "--task-id",
            "T-9",
            "--retry-count",
            "1",
        ]
        .map(String::from),
    );
    let out = webhook(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        store.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("recorded in") && stderr.contains("503"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("p4th") && !stderr.contains("s3cret-query"),
        "{stderr}"
    );

    let status = webhook(&["status", "--format", "json"], store.path());
    assert!(status.status.success());
    let json: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(json["records"], 1);
    let record = &json["recent_failures"][0];
    let port = down
        .url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .expect("port");
    assert_eq!(record["destination"], format!("http://127.0.0.1:{port}/…"));
    assert_eq!(record["last_status"], 503);
    assert_eq!(record["attempts"], 2);
    let age = json["oldest_failed_age_seconds"].as_f64().expect("an age");
    assert!((0.0..600.0).contains(&age), "{age}");
    assert_eq!(json["live"], Value::Null, "no --metrics-url");
    assert!(!text(&status.stdout).contains("p4th"));
    let id = record["id"].as_str().expect("id").to_owned();

    let healthy = Listener::start(&[]);
    let mut dry: Vec<String> = vec!["replay".into()];
    dry.extend(delivery_flags(&healthy.url));
    dry.extend(["--task-id", "T-9", "--dry-run", "--format", "json"].map(String::from));
    let out = webhook(
        &dry.iter().map(String::as_str).collect::<Vec<_>>(),
        store.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["report"]["matched"], 1);
    assert_eq!(report["report"]["candidates"][0]["id"], id.as_str());
    assert_eq!(report["report"]["candidates"][0]["eligible"], true);
    assert_eq!(report["report"]["replayed"], 0);

    let mut real: Vec<String> = vec!["replay".into()];
    real.extend(delivery_flags(&healthy.url));
    real.extend(["--id", &id, "--format", "json"].map(String::from));
    let out = webhook(
        &real.iter().map(String::as_str).collect::<Vec<_>>(),
        store.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["report"]["replayed"], 1);
    assert_eq!(report["outcomes"][0]["status"], "resolved");
    let delivered = healthy.next();
    assert_eq!(
        delivered["webhook_id"], record["webhook_id"],
        "replay keeps the webhook id"
    );

    let json: Value =
        serde_json::from_slice(&webhook(&["status", "--format", "json"], store.path()).stdout)
            .expect("json");
    assert_eq!(
        (json["resolved"].as_u64(), json["failed"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(json["recent_failures"][0]["status"], "resolved");
    assert_eq!(
        json["oldest_failed_age_seconds"],
        Value::Null,
        "nothing awaits replay"
    );
}

/// Serves `page` as the answer to each of `requests` HTTP requests on 127.0.0.1.
fn serve_page(page: &'static str, requests: usize) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                page.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(page.as_bytes());
        }
    });
    format!("http://{addr}/metrics")
}

const PAGE: &str = "# TYPE webhook_queue_depth gauge\n\
    webhook_queue_depth 3\n\
    webhook_in_flight 2\n\
    webhook_outbox_pending 0\n\
    webhook_oldest_pending_seconds 12.5\n\
    webhook_deliveries_total{outcome=\"delivered\"} 45\n\
    webhook_deliveries_total{outcome=\"exhausted\"} 0\n\
    webhook_attempts_total{result=\"2xx\"} 45\n\
    webhook_attempts_total{result=\"5xx\"} 4\n\
    webhook_dropped_total{reason=\"queue_full\"} 1\n\
    webhook_attempt_duration_seconds_sum 0.2\n\
    webhook_attempt_duration_seconds_count 49\n";

#[test]
fn status_shows_the_live_figures_read_from_a_metrics_endpoint() {
    let store = tempfile::tempdir().expect("tempdir");
    let url = serve_page(PAGE, 2);
    let out = webhook(
        &["status", "--format", "json", "--metrics-url", &url],
        store.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("json");
    let live = &json["live"];
    assert_eq!(live["source"], url.as_str());
    assert_eq!(live["queue_depth"], 3.0);
    assert_eq!(live["in_flight"], 2.0);
    assert_eq!(live["oldest_pending_seconds"], 12.5);
    assert_eq!(live["deliveries"]["delivered"], 45.0);
    assert_eq!(live["attempts"]["5xx"], 4.0);
    assert_eq!(live["dropped"]["queue_full"], 1.0);

    let out = webhook(&["status", "--metrics-url", &url], store.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("queue depth: 3, in flight: 2, outbox pending: 0, oldest pending: 12.5 s"),
        "{shown}"
    );
    assert!(shown.contains("deliveries: delivered=45"), "{shown}");
    assert!(shown.contains("attempts: 2xx=45 5xx=4"), "{shown}");
}

#[test]
fn status_with_an_unreachable_metrics_endpoint_exits_1_naming_it() {
    let store = tempfile::tempdir().expect("tempdir");
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/metrics");
    let out = webhook(&["status", "--metrics-url", &url], store.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot reach the metrics endpoint"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn bad_flags_exit_2_with_a_message_naming_the_problem() {
    let store = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "send",
                "--url",
                "ftp://hooks.example.com/x",
                "--event",
                "task_created",
            ],
            "scheme `ftp`",
        ),
        (
            &[
                "send",
                "--url",
                "https://hooks.example.com/x",
                "--event",
                "task_created",
                "--retry-count",
                "11",
            ],
            "`retry_count` = 11 is out of range; expected 0..=10",
        ),
        (&["send", "--url", "https://hooks.example.com/x"], "--event"),
        (&["replay", "--url", "https://hooks.example.com/x"], "--id"),
        (
            &[
                "send",
                "--url",
                "https://10.0.0.1/x",
                "--event",
                "task_created",
            ],
            "allow_private_targets",
        ),
    ];
    for (args, expected) in cases {
        let out = webhook(args, store.path());
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let help = Command::new(BIN).arg("--help").output().expect("runs");
    assert!(text(&help.stdout).contains("Examples:"));
}

/// A receiver on 127.0.0.1 that accepts connections and never answers; each accepted
/// connection is announced on the channel (at most 64 are accepted).
fn silent_receiver() -> (String, mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            let Ok(stream) = stream else { break };
            held.push(stream);
            if tx.send(()).is_err() {
                break;
            }
        }
    });
    (format!("http://{addr}/hook"), rx)
}

fn args_of(parts: &[&str], extra: &[String]) -> Vec<String> {
    let mut v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    v.extend(extra.iter().cloned());
    v
}

fn run_args(args: &[String], store: &Path) -> Output {
    webhook(&args.iter().map(String::as_str).collect::<Vec<_>>(), store)
}

/// Records `n` failures of `task_failed` (retry count 0, a 400 receiver).
fn record_failures(store: &Path, n: usize, task_id: &str) {
    let down = Listener::start(&["--status", "400"]);
    for _ in 0..n {
        let mut args = args_of(&["send"], &delivery_flags(&down.url));
        args.extend(
            [
                "--event",
                "task_failed",
                "--task-id",
                task_id,
                "--retry-count",
                "0",
            ]
            .map(String::from),
        );
        let out = run_args(&args, store);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    }
}

fn status_json(store: &Path) -> Value {
    let out = webhook(&["status", "--format", "json", "--recent", "100"], store);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("json")
}

#[test]
fn sigterm_during_send_records_the_event_says_so_and_exits_143() {
    let store = tempfile::tempdir().expect("tempdir");
    let (url, accepted) = silent_receiver();
    let child = Command::new(BIN)
        .args(args_of(&["send"], &delivery_flags(&url)))
        .args([
            "--event",
            "task_created",
            "--task-id",
            "T-sig",
            "--timeout-secs",
            "30",
        ])
        .arg("--store")
        .arg(store.path())
        .env_remove("WEBHOOK_SECRET")
        .stderr(Stdio::piped())
        .spawn()
        .expect("send starts");
    accepted
        .recv_timeout(Duration::from_secs(20))
        .expect("the attempt reaches the receiver");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let out = child.wait_with_output().expect("send ends");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("SIGTERM") && stderr.contains("recorded in"),
        "{stderr}"
    );
    let json = status_json(store.path());
    assert_eq!(json["records"], 1, "{json}");
    assert_eq!(json["recent_failures"][0]["task_id"], "T-sig");
    assert_eq!(json["recent_failures"][0]["outcome"], "shutdown");
}

#[test]
fn replay_waits_for_every_record_it_enqueued_and_counts_only_attempts_made() {
    let store = tempfile::tempdir().expect("tempdir");
    record_failures(store.path(), 10, "T-many");
    let config = store.path().join("one-at-a-time.json");
    std::fs::write(&config, r#"{"max_concurrency": 1}"#).expect("config");
    let (url, _accepted) = silent_receiver();
    let mut args = args_of(&["replay"], &delivery_flags(&url));
    args.extend(
        [
            "--task-id",
            "T-many",
            "--timeout-secs",
            "1",
            "--retry-count",
            "0",
            "--format",
            "json",
            "--config",
        ]
        .map(String::from),
    );
    args.push(config.display().to_string());
    // 10 attempts of 1 s, one at a time: longer than one event's bound (6 s).
    let out = run_args(&args, store.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let json = status_json(store.path());
    let records = json["recent_failures"].as_array().expect("records");
    assert_eq!(records.len(), 10);
    for record in records {
        assert_eq!(
            record["attempts"], 2,
            "every replay was attempted: {record}"
        );
        assert_ne!(record["outcome"], "shutdown", "{record}");
        assert_eq!(record["replay_count"], 1, "{record}");
    }
    let report: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["report"]["replayed"], 10);
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    assert!(outcomes.iter().all(|o| o["attempted"] == true), "{report}");
}

#[test]
fn a_replay_that_matches_nothing_or_nothing_eligible_exits_4() {
    let store = tempfile::tempdir().expect("tempdir");
    record_failures(store.path(), 1, "T-max");
    let healthy = Listener::start(&[]);
    let mut none = args_of(&["replay"], &delivery_flags(&healthy.url));
    none.extend(["--id", "rec_000000000000deadbeef"].map(String::from));
    let out = run_args(&none, store.path());
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no stored failure matches"),
        "{}",
        text(&out.stderr)
    );

    let mut at_max = args_of(&["replay"], &delivery_flags(&healthy.url));
    at_max.extend(["--task-id", "T-max", "--max-replay-attempts", "0"].map(String::from));
    let out = run_args(&at_max, store.path());
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("none is eligible"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn send_to_a_store_in_use_exits_3_and_status_still_reads_it() {
    let store = tempfile::tempdir().expect("tempdir");
    record_failures(store.path(), 2, "T-lock");
    let held = webhook_sled::SledFailureStore::open(store.path()).expect("held by the test");
    let healthy = Listener::start(&[]);
    let mut args = args_of(&["send"], &delivery_flags(&healthy.url));
    args.extend(["--event", "task_created"].map(String::from));
    let out = run_args(&args, store.path());
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    let status = webhook(&["status", "--format", "json"], store.path());
    assert!(status.status.success(), "{}", text(&status.stderr));
    let json: Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(json["records"], 2, "{json}");
    assert!(
        text(&status.stderr).contains("copy"),
        "{}",
        text(&status.stderr)
    );
    drop(held);
}

#[test]
fn listen_with_a_secret_answers_401_to_a_bad_signature_unless_told_to_accept() {
    let store = tempfile::tempdir().expect("tempdir");
    let strict = Listener::start(&["--secret", SECRET]);
    let mut args = args_of(&["send"], &delivery_flags(&strict.url));
    args.extend(
        [
            "--event",
            "task_created",
            "--secret",
            "wrong-secret",
            "--retry-count",
            "0",
        ]
        .map(String::from),
    );
    let out = run_args(&args, store.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let line = strict.next();
    assert_eq!(
        (line["verified"].clone(), line["status"].clone()),
        (Value::Bool(false), Value::from(401))
    );

    let lenient = Listener::start(&["--secret", SECRET, "--accept-unverified"]);
    let mut args = args_of(&["send"], &delivery_flags(&lenient.url));
    args.extend(
        [
            "--event",
            "task_created",
            "--secret",
            "wrong-secret",
            "--retry-count",
            "0",
        ]
        .map(String::from),
    );
    let out = run_args(&args, store.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(lenient.next()["status"], 200);
}

#[test]
fn stored_fields_are_escaped_in_text_and_exact_in_json() {
    let store = tempfile::tempdir().expect("tempdir");
    let evil = "T\u{1b}[31m-red\u{7}\u{1b}]0;title";
    record_failures(store.path(), 1, evil);
    let out = webhook(&["status"], store.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\u{7}'),
        "{stdout:?}"
    );
    assert!(stdout.contains("T\\u{1b}[31m-red\\u{7}"), "{stdout}");
    let json = status_json(store.path());
    assert_eq!(json["recent_failures"][0]["task_id"], evil);

    let healthy = Listener::start(&["--status", "500"]);
    let mut args = args_of(&["replay"], &delivery_flags(&healthy.url));
    args.extend(["--all", "--retry-count", "0"].map(String::from));
    let out = run_args(&args, store.path());
    let stdout = text(&out.stdout);
    assert!(
        !stdout.contains('\u{1b}') && stdout.contains("\\u{1b}"),
        "{stdout:?}"
    );
}

#[test]
fn a_url_password_holding_slash_is_never_echoed_by_send() {
    let store = tempfile::tempdir().expect("tempdir");
    for url in [
        "https://user:pa/ss@hooks.example.com/x",
        "https://user:p?w0rd@hooks.example.com/x",
        "https://us3r:p#w0rd@10.0.0.1:99999/x",
    ] {
        let out = webhook(
            &["send", "--url", url, "--event", "task_created"],
            store.path(),
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        for hidden in ["pa`", "`p`", "w0rd", "us3r", "ss@"] {
            assert!(!stderr.contains(hidden), "{url}: {stderr}");
        }
    }
}

#[test]
fn an_endless_payload_file_is_refused_at_the_size_limit_without_reading_it_whole() {
    let store = tempfile::tempdir().expect("tempdir");
    // Under a 1 GiB address-space limit, reading /dev/zero whole would abort.
    let out = Command::new("sh")
        .args(["-c", "ulimit -v 1048576; exec \"$0\" \"$@\""])
        .arg(BIN)
        .args([
            "send",
            "--url",
            "https://hooks.example.com/x",
            "--event",
            "deploy",
            "--payload-file",
            "/dev/zero",
            "--store",
        ])
        .arg(store.path())
        .env_remove("WEBHOOK_SECRET")
        .output()
        .expect("runs");
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("larger than max_payload_bytes (1048576 bytes)"),
        "{stderr}"
    );
}

#[test]
fn a_toml_config_error_names_the_field_and_the_line_without_quoting_it() {
    let store = tempfile::tempdir().expect("tempdir");
    let config = store.path().join("hook.toml");
    std::fs::write(&config, "retry_count = 2\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout_secs = \"ten\"\n")
        .expect("config");
    let out = webhook(
        &[
            "send",
            "--url",
            "https://hooks.example.com/x",
            "--event",
            "task_created",
            "--config",
            &config.display().to_string(),
        ],
        store.path(),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`timeout_secs` at line 3"), "{stderr}");
    assert!(!stderr.contains("whsec_"), "{stderr}");
}

#[test]
fn a_durable_send_killed_before_delivery_is_shown_by_status_and_delivered_by_drain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (silent, connected) = silent_receiver();
    let mut args = args_of(&["send", "--durable"], &delivery_flags(&silent));
    args.extend(["--event", "task_failed", "--task-id", "T-9"].map(String::from));
    let mut child = Command::new(BIN)
        .args(&args)
        .arg("--store")
        .arg(dir.path())
        .env_remove("WEBHOOK_SECRET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("send starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a line");
    assert!(line.contains("is durable in the outbox"), "{line}");
    connected
        .recv_timeout(Duration::from_secs(20))
        .expect("the attempt started");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let status = status_json(dir.path());
    assert_eq!(status["outbox"]["pending"], 1, "{status}");
    assert!(status["outbox"]["oldest_pending_secs"].as_f64().is_some());
    let text_status = webhook(&["status"], dir.path());
    assert!(text(&text_status.stdout).contains("outbox: 1 pending"));

    let healthy = Listener::start(&[]);
    let out = run_args(
        &args_of(&["drain"], &delivery_flags(&healthy.url)),
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 delivered"),
        "{}",
        text(&out.stdout)
    );
    let request = healthy.next();
    assert_eq!(request["event"], "task_failed");
    assert_eq!(request["payload"]["task_id"], "T-9");
    assert_eq!(status_json(dir.path())["outbox"]["pending"], 0);
}

#[test]
fn send_to_several_destinations_succeeds_only_when_every_one_delivered() {
    let store = tempfile::tempdir().expect("tempdir");
    let healthy = webhook_testkit::TestReceiver::start().expect("receiver");
    let refusing = webhook_testkit::TestReceiver::builder()
        .per_webhook(webhook_testkit::Script::always(
            webhook_testkit::Reply::status(410),
        ))
        .start()
        .expect("receiver");
    let config = store.path().join("endpoints.json");
    let json = serde_json::json!({ "endpoints": [{ "id": "refuses", "url": refusing.url() }] });
    std::fs::write(&config, json.to_string()).expect("config");
    let mut args = args_of(&["send"], &delivery_flags(&healthy.url()));
    args.extend(["--event", "task_created", "--retry-count", "0", "--config"].map(String::from));
    args.push(config.display().to_string());
    let out = run_args(&args, store.path());
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one of two destinations failed: {stderr}"
    );
    assert!(
        stderr.contains("delivered to 1 of 2 destinations"),
        "{stderr}"
    );
    assert_eq!((healthy.delivery_count(), refusing.request_count()), (1, 1));
    let json = status_json(store.path());
    assert_eq!(json["recent_failures"][0]["endpoint"], "refuses", "{json}");
}
