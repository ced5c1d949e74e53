//! `webhook status`: what the failure store holds, how old its oldest unresolved
//! failure is, and (with `--metrics-url`) the live figures of a running notifier.

use crate::args::{Format, StatusArgs};
use crate::live::{self, LiveFigures};
use crate::store::{Backend, WatchedStore};
use crate::terminal::escape;
use crate::{Failure, settings};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use tempfile::TempDir;
use webhook_core::FailureStore;
use webhook_core::store::{FailureRecord, RecordFilter, RecordStatus};
use webhook_sled::{Damage, SledFailureStore};

/// The JSON document `status --format json` prints.
#[derive(Debug, Serialize)]
struct StoreStatus {
    store: String,
    /// Records lost since the store's last change, when its files were damaged.
    #[serde(skip_serializing_if = "Option::is_none")]
    damage: Option<DamageJson>,
    records: usize,
    failed: usize,
    resolved: usize,
    by_outcome: BTreeMap<&'static str, usize>,
    /// The durable outbox in the same folder: entries waiting for delivery.
    outbox: OutboxStatus,
    /// Seconds since the oldest failure still awaiting replay was recorded.
    oldest_failed_age_seconds: Option<f64>,
    /// The running notifier's figures (`--metrics-url`), or `null`.
    live: Option<LiveFigures>,
    recent_failures: Vec<FailureRecord>,
}

/// What the outbox holds.
#[derive(Debug, Serialize)]
struct OutboxStatus {
    /// Entries not yet delivered or recorded (queued, or waiting for a retry).
    pending: u64,
    /// Age of the oldest entry in seconds (`null` when empty).
    oldest_pending_secs: Option<f64>,
    /// A shared (PostgreSQL) outbox: the instances holding leases now, and on how many
    /// entries each (an instance that died keeps its leases until they run out).
    #[serde(skip_serializing_if = "Option::is_none")]
    leases: Option<Vec<LeaseJson>>,
}

/// One instance's leases.
#[derive(Debug, Serialize)]
struct LeaseJson {
    /// The instance (`<pid>-<random>`).
    owner: String,
    /// Entries it holds.
    entries: u64,
}

pub(crate) fn run(args: StatusArgs) -> Result<(), Failure> {
    let dir = settings::store_dir(args.store.as_deref(), None);
    let (store, _copy) = open_for_reading(&dir)?;
    let rt = crate::runtime()?;
    let all = rt
        .block_on(store.list(&RecordFilter::newest(usize::MAX)))
        .map_err(|e| Failure::not_recorded(format!("cannot read the failure store: {e}")))?;
    let mut by_outcome = BTreeMap::new();
    for record in &all {
        *by_outcome.entry(record.outcome.as_str()).or_insert(0) += 1;
    }
    let resolved = all
        .iter()
        .filter(|r| r.status == RecordStatus::Resolved)
        .count();
    let now_ms = webhook_core::time::unix_millis(std::time::SystemTime::now());
    let oldest_failed_age_seconds = all
        .iter()
        .filter(|r| r.status == RecordStatus::Failed)
        .map(|r| r.failed_at_ms)
        .min()
        .map(|at| now_ms.saturating_sub(at) as f64 / 1000.0);
    let live = match &args.metrics_url {
        Some(url) => Some(
            rt.block_on(live::scrape(url))
                .map_err(|e| Failure::failed(e.to_string()))?,
        ),
        None => None,
    };
    let status = StoreStatus {
        store: settings::describe(&dir),
        damage: match store.backend() {
            Backend::Sled(sled) => sled.damage().map(DamageJson::from),
            Backend::Postgres(_) => None,
        },
        records: all.len(),
        failed: all.len() - resolved,
        resolved,
        by_outcome,
        outbox: outbox_status(&rt, &store)?,
        oldest_failed_age_seconds,
        live,
        recent_failures: all.into_iter().take(args.recent).collect(),
    };
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&status)
                .map_err(|e| Failure::failed(format!("cannot encode status: {e}")))?;
            println!("{text}");
        }
        Format::Text => print_text(&status),
    }
    Ok(())
}

/// [`Damage`] as JSON.
#[derive(Debug, Serialize)]
struct DamageJson {
    expected: usize,
    found: usize,
}

impl From<Damage> for DamageJson {
    fn from(d: Damage) -> Self {
        Self {
            expected: d.expected,
            found: d.found,
        }
    }
}

/// Opens the store: PostgreSQL when `dir` is a URL; otherwise the sled folder, and one
/// that cannot be opened for writing (in use by another process, or read-only) is read
/// from a copy.
fn open_for_reading(dir: &Path) -> Result<(WatchedStore, Option<TempDir>), Failure> {
    if let Some(url) = settings::postgres_url(dir) {
        let db =
            webhook_postgres::Database::connect(webhook_postgres::PostgresOptions::from_url(url))
                .map_err(|e| Failure::not_recorded(format!("cannot open the failure store: {e}")))?;
        return Ok((WatchedStore::new(Backend::Postgres(db)), None));
    }
    let (sled, copy) = open_sled_for_reading(dir)?;
    settings::warn_damage(&sled);
    Ok((WatchedStore::new(Backend::Sled(sled)), copy))
}

fn open_sled_for_reading(dir: &Path) -> Result<(SledFailureStore, Option<TempDir>), Failure> {
    let first = match SledFailureStore::open(dir) {
        Ok(store) => return Ok((store, None)),
        Err(e) => e,
    };
    if !dir.is_dir() {
        return Err(Failure::not_recorded(format!(
            "cannot open the failure store: {first}"
        )));
    }
    let copy = tempfile::tempdir().map_err(|e| {
        Failure::not_recorded(format!(
            "cannot open the failure store ({first}), nor make a temporary folder to read a copy: {e}"
        ))
    })?;
    copy_folder(dir, copy.path(), 0).map_err(|e| {
        Failure::not_recorded(format!(
            "cannot open the failure store ({first}), nor copy it to read it: {e}"
        ))
    })?;
    let store = SledFailureStore::open(copy.path()).map_err(|e| {
        Failure::not_recorded(format!(
            "cannot open the failure store ({first}), nor a copy of it: {e}"
        ))
    })?;
    eprintln!("webhook: note: {first}; showing a copy of it taken now");
    Ok((store, Some(copy)))
}

/// Copies the files of `from` into `to`, folders at most 4 deep (sled's are 2).
fn copy_folder(from: &Path, to: &Path, depth: u8) -> std::io::Result<()> {
    if depth > 4 {
        return Ok(());
    }
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_folder(&entry.path(), &target, depth + 1)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The outbox's pending entries and the age of the oldest.
fn outbox_status(
    rt: &tokio::runtime::Runtime,
    store: &WatchedStore,
) -> Result<OutboxStatus, Failure> {
    let cannot = |e: webhook_core::outbox::OutboxError| {
        Failure::not_recorded(format!("cannot read the outbox: {e}"))
    };
    let outbox = store.outbox().map_err(cannot)?;
    let pending = rt.block_on(outbox.pending()).map_err(cannot)?;
    let now_ms = webhook_core::time::unix_millis(std::time::SystemTime::now());
    let leases = match store.backend() {
        Backend::Postgres(db) => Some(
            rt.block_on(db.outbox().leases())
                .map_err(cannot)?
                .into_iter()
                .map(|(owner, entries)| LeaseJson {
                    owner: owner.to_string(),
                    entries,
                })
                .collect(),
        ),
        Backend::Sled(_) => None,
    };
    Ok(OutboxStatus {
        pending: pending.count,
        oldest_pending_secs: pending.oldest_age_secs(now_ms),
        leases,
    })
}

fn print_text(status: &StoreStatus) {
    println!("failure store: {}", escape(&status.store));
    println!(
        "records: {} ({} failed, {} resolved)",
        status.records, status.failed, status.resolved
    );
    for (outcome, n) in &status.by_outcome {
        println!("  {outcome}: {n}");
    }
    match status.outbox.oldest_pending_secs {
        Some(age) => println!(
            "outbox: {} pending, oldest {age:.1} s old (`webhook drain` delivers them)",
            status.outbox.pending
        ),
        None => println!("outbox: empty"),
    }
    for lease in status.outbox.leases.iter().flatten() {
        println!(
            "  instance {} holds {} entr(ies)",
            escape(&lease.owner),
            lease.entries
        );
    }
    match status.oldest_failed_age_seconds {
        Some(age) => println!("oldest failure awaiting replay: {age:.1} s"),
        None => println!("oldest failure awaiting replay: none"),
    }
    if let Some(live) = &status.live {
        print_live(live);
    }
    if status.recent_failures.is_empty() {
        return;
    }
    println!("recent:");
    for r in &status.recent_failures {
        let status_word = match r.status {
            RecordStatus::Failed => "failed",
            RecordStatus::Resolved => "resolved",
        };
        println!(
            "  {} {} {} task={} -> {} [{} after {} attempt(s), {} replay(s)] {}",
            escape(r.id.as_str()),
            escape(&r.failed_at),
            escape(&r.event),
            escape(r.task_id.as_deref().unwrap_or("-")),
            match &r.endpoint {
                Some(endpoint) =>
                    format!("{} (endpoint {})", escape(&r.destination), escape(endpoint)),
                None => escape(&r.destination).into_owned(),
            },
            status_word,
            r.attempts,
            r.replay_count,
            escape(&r.error)
        );
    }
}

fn print_live(live: &LiveFigures) {
    let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v}"));
    println!("live ({}):", live.source);
    println!(
        "  queue depth: {}, in flight: {}, outbox pending: {}, oldest pending: {} s",
        show(live.queue_depth),
        show(live.in_flight),
        show(live.outbox_pending),
        show(live.oldest_pending_seconds),
    );
    for (title, map) in [
        ("deliveries", &live.deliveries),
        ("attempts", &live.attempts),
        ("dropped", &live.dropped),
    ] {
        let nonzero: Vec<String> = map
            .iter()
            .filter(|(_, n)| **n != 0.0)
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        println!(
            "  {title}: {}",
            if nonzero.is_empty() {
                "none".to_owned()
            } else {
                nonzero.join(" ")
            }
        );
    }
    if let (Some(count), Some(sum)) = (live.attempt_count, live.attempt_seconds_sum) {
        if count > 0.0 {
            println!("  mean attempt duration: {:.1} ms", sum / count * 1000.0);
        }
    }
}
