//! Crash safety of the sled outbox, shown with real processes: a child sending confirmed
//! events is SIGKILLed 20 times at random moments; a new process recovers and delivers.
//! Every confirmed event must end delivered or recorded.

#[path = "crash_support/mod.rs"]
mod crash_support;

/// The child's entry point when this binary is started again by the experiment.
#[test]
fn crash_child() {
    crash_support::child_main_if_asked();
}

#[test]
fn twenty_sigkills_lose_no_confirmed_event() {
    if std::env::var("WEBHOOK_CRASH_MODE").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let args = ["--exact", "crash_child", "--nocapture", "--test-threads=1"];
    let tally = crash_support::run(&exe, &args, 20, dir.path());
    println!("{}", tally.line());
    assert_eq!(tally.kills, 20);
    assert!(
        tally.confirmed >= 100,
        "the children confirmed events: {tally:?}"
    );
    assert_eq!(tally.lost, 0, "{tally:?}");
    assert_eq!(
        tally.pending, 0,
        "the recovery run emptied the outbox: {tally:?}"
    );
    assert_eq!(
        tally.delivered + tally.recorded,
        tally.confirmed,
        "each confirmed event delivered or recorded, and not both: {tally:?}"
    );
    assert!(
        tally.recorded > 0,
        "the refused tenth ends in the store: {tally:?}"
    );
}
