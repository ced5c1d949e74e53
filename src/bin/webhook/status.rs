//! `webhook status`: what the failure store holds, how old its oldest unresolved
//! failure is, and (with `--metrics-url`) the live figures of a running notifier.

use crate::Failure;
use crate::args::{Format, StatusArgs};
use crate::live::{self, LiveFigures};
use crate::settings;
use serde::Serialize;
use std::collections::BTreeMap;
use webhook_core::FailureStore;
use webhook_core::store::{FailureRecord, RecordFilter, RecordStatus};

/// The JSON document `status --format json` prints.
#[derive(Debug, Serialize)]
struct StoreStatus {
    store: String,
    records: usize,
    failed: usize,
    resolved: usize,
    by_outcome: BTreeMap<&'static str, usize>,
    /// Seconds since the oldest failure still awaiting replay was recorded.
    oldest_failed_age_seconds: Option<f64>,
    /// The running notifier's figures (`--metrics-url`), or `null`.
    live: Option<LiveFigures>,
    recent_failures: Vec<FailureRecord>,
}

pub(crate) fn run(args: StatusArgs) -> Result<(), Failure> {
    let dir = settings::store_dir(args.store.as_deref(), None);
    let store = settings::open_store(&dir)?;
    let rt = crate::runtime()?;
    let all = rt
        .block_on(store.list(&RecordFilter::newest(usize::MAX)))
        .map_err(|e| Failure::failed(format!("cannot read the failure store: {e}")))?;
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
        store: dir.display().to_string(),
        records: all.len(),
        failed: all.len() - resolved,
        resolved,
        by_outcome,
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

fn print_text(status: &StoreStatus) {
    println!("failure store: {}", status.store);
    println!(
        "records: {} ({} failed, {} resolved)",
        status.records, status.failed, status.resolved
    );
    for (outcome, n) in &status.by_outcome {
        println!("  {outcome}: {n}");
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
            r.id,
            r.failed_at,
            r.event,
            r.task_id.as_deref().unwrap_or("-"),
            r.destination,
            status_word,
            r.attempts,
            r.replay_count,
            r.error
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
