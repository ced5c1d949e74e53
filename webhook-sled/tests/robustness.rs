//! Locked folders, corrupt records, unknown formats, reopening, foreign executors.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{SystemTime, UNIX_EPOCH};
use webhook_core::store::conformance::sample_record;
use webhook_core::store::{FailureStore, RecordFilter, RecordId, StoreError};
use webhook_sled::{FORMAT_VERSION, SledFailureStore, failure_store_path};

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("milliseconds fit u64")
}

#[test]
fn a_second_open_of_the_same_folder_is_refused_as_locked_naming_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    let _first = SledFailureStore::open(&path).expect("first open");

    let error = SledFailureStore::open(&path).expect_err("second open must fail");

    match &error {
        StoreError::Locked { path: named } => assert_eq!(*named, path.display().to_string()),
        other => panic!("expected Locked, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("in use"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_folder_is_free_again_as_soon_as_the_store_is_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    for round in 0..3_u64 {
        let store = SledFailureStore::open(&path).expect("open after the previous drop");
        store
            .record(sample_record("task_failed", None, now_ms() + round))
            .await
            .expect("record");
        assert_eq!(store.count().await.expect("count"), round as usize + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = failure_store_path(dir.path());
    let record = sample_record("task_failed", Some("T-7"), now_ms());
    {
        let store = SledFailureStore::open(&path).expect("open");
        store.record(record.clone()).await.expect("record");
    }
    let store = SledFailureStore::open(&path).expect("reopen");
    let got = store.get(&record.id).await.expect("get").expect("kept");
    assert_eq!(got.payload.get(), record.payload.get());
    assert_eq!(got.task_id.as_deref(), Some("T-7"));
    assert_eq!(store.count().await.expect("count"), 1);
    assert_eq!(store.location(), path.display().to_string());
}

/// A store in an application's own db, with direct access to its tree for the test.
fn store_in_app_db(dir: &tempfile::TempDir) -> (SledFailureStore, sled::Tree) {
    let db = sled::open(dir.path().join("app.db")).expect("open app db");
    let tree = db.open_tree("webhook_failures").expect("open tree");
    let store =
        SledFailureStore::from_tree(db, tree.clone(), "app.db/webhook_failures").expect("store");
    (store, tree)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_is_skipped_by_listing_and_counted_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, tree) = store_in_app_db(&dir);
    let base = now_ms();
    let older = sample_record("task_failed", None, base);
    let newer = sample_record("task_failed", None, base + 2);
    store.record(older.clone()).await.expect("record");
    store.record(newer.clone()).await.expect("record");
    let garbage_id = RecordId::new(UNIX_EPOCH + std::time::Duration::from_millis(base + 1));
    tree.insert(garbage_id.as_str(), &b"\xff\x00 not json"[..])
        .expect("write garbage");

    for _ in 0..2 {
        let listed: Vec<RecordId> = store
            .list(&RecordFilter::newest(10))
            .await
            .expect("listing survives a corrupt record")
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(listed, [newer.id.clone(), older.id.clone()]);
    }
    assert_eq!(
        store.corrupt_records_skipped(),
        1,
        "one corrupt record, counted once"
    );

    match store.get(&garbage_id).await {
        Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, garbage_id.as_str()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(store.corrupt_records_skipped(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_written_by_a_newer_record_format_is_skipped_not_misread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, tree) = store_in_app_db(&dir);
    let record = sample_record("task_failed", None, now_ms());
    store.record(record.clone()).await.expect("record");
    let stored = tree.get(record.id.as_str()).expect("read").expect("stored");
    let text = String::from_utf8(stored.to_vec()).expect("utf-8 JSON");
    assert!(text.starts_with(r#"{"v":1,"record":{"#), "envelope: {text}");
    tree.insert(
        record.id.as_str(),
        text.replacen(r#""v":1"#, r#""v":2"#, 1).as_bytes(),
    )
    .expect("rewrite");

    let listed = store.list(&RecordFilter::newest(10)).await.expect("list");
    assert!(listed.is_empty());
    assert_eq!(store.corrupt_records_skipped(), 1);
}

#[test]
fn a_store_with_an_unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    drop(SledFailureStore::open(&path).expect("create"));
    {
        let db = sled::open(&path).expect("open raw");
        let meta = db.open_tree("failures.meta").expect("meta tree");
        assert_eq!(
            meta.get("format_version").expect("read").as_deref(),
            Some(FORMAT_VERSION.as_bytes()),
            "a new store is marked with the current format"
        );
        meta.insert("format_version", "99").expect("write");
        db.flush().expect("flush");
    }

    match SledFailureStore::open(&path) {
        Err(StoreError::Version {
            path: named,
            found,
            expected,
        }) => {
            assert_eq!(named, path.display().to_string());
            assert_eq!((found.as_str(), expected.as_str()), ("99", FORMAT_VERSION));
        }
        other => panic!("expected Version, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_an_application_db_leaves_its_other_trees_alone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::open(dir.path().join("app.db")).expect("open app db");
    let own = db.open_tree("settings").expect("app tree");
    own.insert("theme", "dark").expect("app write");
    let tree = db.open_tree("webhook_failures").expect("tree");
    let store = SledFailureStore::from_tree(db.clone(), tree, "app.db").expect("store");

    store
        .record(sample_record("task_failed", None, now_ms()))
        .await
        .expect("record");
    store.prune(0).await.expect("prune");

    assert_eq!(own.len(), 1);
    assert_eq!(
        own.get("theme").expect("read").as_deref(),
        Some(&b"dark"[..])
    );
    assert_eq!(store.location(), "app.db");
}

/// A minimal executor that is not tokio: polls on this thread, parks between wakes.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}

#[test]
fn the_store_works_under_an_executor_other_than_tokio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledFailureStore::open(dir.path().join("failures")).expect("open");
    let record = sample_record("task_failed", None, now_ms());
    block_on(store.record(record.clone())).expect("record");
    let listed = block_on(store.list(&RecordFilter::newest(5))).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, record.id);
}

/// Writes 200 records into a store at `path` and closes it.
fn two_hundred_records(path: &std::path::Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = SledFailureStore::open(path).expect("open");
    rt.block_on(async {
        for i in 0..200_u64 {
            let record = sample_record("task_failed", None, 1_700_000_000_000 + i);
            store.record(record).await.expect("record");
        }
    });
}

#[test]
fn a_store_whose_files_were_damaged_opens_and_reports_the_records_it_lost() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    two_hundred_records(&path);
    let db_file = path.join("db");
    let mut bytes = std::fs::read(&db_file).expect("read db");
    assert!(
        bytes.len() > 64 * 1024 + 4096,
        "db of {} bytes",
        bytes.len()
    );
    for (i, b) in bytes[64 * 1024..64 * 1024 + 4096].iter_mut().enumerate() {
        *b = (i.wrapping_mul(131) ^ 0x5a) as u8;
    }
    std::fs::write(&db_file, bytes).expect("damage db");

    let store = SledFailureStore::open(&path).expect("a damaged store still opens");
    let damage = store.damage().expect("the lost records are reported");
    assert_eq!(damage.expected, 200);
    assert!(damage.found < 200, "{damage:?}");
    let message = damage.to_string();
    assert!(
        message.contains("200") && message.contains("damaged"),
        "{message}"
    );
}

#[test]
fn a_store_that_is_merely_behind_its_tally_or_without_one_reports_no_damage() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    two_hundred_records(&path);
    assert_eq!(SledFailureStore::open(&path).expect("open").damage(), None);
    // A tally older than the records (a crash between the flush and the tally).
    std::fs::write(path.join("records.tally"), "150").expect("older tally");
    assert_eq!(SledFailureStore::open(&path).expect("open").damage(), None);
    std::fs::remove_file(path.join("records.tally")).expect("remove tally");
    assert_eq!(SledFailureStore::open(&path).expect("open").damage(), None);
}
