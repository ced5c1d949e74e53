//! The store API as a consumer crate sees it: building filters, checking ids, bounded stores.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};
use webhook_core::MemoryFailureStore;
use webhook_core::store::{
    InvalidRecordId, MAX_RECORD_ID_LEN, RecordFilter, RecordId, RecordStatus, conformance,
};

#[test]
fn a_record_filter_sets_every_field_from_outside_the_crate() {
    let filter = RecordFilter::default()
        .ids(["rec_1", "msg_2"])
        .event("task_failed")
        .task_id("T-7")
        .status(RecordStatus::Resolved)
        .limit(5);
    assert_eq!(filter.ids, ["rec_1", "msg_2"]);
    assert_eq!(filter.event.as_deref(), Some("task_failed"));
    assert_eq!(filter.task_id.as_deref(), Some("T-7"));
    assert_eq!(filter.status, Some(RecordStatus::Resolved));
    assert_eq!(filter.limit, 5);
}

#[test]
fn a_default_record_filter_matches_everything_up_to_20() {
    let filter = RecordFilter::default();
    assert!(filter.ids.is_empty());
    assert_eq!(
        (filter.event, filter.task_id, filter.status),
        (None, None, None)
    );
    assert_eq!(filter.limit, 20);
    assert_eq!(RecordFilter::newest(20), RecordFilter::default());
    let record = conformance::sample_record("task_created", None, 1_000);
    assert!(RecordFilter::default().matches(&record));
}

#[test]
fn record_filter_setters_are_usable_in_constants() {
    const RESOLVED_TEN: RecordFilter = RecordFilter::newest(3)
        .status(RecordStatus::Resolved)
        .limit(10);
    assert_eq!(RESOLVED_TEN.limit, 10);
    assert_eq!(RESOLVED_TEN.status, Some(RecordStatus::Resolved));
}

#[test]
fn every_id_the_worker_makes_is_accepted_back() {
    for ms in [0, 1, 1_700_000_000_000, u64::from(u32::MAX) * 1000] {
        let id = RecordId::new(UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(RecordId::from_string(id.as_str()), Ok(id.clone()));
        assert_eq!(id.as_str().parse::<RecordId>(), Ok(id));
    }
    let max = "a".repeat(MAX_RECORD_ID_LEN);
    assert!(RecordId::from_string(max).is_ok());
    assert!(RecordId::from_string("Custom-store_id-42").is_ok());
}

#[test]
fn a_record_id_with_a_path_separator_a_dot_or_a_control_character_is_refused() {
    for (text, character, position) in [
        ("../x", '.', 0),
        ("rec_1/2", '/', 5),
        ("rec\\1", '\\', 3),
        ("rec 1", ' ', 3),
        ("rec_1\n", '\n', 5),
        ("rec_\u{0}", '\u{0}', 4),
        ("récord", 'é', 1),
    ] {
        let err = RecordId::from_string(text).expect_err(text);
        assert_eq!(
            err,
            InvalidRecordId::Character {
                id: text.to_owned(),
                character,
                position,
            }
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("{character:?}"))
                && message.contains("ASCII letters, digits, `_` and `-`"),
            "{message}"
        );
    }
}

#[test]
fn an_empty_or_overlong_record_id_is_refused_naming_its_length() {
    assert_eq!(
        RecordId::from_string(""),
        Err(InvalidRecordId::Length { length: 0 })
    );
    let long = "a".repeat(MAX_RECORD_ID_LEN + 1);
    let err = RecordId::from_string(long).expect_err("too long");
    assert_eq!(
        err,
        InvalidRecordId::Length {
            length: MAX_RECORD_ID_LEN + 1
        }
    );
    assert!(err.to_string().contains("65 characters"), "{err}");
    assert!(err.to_string().contains("1 to 64"), "{err}");
}

#[test]
fn a_stored_record_with_an_invalid_id_does_not_deserialize() {
    let record = conformance::sample_record("task_failed", None, 1_000);
    let mut json = serde_json::to_value(&record).expect("serialize");
    assert_eq!(
        json["id"],
        record.id.as_str(),
        "an id serializes as its text"
    );
    let back: webhook_core::FailureRecord = serde_json::from_value(json.clone()).expect("valid");
    assert_eq!(back.id, record.id);
    json["id"] = "../../etc/passwd".into();
    let err = serde_json::from_value::<webhook_core::FailureRecord>(json).expect_err("refused");
    assert!(err.to_string().contains("'.'"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounded_memory_store_passes_the_suite_with_its_bound() {
    let store = MemoryFailureStore::with_capacity(conformance::MIN_BOUND_FOR_RUN_ALL + 5);
    conformance::run_all_bounded(Arc::new(store), conformance::MIN_BOUND_FOR_RUN_ALL + 5).await;
}

#[tokio::test]
async fn a_small_memory_store_keeps_only_its_newest_records() {
    for bound in [1, 2, 7] {
        let store = MemoryFailureStore::with_capacity(bound);
        conformance::retention_keeps_the_newest(&store, bound).await;
    }
}
