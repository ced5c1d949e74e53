//! Crash safety, across real processes: `SIGKILL` loses no acknowledged record, and a
//! second process is refused a store that is in use.
//!
//! The child processes are this test executable itself, re-run with `CHILD_MODE` set so
//! that [`child_process_entry_point`] plays the child; run normally, that test does nothing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use webhook_core::store::conformance::sample_record;
use webhook_core::store::{FailureStore, RecordId, StoreError};
use webhook_sled::SledFailureStore;

/// Set (to `record-loop` or `try-open`) in a child's environment.
const CHILD_MODE: &str = "WEBHOOK_SLED_TEST_CHILD_MODE";
/// The store folder a child uses.
const CHILD_STORE: &str = "WEBHOOK_SLED_TEST_CHILD_STORE";
/// Concurrent recorders in the record-loop child, so that group commit is exercised.
const CHILD_RECORDERS: usize = 4;
const ROUNDS: u64 = 5;

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_millis(),
    )
    .expect("milliseconds fit u64")
}

/// The child's side. `record-loop`: records forever from several tasks, printing
/// `ACK <id>` after each `record()` returns. `try-open`: prints what opening the store gives.
#[test]
fn child_process_entry_point() {
    let (Some(mode), Some(store_path)) =
        (std::env::var_os(CHILD_MODE), std::env::var_os(CHILD_STORE))
    else {
        return;
    };
    match mode.to_str() {
        Some("record-loop") => record_forever(Path::new(&store_path)),
        Some("try-open") => match SledFailureStore::open(&store_path) {
            Ok(_) => println!("OPENED"),
            Err(StoreError::Locked { path }) => println!("LOCKED {path}"),
            Err(other) => println!("ERROR {other}"),
        },
        other => panic!("unknown child mode {other:?}"),
    }
}

fn record_forever(path: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = Arc::new(SledFailureStore::open(path).expect("child opens the store"));
        for recorder in 0..CHILD_RECORDERS {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                loop {
                    let task = format!("T-{recorder}");
                    let record = sample_record("task_failed", Some(&task), now_ms());
                    let id = record.id.clone();
                    if let Err(error) = store.record(record).await {
                        // End the child, so the parent sees its output end early.
                        eprintln!("child: record failed: {error}");
                        std::process::exit(2);
                    }
                    // One `println!` is one write of a whole line.
                    println!("ACK {id}");
                }
            });
        }
        // The recorders run until the parent kills this process.
        std::future::pending::<()>().await;
    });
}

fn spawn_child(mode: &str, store: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test executable"))
        .args([
            "--exact",
            "child_process_entry_point",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODE, mode)
        .env(CHILD_STORE, store)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// The id in an `ACK <id>` line. The test harness may print `test <name> ... ` first on
/// the same line, so the marker is looked for anywhere.
fn acknowledged(line: &str) -> Option<RecordId> {
    line.split_once("ACK ")
        .map(|(_, id)| RecordId::from_string(id.trim()).expect("the child prints valid record ids"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_any_moment_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    // Vary the moment of the kill between rounds and between runs.
    let seed = now_ms();
    let mut all_acknowledged = 0;
    for round in 0..ROUNDS {
        let kill_after = 20 + (seed.wrapping_mul(31).wrapping_add(round * 977)) % 400;
        let mut child = spawn_child("record-loop", &path);
        let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
        let mut acked = Vec::new();
        while (acked.len() as u64) < kill_after {
            let line = lines
                .next()
                .expect("the child stopped before it was killed")
                .expect("read child output");
            acked.extend(acknowledged(&line));
        }
        child.kill().expect("SIGKILL the child");
        let status = child.wait().expect("reap the child");
        assert!(!status.success(), "the child was killed, not finished");
        // Acknowledgements printed between our last read and the kill count too.
        for line in lines {
            acked.extend(acknowledged(&line.expect("read child output")));
        }

        let store = SledFailureStore::open(&path).expect("reopen after SIGKILL");
        for id in &acked {
            assert!(
                store.get(id).await.expect("get").is_some(),
                "round {round} (seed {seed}, kill after {kill_after}): acknowledged {id} was lost"
            );
        }
        all_acknowledged += acked.len();
        assert!(store.count().await.expect("count") >= all_acknowledged);
    }
}

#[test]
fn a_second_process_is_told_the_store_is_in_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("failures");
    let _held = SledFailureStore::open(&path).expect("open");

    let output = spawn_child("try-open", &path)
        .wait_with_output()
        .expect("child output");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!("LOCKED {}", path.display());
    assert!(
        stdout
            .lines()
            .any(|line| line.trim_end().ends_with(&expected)),
        "expected `{expected}` from the child, got:\n{stdout}"
    );
}
