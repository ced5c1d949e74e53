//! `webhook replay`: resend stored failures and wait for their outcome.

use crate::args::{Format, ReplayArgs};
use crate::signals::{self, Signals};
use crate::terminal::escape;
use crate::wait::{self, Waited};
use crate::{Failure, settings};
use serde::Serialize;
use std::time::Duration;
use webhook_core::store::RecordStatus;
use webhook_core::{FailureStore, ReplayError, ReplayReport, ReplaySelector};

/// One replayed record's outcome.
#[derive(Debug, Serialize)]
struct Outcome {
    id: String,
    status: RecordStatus,
    /// Whether an attempt was made (a replay still queued when the command stopped was
    /// not attempted, and its replay count was given back).
    attempted: bool,
    error: String,
}

/// The JSON document `replay --format json` prints.
#[derive(Debug, Serialize)]
struct ReplayOutput {
    report: ReplayReport,
    outcomes: Vec<Outcome>,
}

pub(crate) fn run(args: ReplayArgs) -> Result<(), Failure> {
    let selector = ReplaySelector {
        ids: args.ids.clone(),
        event: args.event.clone(),
        task_id: args.task_id.clone(),
        endpoint: args.endpoint.clone(),
        all: args.all,
        limit: args.limit,
        max_replay_attempts: args.max_replay_attempts,
    };
    selector.validate().map_err(usage)?;
    let config = settings::delivery_config(&args.delivery)?;
    let dir = settings::store_dir(args.delivery.store.as_deref(), Some(&config));
    let rt = crate::runtime()?;
    let mut signals = Signals::install(&rt)?;
    let store = settings::open_store(&dir)?;
    let wait_config = config.clone();
    let notifier = settings::notifier(config, store.clone())?;
    let report = notifier
        .replay(&selector, args.dry_run)
        .map_err(|e| match e {
            ReplayError::EmptySelector | ReplayError::BadLimit { .. } => usage(e),
            ReplayError::Store(_) | ReplayError::StoreTimeout { .. } => {
                Failure::not_recorded(e.to_string())
            }
            other => Failure::failed(other.to_string()),
        })?;
    let waited = if report.replayed > 0 {
        let bound = wait::events(&wait_config, report.replayed);
        wait::idle(&rt, &mut signals, &notifier, bound, "replaying")
    } else {
        Waited::Idle
    };
    let grace = match waited {
        Waited::Interrupted(_) => signals::GRACE,
        Waited::Idle | Waited::Unfinished => Duration::from_secs(1),
    };
    notifier.shutdown(grace);
    let mut outcomes = Vec::new();
    for candidate in report.candidates.iter().filter(|c| c.replayed) {
        let record = rt.block_on(store.get(&candidate.id)).map_err(|e| {
            Failure::not_recorded(format!("cannot read the replayed records back: {e}"))
        })?;
        if let Some(record) = record {
            outcomes.push(Outcome {
                id: record.id.to_string(),
                status: record.status,
                attempted: record.status == RecordStatus::Resolved
                    || record.replay_count > candidate.replay_count,
                error: record.error,
            });
        }
    }
    let failed_again = outcomes
        .iter()
        .filter(|o| o.status != RecordStatus::Resolved && o.attempted)
        .count();
    let not_attempted = outcomes.iter().filter(|o| !o.attempted).count();
    let output = ReplayOutput { report, outcomes };
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&output)
                .map_err(|e| Failure::failed(format!("cannot encode the report: {e}")))?;
            println!("{text}");
        }
        Format::Text => print_text(&output),
    }
    let r = &output.report;
    if r.matched == 0 {
        return Err(Failure::nothing_to_replay(
            "no stored failure matches the selection (--id, --event, --task-id, --all)",
        ));
    }
    if r.eligible == 0 {
        return Err(Failure::nothing_to_replay(format!(
            "{} record(s) matched but none is eligible: {} resolved, {} replayed --max-replay-attempts ({}) times already",
            r.matched, r.skipped_resolved, r.skipped_max_attempts, args.max_replay_attempts
        )));
    }
    let summary = format!(
        "{failed_again} replayed record(s) failed again, {not_attempted} not attempted (replay count given back)"
    );
    if let Waited::Interrupted(signal) = waited {
        return Err(Failure::interrupted(
            signal,
            format!(
                "interrupted by {}: shut down after a {} s grace; {summary}; every one is recorded in {}",
                signal.name(),
                grace.as_secs(),
                settings::describe(&dir)
            ),
        ));
    }
    if !r.dry_run && r.replayed == 0 {
        return Err(Failure::failed(format!(
            "{} eligible record(s), none could be queued (the queue was full)",
            r.eligible
        )));
    }
    if failed_again > 0 || not_attempted > 0 {
        return Err(Failure::failed(summary));
    }
    Ok(())
}

/// A selector the library refused, with the flags that fix it (the library's message
/// names `ReplaySelector` fields).
fn usage(error: ReplayError) -> Failure {
    match error {
        ReplayError::EmptySelector => Failure::usage(format!(
            "{error}; select records with --id ID (repeatable), --event EVENT, --task-id ID, or --all, optionally with --limit N"
        )),
        ReplayError::BadLimit { .. } => Failure::usage(format!("{error} (--limit)")),
        other => Failure::usage(other.to_string()),
    }
}

fn print_text(output: &ReplayOutput) {
    let r = &output.report;
    println!(
        "{}matched {}, eligible {}, replayed {}, skipped: {} at max attempts, {} resolved, {} queue full",
        if r.dry_run { "dry run: " } else { "" },
        r.matched,
        r.eligible,
        r.replayed,
        r.skipped_max_attempts,
        r.skipped_resolved,
        r.skipped_enqueue_failed
    );
    for c in &r.candidates {
        println!(
            "  {} {} task={} replays={} {}",
            escape(c.id.as_str()),
            escape(&c.event),
            escape(c.task_id.as_deref().unwrap_or("-")),
            c.replay_count,
            if c.eligible {
                "eligible".to_owned()
            } else {
                format!("skipped ({})", escape(c.reason.as_deref().unwrap_or("-")))
            }
        );
    }
    for o in &output.outcomes {
        let (word, error) = match (o.status, o.attempted) {
            (RecordStatus::Resolved, _) => ("resolved", ""),
            (_, false) => ("not attempted", ""),
            (_, true) => ("failed again", o.error.as_str()),
        };
        println!("  {} {word} {}", escape(&o.id), escape(error));
    }
}
