//! The PostgreSQL server stopped for 2 s and started again while two instances (real
//! processes) deliver from its outbox: delivery resumes by itself within a bounded
//! time and nothing is lost.
//!
//! A restart disturbs every other test on the same server, so this is its own test
//! binary (`cargo test` runs binaries one after another) with one test. It restarts
//! the local cluster with `pg_ctlcluster`; where that is not possible (no
//! `pg_ctlcluster`, not root, a remote `WEBHOOK_TEST_DATABASE_URL`) it skips with the
//! reason, and under `CI=true` it fails instead.

#[path = "pg_support/mod.rs"]
mod pg_support;

use pg_support::Plan;
use std::time::Duration;
use webhook_postgres::testing::{TestSchema, test_url};

/// The instance's entry point when this binary is started again by the experiment.
#[test]
fn pg_instance_child() {
    pg_support::child_main_if_asked();
}

/// The command that restarts the local server, or why there is none.
fn restart_command() -> Result<Vec<String>, String> {
    let url = test_url();
    if !(url.contains("@127.0.0.1") || url.contains("@localhost") || url.contains("@[::1]")) {
        return Err(format!(
            "the test server is not local ({})",
            webhook_core::redact::url(&url)
        ));
    }
    let versions = std::fs::read_dir("/etc/postgresql")
        .map_err(|e| format!("no local cluster under /etc/postgresql: {e}"))?;
    let version = versions
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .max()
        .ok_or("no cluster version under /etc/postgresql")?;
    let found = std::process::Command::new("pg_ctlcluster")
        .arg("--help")
        .output();
    if found.is_err() {
        return Err("pg_ctlcluster is not installed".into());
    }
    Ok([
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        &version,
        "main",
    ]
    .map(str::to_owned)
    .to_vec())
}

#[test]
fn a_server_restart_mid_run_loses_nothing_and_delivery_resumes_by_itself() {
    if std::env::var("WEBHOOK_PG_CHILD").is_ok() {
        return;
    }
    let Some(t) = TestSchema::create("restart") else {
        return;
    };
    let command = match restart_command() {
        Ok(command) => command,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("cannot restart the PostgreSQL server under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: cannot restart the PostgreSQL server: {why}");
            return;
        }
    };
    let url = t.options.url_with_schema();
    let exe = std::env::current_exe().expect("test binary");
    let args = [
        "--exact",
        "pg_instance_child",
        "--nocapture",
        "--test-threads=1",
    ];
    let plan = Plan {
        instances: 2,
        events: 20_000,
        kill: false,
        restart: Some(command),
        flush_every_commit: false,
    };
    let tally = pg_support::run(&exe, &args, &url, &plan);
    println!(
        "{} resumed_after={:?} elapsed={:?}",
        tally.line(),
        tally.resumed_after,
        tally.elapsed
    );
    let resumed = tally
        .resumed_after
        .expect("delivery resumed after the restart");
    assert!(
        resumed <= Duration::from_secs(30),
        "resumed within 30 s: {tally:?}"
    );
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert_eq!(tally.delivered_unique, 20_000, "{tally:?}");
    assert_eq!(tally.pending, 0, "{tally:?}");
}
