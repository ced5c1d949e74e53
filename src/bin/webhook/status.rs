//! `webhook status`: what the failure store holds.

use crate::Failure;
use crate::args::{Format, StatusArgs};
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
    let status = StoreStatus {
        store: dir.display().to_string(),
        records: all.len(),
        failed: all.len() - resolved,
        resolved,
        by_outcome,
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
