//! `webhook send`: one event through the full pipeline.

use crate::args::SendArgs;
use crate::signals::{self, Signals};
use crate::wait::{self, Waited};
use crate::{Failure, settings};
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use webhook_core::store::RecordFilter;
use webhook_core::{FailureStore, WebhookMessage, WebhookPayload};

pub(crate) fn run(args: SendArgs) -> Result<(), Failure> {
    let config = settings::delivery_config(&args.delivery)?;
    let message = message(&args, config.max_payload_bytes)?;
    let dir = settings::store_dir(args.delivery.store.as_deref(), Some(&config));
    let rt = crate::runtime()?;
    let mut signals = Signals::install(&rt)?;
    let store = settings::open_store(&dir)?;
    let bound = wait::one_event(&config);
    let destination = config
        .destination
        .as_ref()
        .map(|d| d.redacted().to_owned())
        .unwrap_or_default();
    let durable = config.outbox.durable;
    let notifier = settings::notifier(config, store.clone())?;
    let webhook_id = message.id().clone();
    if durable {
        notifier
            .enqueue_confirmed(message)
            .map_err(|e| Failure::not_recorded(format!("event not sent: {e}")))?;
        eprintln!(
            "webhook: {webhook_id} is durable in the outbox at {}",
            settings::describe(&dir)
        );
    } else {
        let outcome = notifier.enqueue(message);
        if !outcome.is_accepted() {
            return Err(Failure::usage(format!("event not sent: {outcome}")));
        }
    }
    let waited = wait::idle(&rt, &mut signals, &notifier, bound, "sending");
    let grace = match waited {
        Waited::Interrupted(_) => signals::GRACE,
        Waited::Idle | Waited::Unfinished => Duration::from_secs(1),
    };
    let report = notifier.shutdown(grace);
    let stats = report.stats;
    // With endpoints, one event is one delivery per destination: it is delivered only
    // when every one of them is.
    let destinations = stats.accepted.max(1);
    if stats.delivered == destinations && report.left_in_outbox == 0 {
        println!(
            "delivered {webhook_id} to {destination} after {} attempt(s)",
            stats.attempts
        );
        return match waited {
            Waited::Interrupted(signal) => Err(Failure::interrupted(
                signal,
                format!("interrupted by {}; the event was delivered", signal.name()),
            )),
            Waited::Idle | Waited::Unfinished => Ok(()),
        };
    }
    let records = rt
        .block_on(store.list(&RecordFilter::newest(1).ids([webhook_id.as_str()])))
        .map_err(|e| {
            Failure::not_recorded(format!(
                "not delivered, and the store could not be read: {e}"
            ))
        })?;
    let Some(record) = records.first() else {
        if report.left_in_outbox > 0 {
            return Err(Failure::in_outbox(format!(
                "not delivered yet: {webhook_id} waits in the outbox at {} for its next retry; `webhook drain` delivers it",
                settings::describe(&dir)
            )));
        }
        let why = store.last_write_error().unwrap_or_else(|| {
            format!(
                "the failure store at {} did not answer in time ({} write(s) failed)",
                settings::describe(&dir),
                stats.store_errors
            )
        });
        let prefix = match waited {
            Waited::Interrupted(signal) => format!("interrupted by {}: ", signal.name()),
            Waited::Idle | Waited::Unfinished => String::new(),
        };
        return Err(Failure::not_recorded(format!(
            "{prefix}not delivered and not recorded: {why}"
        )));
    };
    let partly = match stats.delivered {
        0 => String::new(),
        n => format!("delivered to {n} of {destinations} destinations; "),
    };
    let text = format!(
        "{partly}not delivered after {} attempt(s): {}; recorded in {} as {} (outcome {})",
        record.attempts,
        record.error,
        settings::describe(&dir),
        record.id,
        record.outcome.as_str()
    );
    match waited {
        Waited::Interrupted(signal) => Err(Failure::interrupted(
            signal,
            format!(
                "interrupted by {}: shut down after a {} s grace; {text}",
                signal.name(),
                grace.as_secs()
            ),
        )),
        Waited::Idle | Waited::Unfinished => Err(Failure::failed(text)),
    }
}

fn message(args: &SendArgs, max_payload_bytes: usize) -> Result<WebhookMessage, Failure> {
    let built = match &args.payload_file {
        Some(path) => {
            let bytes = read_bounded(path, max_payload_bytes)?;
            WebhookMessage::from_json_bytes(&args.event, args.task_id.clone(), bytes)
                .map_err(|e| Failure::usage(format!("--payload-file {}: {e}", path.display())))?
        }
        None => {
            let mut payload = WebhookPayload::named(args.event.clone());
            payload.task_id.clone_from(&args.task_id);
            payload.task_title.clone_from(&args.task_title);
            payload.note.clone_from(&args.note);
            WebhookMessage::from_payload(&payload)
                .map_err(|e| Failure::usage(format!("--event: {e}")))?
        }
    };
    Ok(built)
}

/// Reads at most `limit` bytes of `path`; a longer file (or an endless device) is
/// refused after `limit + 1` bytes, naming the limit.
fn read_bounded(path: &Path, limit: usize) -> Result<Vec<u8>, Failure> {
    let cannot = |e: std::io::Error| {
        Failure::usage(format!(
            "cannot read --payload-file {}: {e}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    file.take(cap).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() > limit {
        return Err(Failure::usage(format!(
            "--payload-file {} is larger than max_payload_bytes ({limit} bytes); expected at most {limit} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}
