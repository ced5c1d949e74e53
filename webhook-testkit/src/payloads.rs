//! Sample payloads of every seed event type.

use webhook_core::{WebhookContext, WebhookEventType, WebhookPayload};

/// The timestamp every sample carries, so that sample bodies are byte-for-byte
/// reproducible.
pub const SAMPLE_TIMESTAMP: &str = "2025-06-02T09:30:00Z";

/// One realistic payload per [`WebhookEventType`], in the order of
/// [`WebhookEventType::ALL`].
///
/// ```
/// use webhook_core::WebhookEventType;
/// use webhook_testkit::sample_payloads;
///
/// let samples = sample_payloads();
/// assert_eq!(samples.len(), WebhookEventType::ALL.len());
/// assert!(samples.iter().zip(WebhookEventType::ALL).all(|(p, e)| p.event == e.as_str()));
/// ```
pub fn sample_payloads() -> Vec<WebhookPayload> {
    WebhookEventType::ALL
        .into_iter()
        .map(sample_payload)
        .collect()
}

/// A realistic payload for `event`: task events carry a task id, title and statuses;
/// phase events their phase; run metadata in the flattened context. The timestamp is
/// [`SAMPLE_TIMESTAMP`].
pub fn sample_payload(event: WebhookEventType) -> WebhookPayload {
    let run = WebhookContext {
        runner: Some("codex".to_owned()),
        model: Some("gpt-5-codex".to_owned()),
        repo_root: Some("/home/dev/projects/inventory".to_owned()),
        branch: Some("main".to_owned()),
        ..WebhookContext::default()
    };
    let task = |p: WebhookPayload| {
        p.task_id("RQ-0042")
            .task_title("Add CSV export to the inventory report")
    };
    let payload = WebhookPayload::new(event);
    let payload = match event {
        WebhookEventType::TaskCreated => task(payload).statuses("draft", "todo").context(run),
        WebhookEventType::TaskStarted => {
            task(payload)
                .statuses("todo", "doing")
                .context(WebhookContext {
                    phase: Some(1),
                    phase_count: Some(3),
                    ..run
                })
        }
        WebhookEventType::TaskCompleted => {
            task(payload)
                .statuses("doing", "done")
                .context(WebhookContext {
                    duration_ms: Some(754_210),
                    commit: Some("3f9c2ab1e0d4".to_owned()),
                    ci_gate: Some("passed".to_owned()),
                    ..run
                })
        }
        WebhookEventType::TaskFailed => task(payload)
            .statuses("doing", "rejected")
            .note("CI gate failed: 2 of 148 tests failing in report::csv")
            .context(WebhookContext {
                duration_ms: Some(301_877),
                ci_gate: Some("failed".to_owned()),
                ..run
            }),
        WebhookEventType::TaskStatusChanged => task(payload)
            .statuses("todo", "blocked")
            .note("waiting on RQ-0041")
            .context(run),
        WebhookEventType::LoopStarted => payload.note("processing 7 queued tasks").context(run),
        WebhookEventType::LoopStopped => payload.note("queue empty").context(WebhookContext {
            duration_ms: Some(3_605_112),
            ..run
        }),
        WebhookEventType::PhaseStarted => task(payload).context(WebhookContext {
            phase: Some(2),
            phase_count: Some(3),
            ..run
        }),
        WebhookEventType::PhaseCompleted => task(payload).context(WebhookContext {
            phase: Some(2),
            phase_count: Some(3),
            duration_ms: Some(212_480),
            ..run
        }),
        WebhookEventType::QueueUnblocked => payload
            .note("RQ-0041 completed; 3 tasks are ready")
            .context(run),
    };
    WebhookPayload {
        timestamp: SAMPLE_TIMESTAMP.to_owned(),
        ..payload
    }
}
