//! Sample payloads, the test configuration and the accounting assertion.

use std::sync::Arc;
use std::time::Duration;
use webhook_core::{DeliveryStats, Notifier, WebhookEventType};
use webhook_testkit::{
    SAMPLE_TIMESTAMP, ScriptedTransport, TestConfig, assert_accounting, sample_payloads,
};

#[test]
fn samples_cover_every_event_with_realistic_fields() {
    let samples = sample_payloads();
    let events: Vec<&str> = samples.iter().map(|p| p.event.as_str()).collect();
    let expected: Vec<&str> = WebhookEventType::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(events, expected);
    for sample in &samples {
        let json = serde_json::to_value(sample).expect("serializes");
        assert_eq!(json["timestamp"], SAMPLE_TIMESTAMP);
        assert!(json["runner"].is_string(), "context is flattened: {json}");
        let is_task_event = sample.event.starts_with("task_") || sample.event.starts_with("phase_");
        assert_eq!(sample.task_id.is_some(), is_task_event, "{}", sample.event);
        if sample.event.starts_with("phase_") {
            assert!(json["phase"].is_u64() && json["phase_count"].is_u64());
        }
    }
    let failed = &samples[3];
    assert_eq!(failed.event, "task_failed");
    assert!(failed.note.is_some() && failed.current_status.as_deref() == Some("rejected"));
}

#[tokio::test]
async fn every_sample_goes_through_a_test_config_unfiltered() {
    let transport = Arc::new(ScriptedTransport::new());
    let config = TestConfig::default().resolve().expect("valid");
    let notifier = Notifier::builder(config, transport.clone())
        .paused_clock()
        .start()
        .expect("starts");
    for sample in sample_payloads() {
        assert!(notifier.send(&sample).is_accepted());
    }
    let sent = transport
        .wait_for_deliveries(10, Duration::from_secs(10))
        .await
        .expect("all delivered");
    let mut events: Vec<String> = sent.iter().filter_map(|a| a.event()).collect();
    events.sort();
    let mut expected: Vec<String> = WebhookEventType::ALL
        .iter()
        .map(|e| e.to_string())
        .collect();
    expected.sort();
    assert_eq!(events, expected);
}

#[test]
fn test_config_defaults_are_fast_and_jitter_free() {
    let config = TestConfig::default().resolve().expect("valid");
    assert!(config.enabled);
    assert!(config.destination_policy.allow_insecure_http);
    assert!(config.destination_policy.allow_private_targets);
    assert!(!config.retry.has_jitter());
    assert_eq!(config.retry.base_delay(1), Some(Duration::from_millis(100)));
    let jittered = TestConfig::default().jitter(true).resolve().expect("valid");
    assert!(jittered.retry.has_jitter());
}

#[test]
fn test_config_values_are_checked_like_any_config() {
    let err = TestConfig::default()
        .queue_capacity(3)
        .resolve()
        .expect_err("too small");
    let message = err.to_string();
    assert!(
        message.contains("queue_capacity") && message.contains('3'),
        "{message}"
    );
    let edited = TestConfig::default()
        .edit(|c| c.max_payload_bytes = Some(4096))
        .resolve()
        .expect("valid");
    assert_eq!(edited.max_payload_bytes, 4096);
}

#[test]
fn assert_accounting_names_every_term_when_the_identity_breaks() {
    let broken = DeliveryStats {
        accepted: 5,
        delivered: 2,
        failed: 1,
        queued: 1,
        ..DeliveryStats::default()
    };
    let panic = std::panic::catch_unwind(|| assert_accounting(&broken)).expect_err("must panic");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("accepted (5) != delivered (2) + failed (1) + evicted (0) + queued (1)"),
        "{message}"
    );
    assert!(
        message.contains("= 4; 1 event(s) unaccounted for"),
        "{message}"
    );
    assert_accounting(&DeliveryStats {
        accepted: 4,
        ..broken
    });
}
