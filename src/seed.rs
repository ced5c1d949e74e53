//! The seed module's functions, each a thin layer over the global [`Notifier`].
//!
//! Every `notify_*` function checks the configuration (enabled, event filter), then
//! builds a [`WebhookPayload`] and enqueues it; a filtered event costs no payload. None
//! blocks or fails the caller. The returned [`NotifyOutcome`] may be ignored.

use crate::NotifyOutcome;
use crate::global::{global_notifier, start_parallel, with_global};
use std::path::PathBuf;
use std::time::Duration;
use webhook_core::{
    DropReason, EnqueueOutcome, Notifier, ReplayError, ReplayReport, ReplaySelector, SeedPayload,
    WebhookConfig, WebhookContext, WebhookDiagnostics, WebhookEventType, WebhookPayload,
};

/// Send a webhook notification (non-blocking, enqueues for delivery).
///
/// Sends `event` with `task_id`, `task_title` and, when given, `previous_status`,
/// `current_status` and `note`. A disabled configuration returns at once without
/// starting a worker; an event the configuration does not subscribe to is counted as
/// filtered and not sent.
pub fn send_webhook(
    event: WebhookEventType,
    task_id: &str,
    task_title: &str,
    previous_status: Option<&str>,
    current_status: Option<&str>,
    note: Option<&str>,
    config: &WebhookConfig,
) -> NotifyOutcome {
    send_seed(
        config,
        &SeedPayload {
            task_id: Some(task_id),
            task_title: Some(task_title),
            previous_status,
            current_status,
            note,
            ..SeedPayload::new(event)
        },
    )
}

/// Send a webhook payload directly (non-blocking, enqueues for delivery).
///
/// The payload is sent as it is (its `event` may be a custom name).
pub fn send_webhook_payload(payload: WebhookPayload, config: &WebhookConfig) -> NotifyOutcome {
    with_notifier(config, &payload.event, |notifier| notifier.send(&payload))
}

/// Sends the seed event `event`, building its payload only if the configuration
/// delivers it (a disabled or filtered event costs no payload).
fn send_built(
    event: WebhookEventType,
    config: &WebhookConfig,
    build: impl FnOnce() -> WebhookPayload,
) -> NotifyOutcome {
    with_notifier(config, event.as_str(), |notifier| {
        notifier.send_with(event, build)
    })
}

/// Sends the seed event `payload` (borrowed: its strings are written straight into the
/// body, and only if the configuration delivers the event).
fn send_seed(config: &WebhookConfig, payload: &SeedPayload<'_>) -> NotifyOutcome {
    with_notifier(config, payload.event.as_str(), |notifier| {
        notifier.send_seed(payload)
    })
}

/// Runs `send` with the global notifier for `config`; a disabled configuration
/// returns at once without starting a worker.
fn with_notifier(
    config: &WebhookConfig,
    event: &str,
    send: impl FnOnce(&Notifier) -> EnqueueOutcome,
) -> NotifyOutcome {
    if !config.enabled.unwrap_or(false) {
        return EnqueueOutcome::Dropped(DropReason::Disabled).into();
    }
    match with_global(config, send) {
        Ok(outcome) => outcome.into(),
        Err(error) => {
            tracing::warn!(%error, event, "webhook not sent: configuration refused");
            NotifyOutcome::InvalidConfig
        }
    }
}

/// A task-level payload: `event` for `task_id`/`task_title`, with an optional note and context.
fn task_payload(
    event: WebhookEventType,
    task_id: &str,
    task_title: &str,
    note: Option<&str>,
    context: Option<&WebhookContext>,
) -> WebhookPayload {
    let mut payload = WebhookPayload::new(event)
        .task_id(task_id)
        .task_title(task_title);
    payload.note = note.map(str::to_owned);
    if let Some(context) = context {
        payload.context = context.clone();
    }
    payload
}

fn task_event(
    event: WebhookEventType,
    task_id: &str,
    task_title: &str,
    note: Option<&str>,
    context: Option<&WebhookContext>,
    config: &WebhookConfig,
) -> NotifyOutcome {
    send_seed(
        config,
        &SeedPayload {
            task_id: Some(task_id),
            task_title: Some(task_title),
            note,
            context,
            ..SeedPayload::new(event)
        },
    )
}

fn loop_event(
    event: WebhookEventType,
    note: Option<&str>,
    config: &WebhookConfig,
) -> NotifyOutcome {
    send_seed(
        config,
        &SeedPayload {
            note,
            ..SeedPayload::new(event)
        },
    )
}

/// Convenience function to send task creation webhook.
///
/// Sends `task_created` with `task_id` and `task_title`.
pub fn notify_task_created(
    task_id: &str,
    task_title: &str,
    config: &WebhookConfig,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskCreated,
        task_id,
        task_title,
        None,
        None,
        config,
    )
}

/// Convenience function to send task creation webhook with context.
///
/// Sends `task_created` with `task_id`, `task_title` and the context fields.
pub fn notify_task_created_with_context(
    task_id: &str,
    task_title: &str,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskCreated,
        task_id,
        task_title,
        None,
        Some(context),
        config,
    )
}

/// Convenience function to send task started webhook.
///
/// Sends `task_started` with `task_id` and `task_title`.
pub fn notify_task_started(
    task_id: &str,
    task_title: &str,
    config: &WebhookConfig,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskStarted,
        task_id,
        task_title,
        None,
        None,
        config,
    )
}

/// Convenience function to send task started webhook with context.
///
/// Sends `task_started` with `task_id`, `task_title` and the context fields.
pub fn notify_task_started_with_context(
    task_id: &str,
    task_title: &str,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskStarted,
        task_id,
        task_title,
        None,
        Some(context),
        config,
    )
}

/// Convenience function to send task completed webhook.
///
/// Sends `task_completed` with `task_id` and `task_title`.
pub fn notify_task_completed(
    task_id: &str,
    task_title: &str,
    config: &WebhookConfig,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskCompleted,
        task_id,
        task_title,
        None,
        None,
        config,
    )
}

/// Convenience function to send task completed webhook with context.
///
/// Sends `task_completed` with `task_id`, `task_title` and the context fields.
pub fn notify_task_completed_with_context(
    task_id: &str,
    task_title: &str,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskCompleted,
        task_id,
        task_title,
        None,
        Some(context),
        config,
    )
}

/// Convenience function to send task failed/rejected webhook.
///
/// Sends `task_failed` with `task_id`, `task_title` and the failure reason as `note`.
pub fn notify_task_failed(
    task_id: &str,
    task_title: &str,
    reason: Option<&str>,
    config: &WebhookConfig,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskFailed,
        task_id,
        task_title,
        reason,
        None,
        config,
    )
}

/// Convenience function to send task failed webhook with context.
///
/// Sends `task_failed` with `task_id`, `task_title`, the reason as `note` and the
/// context fields.
pub fn notify_task_failed_with_context(
    task_id: &str,
    task_title: &str,
    reason: Option<&str>,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    task_event(
        WebhookEventType::TaskFailed,
        task_id,
        task_title,
        reason,
        Some(context),
        config,
    )
}

/// Convenience function to send generic status change webhook.
///
/// Sends `task_status_changed` with `task_id`, `task_title`, `previous_status` and
/// `current_status`.
pub fn notify_status_changed(
    task_id: &str,
    task_title: &str,
    previous_status: &str,
    current_status: &str,
    config: &WebhookConfig,
) -> NotifyOutcome {
    send_webhook(
        WebhookEventType::TaskStatusChanged,
        task_id,
        task_title,
        Some(previous_status),
        Some(current_status),
        None,
        config,
    )
}

/// Convenience function to send loop started webhook. This is a loop-level event with
/// no task association.
///
/// Sends `loop_started` with an optional `note`.
pub fn notify_loop_started(note: Option<&str>, config: &WebhookConfig) -> NotifyOutcome {
    loop_event(WebhookEventType::LoopStarted, note, config)
}

/// Convenience function to send loop stopped webhook. This is a loop-level event with
/// no task association.
///
/// Sends `loop_stopped` with an optional `note` (e.g. why it stopped).
pub fn notify_loop_stopped(note: Option<&str>, config: &WebhookConfig) -> NotifyOutcome {
    loop_event(WebhookEventType::LoopStopped, note, config)
}

/// Convenience function to send queue unblocked webhook. This is a loop-level event
/// with no task association.
///
/// Sends `queue_unblocked` with an optional `note`.
pub fn notify_queue_unblocked(note: Option<&str>, config: &WebhookConfig) -> NotifyOutcome {
    loop_event(WebhookEventType::QueueUnblocked, note, config)
}

fn phase_event(
    event: WebhookEventType,
    task_id: &str,
    task_title: &str,
    phase: u32,
    phase_count: u32,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    send_built(event, config, || {
        let mut payload = task_payload(event, task_id, task_title, None, Some(context));
        payload.context.phase = Some(phase);
        payload.context.phase_count = Some(phase_count);
        payload
    })
}

/// Convenience function to send phase started webhook.
///
/// Sends `phase_started` with `task_id`, `task_title`, `phase`, `phase_count` and the
/// other context fields.
pub fn notify_phase_started(
    task_id: &str,
    task_title: &str,
    phase: u32,
    phase_count: u32,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    phase_event(
        WebhookEventType::PhaseStarted,
        task_id,
        task_title,
        phase,
        phase_count,
        config,
        context,
    )
}

/// Convenience function to send phase completed webhook.
///
/// Sends `phase_completed` with `task_id`, `task_title`, `phase`, `phase_count` and the
/// other context fields (e.g. `duration_ms`).
pub fn notify_phase_completed(
    task_id: &str,
    task_title: &str,
    phase: u32,
    phase_count: u32,
    config: &WebhookConfig,
    context: &WebhookContext,
) -> NotifyOutcome {
    phase_event(
        WebhookEventType::PhaseCompleted,
        task_id,
        task_title,
        phase,
        phase_count,
        config,
        context,
    )
}

/// Initialize the global webhook worker with capacity scaled for parallel execution.
/// Call this instead of relying on implicit init when running in parallel mode.
///
/// Capacity becomes `queue_capacity × max(1, workers × parallel_queue_multiplier)`
/// (at most 10,000) and concurrency `max(max_concurrency, workers)`. A disabled
/// configuration starts nothing.
pub fn init_worker_for_parallel(
    config: &WebhookConfig,
    workers: usize,
) -> Result<(), crate::GlobalError> {
    if !config.enabled.unwrap_or(false) {
        return Ok(());
    }
    start_parallel(config, workers).map(drop)
}

/// A diagnostics snapshot of the global worker for `config` (started if needed), with
/// the newest `recent_limit` failure records.
///
/// A disabled configuration still gets a worker (it delivers nothing but can show and
/// replay the store). If the configuration is invalid, the snapshot has zero counters
/// and `store_error` says why.
pub fn diagnostics_snapshot(config: &WebhookConfig, recent_limit: usize) -> WebhookDiagnostics {
    match global_notifier(config) {
        Ok(notifier) => notifier.diagnostics(recent_limit),
        Err(error) => WebhookDiagnostics {
            enabled: false,
            destination: config.url.as_deref().map(webhook_core::config::redact_url),
            queue_capacity: 0,
            queue_policy: config.queue_policy.unwrap_or_default().to_string(),
            max_concurrency: 0,
            max_pending_retries: 0,
            stats: webhook_core::DeliveryStats::default(),
            store_location: webhook_postgres::describe_store_path(&crate::global::store_path_for(
                config,
            )),
            store_records: None,
            store_error: Some(format!("no worker: {error}")),
            recent_failures: Vec::new(),
            outbox: None,
            endpoints: Vec::new(),
        },
    }
}

/// Replays stored failures chosen by `selector` through the global worker for `config`.
///
/// Refuses an empty selector. With `dry_run`, lists the candidates and changes nothing.
/// A real replay enqueues the eligible records with their original webhook ids and
/// returns at once; the records learn the outcome when the deliveries finish.
pub fn replay_failed_deliveries(
    config: &WebhookConfig,
    selector: &ReplaySelector,
    dry_run: bool,
) -> Result<ReplayReport, ReplayError> {
    selector.validate()?;
    let notifier = global_notifier(config).map_err(|error| {
        tracing::warn!(%error, "replay needs a running worker");
        ReplayError::Stopped
    })?;
    notifier.replay(selector, dry_run)
}

/// Where the global worker for `config` keeps its failure records.
pub fn failure_store_path_for(config: &WebhookConfig) -> PathBuf {
    crate::global::store_path_for(config)
}

/// Waits until the global worker for `config` has nothing queued, in flight or waiting,
/// up to `timeout`. Returns whether it got there.
pub fn wait_for_idle(config: &WebhookConfig, timeout: Duration) -> bool {
    global_notifier(config).is_ok_and(|n| n.wait_idle(timeout))
}
