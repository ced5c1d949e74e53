//! `webhook replay`: resend stored failures and wait for their outcome.

use crate::Failure;
use crate::args::{Format, ReplayArgs};
use crate::progress::Progress;
use crate::settings;
use serde::Serialize;
use webhook_core::store::RecordStatus;
use webhook_core::{FailureStore, ReplayError, ReplayReport, ReplaySelector};

/// One replayed record's outcome.
#[derive(Debug, Serialize)]
struct Outcome {
    id: String,
    status: RecordStatus,
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
        all: args.all,
        limit: args.limit,
        max_replay_attempts: args.max_replay_attempts,
    };
    selector.validate().map_err(usage)?;
    let config = settings::delivery_config(&args.delivery)?;
    let dir = settings::store_dir(args.delivery.store.as_deref(), Some(&config));
    let store = settings::open_store(&dir)?;
    let bound = settings::worst_case(&config);
    let notifier = settings::notifier(config, store.clone())?;
    let report = notifier
        .replay(&selector, args.dry_run)
        .map_err(|e| match e {
            ReplayError::EmptySelector | ReplayError::BadLimit { .. } => usage(e),
            other => Failure::failed(other.to_string()),
        })?;
    if report.replayed > 0 {
        let _progress = Progress::start(&notifier, "replaying");
        notifier.wait_idle(bound);
    }
    notifier.shutdown(std::time::Duration::from_secs(1));
    let rt = crate::runtime()?;
    let mut outcomes = Vec::new();
    for candidate in report.candidates.iter().filter(|c| c.replayed) {
        if let Ok(Some(record)) = rt.block_on(store.get(&candidate.id)) {
            outcomes.push(Outcome {
                id: record.id.to_string(),
                status: record.status,
                error: record.error,
            });
        }
    }
    let failed_again = outcomes
        .iter()
        .filter(|o| o.status != RecordStatus::Resolved)
        .count();
    let output = ReplayOutput { report, outcomes };
    match args.format {
        Format::Json => {
            let text = serde_json::to_string_pretty(&output)
                .map_err(|e| Failure::failed(format!("cannot encode the report: {e}")))?;
            println!("{text}");
        }
        Format::Text => print_text(&output),
    }
    if failed_again > 0 {
        return Err(Failure::failed(format!(
            "{failed_again} replayed record(s) failed again"
        )));
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
            c.id,
            c.event,
            c.task_id.as_deref().unwrap_or("-"),
            c.replay_count,
            if c.eligible {
                "eligible".to_owned()
            } else {
                format!("skipped ({})", c.reason.as_deref().unwrap_or("-"))
            }
        );
    }
    for o in &output.outcomes {
        let word = if o.status == RecordStatus::Resolved {
            "resolved"
        } else {
            "failed again"
        };
        println!(
            "  {} {word} {}",
            o.id,
            if o.status == RecordStatus::Resolved {
                ""
            } else {
                &o.error
            }
        );
    }
}
