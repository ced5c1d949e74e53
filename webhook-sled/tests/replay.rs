//! Replay bookkeeping under concurrency: no lost update, no over-count.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use webhook_core::store::conformance::sample_record;
use webhook_core::store::{FailureStore, RecordId, RecordUpdate, StoreError, UpdateRejected};
use webhook_sled::SledFailureStore;

const RECORDS: u64 = 100;
const REPLAYERS: usize = 8;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("milliseconds fit u64")
}

async fn store_with_records(
    dir: &tempfile::TempDir,
) -> (Arc<SledFailureStore>, Arc<Vec<RecordId>>) {
    let store = Arc::new(SledFailureStore::open(dir.path().join("failures")).expect("open"));
    let base = now_ms();
    let mut ids = Vec::new();
    for i in 0..RECORDS {
        let record = sample_record("task_failed", Some("T-1"), base + i);
        ids.push(record.id.clone());
        store.record(record).await.expect("record");
    }
    (store, Arc::new(ids))
}

/// Runs `REPLAYERS` tasks that each begin a replay of every record once, and returns how
/// many of their updates were accepted and how many refused for the replay limit.
async fn replay_from_every_task(
    store: &Arc<SledFailureStore>,
    ids: &Arc<Vec<RecordId>>,
    max_replay_attempts: u32,
) -> (usize, usize) {
    let mut tasks = Vec::new();
    for task in 0..REPLAYERS {
        let (store, ids) = (Arc::clone(store), Arc::clone(ids));
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut refused) = (0, 0);
            // Each task walks the records from a different starting point, so that
            // updates of one record really do race.
            for id in ids.iter().cycle().skip(task * 13).take(ids.len()) {
                let update = RecordUpdate::BeginReplay {
                    max_replay_attempts,
                };
                match store.update(id, &update).await {
                    Ok(Some(_)) => accepted += 1,
                    Err(StoreError::Rejected {
                        reason: UpdateRejected::ReplayLimit { .. },
                        ..
                    }) => refused += 1,
                    other => panic!("unexpected result for {id}: {other:?}"),
                }
            }
            (accepted, refused)
        }));
    }
    let mut totals = (0, 0);
    for task in tasks {
        let (accepted, refused) = task.await.expect("replayer task");
        totals.0 += accepted;
        totals.1 += refused;
    }
    totals
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_replayers_on_100_records_lose_no_replay_count() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, ids) = store_with_records(&dir).await;

    let (accepted, refused) = replay_from_every_task(&store, &ids, 1_000).await;

    assert_eq!((accepted, refused), (REPLAYERS * ids.len(), 0));
    for id in ids.iter() {
        let record = store.get(id).await.expect("get").expect("exists");
        assert_eq!(record.replay_count, REPLAYERS as u32, "lost update on {id}");
    }
    assert_eq!(store.count().await.expect("count"), RECORDS as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replayers_never_exceed_the_replay_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, ids) = store_with_records(&dir).await;

    let (accepted, refused) = replay_from_every_task(&store, &ids, 3).await;

    assert_eq!(
        accepted,
        3 * ids.len(),
        "exactly three replays of each record begin"
    );
    assert_eq!(refused, (REPLAYERS - 3) * ids.len());
    for id in ids.iter() {
        let record = store.get(id).await.expect("get").expect("exists");
        assert_eq!(record.replay_count, 3, "replay count of {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_counts_survive_reopening_the_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, ids) = store_with_records(&dir).await;
    replay_from_every_task(&store, &ids, 1_000).await;
    drop(store);

    let reopened = SledFailureStore::open(dir.path().join("failures")).expect("reopen");
    for id in ids.iter() {
        let record = reopened.get(id).await.expect("get").expect("exists");
        assert_eq!(record.replay_count, REPLAYERS as u32);
    }
}
