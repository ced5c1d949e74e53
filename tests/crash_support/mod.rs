//! The crash experiment shared by `tests/outbox_crash.rs` and `examples/crash.rs`: a
//! child process sends confirmed events through the sled outbox to a loopback receiver
//! and is SIGKILLed at random moments; a last child recovers and delivers; then every
//! confirmed event is looked for.
//!
//! The child is the same executable started again with `WEBHOOK_CRASH_MODE` set (`send`
//! or `drain`), so a test binary and an example can both host it.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use webhook_core::store::{FailureStore, RecordFilter};
use webhook_core::{Notifier, WebhookConfig, WebhookMessage};
use webhook_sled::SledFailureStore;
use webhook_testkit::{Reply, Script, TestReceiver};

/// Events a child may send before it stops by itself (if never killed).
const PER_CHILD: u64 = 100_000;
/// Every tenth event is refused by the receiver for good (it ends recorded).
const REFUSED_EVERY: u64 = 10;

/// What the experiment counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Kills made.
    pub kills: u32,
    /// Events a child was told were durable.
    pub confirmed: u64,
    /// Confirmed events the receiver answered with a 2xx.
    pub delivered: u64,
    /// Confirmed events in the failure store.
    pub recorded: u64,
    /// Entries still in the outbox after the recovery run.
    pub pending: u64,
    /// Confirmed events found nowhere.
    pub lost: u64,
    /// 2xx deliveries beyond the first of each event (at-least-once repeats).
    pub repeated: u64,
}

impl Tally {
    /// The experiment's closing line.
    pub(crate) fn line(&self) -> String {
        format!(
            "confirmed={} delivered={} recorded={} pending={} lost={} repeated={}",
            self.confirmed, self.delivered, self.recorded, self.pending, self.lost, self.repeated
        )
    }
}

fn webhook_id(n: u64) -> String {
    format!("msg_crash_{n:010}")
}

fn child_config(url: &str) -> webhook_core::ResolvedWebhookConfig {
    WebhookConfig {
        enabled: Some(true),
        url: Some(url.to_owned()),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        events: Some(vec!["*".to_owned()]),
        retry_schedule_ms: Some(vec![20, 40]),
        timeout_secs: Some(5),
        max_concurrency: Some(8),
        commit_linger_ms: Some(1),
        ..WebhookConfig::default()
    }
    .resolve()
    .expect("the experiment's config is valid")
}

fn start_notifier(dir: &Path, url: &str) -> (Notifier, SledFailureStore) {
    let store = SledFailureStore::open(dir).expect("store opens");
    let outbox = store.outbox().expect("outbox opens");
    let config = child_config(url);
    let transport = webhook_http::HttpTransport::from_config(&config).expect("transport");
    let notifier = Notifier::builder(config, Arc::new(transport))
        .store(Arc::new(store.clone()))
        .outbox(Arc::new(outbox))
        .start()
        .expect("notifier starts");
    (notifier, store)
}

/// The child's side: runs if `WEBHOOK_CRASH_MODE` is set, then exits the process.
pub(crate) fn child_main_if_asked() {
    let Ok(mode) = std::env::var("WEBHOOK_CRASH_MODE") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("WEBHOOK_CRASH_DIR").expect("dir"));
    let url = std::env::var("WEBHOOK_CRASH_URL").expect("url");
    let (notifier, _store) = start_notifier(&dir, &url);
    let mut out = std::io::stdout().lock();
    if mode == "drain" {
        let idle = notifier.wait_idle(Duration::from_secs(120));
        let report = notifier.shutdown(Duration::from_secs(10));
        let stats = report.stats;
        let _ = writeln!(
            out,
            "drained idle={idle} left={} recovered={} delivered={} failed={}",
            report.left_in_outbox, stats.recovered, stats.delivered, stats.failed
        );
        std::process::exit(0);
    }
    let start: u64 = std::env::var("WEBHOOK_CRASH_START")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    for n in start..start + PER_CHILD {
        let id = webhook_id(n);
        let message = WebhookMessage::custom("crash_event", &serde_json::json!({ "n": n }))
            .expect("valid")
            .with_id(id.parse().expect("valid id"));
        if notifier.enqueue_confirmed(message).is_ok() {
            let _ = writeln!(out, "confirmed {id}");
            let _ = out.flush();
        }
    }
    std::process::exit(0);
}

fn spawn_child(exe: &Path, args: &[&str], mode: &str, dir: &Path, url: &str, start: u64) -> Child {
    Command::new(exe)
        .args(args)
        .env("WEBHOOK_CRASH_MODE", mode)
        .env("WEBHOOK_CRASH_DIR", dir)
        .env("WEBHOOK_CRASH_URL", url)
        .env("WEBHOOK_CRASH_START", start.to_string())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts")
}

/// A pseudo-random number in `0..n` (varies per call and per run).
fn random_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() % n.max(1)
}

/// Reads a child's `confirmed <id>` lines into `confirmed` until the child's stdout
/// closes; returns how many arrived through `seen` as they come.
fn read_confirmed(child: &mut Child) -> (mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("confirmed ") {
                let _ = tx.send(id.to_owned());
            }
        }
    });
    (rx, reader)
}

/// Runs the experiment: `kills` children killed at random moments, then a recovery run.
/// `exe` and `args` start this executable's child mode.
pub(crate) fn run(exe: &Path, args: &[&str], kills: u32, dir: &Path) -> Tally {
    let receiver = TestReceiver::builder()
        .per_webhook(Script::sequence([
            Reply::status(503),
            Reply::ok().after(Duration::from_millis(5)),
        ]))
        .start()
        .expect("receiver starts");
    let url = receiver.url();
    let mut confirmed = HashSet::new();
    for k in 0..u64::from(kills) {
        let start = k * PER_CHILD;
        for n in (start..start + 5_000).filter(|n| n % REFUSED_EVERY == 0) {
            receiver.script_for(&webhook_id(n), Script::always(Reply::status(500)));
        }
        let mut child = spawn_child(exe, args, "send", dir, &url, start);
        let (rx, reader) = read_confirmed(&mut child);
        // Kill after a random number of confirmations (or a bounded time), at a random
        // moment within the next few milliseconds.
        let wanted = 5 + random_below(150);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = 0;
        while got < wanted && Instant::now() < deadline {
            if let Ok(id) = rx.recv_timeout(Duration::from_millis(100)) {
                confirmed.insert(id);
                got += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(random_below(20)));
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        reader.join().expect("reader");
        confirmed.extend(rx.try_iter());
    }
    let mut drain = spawn_child(exe, args, "drain", dir, &url, 0);
    let out = BufReader::new(drain.stdout.take().expect("piped"));
    let line = out
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("drained"))
        .unwrap_or_default();
    drain.wait().expect("drain child ends");
    eprintln!("recovery run: {line}");
    tally(kills, &confirmed, &receiver, dir)
}

fn tally(kills: u32, confirmed: &HashSet<String>, receiver: &TestReceiver, dir: &Path) -> Tally {
    let mut delivered = HashSet::new();
    let mut repeated = 0;
    for request in receiver.deliveries() {
        if let Some(id) = request.webhook_id() {
            if !delivered.insert(id.to_owned()) {
                repeated += 1;
            }
        }
    }
    let store = SledFailureStore::open(dir).expect("store reopens");
    let outbox = store.outbox().expect("outbox reopens");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let records = rt
        .block_on(store.list(&RecordFilter::newest(10_000)))
        .expect("records");
    let recorded: HashSet<String> = records.iter().map(|r| r.webhook_id.to_string()).collect();
    if !outbox.is_empty() {
        let owner = webhook_core::outbox::OwnerId::generate();
        let left = rt.block_on(webhook_core::outbox::Outbox::claim(
            &outbox,
            &owner,
            u64::MAX / 4,
            Duration::from_secs(1),
            100,
        ));
        for c in left.iter().flatten() {
            eprintln!(
                "left in the outbox: {} attempts={} not_before={} confirmed={}",
                c.entry.webhook_id,
                c.entry.attempts,
                c.entry.not_before_ms,
                confirmed.contains(c.entry.webhook_id.as_str())
            );
        }
    }
    let lost = confirmed
        .iter()
        .filter(|id| !delivered.contains(*id) && !recorded.contains(*id))
        .count() as u64;
    Tally {
        kills,
        confirmed: confirmed.len() as u64,
        delivered: confirmed
            .iter()
            .filter(|id| delivered.contains(*id))
            .count() as u64,
        recorded: confirmed.iter().filter(|id| recorded.contains(*id)).count() as u64,
        pending: outbox.len(),
        lost: lost.saturating_sub(outbox.len()),
        repeated,
    }
}
