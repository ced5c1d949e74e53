//! `webhook send`: one event through the full pipeline.

use crate::Failure;
use crate::args::SendArgs;
use crate::progress::Progress;
use crate::settings;
use webhook_core::store::RecordFilter;
use webhook_core::{FailureStore, WebhookMessage, WebhookPayload};

pub(crate) fn run(args: SendArgs) -> Result<(), Failure> {
    let config = settings::delivery_config(&args.delivery)?;
    let message = message(&args)?;
    let dir = settings::store_dir(args.delivery.store.as_deref(), Some(&config));
    let store = settings::open_store(&dir)?;
    let bound = settings::worst_case(&config);
    let destination = config
        .destination
        .as_ref()
        .map(|d| d.redacted().to_owned())
        .unwrap_or_default();
    let notifier = settings::notifier(config, store.clone())?;
    let webhook_id = message.id().clone();
    let outcome = notifier.enqueue(message);
    if !outcome.is_accepted() {
        return Err(Failure::usage(format!("event not sent: {outcome}")));
    }
    {
        let _progress = Progress::start(&notifier, "sending");
        notifier.wait_idle(bound);
    }
    let report = notifier.shutdown(std::time::Duration::from_secs(1));
    let stats = report.stats;
    if stats.delivered == 1 {
        println!(
            "delivered {webhook_id} to {destination} after {} attempt(s)",
            stats.attempts
        );
        return Ok(());
    }
    let rt = crate::runtime()?;
    let records = rt
        .block_on(store.list(&RecordFilter::newest(1).ids([webhook_id.as_str()])))
        .map_err(|e| {
            Failure::failed(format!(
                "not delivered, and the store could not be read: {e}"
            ))
        })?;
    match records.first() {
        Some(record) => Err(Failure::failed(format!(
            "not delivered after {} attempt(s): {}; recorded in {} as {} (outcome {})",
            record.attempts,
            record.error,
            dir.display(),
            record.id,
            record.outcome.as_str()
        ))),
        None => Err(Failure::failed(format!(
            "not delivered and not recorded (store writes failed: {})",
            stats.store_errors
        ))),
    }
}

fn message(args: &SendArgs) -> Result<WebhookMessage, Failure> {
    let built = match &args.payload_file {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                Failure::usage(format!(
                    "cannot read --payload-file {}: {e}",
                    path.display()
                ))
            })?;
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
