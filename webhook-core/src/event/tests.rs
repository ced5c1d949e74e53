use super::*;
use serde_json::json;

#[test]
fn every_event_type_round_trips_through_its_wire_name() {
    for event in WebhookEventType::ALL {
        let json = serde_json::to_value(event).expect("serializes");
        assert_eq!(json, json!(event.as_str()));
        assert_eq!(event.as_str().parse::<WebhookEventType>(), Ok(event));
        assert_eq!(event.to_string(), event.as_str());
    }
}

#[test]
fn unknown_event_name_error_lists_the_valid_names() {
    let err = "task_exploded".parse::<WebhookEventType>().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("task_exploded"), "{msg}");
    for event in WebhookEventType::ALL {
        assert!(msg.contains(event.as_str()), "{msg} lacks {event}");
    }
}

#[test]
fn minimal_payload_serializes_only_event_and_timestamp() {
    let payload = WebhookPayload {
        event: "loop_started".into(),
        timestamp: "2026-01-01T00:00:00.000Z".into(),
        ..WebhookPayload::default()
    };
    assert_eq!(
        serde_json::to_value(&payload).expect("serializes"),
        json!({"event": "loop_started", "timestamp": "2026-01-01T00:00:00.000Z"})
    );
}

#[test]
fn full_payload_uses_the_seed_field_names_with_context_flattened() {
    let payload = WebhookPayload {
        event: "task_status_changed".into(),
        timestamp: "2026-01-01T00:00:00.000Z".into(),
        task_id: Some("RQ-1".into()),
        task_title: Some("Write docs".into()),
        previous_status: Some("todo".into()),
        current_status: Some("doing".into()),
        note: Some("n".into()),
        context: WebhookContext {
            runner: Some("codex".into()),
            model: Some("m".into()),
            phase: Some(2),
            phase_count: Some(3),
            duration_ms: Some(1500),
            repo_root: Some("/repo".into()),
            branch: Some("main".into()),
            commit: Some("abc123".into()),
            ci_gate: Some("passed".into()),
        },
    };
    let value = serde_json::to_value(&payload).expect("serializes");
    assert_eq!(
        value,
        json!({
            "event": "task_status_changed", "timestamp": "2026-01-01T00:00:00.000Z",
            "task_id": "RQ-1", "task_title": "Write docs", "previous_status": "todo",
            "current_status": "doing", "note": "n", "runner": "codex", "model": "m",
            "phase": 2, "phase_count": 3, "duration_ms": 1500, "repo_root": "/repo",
            "branch": "main", "commit": "abc123", "ci_gate": "passed"
        })
    );
    let back: WebhookPayload = serde_json::from_value(value).expect("deserializes");
    assert_eq!(back, payload);
}

#[test]
fn partial_context_omits_unset_fields() {
    let payload = WebhookPayload::new(WebhookEventType::PhaseStarted)
        .task_id("T1")
        .context(WebhookContext {
            phase: Some(1),
            ..WebhookContext::default()
        });
    let value = serde_json::to_value(&payload).expect("serializes");
    let keys: Vec<&str> = value
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, ["event", "phase", "task_id", "timestamp"]);
}

#[test]
fn custom_messages_carry_any_json_and_a_fresh_id() {
    let a = WebhookMessage::custom("deploy_finished", &json!({"env": "prod", "ok": true}))
        .expect("valid");
    let b = WebhookMessage::custom("deploy_finished", &json!({})).expect("valid");
    assert_eq!(a.event(), "deploy_finished");
    assert_eq!(&a.body()[..], br#"{"env":"prod","ok":true}"#);
    assert_ne!(a.id(), b.id());
    assert!(a.id().as_str().starts_with("msg_"));
    assert!(matches!(
        WebhookMessage::custom("", &json!({})),
        Err(MessageError::InvalidEventName { len: 0 })
    ));
}

#[test]
fn webhook_ids_are_validated_for_header_safety() {
    assert!("msg_abc-1.2:3".parse::<WebhookId>().is_ok());
    let err = "has space".parse::<WebhookId>().unwrap_err();
    assert!(err.to_string().contains("expected 1..=128"));
    assert!("".parse::<WebhookId>().is_err());
    assert!("x".repeat(129).parse::<WebhookId>().is_err());
}

#[test]
fn ids_compare_hash_and_serialize_by_their_text_whatever_their_length() {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;
    let hasher = RandomState::new();
    let generated = WebhookId::generate();
    let parsed: WebhookId = generated.as_str().parse().expect("valid");
    assert_eq!(parsed, generated);
    assert_eq!(hasher.hash_one(&parsed), hasher.hash_one(&generated));
    // Around the inline limit (46 bytes) and at the longest allowed.
    for len in [1, 45, 46, 47, 128] {
        let text = "a".repeat(len);
        let id: WebhookId = text.parse().expect("valid");
        assert_eq!(id.as_str(), text);
        assert_eq!(String::from(id.clone()), text);
        assert_eq!(format!("{id:?}"), format!("WebhookId({text:?})"));
        let json = serde_json::to_string(&id).expect("json");
        assert_eq!(serde_json::from_str::<WebhookId>(&json).expect("back"), id);
    }
    let (short, long): (WebhookId, WebhookId) =
        ("a".parse().unwrap(), "b".repeat(60).parse().unwrap());
    assert!(short < long);
    assert_eq!(long.cmp(&short), std::cmp::Ordering::Greater);
}

#[test]
fn generated_ids_are_msg_and_32_lowercase_hex_digits() {
    let distinct: std::collections::HashSet<WebhookId> =
        (0..50_000).map(|_| WebhookId::generate()).collect();
    assert_eq!(distinct.len(), 50_000);
    for _ in 0..100 {
        let id = WebhookId::generate();
        let hex = id.as_str().strip_prefix("msg_").expect("msg_ prefix");
        assert_eq!(hex.len(), 32, "{id}");
        assert!(
            hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
    }
}

#[test]
fn messages_hold_exactly_the_json_of_their_payload() {
    let payload = WebhookPayload::new(WebhookEventType::TaskCompleted)
        .task_id("RQ-0142")
        .task_title("Add a retry budget to the delivery worker")
        .note("x".repeat(100_000));
    for _ in 0..2 {
        let message = WebhookMessage::from_payload(&payload).expect("valid");
        assert_eq!(
            &message.body()[..],
            serde_json::to_vec(&payload).expect("json")
        );
        assert_eq!(message.event(), "task_completed");
        assert_eq!(message.task_id(), Some("RQ-0142"));
    }
    // A task id that needs escaping in JSON is kept as it was given.
    let quoted = WebhookMessage::from_payload(&payload.clone().task_id("a\"b")).expect("valid");
    assert_eq!(quoted.task_id(), Some("a\"b"));
    let none = WebhookMessage::from_payload(&WebhookPayload::new(WebhookEventType::LoopStarted))
        .expect("valid");
    assert_eq!(none.task_id(), None);
    assert_eq!(none.with_task_id("T-9").task_id(), Some("T-9"));
    let custom = WebhookMessage::custom("deploy_finished", &json!({"ok": true})).expect("valid");
    assert_eq!(custom.event(), "deploy_finished");
}

#[test]
fn a_serialize_impl_may_build_a_message_itself() {
    struct Nested;
    impl serde::Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = WebhookMessage::custom("inner", &json!({"a": 1})).expect("valid");
            s.serialize_str(std::str::from_utf8(inner.body()).expect("utf-8"))
        }
    }
    let outer = WebhookMessage::custom("outer", &Nested).expect("valid");
    assert_eq!(&outer.body()[..], br#""{\"a\":1}""#);
}

#[test]
fn the_event_name_limit_counts_characters_not_bytes() {
    let accented = "é".repeat(MAX_EVENT_NAME_CHARS);
    assert_eq!(accented.len(), 2 * MAX_EVENT_NAME_CHARS);
    let message =
        WebhookMessage::custom(&accented, &json!({})).expect("128 characters are allowed");
    assert_eq!(message.event(), accented);
    let err = WebhookMessage::custom(&"é".repeat(MAX_EVENT_NAME_CHARS + 1), &json!({}))
        .expect_err("129 characters are refused");
    assert!(
        matches!(err, MessageError::InvalidEventName { len: 129 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("(129 characters)"), "{err}");
}

#[test]
fn invalid_utf8_inside_a_json_string_is_refused_naming_the_offset() {
    let body = b"{\"note\":\"ok \xff\xfe\"}".to_vec();
    let err = WebhookMessage::from_json_bytes("deploy", None, body)
        .expect_err("invalid UTF-8 is not JSON text");
    assert!(
        matches!(err, MessageError::InvalidUtf8 { offset: 12, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not valid UTF-8 at byte 12"),
        "{err}"
    );
    let fine =
        WebhookMessage::from_json_bytes("deploy", None, "{\"note\":\"ok é\"}".as_bytes().to_vec());
    assert!(fine.is_ok());
}
