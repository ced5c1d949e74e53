//! The shared-outbox experiments, with real processes: instances (this executable
//! started again with `WEBHOOK_PG_CHILD` set) deliver from one PostgreSQL outbox to a
//! loopback receiver in this process, which counts every delivery by webhook id.
//! Shared by `tests/postgres_instances.rs`, `tests/postgres_restart.rs` and
//! `examples/pg_instances.rs`.

#![allow(dead_code)] // each host uses part of it

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use webhook_core::outbox::{NewEntry, Outbox, OwnerId};
use webhook_core::{Notifier, WebhookConfig, WebhookId};
use webhook_postgres::{Database, PostgresOptions, PostgresOutbox};
use webhook_testkit::TestReceiver;

/// The attempt timeout of every instance.
const TIMEOUT_SECS: u32 = 1;
/// The shortest lease the core accepts with that timeout: a killed instance's entries
/// are taken over this long after its last claim.
pub(crate) const LEASE_MS: u64 = 11_000;
/// The longest the experiment waits for every event to arrive.
const DEADLINE: Duration = Duration::from_secs(240);

/// What the experiment counted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    /// Events put into the outbox.
    pub events: u64,
    /// Distinct events the receiver answered with a 2xx.
    pub delivered_unique: u64,
    /// Events never delivered (and the outbox empty: none can still come).
    pub lost: u64,
    /// 2xx deliveries beyond the first of each event.
    pub repeats: u64,
    /// Instances started.
    pub instances: u32,
    /// Entries the killed instance held leases on when it was killed (the bound on
    /// repeats), if one was killed.
    pub held_at_kill: Option<u64>,
    /// Deliveries each instance reported at its clean exit (the killed one reports none).
    pub per_instance: Vec<u64>,
    /// From the first instance's start until the last event arrived.
    pub elapsed: Duration,
    /// CPU time of the instances (user + system).
    pub instance_cpu: Duration,
    /// CPU time of the local PostgreSQL server's processes over the run (zero when the
    /// server is elsewhere).
    pub server_cpu: Duration,
    /// Entries left in the outbox at the end.
    pub pending: u64,
    /// After the server was asked to start again: how long until 100 more deliveries had
    /// arrived than before that request.
    pub resumed_after: Option<Duration>,
}

impl Tally {
    /// The experiment's closing line.
    pub(crate) fn line(&self) -> String {
        format!(
            "events={} delivered_unique={} lost={} repeats={} instances={}",
            self.events, self.delivered_unique, self.lost, self.repeats, self.instances
        )
    }

    /// Deliveries per second, end to end.
    pub(crate) fn rate(&self) -> f64 {
        self.delivered_unique as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU per delivery, in microseconds.
    pub(crate) fn server_cpu_per_delivery_us(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / (self.delivered_unique.max(1) as f64)
    }

    /// Instance CPU per delivery, in microseconds.
    pub(crate) fn cpu_per_delivery_us(&self) -> f64 {
        self.instance_cpu.as_secs_f64() * 1e6 / (self.delivered_unique.max(1) as f64)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Instances (processes).
    pub instances: u32,
    /// Events put into the outbox before they start.
    pub events: u64,
    /// Kill one instance (SIGKILL) once a third of the events arrived.
    pub kill: bool,
    /// Stop the server, then start it, with this command (plus `stop`, `start`) once a
    /// quarter of the events arrived.
    pub restart: Option<Vec<String>>,
    /// Instances make claims and settlements wait for the WAL flush too
    /// (`PostgresOptions::flush_every_commit`).
    pub flush_every_commit: bool,
}

fn webhook_id(n: u64) -> String {
    format!("msg_pg_{n:010}")
}

/// The instance's side: runs if `WEBHOOK_PG_CHILD` is set, then exits the process. It
/// delivers until its stdin closes, then shuts down and prints `delivered=<n>`.
pub(crate) fn child_main_if_asked() {
    let Ok(url) = std::env::var("WEBHOOK_PG_CHILD") else {
        return;
    };
    let receiver = std::env::var("WEBHOOK_PG_RECEIVER").expect("receiver url");
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let options = PostgresOptions::from_url(&url)
        .flush_every_commit(std::env::var("WEBHOOK_PG_FLUSH_EVERY_COMMIT").is_ok());
    let db = Database::connect(options).expect("the instance connects");
    let config = WebhookConfig {
        enabled: Some(true),
        url: Some(receiver),
        allow_insecure_http: Some(true),
        allow_private_targets: Some(true),
        events: Some(vec!["*".to_owned()]),
        timeout_secs: Some(TIMEOUT_SECS),
        lease_ms: Some(LEASE_MS),
        retry_schedule_ms: Some(vec![50, 100]),
        max_concurrency: Some(16),
        durable: Some(true),
        ..WebhookConfig::default()
    }
    .resolve()
    .expect("the instance's config is valid");
    let transport = webhook_http::HttpTransport::from_config(&config).expect("transport");
    let notifier = Notifier::builder(config, Arc::new(transport))
        .store(Arc::new(db.failure_store()))
        .outbox(Arc::new(db.outbox()))
        .start()
        .expect("the instance starts");
    println!("started");
    // Deliver until the experiment closes our stdin.
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
        line.clear();
    }
    let report = notifier.shutdown(Duration::from_secs(5));
    println!("delivered={}", report.stats.delivered);
    std::process::exit(0);
}

/// The instances' stderr: shown with `WEBHOOK_PG_CHILD_STDERR=1` (and `RUST_LOG`).
pub(crate) fn child_stderr() -> Stdio {
    if std::env::var("WEBHOOK_PG_CHILD_STDERR").is_ok() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// One running instance.
struct Instance {
    child: Child,
    out: std::sync::mpsc::Receiver<String>,
}

impl Instance {
    fn spawn(exe: &Path, args: &[&str], url: &str, receiver: &str, flush: bool) -> Self {
        let mut command = Command::new(exe);
        if flush {
            command.env("WEBHOOK_PG_FLUSH_EVERY_COMMIT", "1");
        }
        let mut child = command
            .args(args)
            .env("WEBHOOK_PG_CHILD", url)
            .env("WEBHOOK_PG_RECEIVER", receiver)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(child_stderr())
            .spawn()
            .expect("the instance process starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, out) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, out }
    }

    /// CPU time so far (from /proc; zero where there is none).
    fn cpu(&self) -> Duration {
        cpu_of(self.child.id())
    }

    /// Closes stdin, waits for the exit, and returns the deliveries it reported.
    fn finish(mut self) -> u64 {
        drop(self.child.stdin.take());
        let reported = self
            .out
            .iter()
            .find_map(|l| l.strip_prefix("delivered=").and_then(|n| n.parse().ok()));
        self.child.wait().expect("the instance exits");
        reported.unwrap_or(0)
    }
}

/// A process's user + system CPU time, from `/proc/<pid>/stat` (clock ticks of 10 ms).
fn cpu_of(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start at its closing paren.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time of every local process named `postgres` (the server and its backends;
/// backends that ended during the run are not counted, which the pool's long-lived
/// connections make rare).
fn server_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_of)
        .sum()
}

/// Puts `events` entries into the outbox, in batches, due now.
fn fill(outbox: &PostgresOutbox, rt: &tokio::runtime::Runtime, events: u64) {
    let owner = OwnerId::from_text("producer");
    let now_ms = webhook_core::time::unix_millis(SystemTime::now());
    for start in (0..events).step_by(1_000) {
        let batch = (start..(start + 1_000).min(events))
            .map(|n| NewEntry {
                webhook_id: webhook_id(n).parse::<WebhookId>().expect("valid id"),
                event: "task_created".into(),
                task_id: Some(format!("T-{n}")),
                body: bytes::Bytes::from(format!("{{\"event\":\"task_created\",\"n\":{n}}}")),
                attempts: 0,
                not_before_ms: now_ms,
                created_ms: now_ms,
                replay_of: None,
                endpoint: None,
                ordering_key: None,
            })
            .collect();
        rt.block_on(outbox.append(&owner, batch))
            .expect("the producer appends");
    }
}

/// Runs `plan` against the schema named by `url` (which must exist and be empty), with
/// `exe args` starting this executable's instance mode.
pub(crate) fn run(exe: &Path, args: &[&str], url: &str, plan: &Plan) -> Tally {
    let receiver = TestReceiver::start().expect("receiver starts");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = Database::connect(PostgresOptions::from_url(url)).expect("the producer connects");
    let outbox = db.outbox();
    fill(&outbox, &rt, plan.events);
    let started = Instant::now();
    let server_before = server_cpu();
    let mut instances: Vec<Instance> = (0..plan.instances)
        .map(|_| Instance::spawn(exe, args, url, &receiver.url(), plan.flush_every_commit))
        .collect();
    let mut tally = Tally {
        events: plan.events,
        instances: plan.instances,
        ..Tally::default()
    };
    let mut disturbed = false;
    let mut restarted: Option<(Instant, usize)> = None;
    let third = usize::try_from(plan.events / if plan.restart.is_some() { 4 } else { 3 })
        .unwrap_or(usize::MAX);
    while started.elapsed() < DEADLINE {
        let arrived = receiver.delivery_count();
        if !disturbed && arrived >= third {
            disturbed = true;
            if plan.kill {
                tally.held_at_kill = Some(kill_first(&mut instances, &outbox, &rt, &mut tally));
            }
            if let Some(command) = &plan.restart {
                restarted = Some(restart(command, &receiver));
            }
        }
        if let Some((at, count)) = restarted {
            if tally.resumed_after.is_none() && arrived >= count + 100 {
                tally.resumed_after = Some(at.elapsed());
            }
        }
        if arrived >= usize::try_from(plan.events).unwrap_or(usize::MAX)
            && all_arrived(&receiver, plan.events)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tally.elapsed = started.elapsed();
    tally.server_cpu = server_cpu().saturating_sub(server_before);
    settle_and_finish(instances, &outbox, &rt, &receiver, tally)
}

fn all_arrived(receiver: &TestReceiver, events: u64) -> bool {
    let mut seen = std::collections::HashSet::new();
    for r in receiver.deliveries() {
        if let Some(id) = r.webhook_id() {
            seen.insert(id.to_owned());
        }
    }
    seen.len() as u64 >= events
}

/// SIGKILLs the first instance; how many entries it held leases on.
fn kill_first(
    instances: &mut Vec<Instance>,
    outbox: &PostgresOutbox,
    rt: &tokio::runtime::Runtime,
    tally: &mut Tally,
) -> u64 {
    let mut victim = instances.remove(0);
    tally.instance_cpu += victim.cpu();
    let pid = victim.child.id();
    victim.child.kill().expect("SIGKILL");
    victim.child.wait().expect("reaped");
    let prefix = format!("{pid}-");
    let leases = rt.block_on(outbox.leases()).expect("read leases");
    leases
        .iter()
        .filter(|(owner, _)| owner.as_str().starts_with(&prefix))
        .map(|(_, n)| n)
        .sum()
}

/// How long the server stays down in the restart experiment.
const OUTAGE: Duration = Duration::from_secs(2);

/// Stops the server (`command` + `stop`), keeps it down for [`OUTAGE`] (deliveries
/// stall: claims and settlements fail), then starts it (`command` + `start`). Returns
/// when the start was asked for and how many deliveries had arrived by then:
/// `pg_ctlcluster start` returns only after the server is up, and on a fast machine the
/// instances may have delivered everything by then, so the count is taken before it.
fn restart(command: &[String], receiver: &TestReceiver) -> (Instant, usize) {
    let run = |verb: &str| {
        let status = Command::new(&command[0])
            .args(&command[1..])
            .arg(verb)
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctlcluster runs");
        assert!(status.success(), "{command:?} {verb} failed: {status}");
    };
    run("stop");
    let stopped = receiver.delivery_count();
    std::thread::sleep(OUTAGE);
    let before_start = receiver.delivery_count();
    let during = before_start - stopped;
    let asked = Instant::now();
    run("start");
    eprintln!(
        "server stopped after {stopped} deliveries, down {OUTAGE:?} ({during} deliveries meanwhile, from claims made before), started again in {:?}",
        asked.elapsed()
    );
    (asked, before_start)
}

/// Waits (bounded) until the outbox is empty, stops the instances, and counts.
fn settle_and_finish(
    instances: Vec<Instance>,
    outbox: &PostgresOutbox,
    rt: &tokio::runtime::Runtime,
    receiver: &TestReceiver,
    mut tally: Tally,
) -> Tally {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        match rt.block_on(outbox.pending()) {
            Ok(p) if p.count == 0 => break,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    tally.pending = rt.block_on(outbox.pending()).map_or(u64::MAX, |p| p.count);
    for instance in instances {
        tally.instance_cpu += instance.cpu();
        tally.per_instance.push(instance.finish());
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    for r in receiver.deliveries() {
        if let Some(id) = r.webhook_id() {
            *counts.entry(id.to_owned()).or_default() += 1;
        }
    }
    tally.delivered_unique = (0..tally.events)
        .filter(|n| counts.contains_key(&webhook_id(*n)))
        .count() as u64;
    tally.lost = tally.events - tally.delivered_unique;
    tally.repeats = counts.values().map(|n| n - 1).sum();
    let _ = std::io::stdout().flush();
    tally
}
